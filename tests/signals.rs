//! Stop signals, end to end: SIGTERM, SIGINT and SIGHUP cut any wait of `daemon` and `run`
//! short, and the cycle still ends with its summary line and its state write.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Well under the 5 s grace period after which a stopped process is ended anyway (with no
/// summary line and no state write): a stop that waited for it is not a prompt one.
const PROMPT: Duration = Duration::from_secs(4);

/// The state file `path` holds, read as JSON.
fn state_at(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no state file at {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Starts `command` (`daemon` or `run`) with Mackerel asking it to retry after 50 s, sends
/// `sig` while it waits, checks that it ended promptly with its state written and the
/// unposted points owed to the next process, and returns its status and log lines.
fn stopped_in_a_retry_after_wait(command: &str, tag: &str, sig: &str) -> (i32, Vec<Value>) {
    let (moto, id) = busy(tag);
    let mackerel = Fake::mackerel();
    mackerel.faults(json!([
        {"path": "/tsdb", "status": 429, "headers": {"Retry-After": "50"}, "count": 1}
    ]));
    let state = fresh_path("state");
    let started = now();
    // A cycle timeout past the 50 s, so that the wait is begun, not refused.
    let child = spawn(
        against(moto, "reader", &mackerel)
            .args([command, "--distributions", &id])
            .env("CW2MACKEREL_CYCLE_TIMEOUT", "2m")
            .env("CW2MACKEREL_STATE_FILE", &state),
    );
    wait_for(Duration::from_secs(60), "the post answered 429", || {
        !mackerel.requests_to("/tsdb").is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, sig);
    let sent = Instant::now();
    let (code, logs) = finish(child, Duration::from_secs(20));
    assert!(sent.elapsed() < PROMPT, "{:?}", sent.elapsed());
    assert!(
        logs.iter()
            .all(|l| !l["msg"].as_str().unwrap().contains("stop deadline passed")),
        "the grace period ran out: {logs:#?}"
    );
    assert_eq!(
        mackerel.requests_to("/tsdb").len(),
        1,
        "retried after a stop"
    );
    let written = state_at(&state);
    assert!(
        written["completed"].as_i64().unwrap() >= started,
        "{written}"
    );
    assert!(written["unposted_since"].is_i64(), "{written}");
    (code, logs)
}

#[test]
fn sigterm_cuts_a_daemons_retry_after_wait_short() {
    let (code, logs) = stopped_in_a_retry_after_wait("daemon", "stop-daemon", "-TERM");
    assert_eq!(code, 0, "{logs:#?}");
    assert_eq!(msgs(&logs), ["cycle failed", "stopped"], "{logs:#?}");
    assert!(
        logs[0]["error"].as_str().unwrap().contains("not retried"),
        "{}",
        logs[0]
    );
    assert_eq!(logs[1]["signal"], "SIGTERM");
}

#[test]
fn sigterm_cuts_a_runs_retry_after_wait_short() {
    let (code, logs) = stopped_in_a_retry_after_wait("run", "stop-run", "-TERM");
    // Not everything was posted: the run failed, and says so.
    assert_eq!(code, 1, "{logs:#?}");
    // A first run has no record yet: a warning, then the summary line.
    let msgs = msgs(&logs);
    assert_eq!(msgs.last(), Some(&"run failed"), "{logs:#?}");
    assert_eq!(msgs.iter().filter(|m| m.starts_with("run ")).count(), 1);
    let summary = logs.last().unwrap();
    assert!(summary["error"].as_str().unwrap().contains("not retried"));
}

#[test]
fn sigint_ends_a_run_waiting_for_the_state_file() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let state = fresh_path("state");
    // Another run holds the state file; this one would wait up to half an interval (30 s).
    let mut lock_path = state.clone().into_os_string();
    lock_path.push(".lock");
    let held = std::fs::File::create(&lock_path).unwrap();
    held.lock().unwrap();
    let child = spawn(
        against(moto, "reader", &mackerel)
            .args(["run", "--distributions", "E1"])
            .env("CW2MACKEREL_STATE_FILE", &state),
    );
    std::thread::sleep(Duration::from_secs(1));
    signal(&child, "-INT");
    let sent = Instant::now();
    let (code, logs) = finish(child, Duration::from_secs(40));
    assert!(sent.elapsed() < PROMPT, "{:?}", sent.elapsed());
    assert_eq!(code, 1, "{logs:#?}");
    assert_eq!(msgs(&logs), ["run failed"], "{logs:#?}");
    assert!(
        logs[0]["error"]
            .as_str()
            .unwrap()
            .contains("stopped by SIGINT before reading anything"),
        "{}",
        logs[0]
    );
    // Nothing was read or posted, and the file stays the other run's.
    assert!(mackerel.requests().is_empty());
    assert!(!state.exists());
    drop(held);
}

#[test]
fn sighup_stops_the_daemon_like_sigterm() {
    let (moto, id) = busy("sighup");
    let mackerel = Fake::mackerel();
    let state = fresh_path("state");
    let daemon = spawn(
        against(moto, "reader", &mackerel)
            .args(["daemon", "--distributions", &id])
            .env("CW2MACKEREL_STATE_FILE", &state),
    );
    wait_for(Duration::from_secs(60), "the first cycle's state", || {
        state.exists()
    });
    // Between cycles: the minute's sleep ends at once.
    signal(&daemon, "-HUP");
    let sent = Instant::now();
    let (code, logs) = finish(daemon, Duration::from_secs(20));
    assert!(sent.elapsed() < PROMPT, "{:?}", sent.elapsed());
    assert_eq!(code, 0, "{logs:#?}");
    assert_eq!(msgs(&logs), ["cycle ok", "stopped"], "{logs:#?}");
    assert_eq!(logs[1]["signal"], "SIGHUP");
    assert!(
        logs[1]["note"]
            .as_str()
            .unwrap()
            .contains("no configuration to reload"),
        "{}",
        logs[1]
    );
}
