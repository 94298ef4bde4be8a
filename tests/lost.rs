//! Nothing lost on Mackerel's side: an answer counts only when it is Mackerel's, a redirect
//! or a body too large for something in between never costs a point, and a point leaves the
//! backlog only when Mackerel took it, refused it alone for what it holds, or is past
//! Mackerel's horizon. Each case once lost points while the run said `ok`.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::process::Command;

/// `run` for one distribution, with a state file of its own.
fn run_one(moto: &Moto, mackerel: &Fake, id: &str) -> Command {
    let mut cmd = against(moto, "reader", mackerel);
    cmd.args(["run", "--distributions", id]);
    cmd
}

/// Points Mackerel did not take are still owed: the state file says from when.
fn assert_owed(cmd: &Command) {
    let since = state_of(cmd)["unposted_since"].as_i64();
    assert!(
        since.is_some_and(|t| t <= now() - 12 * 60),
        "unposted_since {since:?}: the whole window is owed"
    );
}

/// The next run posts the whole window, and the minute the owed window began with if the
/// clock moved on since: nothing counts as taken before.
fn assert_all_posted(cmd: &mut Command) {
    let again = run(cmd);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let s = again.summary();
    assert_eq!(s["skipped"], 0, "{s}");
    assert!(s["posted"].as_u64().is_some_and(|n| n >= 60), "{s}");
}

#[test]
fn a_2xx_that_is_not_mackerels_answer_is_a_failure_and_keeps_every_point() {
    let (moto, id) = busy("foreign");
    let page = format!("<html><title>Down for maintenance</title><p>{MACKEREL_KEY}</p></html>");
    for (ctype, body, said) in [
        (
            "text/html; charset=utf-8",
            page.as_str(),
            "<html><title>Down for maintenance",
        ),
        ("application/json", "", "an empty body"),
        ("application/json", r#"{"status":"ok"}"#, "status"),
        ("application/json", r#"{"success":false}"#, "success"),
    ] {
        let mackerel = Fake::mackerel();
        mackerel.faults(json!([{"path": "/tsdb$", "status": 200, "ctype": ctype,
                                "body": body, "count": 100}]));
        let mut cmd = run_one(moto, &mackerel, &id);
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 1, "{ctype} {body:?}: {}", ran.stderr);
        let s = ran.summary();
        assert_eq!(s["posted"], 0, "{s}");
        let error = s["error"].as_str().unwrap();
        let ctype_only = ctype.split(';').next().unwrap();
        assert!(
            error.contains(ctype_only) && error.contains(said),
            "the error names what came back: {error}"
        );
        ran.assert_no_secret(&[MACKEREL_KEY]);
        assert_eq!(
            mackerel.requests_to("/tsdb").len(),
            4,
            "tried again like a 5xx"
        );
        assert_owed(&cmd);

        // Mackerel is back: every point goes out, none counted as taken before.
        mackerel.reset();
        assert_all_posted(&mut cmd);
    }
}

#[test]
fn graph_definitions_answered_by_a_web_page_are_a_failure() {
    let moto = Moto::shared();
    moto.distributions("graphpage", 1, &[]);
    let mackerel = Fake::mackerel();
    mackerel.faults(
        json!([{"path": "/graph-defs/create$", "status": 200, "ctype": "text/html",
                            "body": "<html>sign in</html>", "count": 100}]),
    );
    let ran = run(&mut host_run(moto, &mackerel, "graphpage"));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let failed = ran.summary()["failed"].to_string();
    assert!(
        failed.contains("graph definitions") && failed.contains("text/html"),
        "{failed}"
    );
}

#[test]
fn a_redirect_is_never_followed_and_costs_no_point() {
    let (moto, id) = busy("redirect");
    let mackerel = Fake::mackerel();
    let elsewhere = "https://status.example.com/maintenance?from=api";
    for status in [302, 307] {
        mackerel.reset();
        mackerel.faults(json!([{"path": "/tsdb$", "status": status, "body": "",
                                "headers": {"Location": elsewhere}, "count": 100}]));
        let mut cmd = run_one(moto, &mackerel, &id);
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 1, "{}", ran.stderr);
        let s = ran.summary();
        let error = s["error"].as_str().unwrap();
        assert!(
            error.contains("MACKEREL_APIBASE") && error.contains(elsewhere),
            "{status}: {error}"
        );
        assert!(s.get("refused").is_none(), "{s}");
        assert_eq!(
            mackerel.requests_to("/tsdb").len(),
            1,
            "{status}: not followed, not split, not tried point by point"
        );
        assert!(mackerel.requests_to("maintenance").is_empty());
        assert_owed(&cmd);

        mackerel.reset();
        assert_all_posted(&mut cmd);
    }
}

#[test]
fn a_413_for_a_single_point_stops_the_posting_and_keeps_every_point() {
    let (moto, id) = busy("always413");
    let mackerel = Fake::mackerel();
    // Something in front of Mackerel takes no body at all.
    mackerel.faults(json!([{"path": "/tsdb$", "status": 413, "count": 10_000,
        "body": "{\"error\":{\"message\":\"Request Entity Too Large\"}}"}]));
    let mut cmd = run_one(moto, &mackerel, &id);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(s["posted"], 0);
    assert!(s.get("refused").is_none(), "not the points' fault: {s}");
    assert!(s["error"].as_str().unwrap().contains("413"), "{s}");
    let posts = mackerel.requests_to("/tsdb").len();
    assert!(
        posts <= 8,
        "halved down to one point, then stopped: {posts} posts"
    );
    assert_owed(&cmd);

    mackerel.reset();
    assert_all_posted(&mut cmd);
}

#[test]
fn a_point_refused_alone_for_what_it_holds_is_counted_and_named() {
    let (moto, id) = busy("refusedalone");
    let mackerel = Fake::mackerel();
    // 60 points: the body and its first halves down to the oldest point alone are refused.
    mackerel.faults(json!([{"path": "/tsdb$", "status": 400, "count": 6,
        "body": "{\"error\":{\"message\":\"invalid metric value\"}}"}]));
    let mut cmd = run_one(moto, &mackerel, &id);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(
        (s["posted"].as_u64(), s["refused"].as_u64()),
        (Some(59), Some(1)),
        "{s}"
    );
    let failed = s["failed"].to_string();
    assert!(
        failed.contains("invalid metric value") && failed.contains(&format!("cloudfront.{id}.")),
        "the point is named: {failed}"
    );
    assert!(
        state_of(&cmd)["unposted_since"].is_null(),
        "a point refused for what it holds is not owed"
    );
    let logged: Value = s;
    assert!(
        logged.get("dropped").is_none(),
        "nothing was past the horizon"
    );
}

#[test]
fn a_refusal_that_is_not_mackerels_refuses_no_point() {
    let (moto, id) = busy("wafrefusal");
    let mackerel = Fake::mackerel();
    // A web application firewall in front of Mackerel turns every body away with its page.
    mackerel.faults(
        json!([{"path": "/tsdb$", "status": 400, "ctype": "text/html",
                            "body": "<html><h1>Request blocked</h1></html>", "count": 100}]),
    );
    let mut cmd = run_one(moto, &mackerel, &id);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let s = ran.summary();
    assert!(s.get("refused").is_none(), "{s}");
    assert!(
        s["error"].as_str().unwrap().contains("Request blocked"),
        "{s}"
    );
    assert_eq!(mackerel.requests_to("/tsdb").len(), 1, "not split");
    assert_owed(&cmd);
    mackerel.reset();
    assert_all_posted(&mut cmd);
}
