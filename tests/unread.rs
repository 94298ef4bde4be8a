//! Unread is unread, nothing is invented: a query CloudWatch left out of its answer, answered
//! in part with no page to follow, or answered beside a top-level message is never zero-filled
//! and is named in `failed`; a value that is not a finite number, or a timestamp off the
//! period, leaves its period empty; no window reaches past what CloudWatch keeps at its
//! period; a distribution ID that is not in the account is said so and not read. Against
//! `tests/peers/fake_aws.py`, whose faults change a GetMetricData answer as CloudWatch's own
//! can go wrong (moto cannot), and moto for the distribution IDs.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Map, Value, json};
use std::process::Command;

/// fake_aws with one distribution, and that distribution's ID.
fn one_distribution() -> (Fake, String) {
    let aws = Fake::aws(&["--distributions", "1"]);
    let id = aws.state()["ids"][0].as_str().unwrap().to_string();
    (aws, id)
}

/// `cw2mackerel` against fake_aws and the Mackerel fake, service `cdn`.
fn against_fakes(aws: &Fake, mackerel: &Fake) -> Command {
    let mut c = cw2mackerel();
    c.env("AWS_ENDPOINT_URL", aws.url())
        .env("AWS_ACCESS_KEY_ID", "AKIDFAKEAWS")
        .env("AWS_SECRET_ACCESS_KEY", "fake-aws-secret")
        .env("MACKEREL_APIBASE", mackerel.url())
        .env("MACKEREL_APIKEY", MACKEREL_KEY)
        .env("CW2MACKEREL_SERVICE", "cdn");
    c
}

/// One `run` of the default six metrics (queries q0 Requests, q1 BytesDownloaded, q2
/// BytesUploaded, q3 TotalErrorRate, q4 4xxErrorRate, q5 5xxErrorRate) whose GetMetricData
/// answer `answer` changes; the run and what Mackerel holds per metric group and name.
fn run_changed(answer: Value) -> (Ran, String, Map<String, Value>) {
    let (aws, id) = one_distribution();
    let mackerel = Fake::mackerel();
    aws.faults(json!([{"action": "GetMetricData", "answer": answer}]));
    let ran = run(against_fakes(&aws, &mackerel)
        .env("CW2MACKEREL_LOG", "debug")
        .arg("run"));
    let held = service_points(&mackerel, "cdn");
    (ran, id, held)
}

/// The (time, value) pairs Mackerel holds for `name`, in time order.
fn series(held: &Map<String, Value>, name: &str) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = held
        .get(name)
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(t, v)| (t.parse().unwrap(), v.as_f64().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(t, _)| *t);
    out
}

/// What Mackerel holds for the CloudFront metric `metric` (`requests.request`) of `id`.
fn cloudfront(held: &Map<String, Value>, id: &str, metric: &str) -> Vec<(i64, f64)> {
    series(held, &format!("cloudfront.{id}.{metric}"))
}

fn failed(ran: &Ran) -> String {
    ran.summary()["failed"].to_string()
}

/// Runs with `answer` spoiling q0 (Requests): the run fails naming `said`, Requests gets no
/// point (no zeros either), and `other` is read and posted whole.
fn requests_unread(answer: Value, said: &str, other: &str) {
    let (ran, id, held) = run_changed(answer);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(failed(&ran).contains(said), "{}", ran.stderr);
    assert!(
        cloudfront(&held, &id, "requests.request").is_empty(),
        "no zeros for a series CloudWatch did not answer whole: {held:?}"
    );
    assert_eq!(cloudfront(&held, &id, other).len(), 10);
}

#[test]
fn a_query_left_out_of_every_page_is_unread_and_named() {
    requests_unread(json!({"omit": ["q0"]}), "Requests", "transfer.download");
}

#[test]
fn partial_data_with_no_next_token_is_unread_and_named() {
    requests_unread(json!({"partial": ["q0"]}), "PartialData", "transfer.upload");
}

#[test]
fn a_top_level_message_fails_the_run_and_invents_nothing() {
    // botocore's model: GetMetricDataOutput.Messages, "If there is a message, as much of the
    // operation as possible is still executed."
    let (ran, id, held) = run_changed(json!({
        "messages": [{"Code": "MaxMetricsExceeded", "Value": "Maximum number of allowed metrics exceeded"}],
        "omit": ["q2"],
        "edit": [{"id": "q0", "index": 3, "drop": true}],
    }));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        failed(&ran).contains("MaxMetricsExceeded"),
        "{}",
        ran.stderr
    );
    assert!(failed(&ran).contains("BytesUploaded"), "{}", ran.stderr);
    assert!(cloudfront(&held, &id, "transfer.upload").is_empty());
    // What did come back is CloudWatch's own values: posted, but no minute is zero-filled.
    let requests = cloudfront(&held, &id, "requests.request");
    assert_eq!(requests.len(), 9, "{requests:?}");
    assert!(requests.iter().all(|(_, v)| *v > 0.0), "{requests:?}");
    assert_eq!(
        cloudfront(&held, &id, "error_rate.total_error_rate").len(),
        10
    );
}

#[test]
fn values_that_are_not_finite_numbers_leave_their_minute_empty() {
    let (ran, id, held) = run_changed(json!({"edit": [
        {"id": "q0", "index": 1, "value": "NaN"},
        {"id": "q0", "index": 2, "value": "Infinity"},
        {"id": "q0", "index": 3, "value": "1e309"},
        {"id": "q3", "index": 0, "value": "-inf"},
    ]}));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let requests = cloudfront(&held, &id, "requests.request");
    assert_eq!(requests.len(), 7, "{requests:?}");
    assert!(
        requests.iter().all(|(_, v)| *v > 0.0),
        "never a zero for a minute CloudWatch gave a value for: {requests:?}"
    );
    let first = requests[0].0;
    for k in 1..=3 {
        assert!(requests.iter().all(|(t, _)| *t != first + 60 * k));
    }
    assert_eq!(
        cloudfront(&held, &id, "error_rate.total_error_rate").len(),
        9
    );
}

#[test]
fn a_timestamp_off_the_period_is_dropped_with_a_debug_line() {
    let (ran, id, held) = run_changed(json!({"edit": [{"id": "q0", "index": 4, "shift": 30}]}));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let requests = cloudfront(&held, &id, "requests.request");
    assert!(
        requests.iter().all(|(t, _)| t % 60 == 0),
        "off the minute: {requests:?}"
    );
    assert_eq!(requests.len(), 9, "{requests:?}");
    assert!(requests.iter().all(|(_, v)| *v > 0.0), "{requests:?}");
    assert!(!ran.said("debug", "period").is_empty(), "{}", ran.stderr);
}

/// A config file of one namespace job reading the fake distribution's Requests every 10 s.
fn high_resolution(id: &str) -> String {
    let job = json!({"jobs": [{"name": "hires", "regions": ["us-east-1"], "namespace": "AWS/CloudFront",
        "period": 10, "dimensions": {"DistributionId": id, "Region": "Global"},
        "metrics": [{"name": "Requests", "stat": "Sum", "nil_to_zero": true}],
        "target": {"service": "cdn"}, "name_template": "hires.{metric}"}]});
    temp_file(&format!("hires-{id}.json"), &job.to_string())
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn check_refuses_a_window_past_what_cloudwatch_keeps_at_the_period() {
    let config = high_resolution("E1");
    for (var, value) in [
        ("CW2MACKEREL_LOOKBACK", "4h"),
        ("CW2MACKEREL_BACKFILL", "3h"),
    ] {
        for command in ["check", "run"] {
            let ran = run(cw2mackerel()
                .env("MACKEREL_APIKEY", "k")
                .env("AWS_ACCESS_KEY_ID", "A")
                .env("AWS_SECRET_ACCESS_KEY", "S")
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                .env(var, value)
                .args([command, "--config", &config]));
            let refused = refused_as_mistake(&ran, &[var, "3h"]);
            assert!(refused.is_ok(), "{var}={value} {command}: {refused:?}");
        }
    }
    // Within three hours, with the delay, is fine.
    let ran = run(cw2mackerel()
        .env("MACKEREL_APIKEY", "k")
        .env("CW2MACKEREL_LOOKBACK", "2h")
        .args(["check", "--config", &config]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn the_read_back_stops_where_cloudwatch_keeps_nothing_at_the_period() {
    let (aws, id) = one_distribution();
    let mackerel = Fake::mackerel();
    let config = high_resolution(&id);
    let state = fresh_path("hires.state");
    let mut cmd = against_fakes(&aws, &mackerel);
    cmd.env("CW2MACKEREL_STATE_FILE", &state)
        .env_remove("CW2MACKEREL_SERVICE")
        .env("CW2MACKEREL_LOOKBACK", "10m")
        .args(["run", "--config", &config]);
    mackerel.faults(json!([{"path": "/tsdb", "status": 503, "count": 100}]));
    let down = run(&mut cmd);
    assert_eq!(down.code, 1, "{}", down.stderr);
    // As if Mackerel had been down for five hours: the next run reads back to then, but not
    // past the three hours CloudWatch keeps 10-second data, which would come back empty and be
    // zero-filled over what Mackerel holds.
    let mut saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(saved["unposted_since"].is_i64(), "{saved}");
    let now = now();
    saved["unposted_since"] = json!(now - 5 * 3600);
    std::fs::write(&state, saved.to_string()).unwrap();
    mackerel.reset();
    aws.reset();
    let back = run(&mut cmd);
    assert_eq!(back.code, 0, "{}", back.stderr);
    let starts: Vec<String> = aws
        .requests()
        .iter()
        .filter(|r| r["action"] == "GetMetricData")
        .map(|r| {
            let body = r["body"].as_str().unwrap_or_default().to_string();
            body.split('&')
                .find_map(|kv| kv.strip_prefix("StartTime="))
                .unwrap()
                .replace("%3A", ":")
        })
        .collect();
    assert!(!starts.is_empty());
    let oldest = iso(now - 3 * 3600);
    for s in &starts {
        assert!(*s >= oldest, "StartTime {s} is before {oldest}");
    }
    let posted = series(&service_points(&mackerel, "cdn"), "hires.Requests");
    assert!(
        posted.first().is_some_and(|(t, _)| *t >= now - 3 * 3600),
        "{:?}",
        posted.first()
    );
}

#[test]
fn a_distribution_id_not_in_the_account_is_said_and_not_read() {
    let moto = Moto::shared();
    let dists = moto.distributions("ghost", 1, &[]);
    let real = id_of(&dists[0]).to_string();
    moto.traffic(&[&real], 5);
    let ghost = "E0NOSUCHDIST01";
    let mackerel = Fake::mackerel();
    let ran = run(against(moto, "reader", &mackerel).args([
        "run",
        "--distributions",
        &format!("{real},{ghost}"),
        "--metrics",
        "requests",
    ]));
    let warned = ran.said("warn", ghost);
    assert_eq!(warned.len(), 1, "{}", ran.stderr);
    assert!(!warned[0].to_string().contains(&real), "{warned:?}");
    let held = service_points(&mackerel, "cdn");
    assert!(
        held.keys().all(|name| !name.contains(ghost)),
        "no zeros for a distribution that does not exist: {held:?}"
    );
    assert!(!cloudfront(&held, &real, "requests.request").is_empty());
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    // Without the CloudFront permission the IDs cannot be checked: they are read as given,
    // as before, and that is said at debug level only.
    mackerel.reset();
    let ran = run(against(moto, "nocloudfront", &mackerel)
        .env("CW2MACKEREL_LOG", "debug")
        .args(["run", "--distributions", &real, "--metrics", "requests"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.said("warn", "distribution").is_empty(),
        "{}",
        ran.stderr
    );
    assert!(ran.said("error", "").is_empty(), "{}", ran.stderr);
    assert!(
        !ran.said("debug", "could not be checked").is_empty(),
        "{}",
        ran.stderr
    );
    assert!(!cloudfront(&service_points(&mackerel, "cdn"), &real, "requests.request").is_empty());
}
