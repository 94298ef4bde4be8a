//! `cw2mackerel run` and `list`, end to end: the real binary against moto (signatures checked)
//! and the strict Mackerel fake, with faults injected on both sides.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Seeded values are `default + minute index`; the default of Requests is 10.
const REQUESTS: f64 = 10.0;

#[test]
fn posts_every_point_with_its_cloudwatch_timestamp_through_ecs_role_credentials() {
    let moto = Moto::shared();
    let dists = moto.distributions("e2e", 2, &[]);
    let (busy, idle) = (id_of(&dists[0]), id_of(&dists[1]));
    let start = moto.traffic(&[busy], 20);
    let creds = moto.role_credentials();
    let ecs = ecs_endpoint(&creds, "ecs-auth-token-9f2");
    let mackerel = Fake::mackerel();
    let state = fresh_path("state");

    let mut cmd = cw2mackerel();
    cmd.env("CW2MACKEREL_STATE_FILE", &state)
        .env("AWS_ENDPOINT_URL", moto.url())
        .envs(container_env(&ecs, "ecs-auth-token-9f2"))
        .env("MACKEREL_APIBASE", mackerel.url())
        .env("MACKEREL_APIKEY", MACKEREL_KEY)
        .env("CW2MACKEREL_SERVICE", "cdn")
        .env("CW2MACKEREL_TAG", "test=e2e")
        .args(["run", "--metrics", "all"]);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "");
    // The first run has no state file yet, which is no trouble (every run of a fresh
    // container has none): one line at info saying so, then the one summary line.
    let logs = ran.logs();
    assert_eq!(logs.len(), 2, "{}", ran.stderr);
    assert_eq!(
        (logs[0]["level"].as_str(), logs[0]["msg"].as_str()),
        (
            Some("info"),
            Some("no state file yet; posting the whole window")
        )
    );
    let s = ran.summary();
    assert_eq!(s["msg"], "run ok");
    assert_eq!(s["distributions"], 2);
    assert_eq!(s["queries"], 32);
    assert_eq!(
        s["calls"]["cloudwatch"], 1,
        "32 queries fit one GetMetricData call"
    );
    ran.assert_no_secret(&[
        MACKEREL_KEY,
        "ecs-auth-token-9f2",
        creds["SecretAccessKey"].as_str().unwrap(),
        creds["Token"].as_str().unwrap(),
    ]);

    let points = service_points(&mackerel, "cdn");
    // The busy distribution: 10 minutes, each the seeded value at its own minute.
    let requests = points[&format!("cloudfront.{busy}.requests.request")]
        .as_object()
        .unwrap();
    assert_eq!(requests.len(), 10);
    let newest = requests
        .keys()
        .map(|t| t.parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert!(
        now() - newest >= 180 + 60 && now() - newest < 300 + 10,
        "held back by the 3m delay (give or take the run's own seconds): {}",
        now() - newest
    );
    for (t, v) in requests {
        let t: i64 = t.parse().unwrap();
        assert_eq!(t % 60, 0);
        assert_eq!(
            v.as_f64().unwrap(),
            REQUESTS + ((t - start) / 60) as f64,
            "at {t}"
        );
    }
    assert_eq!(
        points[&format!("cloudfront.{busy}.error_rate.5xx_error_rate")]
            .as_object()
            .unwrap()
            .len(),
        10
    );
    // The idle one: zeros for the sums, nothing invented for rates or additional metrics.
    for m in ["requests.request", "transfer.download", "transfer.upload"] {
        let series = points[&format!("cloudfront.{idle}.{m}")]
            .as_object()
            .unwrap();
        assert_eq!(series.len(), 10);
        assert!(series.values().all(|v| v == 0.0));
    }
    let idle_names: BTreeSet<&String> = points.keys().filter(|k| k.contains(idle)).collect();
    assert_eq!(idle_names.len(), 3, "{idle_names:?}");
    assert!(
        !points
            .keys()
            .any(|k| k.contains("cache_hit_rate") || k.contains("origin_latency"))
    );

    for p in mackerel.requests_to("/tsdb") {
        assert_eq!(p["headers"]["x-api-key"], MACKEREL_KEY);
    }
    let sizes = batch_sizes(&mackerel);
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    let total: usize = sizes.iter().sum();
    assert_eq!(total, s["datapoints"].as_u64().unwrap() as usize);
    assert_eq!(s["posted"], s["datapoints"]);
    assert!(ecs.state()["served"].as_u64().unwrap() >= 1);

    // A second run reads what the first posted from the state file and posts only what
    // Mackerel does not have: at most the minutes that are new since. One quiet line.
    let first = posted_points(&mackerel);
    mackerel.reset();
    let again = run(&mut cmd);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stderr.lines().count(), 1, "{}", again.stderr);
    let s2 = again.summary();
    let second = posted_points(&mackerel);
    assert!(
        second.keys().all(|k| !first.contains_key(k)),
        "posted again: {:?}",
        second
            .keys()
            .filter(|k| first.contains_key(*k))
            .collect::<Vec<_>>()
    );
    assert!(
        second.len() <= 9,
        "at most a new minute of 9 series: {second:?}"
    );
    assert!(s2["skipped"].as_u64().unwrap() >= 81);
    assert_eq!(
        s2["skipped"].as_u64().unwrap() + s2["posted"].as_u64().unwrap(),
        s2["datapoints"].as_u64().unwrap()
    );

    // A corrupt state file: one warning, and the whole window posted again, each point with
    // its value, ten minutes a series.
    std::fs::write(&state, "{\"version\": 2, \"posted\": [").unwrap();
    mackerel.reset();
    let third = run(&mut cmd);
    assert_eq!(third.code, 0, "{}", third.stderr);
    let warnings: Vec<Value> = third
        .logs()
        .into_iter()
        .filter(|l| l["level"] == "warn")
        .collect();
    assert_eq!(warnings.len(), 1, "{}", third.stderr);
    assert!(warnings[0]["reason"].as_str().unwrap().contains("corrupt"));
    let whole = posted_points(&mackerel);
    let window = (
        whole.keys().map(|(_, t)| *t).min().unwrap(),
        whole.keys().map(|(_, t)| *t).max().unwrap(),
    );
    for ((name, t), v) in first.iter().chain(&second) {
        if (window.0..=window.1).contains(t) {
            assert_eq!(whole.get(&(name.clone(), *t)), Some(v), "{name} at {t}");
        }
    }
    let mut per_series = std::collections::BTreeMap::new();
    for (name, _) in whole.keys() {
        *per_series.entry(name).or_insert(0) += 1;
    }
    assert!(per_series.values().all(|n| *n == 10), "{per_series:?}");
    assert_eq!(per_series.len(), 9);
}

#[test]
fn a_value_revised_in_cloudwatch_is_posted_again() {
    let (moto, id) = busy("revise");
    let mackerel = Fake::mackerel();
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.args(["run", "--distributions", &id]);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let name = format!("cloudfront.{id}.requests.request");
    let before = service_points(&mackerel, "cdn")[&name].clone();
    // An old minute, though not the oldest (the next run's window may have moved on by one).
    let mut minutes: Vec<(i64, f64)> = before
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, v)| (t.parse::<i64>().unwrap(), v.as_f64().unwrap()))
        .collect();
    minutes.sort_by_key(|(t, _)| *t);
    let (oldest, value) = minutes[2];
    // CloudWatch counts more requests for that minute: its Sum grows by 5.
    moto.seed(&[
        "metrics",
        "--ids",
        &id,
        "--start",
        &oldest.to_string(),
        "--minutes",
        "1",
        "--metric",
        "Requests=5",
    ]);
    mackerel.reset();
    let again = run(&mut cmd);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let posted = posted_points(&mackerel);
    assert_eq!(
        posted.get(&(name.clone(), oldest)),
        Some(&json!(value + 5.0))
    );
    // Nothing else of the old minutes went out again.
    let old: Vec<_> = posted
        .keys()
        .filter(|(n, t)| before.get(t.to_string()).is_some() && !(n == &name && *t == oldest))
        .collect();
    assert!(old.is_empty(), "{old:?}");
    assert_eq!(
        service_points(&mackerel, "cdn")[&name][oldest.to_string()],
        json!(value + 5.0)
    );
}

#[test]
fn dry_run_prints_json_lines_and_needs_no_mackerel() {
    let moto = Moto::shared();
    let dists = moto.distributions("dry", 1, &[]);
    let id = id_of(&dists[0]);
    moto.traffic(&[id], 15);
    let mackerel = Fake::mackerel();
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.env_remove("MACKEREL_APIKEY")
        .env_remove("CW2MACKEREL_SERVICE")
        .args(["run", "--dry-run", "--tag", "test=dry"]);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let lines: Vec<Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 60, "six series of ten minutes");
    for l in &lines {
        let keys: BTreeSet<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["name", "time", "value"]));
        assert!(
            l["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("cloudfront.{id}."))
        );
    }
    assert!(mackerel.requests().is_empty());
    assert_eq!(ran.summary()["dry_run"], true);
}

#[test]
fn list_shows_id_label_status_and_aliases() {
    let moto = Moto::shared();
    let dists = moto.distributions(
        "list",
        2,
        &["--alias", "www.list.example", "--comment", "shop"],
    );
    let mackerel = Fake::mackerel();
    let ran = run(against(moto, "reader", &mackerel).args([
        "list",
        "--tag",
        "test=list",
        "--label",
        "alias",
    ]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "LABEL", "STATUS", "ALIASES"]
    );
    assert_eq!(lines.len(), 3);
    for d in &dists {
        let alias = d["aliases"][0].as_str().unwrap();
        let row = lines.iter().find(|l| l.starts_with(id_of(d))).unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            [id_of(d), &alias.replace('.', "_"), "Deployed", alias]
        );
    }
    assert!(mackerel.requests().is_empty());
}

#[test]
fn explicit_ids_need_no_cloudfront_permission() {
    let moto = Moto::shared();
    let dists = moto.distributions("ids", 1, &[]);
    let mackerel = Fake::mackerel();
    let ran = run(against(moto, "nocloudfront", &mackerel).args([
        "run",
        "--distributions",
        id_of(&dists[0]),
    ]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    // One ListDistributions to check that the IDs exist, refused: they are read as given.
    assert_eq!(s["calls"]["cloudfront"], 1, "{s}");
    assert_eq!(s["calls"]["cloudwatch"], 1);
    assert_eq!(s["distributions"], 1);
    assert!(s["posted"].as_u64() > Some(0), "{s}");
}

#[test]
fn aws_refusals_say_what_to_fix() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let (_, secret) = moto.key("reader");
    for (user_env, args, expect) in [
        (vec![], vec!["run"], "cloudfront:ListDistributions"),
        (
            vec![("AWS_SECRET_ACCESS_KEY", "not-the-secret")],
            vec!["run", "--tag", "test=none"],
            "AWS_SECRET_ACCESS_KEY",
        ),
        (
            vec![("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNUNKNOWN00")],
            vec!["run", "--distributions", "E1"],
            "does not know this access key",
        ),
    ] {
        let mut cmd = against(
            moto,
            if user_env.is_empty() {
                "nocloudfront"
            } else {
                "reader"
            },
            &mackerel,
        );
        for (k, v) in &user_env {
            cmd.env(k, v);
        }
        let ran = run(cmd.args(&args));
        assert_eq!(ran.code, 1, "{}", ran.stderr);
        let s = ran.summary();
        assert_eq!(s["msg"], "run failed");
        assert!(
            s["error"].as_str().unwrap().contains(expect),
            "{}",
            s["error"]
        );
        ran.assert_no_secret(&[&secret, MACKEREL_KEY]);
    }
    assert!(
        mackerel.requests().is_empty(),
        "nothing is posted when AWS fails"
    );
}

#[test]
fn an_empty_selection_makes_no_cloudwatch_or_mackerel_call() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let ran =
        run(against(moto, "reader", &mackerel).args(["run", "--tag", "test=nothing-has-this"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(
        (s["distributions"].as_u64(), s["datapoints"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(s["calls"].get("cloudwatch").is_none());
    assert!(mackerel.requests().is_empty());
}

#[test]
fn mackerel_429_and_5xx_are_retried_honouring_retry_after() {
    let (moto, id) = busy("retry");
    let mackerel = Fake::mackerel();
    // Three failures, then the fourth and last attempt gets through.
    mackerel.faults(json!([
        {"path": "/tsdb", "status": 429, "headers": {"Retry-After": "1"}, "body": "{\"error\":{\"message\":\"Too Many Requests\"}}"},
        {"path": "/tsdb", "status": 503},
        {"path": "/tsdb", "truncate": true},
    ]));
    let ran = run(against(moto, "reader", &mackerel).args(["run", "--distributions", &id]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let posts = mackerel.requests_to("/tsdb");
    let statuses: Vec<i64> = posts
        .iter()
        .map(|p| p["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [429, 503, 0, 200], "sixty points are one batch");
    let gap = posts[1]["time"].as_f64().unwrap() - posts[0]["time"].as_f64().unwrap();
    assert!(gap >= 1.0, "waited {gap}s after Retry-After: 1");
    // Every seeded point arrived despite the faults.
    assert_eq!(
        series_len(
            &mackerel,
            "cdn",
            &format!("cloudfront.{id}.requests.request")
        ),
        10
    );

    // A Mackerel that does not answer in time is given up on and tried again.
    mackerel.reset();
    mackerel.faults(json!([{"path": "/tsdb", "delay": 3.0}]));
    let ran = run(against(moto, "reader", &mackerel)
        .env("CW2MACKEREL_TIMEOUT", "1s")
        .args(["run", "--distributions", &id]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(mackerel.requests_to("/tsdb").len(), 2);
}

#[test]
fn a_body_refused_as_too_large_is_split_in_two() {
    let (moto, id) = busy("toolarge");
    // A Mackerel that takes no body over 2,000 bytes: the 60 points (5 KB) are refused whole,
    // then in halves, and go through in quarters.
    let mackerel = Fake::mackerel_with(&["--max-body", "2000"]);
    let ran = run(against(moto, "reader", &mackerel).args(["run", "--distributions", &id]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let statuses: Vec<i64> = mackerel
        .requests_to("/tsdb")
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [413, 413, 200, 200, 413, 200, 200],
        "{statuses:?}"
    );
    assert!(body_bytes(&mackerel).iter().all(|b| *b <= 2000));
    assert_eq!(post_counts(&mackerel).len(), 60);
    assert_eq!(ran.summary()["posted"], 60);
}

#[test]
fn mackerel_refusals_fail_the_run_with_mackerels_message() {
    let (moto, id) = busy("refuse");
    let cases: [(&str, Value, &str, usize); 6] = [
        (
            "persistent 500",
            json!([{"path": "/tsdb", "status": 500, "count": 10}]),
            "kept failing",
            4,
        ),
        // A body refused with a 4xx is split to find its bad points, at most 16 times a
        // cycle: 1 + 2 × 16 posts.
        (
            "bad request",
            json!([{"path": "/tsdb", "status": 400, "count": 100, "body": "{\"error\":{\"message\":\"invalid metric name\"}}"}]),
            "invalid metric name",
            33,
        ),
        ("unknown service", json!([]), "no service \"nope\"", 1),
        // A 422 without Mackerel's error in it is not Mackerel's refusal (a proxy's, say):
        // posting stops and every point is kept, none split off as refused.
        (
            "unreadable error",
            json!([{"path": "/tsdb", "status": 422, "count": 100, "body": "{\"error\": {\"mess"}]),
            "{\"error\": {\"mess",
            1,
        ),
        ("wrong key", json!([]), "rejected the API key", 1),
        // Mackerel answers 403 for a key without the permission and for a request from
        // outside the organization's allowed IP ranges alike.
        (
            "outside the allowed addresses",
            json!([{"path": "/tsdb", "status": 403, "count": 10, "body": "{\"error\":{\"message\":\"Forbidden\"}}"}]),
            "allows API access only from some IP ranges",
            1,
        ),
    ];
    for (what, faults, expect, attempts) in cases {
        let mackerel = Fake::mackerel();
        mackerel.faults(faults);
        let mut cmd = against(moto, "reader", &mackerel);
        cmd.args(["run", "--distributions", &id]);
        if what == "unknown service" {
            cmd.env("CW2MACKEREL_SERVICE", "nope");
        }
        if what == "wrong key" {
            cmd.env("MACKEREL_APIKEY", "WRONG-KEY-7c1d");
        }
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 1, "{what}: {}", ran.stderr);
        let s = ran.summary();
        assert!(
            s["error"].as_str().unwrap().contains(expect),
            "{what}: {}",
            s["error"]
        );
        assert_eq!(mackerel.requests_to("/tsdb").len(), attempts, "{what}");
        ran.assert_no_secret(&[MACKEREL_KEY, "WRONG-KEY-7c1d"]);
    }
}

#[test]
fn malformed_and_truncated_aws_answers_fail_cleanly() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    // A fake AWS endpoint that answers whatever the faults say.
    let aws = Fake::start("mackerel", &[]);
    for (what, fault, expect) in [
        (
            "malformed XML",
            json!({"status": 200, "body": "<DistributionList><Items><Distrib"}),
            "unreadable answer",
        ),
        (
            "not XML",
            json!({"status": 200, "body": "{\"json\": true}"}),
            "unreadable answer",
        ),
        (
            "truncated",
            json!({"status": 200, "body": "<DistributionList><IsTruncated>false</IsTruncated></DistributionList>", "truncate": true}),
            "closed before the answer was complete",
        ),
        (
            "throttled",
            json!({"status": 400, "body": "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"}),
            "throttling",
        ),
    ] {
        aws.reset();
        let mut f = fault.clone();
        f["count"] = json!(10);
        aws.faults(json!([f]));
        let ran = run(against(moto, "reader", &mackerel)
            .env("AWS_ENDPOINT_URL_CLOUDFRONT", aws.url())
            .arg("run"));
        assert_eq!(ran.code, 1, "{what}: {}", ran.stderr);
        let err = ran.summary()["error"].as_str().unwrap().to_string();
        assert!(err.contains(expect), "{what}: {err}");
    }
    // Malformed JSON from SSM.
    aws.reset();
    aws.faults(json!([{"status": 200, "body": "{\"Parameter\": {\"Val", "count": 10}]));
    let ran = run(against(moto, "reader", &mackerel)
        .env_remove("MACKEREL_APIKEY")
        .env("MACKEREL_APIKEY_SSM", "/mackerel/key")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_SSM", aws.url())
        .args(["run", "--distributions", "E1"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.summary()["error"]
            .as_str()
            .unwrap()
            .contains("SSM GetParameter returned an unreadable answer")
    );
    assert!(mackerel.requests().is_empty());
}

#[test]
fn an_expired_session_token_is_renewed_once_then_reported() {
    let moto = Moto::shared();
    let creds = moto.role_credentials();
    let ecs = ecs_endpoint(&creds, "t0k");
    let aws = Fake::start("mackerel", &[]);
    aws.faults(json!([{"status": 400, "count": 10, "body": "<ErrorResponse><Error><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error></ErrorResponse>"}]));
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", aws.url())
        .envs(container_env(&ecs, "t0k"))
        .args(["run", "--dry-run", "--distributions", "E1"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.summary()["error"]
            .as_str()
            .unwrap()
            .contains("session token has expired")
    );
    assert_eq!(ecs.state()["served"], 2, "fetched, then renewed once");
    ran.assert_no_secret(&[creds["Token"].as_str().unwrap(), "t0k"]);
}

#[test]
fn api_key_from_ssm_secure_string() {
    let (moto, id) = busy("ssm");
    let p = moto.seed(&[
        "ssm-put",
        "--name",
        "/cw2mackerel/apikey",
        "--value",
        MACKEREL_KEY,
    ]);
    let mackerel = Fake::mackerel();
    for name in ["/cw2mackerel/apikey", p["arn"].as_str().unwrap()] {
        let mut cmd = against(moto, "reader", &mackerel);
        cmd.env_remove("MACKEREL_APIKEY")
            .env("MACKEREL_APIKEY_SSM", name)
            .args(["run", "--distributions", &id]);
        if !name.starts_with("arn:") {
            cmd.env("AWS_REGION", "us-east-1");
        }
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 0, "{name}: {}", ran.stderr);
        assert_eq!(ran.summary()["calls"]["ssm"], 1);
        ran.assert_no_secret(&[MACKEREL_KEY]);
    }
    assert!(!mackerel.requests_to("/tsdb").is_empty());
}

#[test]
fn credentials_from_web_identity_profile_and_imds() {
    let moto = Moto::shared();
    let (id, secret) = moto.key("reader");
    let dry = ["run", "--dry-run", "--distributions", "E1"];

    // moto wants AssumeRoleWithWebIdentity signed, which AWS does not: a strict STS fake
    // checks the unsigned call and hands out role credentials that moto knows.
    let jwt = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl";
    let token = temp_file("web-identity-token", &format!("{jwt}\n"));
    let sts = Fake::start("sts", &[]);
    let role = moto.role_credentials();
    let role_arn = moto.users["role_arn"].as_str().unwrap();
    sts.set_state(json!({"token": jwt, "role_arn": role_arn, "credentials": role}));
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_ENDPOINT_URL_STS", sts.url())
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_ARN", role_arn)
        .args(dry));
    assert_eq!(ran.code, 0, "web identity: {}", ran.stderr);
    assert_eq!(ran.summary()["calls"]["sts"], 1);
    assert_eq!(sts.state()["served"], 1);
    ran.assert_no_secret(&[jwt, role["Token"].as_str().unwrap()]);

    let creds = temp_file(
        "credentials",
        &format!("[ci]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    );
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .env("AWS_PROFILE", "ci")
        .args(dry));
    assert_eq!(ran.code, 0, "profile: {}", ran.stderr);
    ran.assert_no_secret(&[&secret]);

    let imds = Fake::start("imds", &[]);
    imds.set_state(json!({"role": "cw2mackerel", "credentials": role}));
    let ran = run(cw2mackerel()
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url())
        .env("AWS_ENDPOINT_URL", moto.url())
        .args(dry));
    assert_eq!(ran.code, 0, "imds: {}", ran.stderr);
    assert_eq!(
        ran.summary()["calls"]["credentials"],
        3,
        "token, role name, credentials"
    );
    assert_eq!(imds.state()["served"], 1);
    ran.assert_no_secret(&[
        role["SecretAccessKey"].as_str().unwrap(),
        role["Token"].as_str().unwrap(),
    ]);
}

#[test]
fn container_endpoint_failures_are_reported() {
    let moto = Moto::shared();
    let ecs = Fake::start("ecs", &["--token", "right"]);
    ecs.set_state(json!({"path": "/creds", "credentials": {"AccessKeyId": "A"}}));
    for (token, expect) in [
        ("wrong", "HTTP 401"),
        ("right", "lacks AccessKeyId or SecretAccessKey"),
    ] {
        let ran = run(cw2mackerel()
            .env("AWS_ENDPOINT_URL", moto.url())
            .envs(container_env(&ecs, token))
            .args(["run", "--dry-run", "--distributions", "E1"]));
        assert_eq!(ran.code, 1, "{}", ran.stderr);
        assert!(
            ran.summary()["error"].as_str().unwrap().contains(expect),
            "{}",
            ran.stderr
        );
        ran.assert_no_secret(&["right"]);
    }
}

#[test]
fn bad_configuration_exits_2_before_any_network_call() {
    let peer = Fake::mackerel();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: &[Case] = &[
        (
            &[("CW2MACKEREL_SERVICE", "cdn")],
            &["run"],
            "no Mackerel API key",
        ),
        (&[("MACKEREL_APIKEY", "k")], &["run"], "no Mackerel service"),
        (
            &[("MACKEREL_APIKEY", "k"), ("CW2MACKEREL_SERVICE", "cdn")],
            &["run", "--lookback", "ten"],
            "--lookback",
        ),
        (
            &[
                ("MACKEREL_APIKEY", "k"),
                ("CW2MACKEREL_SERVICE", "cdn"),
                ("CW2MACKEREL_METRICS", "avg"),
            ],
            &["run"],
            "CW2MACKEREL_METRICS",
        ),
        (
            &[
                ("MACKEREL_APIKEY", "k"),
                ("CW2MACKEREL_SERVICE", "cdn"),
                ("AWS_ACCESS_KEY_ID", "A"),
            ],
            &["run"],
            "AWS_SECRET_ACCESS_KEY",
        ),
        (
            &[
                ("MACKEREL_APIKEY", "k"),
                ("CW2MACKEREL_SERVICE", "cdn"),
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://192.0.2.1/creds",
                ),
            ],
            &["run"],
            "plain http",
        ),
        (&[], &["frobnicate"], "unknown command"),
        (&[], &["list", "--bogus"], "unknown option"),
    ];
    for (env, args, expect) in cases {
        let mut cmd = cw2mackerel();
        cmd.env("AWS_ENDPOINT_URL", peer.url())
            .env("MACKEREL_APIBASE", peer.url())
            .env_remove("AWS_EC2_METADATA_DISABLED");
        for (k, v) in *env {
            cmd.env(k, v);
        }
        let ran = run(cmd.args(*args));
        let refused = refused_as_mistake(&ran, &[expect]);
        assert!(refused.is_ok(), "{args:?}: {refused:?}");
        assert_eq!(ran.stderr.lines().count(), 1);
    }
    assert!(peer.requests().is_empty());
}

#[test]
fn check_is_run_without_the_network() {
    let peer = Fake::mackerel();
    let both = |env: &[(&str, &str)], args: &[&str]| {
        let ran: Vec<Ran> = ["run", "check"]
            .iter()
            .map(|command| {
                let mut cmd = cw2mackerel();
                cmd.env("AWS_ENDPOINT_URL", peer.url())
                    .env("MACKEREL_APIBASE", peer.url())
                    .envs(env.iter().copied())
                    .arg(command)
                    .args(args);
                run(&mut cmd)
            })
            .collect();
        let msg = |r: &Ran| r.logs().first().map(|l| l["msg"].clone());
        (ran[0].code, ran[1].code, msg(&ran[0]), msg(&ran[1]))
    };
    // What check says beside a good configuration, at info.
    let noted = |env: &[(&str, &str)]| {
        let ran = run(cw2mackerel()
            .env("AWS_ENDPOINT_URL", peer.url())
            .env("MACKEREL_APIBASE", peer.url())
            .envs(env.iter().copied())
            .arg("check"));
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        ran.said("info", "")
    };
    let keys = [("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")];
    // What run refuses, check refuses with the same message.
    for (env, args, expect) in [
        (&keys[..], &[][..], "no Mackerel service"),
        (
            &[keys[0], keys[1], ("MACKEREL_APIKEY", "k")],
            &[],
            "no Mackerel service",
        ),
        (
            &[
                keys[0],
                keys[1],
                ("MACKEREL_APIKEY", "k"),
                ("CW2MACKEREL_SERVICE", "cdn"),
            ],
            &["--timeout", "0s"],
            "--timeout: must be between 1s and 10m",
        ),
    ] {
        let (run_code, check_code, run_msg, check_msg) = both(env, args);
        assert_eq!((run_code, check_code), (2, 2), "{expect}");
        assert_eq!(run_msg, check_msg);
        assert!(
            run_msg.unwrap().as_str().unwrap().contains(expect),
            "{expect}"
        );
    }
    // Without AWS credentials or an API key, run cannot start; check makes no AWS call and
    // reads no key (both are often given only where it runs), so it passes and notes them.
    for (env, expect, note) in [
        (
            &[("MACKEREL_APIKEY", "k"), ("CW2MACKEREL_SERVICE", "cdn")][..],
            "no AWS credentials",
            "no AWS credentials are found here",
        ),
        (
            &[keys[0], keys[1], ("CW2MACKEREL_SERVICE", "cdn")],
            "no Mackerel API key",
            "no Mackerel API key is set here",
        ),
    ] {
        let (run_code, check_code, run_msg, _) = both(env, &[]);
        assert_eq!((run_code, check_code), (2, 0), "{expect}");
        assert!(
            run_msg.unwrap().as_str().unwrap().contains(expect),
            "{expect}"
        );
        let notes = noted(env);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0]["msg"].as_str().unwrap().starts_with(note),
            "{notes:?}"
        );
    }
    assert!(
        noted(&[
            keys[0],
            keys[1],
            ("MACKEREL_APIKEY", "k"),
            ("CW2MACKEREL_SERVICE", "cdn")
        ])
        .is_empty()
    );
    assert!(peer.requests().is_empty());
}

#[test]
fn help_and_version() {
    let ran = run(cw2mackerel().arg("--help"));
    assert_eq!(ran.code, 0);
    assert!(ran.stdout.contains("CW2MACKEREL_SERVICE") && ran.stdout.contains("run --dry-run"));
    let ran = run(cw2mackerel().arg("--version"));
    assert_eq!(
        (ran.code, ran.stdout.as_str()),
        (0, version_line(env!("CW2MACKEREL_TARGET")).as_str())
    );
}

#[test]
fn a_run_after_an_outage_reads_back_to_what_mackerel_did_not_take() {
    let (moto, id) = busy("outage");
    let mackerel = Fake::mackerel();
    mackerel.faults(json!([{"path": "/tsdb", "status": 503, "count": 100}]));
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.args(["run", "--distributions", &id]);
    let down = run(cmd.env("CW2MACKEREL_LOOKBACK", "10m"));
    assert_eq!(down.code, 1, "{}", down.stderr);
    // Mackerel is back, and cron's window is now shorter than the outage was.
    mackerel.reset();
    let back = run(cmd.env("CW2MACKEREL_LOOKBACK", "5m"));
    assert_eq!(back.code, 0, "{}", back.stderr);
    let name = format!("cloudfront.{id}.requests.request");
    let minutes = service_points(&mackerel, "cdn")[&name]
        .as_object()
        .unwrap()
        .len();
    assert!(minutes >= 10, "only {minutes} minutes: {}", back.stderr);
}

#[test]
fn a_408_is_retried_like_a_5xx() {
    let moto = Moto::shared();
    let dists = moto.distributions("timeout408", 1, &[]);
    let id = id_of(&dists[0]).to_string();
    moto.traffic(&[&id], 5);
    let mackerel = Fake::mackerel();
    // A proxy's Request Timeout on a body of one point: a refusal would lose it for good.
    mackerel.faults(json!([{"path": "/tsdb", "status": 408, "count": 1}]));
    let ran = run(against(moto, "reader", &mackerel).args([
        "run",
        "--distributions",
        &id,
        "--metrics",
        "requests",
        "--lookback",
        "1m",
    ]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["posted"], 1);
    assert_eq!(mackerel.requests_to("/tsdb").len(), 2);
}
