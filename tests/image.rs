//! The promise "a binary you can copy anywhere and an image with nothing else in it", checked:
//! the static binaries `make static` built (static, stripped, under the size budget), the
//! x86_64 one run in an empty root, the scratch image `make image` built, run with podman
//! against moto and the strict Mackerel fake, and the release files `make dist` built (their
//! checksums, the tarballs' binaries and the OCI archives, each run). `make test` builds them
//! all and runs these tests, which plain `cargo test` lists as ignored.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

/// The size budget of the x86_64 static binary: 2.5 MB.
const BUDGET: u64 = 2_500_000;
const IMAGE: &str = "cw2mackerel:latest";

fn static_binary(target: &str) -> PathBuf {
    let p = root()
        .join("target")
        .join(target)
        .join("release/cw2mackerel");
    assert!(
        p.exists(),
        "{} is missing: run `make static` (or `make test`, which does)",
        p.display()
    );
    p
}

/// The ELF program header types of `bytes` (64-bit little-endian, as both targets are).
fn program_headers(bytes: &[u8]) -> Vec<u32> {
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(bytes[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (entsize, count) = (u16_at(54), u16_at(56));
    (0..count)
        .map(|i| {
            u32::from_le_bytes(
                bytes[phoff + i * entsize..phoff + i * entsize + 4]
                    .try_into()
                    .unwrap(),
            )
        })
        .collect()
}

/// The ELF section names of `bytes`, from the section header string table.
fn section_names(bytes: &[u8]) -> Vec<String> {
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, entsize, count, strndx) = (u64_at(40), u16_at(58), u16_at(60), u16_at(62));
    let header = |i: usize| shoff + i * entsize;
    let strtab = u64_at(header(strndx) + 24);
    (0..count)
        .map(|i| {
            let start = strtab + u32_at(header(i));
            let end = start + bytes[start..].iter().position(|&b| b == 0).unwrap();
            String::from_utf8_lossy(&bytes[start..end]).into_owned()
        })
        .collect()
}

#[test]
#[ignore = "needs `make static image`; `make test` runs it"]
fn static_binaries_are_static_stripped_and_small() {
    const PT_INTERP: u32 = 3;
    for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        let path = static_binary(target);
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !program_headers(&bytes).contains(&PT_INTERP),
            "{target}: needs a dynamic loader"
        );
        let sections = section_names(&bytes);
        assert!(
            sections.iter().any(|s| s == ".text"),
            "{target}: {sections:?}"
        );
        let unstripped = sections
            .iter()
            .any(|s| s == ".symtab" || s.starts_with(".debug"));
        assert!(!unstripped, "{target}: not stripped: {sections:?}");
        if target.starts_with("x86_64") {
            assert!(
                bytes.len() as u64 <= BUDGET,
                "{target}: {} bytes, over the budget of {BUDGET}",
                bytes.len()
            );
        }
    }
}

/// Runs `cmd` as root: directly when we are root, else in a user namespace (`unshare -r`).
fn as_root(args: &[&str]) -> Command {
    let uid = Command::new("id").arg("-u").output().unwrap();
    let mut cmd;
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        cmd = Command::new(args[0]);
        cmd.args(&args[1..]);
    } else {
        cmd = Command::new("unshare");
        cmd.arg("-r").args(args);
    }
    cmd
}

/// The environment a run in a bare root or a container needs: moto, the fake, static keys.
fn run_env(moto: &Moto, mackerel: &Fake, id: &str) -> Vec<(String, String)> {
    let (key, secret) = moto.key("reader");
    [
        ("AWS_ENDPOINT_URL", moto.url()),
        ("AWS_ACCESS_KEY_ID", &key),
        ("AWS_SECRET_ACCESS_KEY", &secret),
        ("MACKEREL_APIBASE", mackerel.url()),
        ("MACKEREL_APIKEY", MACKEREL_KEY),
        ("CW2MACKEREL_SERVICE", "cdn"),
        ("CW2MACKEREL_DISTRIBUTIONS", id),
        ("CW2MACKEREL_LOG_FORMAT", "json"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn posted_requests(mackerel: &Fake, id: &str) -> usize {
    series_len(
        mackerel,
        "cdn",
        &format!("cloudfront.{id}.requests.request"),
    )
}

#[test]
#[ignore = "needs `make static image`; `make test` runs it"]
fn the_static_binary_runs_in_an_empty_root() {
    let moto = Moto::shared();
    let dists = moto.distributions("chroot", 1, &[]);
    let id = id_of(&dists[0]);
    moto.traffic(&[id], 15);
    let mackerel = Fake::mackerel();
    let jail = fresh_path("chroot");
    std::fs::create_dir_all(&jail).unwrap();
    std::fs::copy(
        static_binary("x86_64-unknown-linux-musl"),
        jail.join("cw2mackerel"),
    )
    .unwrap();
    let entries: Vec<_> = std::fs::read_dir(&jail).unwrap().collect();
    assert_eq!(entries.len(), 1, "the root holds the binary alone");

    let mut cmd = as_root(&["chroot", jail.to_str().unwrap(), "/cw2mackerel", "run"]);
    // PATH only finds chroot; the binary inside needs nothing but its own variables.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(run_env(moto, &mackerel, id));
    let ran = run(&mut cmd);
    std::fs::remove_dir_all(&jail).unwrap();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(posted_requests(&mackerel, id), 10);
}

#[test]
#[ignore = "needs `make static`; `make test` runs it"]
fn the_aarch64_binary_runs_under_emulation() {
    // The Lambda package's binary: linked like the x86_64 one, so a link option that breaks
    // its start (relocations musl does not apply, say) shows here and not in a Lambda.
    let moto = Moto::shared();
    let dists = moto.distributions("arm", 1, &[]);
    let id = id_of(&dists[0]);
    moto.traffic(&[id], 15);
    let mackerel = Fake::mackerel();
    Command::new("qemu-aarch64-static")
        .arg("--version")
        .output()
        .expect("qemu-aarch64-static is missing: `make setup` installs it");
    let mut cmd = Command::new("qemu-aarch64-static");
    cmd.arg(static_binary("aarch64-unknown-linux-musl"))
        .arg("run")
        .env_clear()
        .envs(run_env(moto, &mackerel, id));
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(posted_requests(&mackerel, id), 10);
}

fn podman(args: &[&str]) -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime", "runc", "--cgroup-manager=cgroupfs"])
        .args(args);
    cmd
}

/// `podman run` with the options that work on these machines, and `env` passed in.
fn container(env: &[(String, String)], extra: &[&str], args: &[&str]) -> Command {
    let mut cmd = podman(&[
        "run",
        "--network",
        "host",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ]);
    for (k, v) in env {
        cmd.args(["-e", &format!("{k}={v}")]);
    }
    cmd.args(extra).arg(IMAGE).args(args);
    cmd
}

fn check_image_exists() {
    let exists = podman(&["image", "exists", IMAGE])
        .status()
        .expect("podman is missing: .ci/run installs it");
    assert!(
        exists.success(),
        "no {IMAGE}: run `make image` (or `make test`, which does)"
    );
}

/// The files in the image's layers (from `podman save`).
fn image_files() -> Vec<String> {
    let dir = fresh_path("image");
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("image.tar");
    assert!(
        podman(&[
            "save",
            "-q",
            "--format",
            "oci-archive",
            "-o",
            archive.to_str().unwrap(),
            IMAGE
        ])
        .status()
        .unwrap()
        .success()
    );
    assert!(
        Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    let blob = |digest: &str| {
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let mut files = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let list = Command::new("tar")
            .arg("-tf")
            .arg(blob(layer["digest"].as_str().unwrap()))
            .output()
            .unwrap();
        files.extend(
            String::from_utf8_lossy(&list.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    files.sort();
    files
}

#[test]
#[ignore = "needs `make static image`; `make test` runs it"]
fn the_scratch_image_holds_the_binary_alone_and_runs_as_non_root() {
    check_image_exists();
    assert_eq!(image_files(), ["cw2mackerel", "tmp/"]);
    let inspect = podman(&[
        "image",
        "inspect",
        IMAGE,
        "--format",
        "{{.Config.User}} {{json .Config.Entrypoint}}",
    ])
    .output()
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        "65534:65534 [\"/cw2mackerel\"]"
    );

    let moto = Moto::shared();
    let dists = moto.distributions("image", 1, &[]);
    let id = id_of(&dists[0]);
    moto.traffic(&[id], 15);
    let mackerel = Fake::mackerel();
    let env = run_env(moto, &mackerel, id);
    let ran = run(&mut container(&env, &["--rm"], &["run"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(posted_requests(&mackerel, id), 10);

    // The daemon writes its state as the non-root user, and healthcheck (no shell needed)
    // reads it; SIGTERM from `podman stop` ends it with 0.
    let name = format!("cw2m-test-{}", std::process::id());
    let mut env = env;
    env.push(("CW2MACKEREL_INTERVAL".into(), "2s".into()));
    let started = container(&env, &["-d", "--name", &name], &["daemon"])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let healthy = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        podman(&["exec", &name, "/cw2mackerel", "healthcheck"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let whoami = podman(&["inspect", &name, "--format", "{{.Config.User}}"])
        .output()
        .unwrap();
    assert!(
        podman(&["stop", "-t", "10", &name])
            .output()
            .unwrap()
            .status
            .success()
    );
    let code = podman(&["inspect", &name, "--format", "{{.State.ExitCode}}"])
        .output()
        .unwrap();
    let logs = podman(&["logs", &name]).output().unwrap();
    let _ = podman(&["rm", "-f", &name]).output();
    assert!(
        healthy,
        "healthcheck never passed: {}",
        String::from_utf8_lossy(&logs.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout).trim(),
        "65534:65534"
    );
    assert_eq!(
        String::from_utf8_lossy(&code.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// dist/

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// (tarball architecture, image architecture, Rust target) of each release build.
const ARCHES: [(&str, &str, &str); 2] = [
    ("x86_64", "amd64", "x86_64-unknown-linux-musl"),
    ("aarch64", "arm64", "aarch64-unknown-linux-musl"),
];

fn dist() -> PathBuf {
    let dir = root().join("dist");
    assert!(
        dir.join("SHA256SUMS").exists(),
        "{} has no SHA256SUMS: run `make dist` (or `make test`, which does)",
        dir.display()
    );
    dir
}

/// A fresh empty directory for one test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = fresh_path(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cmd`, which must succeed; its stdout.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `binary --version`, natively or (aarch64) under qemu-aarch64-static.
fn version_of(binary: &std::path::Path, target: &str) -> String {
    let mut cmd = match target.starts_with("aarch64") {
        true => {
            let mut c = Command::new("qemu-aarch64-static");
            c.arg(binary);
            c
        }
        false => Command::new(binary),
    };
    stdout_of(cmd.arg("--version").env_clear())
}

#[test]
#[ignore = "needs `make dist`; `make test` runs it"]
fn dist_holds_the_release_files_and_their_checksums() {
    let dir = dist();
    let mut want: Vec<String> = ARCHES
        .iter()
        .flat_map(|(arch, image, _)| {
            [
                format!("cw2mackerel-{VERSION}-{arch}-linux-musl.tar.gz"),
                format!("cw2mackerel-{VERSION}-image-{image}.oci.tar"),
            ]
        })
        .chain([format!("cw2mackerel-{VERSION}-lambda-arm64.zip")])
        .collect();
    want.sort();
    let mut listed: Vec<String> = std::fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, want, "SHA256SUMS covers every release file");
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    present.sort();
    assert_eq!(
        present, want,
        "dist/ holds the release files and nothing else"
    );
    let checked = stdout_of(
        Command::new("sha256sum")
            .args(["--check", "--strict", "SHA256SUMS"])
            .current_dir(&dir),
    );
    assert_eq!(checked.lines().filter(|l| l.ends_with(": OK")).count(), 5);
    // The Lambda zip is the one `make lambda-zip` checked (tests/deploy.rs).
    assert_eq!(
        std::fs::read(dir.join(format!("cw2mackerel-{VERSION}-lambda-arm64.zip"))).unwrap(),
        std::fs::read(root().join("target/lambda/cw2mackerel-lambda.zip")).unwrap()
    );
}

#[test]
#[ignore = "needs `make dist`; `make test` runs it"]
fn each_release_tarball_unpacks_to_a_binary_that_names_its_build() {
    for (arch, _, target) in ARCHES {
        let name = format!("cw2mackerel-{VERSION}-{arch}-linux-musl");
        let tarball = dist().join(format!("{name}.tar.gz"));
        let listing = stdout_of(Command::new("tar").arg("-tvzf").arg(&tarball));
        let entries: Vec<(&str, &str, &str)> = listing
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0], f[1], *f.last().unwrap())
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("drwxr-xr-x", "0/0", format!("{name}/").as_str()),
                ("-rw-r--r--", "0/0", format!("{name}/LICENSE").as_str()),
                ("-rw-r--r--", "0/0", format!("{name}/README.ja.md").as_str()),
                ("-rw-r--r--", "0/0", format!("{name}/README.md").as_str()),
                ("-rwxr-xr-x", "0/0", format!("{name}/cw2mackerel").as_str()),
            ],
            "{listing}"
        );
        let dir = scratch_dir("tarball");
        stdout_of(
            Command::new("tar")
                .arg("-xzf")
                .arg(&tarball)
                .arg("-C")
                .arg(&dir),
        );
        let unpacked = dir.join(&name);
        for doc in ["README.md", "README.ja.md", "LICENSE"] {
            assert_eq!(
                std::fs::read(unpacked.join(doc)).unwrap(),
                std::fs::read(root().join(doc)).unwrap(),
                "{name}/{doc}"
            );
        }
        let binary = unpacked.join("cw2mackerel");
        assert_eq!(
            std::fs::read(&binary).unwrap(),
            std::fs::read(static_binary(target)).unwrap(),
            "{name}: the binary `make static` built"
        );
        assert_eq!(version_of(&binary, target), version_line(target));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
#[ignore = "needs `make dist`; `make test` runs it"]
fn each_oci_archive_loads_and_runs() {
    // A store of its own: what loads here came from the archive alone, and nothing another
    // test or checkout tagged is touched.
    let store = scratch_dir("store");
    let podman_here = |args: &[&str]| {
        let mut cmd = podman(&[]);
        cmd.arg("--root")
            .arg(store.join("root"))
            .arg("--runroot")
            .arg(store.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        cmd
    };
    for (_, image, target) in ARCHES {
        let archive = dist().join(format!("cw2mackerel-{VERSION}-image-{image}.oci.tar"));
        let loaded = stdout_of(&mut podman_here(&["load", "-i", archive.to_str().unwrap()]));
        let name = format!("localhost/cw2mackerel:{VERSION}");
        assert!(loaded.contains(&name), "{loaded}");
        let inspect = stdout_of(&mut podman_here(&[
            "image",
            "inspect",
            &name,
            "--format",
            "{{.Architecture}} {{.Config.User}} {{json .Config.Entrypoint}}",
        ]));
        assert_eq!(
            inspect.trim(),
            format!("{image} 65534:65534 [\"/cw2mackerel\"]")
        );
        let mut run = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ];
        // The arm64 image's binary runs under the emulator, mounted into the container: the
        // image is scratch, so what runs is the image's own /cw2mackerel.
        let qemu = "/usr/bin/qemu-aarch64-static:/qemu:ro";
        match image {
            "arm64" => run.extend([
                "--arch",
                "arm64",
                "-v",
                qemu,
                "--entrypoint",
                "/qemu",
                &name,
            ]),
            _ => run.push(&name),
        }
        if image == "arm64" {
            run.push("/cw2mackerel");
        }
        run.push("--version");
        assert_eq!(stdout_of(&mut podman_here(&run)), version_line(target));
    }
    std::fs::remove_dir_all(&store).unwrap();
}
