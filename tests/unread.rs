//! Unread is unread, nothing is invented: a query CloudWatch left out of its answer, answered
//! in part with no page to follow, or answered beside a top-level message is never zero-filled
//! and is named in `failed`; a value that is not a finite number, or a timestamp off the
//! period, leaves its period empty; no window reaches past what CloudWatch keeps at its
//! period; a distribution ID that is not in the account is said so and not read. Against
//! `tests/peers/fake_aws.py`, whose faults change a GetMetricData answer as CloudWatch's own
//! can go wrong (moto cannot), and moto for the distribution IDs.

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

fn failed(ran: &Ran) -> String {
    ran.summary()["failed"].to_string()
}

#[test]
fn a_query_left_out_of_every_page_is_unread_and_named() {
    let (ran, id, held) = run_changed(json!({"omit": ["q0"]}));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(failed(&ran).contains("Requests"), "{}", ran.stderr);
    assert!(
        series(&held, &format!("cloudfront.{id}.requests.request")).is_empty(),
        "no zeros for a series CloudWatch did not answer: {held:?}"
    );
    // The rest is read and posted.
    assert_eq!(
        series(&held, &format!("cloudfront.{id}.transfer.download")).len(),
        10
    );
}

#[test]
fn partial_data_with_no_next_token_is_unread_and_named() {
    let (ran, id, held) = run_changed(json!({"partial": ["q0"]}));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(failed(&ran).contains("PartialData"), "{}", ran.stderr);
    assert!(
        series(&held, &format!("cloudfront.{id}.requests.request")).is_empty(),
        "{held:?}"
    );
    assert_eq!(
        series(&held, &format!("cloudfront.{id}.transfer.upload")).len(),
        10
    );
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
    assert!(series(&held, &format!("cloudfront.{id}.transfer.upload")).is_empty());
    // What did come back is CloudWatch's own values: posted, but no minute is zero-filled.
    let requests = series(&held, &format!("cloudfront.{id}.requests.request"));
    assert_eq!(requests.len(), 9, "{requests:?}");
    assert!(requests.iter().all(|(_, v)| *v > 0.0), "{requests:?}");
    assert_eq!(
        series(
            &held,
            &format!("cloudfront.{id}.error_rate.total_error_rate")
        )
        .len(),
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
    let requests = series(&held, &format!("cloudfront.{id}.requests.request"));
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
        series(
            &held,
            &format!("cloudfront.{id}.error_rate.total_error_rate")
        )
        .len(),
        9
    );
}

#[test]
fn a_timestamp_off_the_period_is_dropped_with_a_debug_line() {
    let (ran, id, held) = run_changed(json!({"edit": [{"id": "q0", "index": 4, "shift": 30}]}));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let requests = series(&held, &format!("cloudfront.{id}.requests.request"));
    assert!(
        requests.iter().all(|(t, _)| t % 60 == 0),
        "off the minute: {requests:?}"
    );
    assert_eq!(requests.len(), 9, "{requests:?}");
    assert!(requests.iter().all(|(_, v)| *v > 0.0), "{requests:?}");
    assert!(
        ran.logs()
            .iter()
            .any(|l| l["level"] == "debug" && l["msg"].as_str().unwrap().contains("period")),
        "{}",
        ran.stderr
    );
}
