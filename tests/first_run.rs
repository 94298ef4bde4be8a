//! What a user trying cw2mackerel for the first time sees: a quiet first run (every run of a
//! fresh container has no state file), a dry run that prints what a run would post now, and
//! an SSM error that says where it looked.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The log lines at `warn`, any message.
fn warns(ran: &Ran) -> Vec<Value> {
    ran.logs()
        .into_iter()
        .filter(|l| l["level"] == "warn")
        .collect()
}

#[test]
fn a_first_run_says_so_at_info_and_a_foreign_state_file_warns() {
    let (moto, id) = busy("first");
    let mackerel = Fake::mackerel();
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.args(["run", "--distributions", &id, "--metrics", "requests"]);
    let first = run(&mut cmd);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(warns(&first).is_empty(), "{}", first.stderr);
    let said = first.said("info", "no state file yet; posting the whole window");
    assert_eq!(said.len(), 1, "{}", first.stderr);
    assert_eq!(
        said[0]["path"].as_str(),
        state_path(&cmd).to_str(),
        "it names where it looked"
    );

    // A file that is there but says nothing about this configuration is worth a warning.
    let (written, path) = (state_of(&cmd), state_path(&cmd));
    let spoil = |field: &str, value: Value| {
        let mut s = written.clone();
        s[field] = value;
        std::fs::write(&path, s.to_string()).unwrap();
    };
    for (field, value, reason) in [
        ("version", json!(1), "another version"),
        ("config", json!("0123456789abcdef"), "another configuration"),
        ("key", json!("0123456789abcdef"), "another Mackerel API key"),
    ] {
        spoil(field, value);
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let w = warns(&ran);
        assert_eq!(w.len(), 1, "{field}: {}", ran.stderr);
        assert_eq!(
            w[0]["msg"], "no record of earlier posts; posting the whole window",
            "{field}"
        );
        assert!(
            w[0]["reason"].as_str().unwrap().contains(reason),
            "{field}: {}",
            ran.stderr
        );
    }
}

/// The dry run's JSON lines, as (name, time) → value.
fn printed(ran: &Ran) -> BTreeMap<(String, i64), Value> {
    ran.stdout
        .lines()
        .map(|l| {
            let p: Value = serde_json::from_str(l).unwrap();
            let key = (
                p["name"].as_str().unwrap().to_string(),
                p["time"].as_i64().unwrap(),
            );
            (key, p["value"].clone())
        })
        .collect()
}

/// Runs `pair` until both of its commands ran within one wall-clock minute (so that they saw
/// one window), at most three times.
fn within_a_minute<T>(mut pair: impl FnMut() -> T) -> T {
    for _ in 0..3 {
        let minute = now() / 60;
        let out = pair();
        if now() / 60 == minute {
            return out;
        }
    }
    panic!("three minutes turned over mid-test");
}

#[test]
fn a_dry_run_prints_what_the_next_run_posts_and_needs_no_key() {
    let (moto, id) = busy("dryafter");
    let mackerel = Fake::mackerel();
    let mut real = against(moto, "reader", &mackerel);
    real.args(["run", "--distributions", &id]);
    // The same configuration and state file, without the key.
    let mut dry = against(moto, "reader", &mackerel);
    dry.env("CW2MACKEREL_STATE_FILE", state_path(&real))
        .env_remove("MACKEREL_APIKEY")
        .args(["run", "--dry-run", "--distributions", &id]);

    // Before any run there is no record: the whole window, and no file made by the dry run.
    let ran = run(&mut dry);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(printed(&ran).len(), 60, "six series of ten minutes");
    assert_eq!(ran.summary()["skipped"], 0);
    assert!(
        ran.said("info", "no state file yet; printing the whole window")
            .len()
            == 1,
        "{}",
        ran.stderr
    );
    let mut lock = state_path(&real).into_os_string();
    lock.push(".lock");
    assert!(!state_path(&real).exists() && !std::path::Path::new(&lock).exists());

    // After a run, nothing is left to post, and the summary says how much was left out.
    let (posted, after) = within_a_minute(|| {
        let posted = run(&mut real);
        (posted, run(&mut dry))
    });
    assert_eq!(posted.code, 0, "{}", posted.stderr);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert_eq!(after.stdout, "", "{}", after.stderr);
    let s = after.summary();
    assert_eq!(s["dry_run"], true);
    assert!(s["datapoints"].as_u64().unwrap() >= 60, "{s}");
    assert_eq!(s["skipped"], s["datapoints"], "{s}");
    assert!(warns(&after).is_empty(), "{}", after.stderr);
    // It wrote nothing.
    let before = std::fs::read(state_path(&real)).unwrap();
    assert_eq!(run(&mut dry).code, 0);
    assert_eq!(std::fs::read(state_path(&real)).unwrap(), before);

    // `--full-window` prints the whole window whatever the record says.
    let full = run(dry.arg("--full-window"));
    assert_eq!(full.code, 0, "{}", full.stderr);
    assert_eq!(printed(&full).len(), 60, "{}", full.stderr);
    assert_eq!(full.summary()["skipped"], 0);
    let ran = run(cw2mackerel().args(["run", "--full-window"]));
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("--full-window goes with run --dry-run"),
        "{}",
        ran.stderr
    );

    // CloudWatch revises a minute: the dry run prints that point, and the run posts exactly
    // what the dry run printed.
    let name = format!("cloudfront.{id}.requests.request");
    let oldest = posted_points(&mackerel)
        .keys()
        .filter(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .min()
        .unwrap();
    moto.seed(&[
        "metrics",
        "--ids",
        &id,
        "--start",
        &(oldest + 120).to_string(),
        "--minutes",
        "1",
        "--metric",
        "Requests=5",
    ]);
    let mut dry = against(moto, "reader", &mackerel);
    dry.env("CW2MACKEREL_STATE_FILE", state_path(&real))
        .env_remove("MACKEREL_APIKEY")
        .args(["run", "--dry-run", "--distributions", &id]);
    let (shown, posted) = within_a_minute(|| {
        mackerel.reset();
        let shown = run(&mut dry);
        let posted = run(&mut real);
        (shown, posted)
    });
    assert_eq!((shown.code, posted.code), (0, 0), "{}", posted.stderr);
    assert!(
        mackerel
            .requests()
            .iter()
            .all(|r| r["headers"]["x-api-key"] == MACKEREL_KEY)
    );
    let shown = printed(&shown);
    assert!(shown.contains_key(&(name, oldest + 120)), "{shown:?}");
    assert_eq!(shown, posted_points(&mackerel));
}

#[test]
fn a_missing_ssm_parameter_names_the_region_searched_and_where_it_came_from() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let profile = temp_file("region-profile", "[default]\nregion = ap-southeast-2\n");
    for (extra, name, expect) in [
        (
            vec![("AWS_REGION", "eu-west-1")],
            "/cw2mackerel/missing",
            "in eu-west-1 (region from AWS_REGION)",
        ),
        (
            vec![("AWS_DEFAULT_REGION", "eu-central-1")],
            "/cw2mackerel/missing",
            "in eu-central-1 (region from AWS_DEFAULT_REGION)",
        ),
        (
            vec![("AWS_CONFIG_FILE", profile.to_str().unwrap())],
            "/cw2mackerel/missing",
            "in ap-southeast-2 (region from profile \"default\": region)",
        ),
        (
            vec![("AWS_REGION", "eu-west-1")],
            "arn:aws:ssm:ap-northeast-1:123456789012:parameter/cw2mackerel/missing",
            "in ap-northeast-1 (region from the parameter's ARN)",
        ),
    ] {
        let mut cmd = against(moto, "reader", &mackerel);
        cmd.env_remove("MACKEREL_APIKEY")
            .env("MACKEREL_APIKEY_SSM", name)
            .envs(extra)
            .args(["run", "--distributions", "E1"]);
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 1, "{}", ran.stderr);
        let error = ran.summary()["error"].as_str().unwrap().to_string();
        assert!(error.contains(expect), "{expect}: {error}");
        assert!(error.contains("ParameterNotFound"), "{error}");
    }
    assert!(mackerel.requests().is_empty());
}
