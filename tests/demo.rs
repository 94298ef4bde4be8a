//! `make demo` (tests/peers/demo.py), checked: it shows two daemon cycles against moto and
//! the Mackerel stand-in and a table of what Mackerel received, and it leaves nothing running,
//! also when stopped with Ctrl-C.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn demo() -> Command {
    let bin = std::env::var_os("CW2MACKEREL_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cw2mackerel")));
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tests/peers/demo.py"))
        .arg("--bin")
        .arg(bin);
    cmd
}

/// The cells of the table row for `metric`.
fn row<'a>(out: &'a str, metric: &str) -> Option<Vec<&'a str>> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&metric))
}

#[test]
#[ignore = "takes a minute (the daemon's second cycle is 5 s past the next minute); `make test` runs it"]
fn the_demo_shows_two_cycles_and_what_mackerel_received() {
    let ran = run(&mut demo());
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let out = &ran.stdout;
    assert_eq!(out.matches(" INFO cycle ok ").count(), 2, "{out}");
    // Three distributions: six series of the two with traffic, three counts of the third.
    assert!(
        out.contains(
            "What Mackerel received: 165 points (150 in the first cycle, 15 in the second)"
        ),
        "{out}"
    );
    // Columns: metric, cycle 1, cycle 2, minutes, newest value.
    let busy = row(out, "cloudfront.www1_example_com.requests.request").expect(out);
    assert_eq!(busy[1..3], ["10", "1"], "{out}");
    let idle = row(out, "cloudfront.www3_example_com.requests.request").expect(out);
    assert_eq!((idle[1], idle[2], idle[4]), ("10", "1", "0"), "{out}");
    assert!(
        row(out, "cloudfront.www3_example_com.error_rate.4xx_error_rate").is_none(),
        "{out}"
    );
}

/// Processes that have `needle` in their environment (read from /proc).
fn processes_with_env(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!("{name}: {}", String::from_utf8_lossy(&cmdline)));
        }
    }
    found
}

#[test]
fn ctrl_c_stops_everything_the_demo_started() {
    let mut child = demo()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let mut apibase = None;
    // Wait for the daemon's first cycle, so that everything is running.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen += &line;
        seen += "\n";
        if let Some(v) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("MACKEREL_APIBASE="))
        {
            apibase = Some(v.to_string());
        }
        if line.contains(" cycle ok ") || line.contains(" cycle failed ") {
            break;
        }
    }
    let apibase = apibase.unwrap_or_else(|| panic!("no MACKEREL_APIBASE shown:\n{seen}"));
    let needle = format!("MACKEREL_APIBASE={apibase}");
    assert_eq!(
        processes_with_env(&needle).len(),
        1,
        "the daemon runs:\n{seen}"
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert_eq!(processes_with_env(&needle), Vec::<String>::new());
    let port = apibase.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the Mackerel stand-in still listens"
    );
}
