//! The READMEs, checked against each other, the binary and themselves. README.ja.md
//! translates some sections of README.md ([`SHARED`]): it shows exactly their commands and
//! names exactly the environment variables README.md names. Every link to a heading, in
//! either, leads to one. The quick start names Cargo.toml's version, and its commands after
//! the download run as written against moto and the Mackerel fake, printing what it shows.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

const EN: &str = "README.md";
const JA: &str = "README.ja.md";

/// The `##` sections of README.md (each with its `###` subsections) that README.ja.md
/// translates: every shell line in them is in README.ja.md, which has no other.
const SHARED: &[&str] = &[
    "Quick start",
    "See it work with no account: `make demo`",
    "Coming from mackerel-plugin-aws-cloudfront",
    "Deploy",
    "Know when it stops",
];

fn text(file: &str) -> String {
    std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The environment variables a text names: each word of letters, digits and `_` that starts
/// with `CW2MACKEREL_`, `MACKEREL_` or `AWS_`, without a trailing `_` (`AWS_ENDPOINT_URL_*`).
fn variables(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            ["CW2MACKEREL_", "MACKEREL_", "AWS_"]
                .iter()
                .any(|p| w.starts_with(p))
        })
        .map(|w| w.trim_end_matches('_').to_string())
        .collect()
}

#[test]
fn both_readmes_name_the_same_variables() {
    let (en, ja) = (variables(&text(EN)), variables(&text(JA)));
    let help = variables(&run(cw2mackerel().arg("--help")).stdout);
    assert!(help.len() > 30, "{help:?}");
    for (file, named) in [(EN, &en), (JA, &ja)] {
        let missing: Vec<_> = help.difference(named).collect();
        assert!(missing.is_empty(), "{file} does not name {missing:?}");
    }
    let only_en: Vec<_> = en.difference(&ja).collect();
    let only_ja: Vec<_> = ja.difference(&en).collect();
    assert!(
        only_en.is_empty() && only_ja.is_empty(),
        "{EN} alone names {only_en:?}; {JA} alone names {only_ja:?}"
    );
}

/// A shell line as both READMEs must show it: continuations joined, blanks made one, and
/// each `<…>` placeholder (which README.ja.md words in Japanese) made `<>`.
fn comparable(line: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in line.chars() {
        match c {
            '<' => {
                if depth == 0 {
                    out.push('<');
                }
                depth += 1;
            }
            '>' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push('>');
                }
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn shell_lines<'a>(sections: impl Iterator<Item = &'a Section>) -> BTreeSet<String> {
    sections
        .flat_map(|s| s.shell())
        .flat_map(joined)
        .filter(|l| !l.is_empty())
        .map(|l| comparable(&l))
        .collect()
}

/// README.md's [`SHARED`] sections, each `##` with the `###` sections under it.
fn shared(sections: &[Section]) -> Vec<&Section> {
    let mut out = Vec::new();
    let mut found = BTreeSet::new();
    let mut inside = false;
    for s in sections {
        if s.level <= 2 {
            inside = SHARED.contains(&s.heading.as_str());
            if inside {
                found.insert(s.heading.as_str());
            }
        }
        if inside {
            out.push(s);
        }
    }
    let lost: Vec<_> = SHARED.iter().filter(|h| !found.contains(*h)).collect();
    assert!(lost.is_empty(), "{EN} has no `## {lost:?}` section");
    out
}

#[test]
fn the_japanese_readme_shows_the_commands_of_the_sections_it_translates() {
    let en = markdown(EN);
    let want = shell_lines(shared(&en).into_iter());
    let have = shell_lines(markdown(JA).iter());
    assert!(want.len() > 50, "{want:#?}");
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "shell lines of {EN}'s translated sections missing from {JA}: {missing:#?}\n\
         shell lines of {JA} that {EN}'s translated sections do not have: {extra:#?}"
    );
    // Every file of deploy/ that README.md names, in prose too, README.ja.md names.
    let ja = text(JA);
    let en = text(EN);
    let named: BTreeSet<&str> = en
        .match_indices("deploy/")
        .map(|(i, _)| {
            let rest = &en[i..];
            let end = rest[7..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "._*-".contains(c)))
                .map_or(rest.len(), |n| n + 7);
            rest[..end].trim_end_matches('.')
        })
        .filter(|n| n.len() > "deploy/".len())
        .collect();
    assert!(named.len() > 20, "{named:?}");
    let unnamed: Vec<_> = named.iter().filter(|n| !ja.contains(**n)).collect();
    assert!(unnamed.is_empty(), "{JA} does not name {unnamed:?}");
}

/// GitHub's anchor for a heading: lower-cased; letters, digits, `-` and `_` kept; each space
/// made `-`; anything else (punctuation, backticks) dropped.
fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a file's headings; a heading met again gets `-1`, `-2`… as on GitHub.
fn anchors(file: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in markdown(file) {
        let base = slug(&s.heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        out.insert(anchor);
    }
    out
}

#[test]
fn every_link_to_a_heading_leads_to_one() {
    assert!(anchors(EN).contains("nothing-is-lost-each-point-is-posted-once"));
    for file in [EN, JA] {
        let mut links = 0;
        for line in markdown(file).iter().flat_map(|s| s.prose.iter()) {
            for (i, _) in line.match_indices("](") {
                let target = &line[i + 2..];
                let target = &target[..target.find(')').unwrap_or(target.len())];
                if target.contains("://") {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target, None),
                };
                let path = if path.is_empty() { file } else { path };
                assert!(
                    root().join(path).exists(),
                    "{file}: a link to {target}: no file {path}"
                );
                if let Some(anchor) = anchor {
                    assert!(
                        anchors(path).contains(anchor),
                        "{file}: a link to {target}: {path} has no heading with that anchor"
                    );
                }
                links += 1;
            }
        }
        assert!(links > 10, "{file}: {links} links");
    }
}

#[test]
fn the_quick_start_names_this_version() {
    for file in [EN, JA] {
        let mut versions = Vec::new();
        for line in markdown(file).iter().flat_map(|s| s.shell()).flatten() {
            for word in line.split_whitespace() {
                let version = word
                    .strip_prefix("VERSION=")
                    .or_else(|| word.strip_prefix("ghcr.io/OWNER/cw2mackerel:"));
                // `VERSION=$(aws s3api put-object …)` is an S3 object's version.
                if let Some(v) = version.filter(|v| !v.starts_with('$')) {
                    versions.push(v.to_string());
                }
            }
        }
        assert_eq!(
            versions,
            [env!("CARGO_PKG_VERSION"); 2],
            "{file}: the release and the image the quick start fetches"
        );
    }
}

/// README.md's quick start.
fn quick_start() -> Section {
    markdown(EN)
        .into_iter()
        .find(|s| s.heading == "Quick start")
        .expect("README.md has a `## Quick start`")
}

/// A directory holding `cw2mackerel` (the binary under test), for `PATH`.
fn bin_dir() -> std::path::PathBuf {
    let dir = fresh_path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(cw2mackerel().get_program(), dir.join("cw2mackerel")).unwrap();
    dir
}

/// Runs `script` with `sh -e` in `env` (the binary's test environment, logs in text as a user
/// sees them) with `cw2mackerel` on the `PATH`.
fn sh(script: &str, env: &Command, path: &std::path::Path) -> Ran {
    let mut cmd = Command::new("sh");
    cmd.env_clear();
    for (k, v) in env.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env_remove("CW2MACKEREL_LOG_FORMAT")
        .env("PATH", format!("{}:/usr/bin:/bin", path.display()))
        .args(["-ec", script]);
    run(&mut cmd)
}

/// The words of a log line as the README shows it (timestamp, level, message, then `k=v`),
/// `…` left out: (level, message, pairs).
fn log_words(line: &str) -> (String, String, Vec<(String, String)>) {
    let mut words = line.split_whitespace().skip(1);
    let level = words.next().unwrap_or_default().to_string();
    let (mut message, mut pairs) = (Vec::new(), Vec::new());
    for w in words.filter(|w| *w != "…") {
        match w.split_once('=') {
            Some((k, v)) => pairs.push((k.to_string(), v.to_string())),
            None if pairs.is_empty() => message.push(w),
            None => {}
        }
    }
    (level, message.join(" "), pairs)
}

/// Each line of `shown` (a README block of what a command printed, `…` for what it leaves
/// out) is one the command printed: JSON lines with the same keys and a name that differs
/// only by the distribution's label; log lines with the same level, message and values
/// (but for the state file's path and the time taken).
fn assert_shown(shown: &[String], ran: &Ran, labels: &[&str]) {
    let printed: Vec<Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let logged: Vec<_> = ran.stderr.lines().map(log_words).collect();
    for line in shown.iter().filter(|l| l.trim() != "…") {
        if line.starts_with('{') {
            let point: Value = serde_json::from_str(line).unwrap();
            let keys: Vec<&String> = point.as_object().unwrap().keys().collect();
            let name = point["name"].as_str().unwrap();
            let parts: Vec<&str> = name.splitn(3, '.').collect();
            let like = |p: &Value| {
                p.as_object().unwrap().keys().collect::<Vec<_>>() == keys
                    && labels
                        .iter()
                        .any(|l| p["name"] == format!("{}.{l}.{}", parts[0], parts[2]))
            };
            assert!(printed.iter().any(like), "no printed line like {line}");
        } else {
            let (level, message, pairs) = log_words(line);
            let found = logged.iter().find(|(l, m, _)| *l == level && *m == message);
            let Some((_, _, real)) = found else {
                panic!("no `{level} {message}` line in\n{}", ran.stderr)
            };
            for (k, v) in pairs
                .iter()
                .filter(|(k, _)| k != "path" && k != "elapsed_ms")
            {
                assert!(
                    real.contains(&(k.clone(), v.clone())),
                    "shown {k}={v}, logged {real:?}"
                );
            }
        }
    }
}

#[test]
fn the_quick_start_runs_as_written_and_prints_what_it_shows() {
    let moto = Moto::shared();
    let dists = moto.distributions("quick-start", 2, &[]);
    let ids: Vec<&str> = dists.iter().map(id_of).collect();
    moto.traffic(&ids, 15);
    let mackerel = Fake::mackerel();
    let mut env = against(moto, "reader", &mackerel);
    env.env_remove("MACKEREL_APIKEY")
        .env_remove("CW2MACKEREL_SERVICE");
    let path = bin_dir();
    let section = quick_start();
    let prose = section.prose.join(" ");
    let prose = prose.split_whitespace().collect::<Vec<_>>().join(" ");
    let (mut exports, mut commands) = (String::new(), Vec::new());
    for (i, fence) in section.fences.iter().enumerate() {
        let lines = joined(fence.lines.clone());
        // The download and the image: tests/image.rs checks the release files and images
        // they name, and the ignored test below runs the download against dist/.
        if !fence.lang.is_empty()
            || ["VERSION=", "cw2mackerel()"]
                .iter()
                .any(|p| lines[0].starts_with(p))
        {
            continue;
        }
        for line in &lines {
            assert!(
                line.starts_with("export ") || line.starts_with("cw2mackerel "),
                "a quick start line this test does not know how to run: {line}"
            );
            if line.starts_with("export ") {
                exports += &line.replace("YOUR_API_KEY", MACKEREL_KEY);
                exports += "\n";
            } else {
                let ran = sh(&format!("{exports}{line}"), &env, &path);
                assert_eq!(ran.code, 0, "{line}: {}", ran.stderr);
                let shown = section.fences.get(i + 1).filter(|f| f.lang == "text");
                commands.push((line.clone(), ran, shown.map(|f| f.lines.clone())));
            }
        }
    }
    let said: Vec<&str> = commands.iter().map(|(l, _, _)| l.as_str()).collect();
    assert_eq!(
        said,
        [
            "cw2mackerel check",
            "cw2mackerel run --dry-run",
            "cw2mackerel run"
        ]
    );

    let (_, check, _) = &commands[0];
    assert!(
        prose.contains(&format!("`check` prints `{}`", check.stdout.trim())),
        "check printed {:?}",
        check.stdout
    );
    let (_, dry, shown) = &commands[1];
    assert_shown(
        shown.as_ref().expect("the dry run's output, shown"),
        dry,
        &ids,
    );
    let (_, posted, _) = &commands[2];
    let (_, _, pairs) = posted
        .stderr
        .lines()
        .map(log_words)
        .find(|(_, m, _)| m == "run ok")
        .unwrap_or_else(|| panic!("{}", posted.stderr));
    let count = &pairs.iter().find(|(k, _)| k == "posted").unwrap().1;
    assert!(
        prose.contains(&format!("`INFO run ok … posted={count} …`")),
        "posted={count}"
    );
    // The names Mackerel got are those the quick start names, for each distribution.
    let mut names = BTreeSet::new();
    for (name, _) in posted_points(&mackerel).keys() {
        let id = ids.iter().find(|id| name.contains(*id)).unwrap();
        names.insert(name.replace(id, "<label>"));
    }
    assert_eq!(names.len(), 6, "{names:?}");
    for name in names {
        let suffix = &name["cloudfront.<label>".len()..];
        assert!(
            prose.contains(&format!("`{name}`")) || prose.contains(&format!("`{suffix}`")),
            "the quick start does not name {name}"
        );
    }
}

#[test]
#[ignore = "needs `make dist`; `make test` runs it"]
fn the_quick_start_download_fetches_checks_and_installs_a_release() {
    let dist = root().join("dist");
    assert!(dist.join("SHA256SUMS").exists(), "run `make dist` first");
    // dist/ served on loopback as the release's download directory, v<version>/.
    let site = fresh_path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::os::unix::fs::symlink(&dist, site.join(format!("v{}", env!("CARGO_PKG_VERSION"))))
        .unwrap();
    let port = free_port();
    let mut server = Command::new(python())
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
        ])
        .arg(&site)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut server, "http.server");
    let installed = fresh_path("installed");
    std::fs::create_dir_all(&installed).unwrap();
    let block = joined(quick_start().shell()[0].clone());
    assert!(block[0].starts_with("VERSION="), "{block:?}");
    let script = block
        .join("\n")
        .replace(
            "https://github.com/OWNER/cw2mackerel/releases/download",
            &format!("http://127.0.0.1:{port}"),
        )
        .replace("sudo install", "install")
        .replace(" /usr/local/bin/", &format!(" {}/", installed.display()));
    let work = fresh_path("download");
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new("sh")
        .args(["-ec", &script])
        .current_dir(&work)
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arch = std::env::consts::ARCH;
    let tarball = format!(
        "cw2mackerel-{}-{arch}-linux-musl.tar.gz",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(stdout.trim(), format!("{tarball}: OK"));
    let version = Command::new(installed.join("cw2mackerel"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        version_line(&format!("{arch}-unknown-linux-musl"))
    );
}
