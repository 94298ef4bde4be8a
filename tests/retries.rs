//! AWS calls are retried as the SDKs' standard retry mode does (botocore 1.44.8,
//! `retries/standard.py`): three attempts unless `AWS_MAX_ATTEMPTS` or the profile's
//! `max_attempts` says otherwise, throttling and 500/502/503/504 retried but not 501,
//! `x-amz-retry-after` waited for; and a clock AWS's `Date` shows to be off is corrected once,
//! said once, and no longer blamed on the secret key. The peer is `fake_aws.py`, which checks
//! every signature and the time it was made at, as AWS does.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};

const KEY_ID: &str = "AKIDRETRIESEXAMPLE";
const SECRET: &str = "retries-secret-example-0123";

/// fake_aws (one distribution, every signature verified) with `args`, and a Mackerel.
fn peers(args: &[&str]) -> (Fake, Fake) {
    let mut all = vec!["--access-key-id", KEY_ID, "--secret-access-key", SECRET];
    all.extend(args);
    (Fake::aws(&all), Fake::mackerel())
}

/// `run` in service mode against `aws` and `mackerel`.
fn run_against(aws: &Fake, mackerel: &Fake) -> std::process::Command {
    let mut c = pointed_at(aws.url(), KEY_ID, SECRET, mackerel);
    c.arg("run");
    c
}

/// The requests fake_aws received for `action`, in order.
fn calls(aws: &Fake, action: &str) -> Vec<Value> {
    aws.requests()
        .into_iter()
        .filter(|r| r["action"] == action)
        .collect()
}

#[test]
fn aws_calls_get_the_attempts_of_the_standard_retry_mode() {
    let (aws, mackerel) = peers(&[]);
    let profile = temp_file("retries-config", "[profile twice]\nmax_attempts = 2\n");
    let profile = profile.to_str().unwrap();
    let fault = |status: u16| json!({"action": "GetMetricData", "status": status, "count": 10});
    type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>, usize, i32);
    let cases: Vec<Case> = vec![
        ("Throttling", fault(400), vec![], 3, 1),
        ("429", fault(429), vec![], 3, 1),
        ("500", fault(500), vec![], 3, 1),
        ("501 is not retried", fault(501), vec![], 1, 1),
        (
            "502 then success",
            json!({"action": "GetMetricData", "status": 502, "count": 2}),
            vec![],
            3,
            0,
        ),
        (
            "503 then success",
            json!({"action": "GetMetricData", "status": 503, "count": 1}),
            vec![],
            2,
            0,
        ),
        ("504", fault(504), vec![], 3, 1),
        (
            "AWS_MAX_ATTEMPTS",
            fault(500),
            vec![("AWS_MAX_ATTEMPTS", "5")],
            5,
            1,
        ),
        (
            "no retries",
            fault(400),
            vec![("AWS_MAX_ATTEMPTS", "1")],
            1,
            1,
        ),
        (
            "the profile's max_attempts",
            fault(503),
            vec![("AWS_CONFIG_FILE", profile), ("AWS_PROFILE", "twice")],
            2,
            1,
        ),
        (
            "AWS_MAX_ATTEMPTS over the profile's",
            fault(503),
            vec![
                ("AWS_CONFIG_FILE", profile),
                ("AWS_PROFILE", "twice"),
                ("AWS_MAX_ATTEMPTS", "4"),
            ],
            4,
            1,
        ),
    ];
    // Every row is tried; the ones that went otherwise are listed together.
    let mut wrong = Vec::new();
    for (what, fault, env, attempts, code) in cases {
        aws.reset();
        aws.faults(json!([fault]));
        let ran = run(run_against(&aws, &mackerel).envs(env));
        let made = calls(&aws, "GetMetricData").len();
        if (ran.code, made) != (code, attempts) {
            wrong.push(format!(
                "{what}: exit {} after {made} attempts, not {code} after {attempts}",
                ran.code
            ));
            continue;
        }
        if code == 1 {
            let error = ran.summary()["error"].as_str().unwrap().to_string();
            let said = match attempts {
                1 => "GetMetricData failed".to_string(),
                n => format!("gave up after {n} attempts"),
            };
            if !error.contains(&said) {
                wrong.push(format!("{what}: {error}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn x_amz_retry_after_is_waited_for_within_five_seconds_of_the_backoff() {
    let (aws, mackerel) = peers(&[]);
    for (after_ms, at_least, at_most) in [(1500, 1.4, 5.0), (120_000, 0.0, 10.0)] {
        aws.reset();
        aws.faults(
            json!([{"action": "GetMetricData", "status": 503, "count": 1,
                           "headers": {"x-amz-retry-after": after_ms.to_string()}}]),
        );
        let ran = run(&mut run_against(&aws, &mackerel));
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let tries = calls(&aws, "GetMetricData");
        assert_eq!(tries.len(), 2, "{after_ms}");
        let gap = tries[1]["time"].as_f64().unwrap() - tries[0]["time"].as_f64().unwrap();
        assert!(
            (at_least..at_most).contains(&gap),
            "x-amz-retry-after {after_ms}: waited {gap:.2}s"
        );
    }
}

/// The warnings a run logged about this machine's clock.
fn clock_warnings(ran: &Ran) -> Vec<Value> {
    ran.logs()
        .into_iter()
        .filter(|l| l["level"] == "warn" && l["msg"].as_str().unwrap().contains("clock"))
        .collect()
}

#[test]
fn a_skewed_clock_is_corrected_from_awss_date_and_said_once() {
    for offset in [900i64, -900] {
        let (aws, mackerel) = peers(&["--clock-offset", &offset.to_string()]);
        let ran = run(&mut run_against(&aws, &mackerel));
        assert_eq!(ran.code, 0, "{offset}: {}", ran.stderr);
        let warnings = clock_warnings(&ran);
        assert_eq!(warnings.len(), 1, "{offset}: {}", ran.stderr);
        let said = warnings[0]["offset_s"].as_i64().unwrap();
        assert!((said - offset).abs() <= 5, "{offset}: said {said}");
        // The first request was refused; every later one was signed with AWS's time.
        let state = aws.state();
        assert_eq!(
            state["errors"],
            json!({"SignatureDoesNotMatch": 1}),
            "{offset}"
        );
        assert_eq!(calls(&aws, "ListDistributions").len(), 2, "{offset}");
        assert_eq!(calls(&aws, "GetMetricData").len(), 1, "{offset}");
        assert!(!service_points(&mackerel, "cdn").is_empty(), "{offset}");
    }

    // A clock that is off and a secret that is wrong: once the clock is corrected, the
    // refusal that is left is the secret's, and that is what the run says.
    let (aws, mackerel) = peers(&["--clock-offset", "-1200"]);
    let ran = run(run_against(&aws, &mackerel).env("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123"));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let error = ran.summary()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("secret access key does not match"),
        "{error}"
    );
    assert_eq!(calls(&aws, "ListDistributions").len(), 2);

    // Within AWS's five minutes nothing is corrected or said.
    let (aws, mackerel) = peers(&["--clock-offset", "120"]);
    let ran = run(&mut run_against(&aws, &mackerel));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(clock_warnings(&ran).is_empty(), "{}", ran.stderr);
    assert_eq!(aws.state()["errors"], json!({}));
}

#[test]
fn web_identity_is_retried_as_every_aws_call() {
    let sts = Fake::start("sts", &[]);
    let token = temp_file("retries-web-identity", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln\n");
    let idp = "<ErrorResponse><Error><Type>Sender</Type><Code>IDPCommunicationError</Code>\
               <Message>the provider did not answer</Message></Error></ErrorResponse>";
    for (what, fault, attempts) in [
        ("503", json!({"status": 503, "count": 10}), 3),
        ("501", json!({"status": 501, "count": 10}), 1),
        (
            "IDPCommunicationError",
            json!({"status": 400, "count": 10, "body": idp}),
            3,
        ),
    ] {
        sts.reset();
        sts.faults(json!([fault]));
        let ran = run(cw2mackerel()
            .env("AWS_ENDPOINT_URL_STS", sts.url())
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/reader")
            .args(["run", "--dry-run", "--distributions", "E1"]));
        assert_eq!(ran.code, 1, "{what}: {}", ran.stderr);
        assert_eq!(sts.requests().len(), attempts, "{what}");
    }
}

#[test]
fn the_cycle_deadline_bounds_the_retrying() {
    let (aws, mackerel) = peers(&[]);
    aws.faults(json!([{"action": "GetMetricData", "status": 400, "count": 100}]));
    let started = std::time::Instant::now();
    let ran = run(run_against(&aws, &mackerel)
        .env("AWS_MAX_ATTEMPTS", "20")
        .env("CW2MACKEREL_CYCLE_TIMEOUT", "4s"));
    let took = started.elapsed();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let error = ran.summary()["error"].as_str().unwrap().to_string();
    assert!(error.contains("before the cycle's deadline"), "{error}");
    assert!(took < std::time::Duration::from_secs(8), "{took:?}");
    assert!(calls(&aws, "GetMetricData").len() < 20);
}
