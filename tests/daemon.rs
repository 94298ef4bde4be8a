//! `daemon`, `healthcheck` and the Lambda runtime, end to end against moto, the strict Mackerel
//! fake and a fake of the Lambda runtime API.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

fn state_file(name: &str) -> std::path::PathBuf {
    let p = temp_file(name, "");
    std::fs::remove_file(&p).unwrap();
    p
}

#[test]
fn every_point_arrives_after_503s_and_a_429_storm() {
    let moto = Moto::shared();
    let dists = moto.distributions("storm", 1, &[]);
    let id = id_of(&dists[0]).to_string();
    let start = moto.traffic(&[&id], 30);
    let mackerel = Fake::mackerel();
    // Two cycles of 503s, then a 429 storm across two more, then Mackerel recovers.
    mackerel.faults(json!([
        {"path": "/tsdb", "status": 503, "count": 8},
        {"path": "/tsdb", "status": 429, "headers": {"Retry-After": "1"}, "count": 8},
    ]));
    let state = state_file("storm.state");
    // A 2m look-back cannot re-read what the first cycle's 20m back-fill saw: only the
    // backlog brings those points through the outage.
    let daemon = spawn(
        against(moto, "reader", &mackerel)
            .args(["daemon", "--distributions", &id])
            .envs([
                ("CW2MACKEREL_INTERVAL", "2s"),
                ("CW2MACKEREL_LOOKBACK", "2m"),
                ("CW2MACKEREL_BACKFILL", "20m"),
                ("CW2MACKEREL_STATE_FILE", state.to_str().unwrap()),
            ]),
    );
    let name = format!("cloudfront.{id}.requests.request");
    wait_for(
        Duration::from_secs(90),
        "all 20 back-filled minutes",
        || {
            service_points(&mackerel, "cdn")
                .get(&name)
                .and_then(Value::as_object)
                .is_some_and(|s| s.len() >= 20)
        },
    );
    signal(&daemon, "-TERM");
    let (code, logs) = finish(daemon, Duration::from_secs(10));
    assert_eq!(code, 0);

    let cycles: Vec<&Value> = logs
        .iter()
        .filter(|l| l["msg"].as_str().unwrap().starts_with("cycle"))
        .collect();
    assert!(
        cycles.iter().filter(|c| c["msg"] == "cycle failed").count() >= 2,
        "{logs:#?}"
    );
    assert_eq!(cycles.last().unwrap()["msg"], "cycle ok");
    assert!(
        cycles
            .iter()
            .all(|c| c.get("dropped").is_none_or(|d| d == 0))
    );
    assert_eq!(logs.last().unwrap()["msg"], "stopped");
    // Through the outage, each point was taken exactly once.
    assert!(post_counts(&mackerel).values().all(|n| *n == 1));

    // Exactly as seeded: value = 10 + minute index, at its own minute.
    let points = service_points(&mackerel, "cdn");
    let series = points[&name].as_object().unwrap();
    for (t, v) in series {
        let minute = (t.parse::<i64>().unwrap() - start) / 60;
        assert!((0..30).contains(&minute), "{t}");
        assert_eq!(v.as_f64().unwrap(), 10.0 + minute as f64, "at {t}");
    }
    let rate = points[&format!("cloudfront.{id}.error_rate.5xx_error_rate")]
        .as_object()
        .unwrap();
    assert!(rate.len() >= 20);
    assert!(rate.iter().all(
        |(t, v)| v.as_f64().unwrap() == 0.5 + ((t.parse::<i64>().unwrap() - start) / 60) as f64
    ));

    // The healthcheck saw the daemon alive.
    let ran = run(cw2mackerel()
        .env("CW2MACKEREL_STATE_FILE", &state)
        .arg("healthcheck"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn later_cycles_post_only_new_minutes() {
    let (moto, _) = busy("once");
    let mackerel = Fake::mackerel();
    // Selected by tag: discovery takes ListDistributions and ListTagsForResource calls.
    let daemon = spawn(
        against(moto, "reader", &mackerel)
            .args(["daemon", "--tag", "test=once"])
            .env("CW2MACKEREL_INTERVAL", "2s"),
    );
    std::thread::sleep(Duration::from_secs(7));
    signal(&daemon, "-TERM");
    let (code, logs) = finish(daemon, Duration::from_secs(10));
    assert_eq!(code, 0);
    let cycles: Vec<&Value> = logs.iter().filter(|l| l["msg"] == "cycle ok").collect();
    assert!(cycles.len() >= 3, "{logs:#?}");
    // The first cycle posts its window; later ones re-read it and post only new minutes.
    assert_eq!(cycles[0]["posted"], 60);
    assert!(cycles[0]["calls"]["cloudfront"].as_u64().unwrap() >= 2);
    for c in &cycles[1..] {
        assert!(
            c["calls"].get("cloudfront").is_none(),
            "discovery reused: {c}"
        );
        let (posted, skipped) = (
            c["posted"].as_u64().unwrap(),
            c["skipped"].as_u64().unwrap(),
        );
        assert!(posted <= 6, "at most a new minute: {c}");
        assert_eq!(posted + skipped, c["datapoints"].as_u64().unwrap(), "{c}");
    }
    let counts = post_counts(&mackerel);
    assert!(counts.values().all(|n| *n == 1), "posted twice: {counts:?}");
}

#[test]
fn sigterm_lets_the_cycle_in_flight_finish() {
    let (moto, id) = busy("sigterm");
    let mackerel = Fake::mackerel();
    // The first post takes 2 s: SIGTERM lands while it is in flight.
    mackerel.faults(json!([{"path": "/tsdb", "delay": 2.0}]));
    let daemon = spawn(
        against(moto, "reader", &mackerel)
            .args(["daemon", "--distributions", &id])
            .env("CW2MACKEREL_INTERVAL", "60s"),
    );
    wait_for(Duration::from_secs(30), "the first post", || {
        !mackerel.requests_to("/tsdb").is_empty()
    });
    signal(&daemon, "-TERM");
    let sent = Instant::now();
    let (code, logs) = finish(daemon, Duration::from_secs(10));
    assert_eq!(code, 0);
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(
        logs.iter().filter(|l| l["msg"] == "cycle ok").count(),
        1,
        "{logs:#?}"
    );
    assert_eq!(
        series_len(
            &mackerel,
            "cdn",
            &format!("cloudfront.{id}.requests.request")
        ),
        10
    );

    // A peer that hangs cannot hold the stop past the grace period.
    mackerel.reset();
    mackerel.faults(json!([{"path": "/tsdb", "delay": 60.0}]));
    let daemon = spawn(
        against(moto, "reader", &mackerel)
            .args(["daemon", "--distributions", &id])
            .env("CW2MACKEREL_TIMEOUT", "2m"),
    );
    wait_for(Duration::from_secs(30), "the hanging post", || {
        !mackerel.requests_to("/tsdb").is_empty()
    });
    signal(&daemon, "-INT");
    let sent = Instant::now();
    let (code, logs) = finish(daemon, Duration::from_secs(15));
    assert_eq!(code, 0);
    assert!(
        sent.elapsed() < Duration::from_secs(8),
        "{:?}",
        sent.elapsed()
    );
    assert!(
        logs.last().unwrap()["msg"]
            .as_str()
            .unwrap()
            .contains("stop deadline passed"),
        "{logs:#?}"
    );
}

#[test]
fn gives_up_after_max_failures_and_healthcheck_tells() {
    let mackerel = Fake::mackerel();
    mackerel.faults(json!([{"path": "/tsdb", "status": 500, "count": 100}]));
    let moto = Moto::shared();
    let dists = moto.distributions("giveup", 1, &[]);
    let state = state_file("giveup.state");
    let daemon = spawn(
        against(moto, "reader", &mackerel)
            .args(["daemon", "--distributions", id_of(&dists[0])])
            .envs([
                ("CW2MACKEREL_INTERVAL", "1s"),
                ("CW2MACKEREL_MAX_FAILURES", "2"),
                ("CW2MACKEREL_STATE_FILE", state.to_str().unwrap()),
            ]),
    );
    let (code, logs) = finish(daemon, Duration::from_secs(60));
    assert_eq!(code, 1);
    assert_eq!(
        logs.iter().filter(|l| l["msg"] == "cycle failed").count(),
        2
    );
    assert!(
        logs.last().unwrap()["msg"]
            .as_str()
            .unwrap()
            .contains("2 cycles in a row failed")
    );

    let health = |path: &std::path::Path| {
        run(cw2mackerel()
            .env("CW2MACKEREL_STATE_FILE", path)
            .arg("healthcheck"))
        .code
    };
    assert_eq!(
        health(&state),
        0,
        "a failing daemon that completes cycles is alive"
    );
    std::fs::write(
        &state,
        json!({"completed": now() - 10, "interval_s": 1}).to_string(),
    )
    .unwrap();
    assert_eq!(health(&state), 1, "no cycle within 3 intervals");
    assert_eq!(health(std::path::Path::new("/nonexistent/state")), 1);
}

#[test]
fn a_replacement_daemon_posts_what_its_predecessor_could_not() {
    let mackerel = Fake::mackerel();
    mackerel.faults(json!([{"path": "/tsdb", "status": 500, "count": 100}]));
    let (moto, id) = busy("successor");
    let state = state_file("successor.state");
    let daemon = |lookback: &str| {
        spawn(
            against(moto, "reader", &mackerel)
                .args(["daemon", "--distributions", &id])
                .envs([
                    ("CW2MACKEREL_INTERVAL", "1s"),
                    ("CW2MACKEREL_MAX_FAILURES", "1"),
                    ("CW2MACKEREL_LOOKBACK", lookback),
                    ("CW2MACKEREL_STATE_FILE", state.to_str().unwrap()),
                ]),
        )
    };
    // Mackerel is down: the daemon gives up with ten minutes unposted.
    let (code, _) = finish(daemon("10m"), Duration::from_secs(60));
    assert_eq!(code, 1);
    // Its successor reads five minutes a cycle, but first back to what was left.
    mackerel.reset();
    let next = daemon("5m");
    wait_for(Duration::from_secs(30), "a first cycle", || {
        !post_counts(&mackerel).is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    signal(&next, "-TERM");
    let (code, logs) = finish(next, Duration::from_secs(10));
    assert_eq!(code, 0, "{logs:#?}");
    let first = logs.iter().find(|l| l["msg"] == "cycle ok").unwrap();
    assert!(first["posted"].as_u64().unwrap() >= 60, "{first}");
}

/// The binary as a Lambda `bootstrap`: no arguments, AWS_LAMBDA_RUNTIME_API set.
fn bootstrap(moto: &Moto, mackerel: &Fake, runtime: &Fake, id: &str) -> Command {
    let mut cmd = against(moto, "reader", mackerel);
    cmd.env(
        "AWS_LAMBDA_RUNTIME_API",
        runtime.url().trim_start_matches("http://"),
    )
    .env("CW2MACKEREL_DISTRIBUTIONS", id);
    cmd
}

fn invoke(runtime: &Fake) -> String {
    invoke_with(runtime, json!({}))
}

/// Hands out an invocation with the fake's `/_fake/invoke` `options` (`size`,
/// `no_request_id`) and waits until it is answered.
fn invoke_with(runtime: &Fake, mut options: Value) -> String {
    options["payload"] = json!({"source": "aws.scheduler"});
    let id = post_json(&format!("{}/_fake/invoke", runtime.url()), &options)["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = get_json(&format!("{}/_fake/wait?id={id}&timeout=60", runtime.url()));
    assert_eq!(done["done"], true, "invocation {id} was not answered");
    id
}

#[test]
fn lambda_runtime_answers_each_invocation() {
    let moto = Moto::shared();
    let dists = moto.distributions("lambda", 1, &[]);
    let id = id_of(&dists[0]).to_string();
    let start = moto.traffic(&[&id], 20);
    let mackerel = Fake::mackerel();
    let runtime = Fake::start("lambda", &[]);
    // The first invocation reads a 15-minute back-fill, later ones a 2-minute look-back: only
    // the warm environment's backlog can bring the first one's older minutes to Mackerel.
    let mut cmd = bootstrap(moto, &mackerel, &runtime, &id);
    cmd.envs([
        ("CW2MACKEREL_BACKFILL", "15m"),
        ("CW2MACKEREL_LOOKBACK", "2m"),
    ]);
    let child = spawn(&mut cmd);

    mackerel.faults(json!([{"path": "/tsdb", "status": 500, "count": 4}]));
    let failed = invoke(&runtime);
    let ok = invoke(&runtime);
    let again = invoke(&runtime);
    let state = runtime.state();
    let error = &state["errors"][&failed];
    assert_eq!(error["type"], "Cw2mackerel.CycleFailed");
    assert!(
        error["body"]
            .as_str()
            .unwrap()
            .contains("Mackerel kept failing")
    );
    let response: Value = serde_json::from_str(state["responses"][&ok].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            response["status"].as_str(),
            response["distributions"].as_u64()
        ),
        (Some("ok"), Some(1))
    );
    let after: Value = serde_json::from_str(state["responses"][&again].as_str().unwrap()).unwrap();
    assert_eq!(after["status"], "ok");
    // All 15 back-filled minutes arrived, each with its seeded value.
    let name = format!("cloudfront.{id}.requests.request");
    let points = service_points(&mackerel, "cdn");
    let series = points[&name].as_object().unwrap();
    assert!(series.len() >= 15, "{} minutes: {series:?}", series.len());
    for (t, v) in series {
        let minute = (t.parse::<i64>().unwrap() - start) / 60;
        assert_eq!(v.as_f64().unwrap(), 10.0 + minute as f64, "at {t}");
    }

    signal(&child, "-KILL");
    let (_, logs) = finish(child, Duration::from_secs(5));
    assert_eq!(
        msgs(&logs),
        ["invocation failed", "invocation ok", "invocation ok"]
    );
}

#[test]
fn lambda_init_errors_are_reported() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let runtime = Fake::start("lambda", &[]);
    let mut cmd = bootstrap(moto, &mackerel, &runtime, "E1");
    cmd.env("CW2MACKEREL_LOOKBACK", "ten minutes");
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    let init = &runtime.state()["init_errors"][0];
    assert_eq!(init["type"], "Cw2mackerel.ConfigError");
    assert!(
        init["body"]
            .as_str()
            .unwrap()
            .contains("CW2MACKEREL_LOOKBACK")
    );
    ran.assert_no_secret(&[MACKEREL_KEY]);
}

#[test]
fn an_unreadable_lambda_event_is_that_invocations_error() {
    let moto = Moto::shared();
    let dists = moto.distributions("lambda-event", 1, &[]);
    let mackerel = Fake::mackerel();
    let runtime = Fake::start("lambda", &[]);
    let child = spawn(&mut bootstrap(moto, &mackerel, &runtime, id_of(&dists[0])));
    // The runtime's first poll is waiting: the fault below meets its second one.
    wait_for(Duration::from_secs(30), "the first poll", || {
        !runtime.requests_to("/invocation/next").is_empty()
    });
    runtime.faults(json!([{"path": "/invocation/next$", "truncate": true}]));

    // Over Lambda's 6 MB payload limit, then cut short, then a good one.
    let oversized = invoke_with(&runtime, json!({"size": (6 << 20) + 1}));
    let truncated = invoke(&runtime);
    let ok = invoke(&runtime);
    let state = runtime.state();
    for (id, why) in [(&oversized, "limit"), (&truncated, "closed")] {
        let error = &state["errors"][id];
        assert_eq!(error["type"], "Cw2mackerel.InvalidEvent", "{state}");
        let body: Value = serde_json::from_str(error["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["errorType"], "Cw2mackerel.InvalidEvent");
        let message = body["errorMessage"].as_str().unwrap();
        assert!(
            message.contains("event could not be read") && message.contains(why),
            "{message}"
        );
    }
    let response: Value = serde_json::from_str(state["responses"][&ok].as_str().unwrap()).unwrap();
    assert_eq!(response["status"], "ok");

    // An invocation without its request ID cannot be answered: the runtime says why and
    // exits, so that Lambda fails the invocation and starts a fresh environment.
    post_json(
        &format!("{}/_fake/invoke", runtime.url()),
        &json!({"no_request_id": true}),
    );
    let (code, logs) = finish(child, Duration::from_secs(30));
    assert_eq!(code, 1, "{logs:#?}");
    assert_eq!(
        msgs(&logs),
        [
            "invocation failed",
            "invocation failed",
            "invocation ok",
            "Lambda runtime API failed; exiting"
        ],
        "{logs:#?}"
    );
    assert!(
        logs[3]["error"]
            .as_str()
            .unwrap()
            .contains("without a request id")
    );
}
