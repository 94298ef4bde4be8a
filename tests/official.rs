//! Right against the real services: each test's peer answers as the official source shows
//! (botocore 1.44.8's models, endpoint rules, parsers and retry tables; the CloudFront
//! developer guide; the Lambda runtime API; the AWS CLI's profile documentation), and one
//! failing resource never blocks the others.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The form fields of a recorded query-protocol request.
fn form(request: &Value) -> Vec<(String, String)> {
    request["body"]
        .as_str()
        .unwrap()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn origin_latency_is_read_as_percentiles() {
    // CloudFront developer guide, "Viewing additional CloudFront distribution metrics":
    // OriginLatency, valid statistics: Percentile.
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let cw = answering(&empty_gmd(3));
    // Without cloudfront:ListDistributions the ID is read as given.
    let ran = run(against(moto, "nocloudfront", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cw.url())
        .env_remove("MACKEREL_APIKEY")
        .args([
            "run",
            "--dry-run",
            "--distributions",
            "E1",
            "--metrics",
            "origin_latency",
        ]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let fields = form(&cw.requests()[0]);
    let stats: BTreeSet<&str> = fields
        .iter()
        .filter(|(k, _)| k.ends_with(".MetricStat.Stat"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(stats, BTreeSet::from(["p50", "p90", "p99"]));
}

#[test]
fn an_internal_error_is_retried_with_the_next_token() {
    // botocore cloudwatch service-2.json, MetricDataResult.StatusCode: "InternalError …
    // Retry your request using NextToken, if present."
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let cw = Fake::start("mackerel", &[]);
    // The IDs are made up: without cloudfront:ListDistributions they are read as given.
    let now = now() / 60 * 60 - 300;
    let page = |status: &str, token: &str, t: i64| {
        format!(
            "<GetMetricDataResponse><GetMetricDataResult><MetricDataResults><member><Id>q0</Id>\
             <Timestamps><member>{}</member></Timestamps><Values><member>7</member></Values>\
             <StatusCode>{status}</StatusCode></member></MetricDataResults>{token}</GetMetricDataResult></GetMetricDataResponse>",
            iso(t)
        )
    };
    cw.faults(json!([
        {"status": 200, "body": page("InternalError", "<NextToken>t1</NextToken>", now - 60)},
        {"status": 200, "body": page("Complete", "", now - 120)},
    ]));
    let ran = run(against(moto, "nocloudfront", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cw.url())
        .args(["run", "--distributions", "E1", "--metrics", "requests"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(s["metrics_requested"], 2, "both calls counted");
    let second = form(&cw.requests()[1]);
    assert!(
        second.contains(&("NextToken".into(), "t1".into())),
        "{second:?}"
    );
    let points = service_points(&mackerel, "cdn");
    let series = points["cloudfront.E1.requests.request"]
        .as_object()
        .unwrap();
    assert_eq!(series[&(now - 60).to_string()], 7.0);
    assert_eq!(series[&(now - 120).to_string()], 7.0);

    // With no NextToken, the page is asked for again; an InternalError twice fails that
    // series alone, and it gets no zeros.
    cw.reset();
    mackerel.reset();
    cw.faults(json!([{"status": 200, "body": page("InternalError", "", now - 60), "count": 2}]));
    let ran = run(against(moto, "nocloudfront", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cw.url())
        .args(["run", "--distributions", "E2", "--metrics", "requests"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let s = ran.summary();
    assert!(
        s["failed"][0].as_str().unwrap().contains("InternalError"),
        "{s}"
    );
    assert_eq!(s["metrics_requested"], 2);
    assert!(
        service_points(&mackerel, "cdn")
            .get("cloudfront.E2.requests.request")
            .is_none()
    );

    // An InternalError with a NextToken whose later pages never bring the query back is not
    // taken for "no data" (which would post zeros over real values).
    cw.reset();
    mackerel.reset();
    let empty = "<GetMetricDataResponse><GetMetricDataResult><MetricDataResults/>\
                 </GetMetricDataResult></GetMetricDataResponse>";
    cw.faults(json!([
        {"status": 200, "body": page("InternalError", "<NextToken>t1</NextToken>", now - 60)},
        {"status": 200, "body": empty, "count": 2},
    ]));
    let ran = run(against(moto, "nocloudfront", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", cw.url())
        .args(["run", "--distributions", "E3", "--metrics", "requests"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.summary()["failed"][0]
            .as_str()
            .unwrap()
            .contains("InternalError"),
        "{}",
        ran.stderr
    );
    assert!(
        service_points(&mackerel, "cdn")
            .get("cloudfront.E3.requests.request")
            .is_none()
    );
}

#[test]
fn json_protocol_throttling_with_a_namespace_and_uri_is_retried() {
    // smithy awsJson1_1 errors.smithy and botocore parsers.py: `ns#FooError:uri` is FooError.
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let ssm = Fake::start("mackerel", &[]);
    ssm.faults(json!([
        {"status": 400, "body": "{\"__type\": \"com.amazonaws.ssm#ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.validate/\", \"message\": \"Rate exceeded\"}"},
        {"status": 400, "headers": {"X-Amzn-ErrorType": "LimitExceededException:http://internal.amazon.com/"}, "body": "{}"},
        {"status": 200, "body": format!("{{\"Parameter\": {{\"Value\": \"{MACKEREL_KEY}\"}}}}")},
    ]));
    let ran = run(against(moto, "reader", &mackerel)
        .env_remove("MACKEREL_APIKEY")
        .env("MACKEREL_APIKEY_SSM", "/mackerel/key")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_SSM", ssm.url())
        .env(
            "AWS_ENDPOINT_URL_CLOUDWATCH",
            answering(&empty_gmd(3)).url(),
        )
        .args(["run", "--distributions", "E1", "--metrics", "error_rate"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["calls"]["ssm"], 3);
}

#[test]
fn the_china_partition_has_its_own_cloudfront_endpoint() {
    // botocore cloudfront endpoint-rule-set-1.json: aws-cn → cloudfront.cn-northwest-1…, signed
    // for cn-northwest-1. The endpoint is redirected here; the signature shows the region.
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let cf = answering(
        "<DistributionList><IsTruncated>false</IsTruncated><Quantity>0</Quantity></DistributionList>",
    );
    let ran = run(against(moto, "reader", &mackerel)
        .env("AWS_REGION", "cn-north-1")
        .env("AWS_ENDPOINT_URL_CLOUDFRONT", cf.url())
        .arg("list"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let auth = cf.requests()[0]["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        auth.contains("/cn-northwest-1/cloudfront/aws4_request"),
        "{auth}"
    );
}

#[test]
fn lambda_answers_before_its_deadline_and_keeps_what_was_left() {
    // Lambda developer guide, runtime API: Lambda-Runtime-Deadline-Ms, "the date that the
    // function times out in Unix time milliseconds".
    let (moto, id) = busy("deadline-lambda");
    let mackerel = Fake::mackerel();
    // Mackerel asks to come back in a minute, past the invocation's deadline.
    mackerel.faults(
        json!([{"path": "/tsdb", "status": 429, "count": 1, "headers": {"Retry-After": "60"}}]),
    );
    let runtime = Fake::start("lambda", &[]);
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.env(
        "AWS_LAMBDA_RUNTIME_API",
        runtime.url().trim_start_matches("http://"),
    )
    .env("CW2MACKEREL_DISTRIBUTIONS", &id);
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let invoke = |timeout_ms: u64| {
        let rid = post_json(
            &format!("{}/_fake/invoke", runtime.url()),
            &json!({"payload": {}, "timeout_ms": timeout_ms}),
        )["request_id"]
            .as_str()
            .unwrap()
            .to_string();
        let started = Instant::now();
        let done = get_json(&format!("{}/_fake/wait?id={rid}&timeout=60", runtime.url()));
        assert_eq!(done["done"], true);
        (rid, started.elapsed())
    };
    let (first, took) = invoke(6000);
    assert!(
        took < Duration::from_secs(6),
        "answered after the deadline: {took:?}"
    );
    let state = runtime.state();
    let body: Value =
        serde_json::from_str(state["errors"][&first]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["errorType"], "Cw2mackerel.CycleFailed");
    assert!(
        body["errorMessage"].as_str().unwrap().contains("deadline"),
        "{body}"
    );
    assert_eq!(body["backlog"], 60, "the answer says what was left: {body}");
    // The next invocation of the environment posts what was left.
    let (second, _) = invoke(60_000);
    let state = runtime.state();
    let body: Value = serde_json::from_str(state["responses"][&second].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(
        series_len(
            &mackerel,
            "cdn",
            &format!("cloudfront.{id}.requests.request")
        ),
        10
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn profiles_assume_roles_and_run_credential_processes() {
    let moto = Moto::shared();
    let (id, secret) = moto.key("reader");
    let role = moto.users["role_arn"].as_str().unwrap().to_string();
    let dry = ["run", "--dry-run", "--distributions", "E1"];
    // role_arn with source_profile: the role is assumed (signed, at moto) with the source's keys.
    let config = temp_file(
        "role-config",
        &format!(
            "[profile base]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n\
             [profile cron]\nrole_arn = {role}\nsource_profile = base\nrole_session_name = cron-job\n\
             duration_seconds = 900\nexternal_id = ext-1\n"
        ),
    );
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "cron")
        .args(dry));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["calls"]["sts"], 1);
    ran.assert_no_secret(&[&secret]);

    // credential_process: run directly, its JSON as the AWS CLI documents it.
    let script = temp_file(
        "get-creds",
        &format!(
            "#!/bin/sh\n[ \"$1\" = \"--who\" ] && [ \"$2\" = \"cron job\" ] || exit 9\n\
             echo '{{\"Version\": 1, \"AccessKeyId\": \"{id}\", \"SecretAccessKey\": \"{secret}\"}}'\n"
        ),
    );
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let failing = temp_file(
        "fail-creds",
        "#!/bin/sh\necho 'no session, log in first' >&2\nexit 3\n",
    );
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&failing)
        .status()
        .unwrap();
    let config = temp_file(
        "process-config",
        &format!(
            "[profile tool]\ncredential_process = {} --who 'cron job'\n\
             [profile broken]\ncredential_process = {}\n\
             [profile sso]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n",
            script.display(),
            failing.display()
        ),
    );
    let with = |profile: &str| {
        run(cw2mackerel()
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_PROFILE", profile)
            .args(dry))
    };
    let ran = with("tool");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    ran.assert_no_secret(&[&secret]);
    let ran = with("broken");
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let error = ran.summary()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("exit status: 3") && error.contains("no session, log in first"),
        "{error}"
    );
    let ran = with("sso");
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains("aws configure export-credentials --profile sso"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_job_named_otherwise_reports_its_gone_distributions_by_id() {
    let moto = Moto::shared();
    let dists = moto.distributions("edge-gone", 2, &[]);
    let mackerel = Fake::mackerel();
    let job = |ids: Vec<&str>| {
        temp_file(
            "edge.json",
            &json!({"jobs": [{"name": "edge", "preset": "cloudfront", "distributions": ids,
                               "target": {"host": {}}}]})
            .to_string(),
        )
    };
    let all = job(dists.iter().map(id_of).collect());
    let ran = run(against(moto, "reader", &mackerel)
        .env_remove("CW2MACKEREL_SERVICE")
        .args(["run", "--config", all.to_str().unwrap()]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let one = job(vec![id_of(&dists[0])]);
    let ran = run(against(moto, "reader", &mackerel)
        .env_remove("CW2MACKEREL_SERVICE")
        .args(["run", "--config", one.to_str().unwrap()]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["gone_ids"], id_of(&dists[1]));
}

#[test]
fn one_poisoned_resource_among_fifty_healthy_ones() {
    let moto = Moto::shared();
    let dists = moto.distributions("poison", 51, &[]);
    let ids: Vec<&str> = dists.iter().map(id_of).collect();
    moto.traffic(&ids, 15);
    // 50 jobs post to the service cdn; the 51st to a service Mackerel does not have, which
    // comes first in every order the posts could take.
    let jobs: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let service = if i == 50 { "absent" } else { "cdn" };
            json!({"name": format!("d{i}"), "preset": "cloudfront", "distributions": [id],
                   "target": {"service": service}})
        })
        .collect();
    let config = temp_file("poison.json", &json!({ "jobs": jobs }).to_string());
    let mackerel = Fake::mackerel();
    let failure = the_one_failure(moto, &mackerel, &config);
    assert!(failure.contains("no service \"absent\""), "{failure}");
    for id in &ids[..50] {
        let name = format!("cloudfront.{id}.requests.request");
        assert_eq!(series_len(&mackerel, "cdn", &name), 10, "{id}");
    }
}

/// `run` of the jobs in the file `config`, which must fail in one part alone: what it says.
fn the_one_failure(moto: &Moto, mackerel: &Fake, config: &std::path::Path) -> String {
    let ran = run(against(moto, "reader", mackerel)
        .env_remove("CW2MACKEREL_SERVICE")
        .args(["run", "--config", config.to_str().unwrap()]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let s = ran.summary();
    let failed = s["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{s}");
    failed[0].as_str().unwrap().to_string()
}

#[test]
fn a_role_that_cannot_be_assumed_costs_its_job_alone() {
    let (moto, id) = busy("lonely");
    let config = temp_file(
        "roles.json",
        &json!({"jobs": [
            {"preset": "cloudfront", "distributions": [&id], "target": {"service": "cdn"}},
            {"name": "other-account", "regions": ["us-east-1"], "namespace": "App/X",
             "metrics": [{"name": "M", "stat": "Sum"}], "target": {"service": "cdn"},
             "name_template": "x.{metric}", "role_arn": "arn:aws:iam::210987654321:role/missing"},
        ]})
        .to_string(),
    );
    let mackerel = Fake::mackerel();
    let failure = the_one_failure(moto, &mackerel, &config);
    assert!(failure.starts_with("job other-account:"), "{failure}");
    assert_eq!(
        series_len(
            &mackerel,
            "cdn",
            &format!("cloudfront.{id}.requests.request")
        ),
        10
    );
}

#[test]
fn a_retired_host_holding_the_identifier_does_not_keep_a_distribution_dark() {
    // Mackerel documents customIdentifier as unique within the organization; this one keeps
    // a retired host's identifier taken.
    let moto = Moto::shared();
    let dists = moto.distributions("comeback", 1, &[]);
    let arn = dists[0]["arn"].as_str().unwrap();
    moto.traffic(&[id_of(&dists[0])], 15);
    let mackerel = Fake::start(
        "mackerel",
        &["--apikey", MACKEREL_KEY, "--retired-keep-identifiers"],
    );
    mackerel.set_state(
        json!({"hosts": [{"name": "old", "customIdentifier": arn, "isRetired": true,
        "meta": {"cw2mackerel": {"owner": "cloudfront"}}}]}),
    );
    let mut cmd = host_run(moto, &mackerel, "comeback");
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let live = live_hosts(&mackerel);
    let fallback = format!("{arn}#2");
    assert_eq!(live.keys().collect::<Vec<_>>(), [&fallback], "{live:#?}");
    let host = live[&fallback][0]["id"].as_str().unwrap();
    let points = &mackerel.state()["host_points"][host]["custom.cloudfront.requests.request"];
    assert_eq!(points.as_object().unwrap().len(), 10);
    // Found again under the fallback, not made again.
    let again = run(&mut cmd);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.summary()["hosts"]["created"], 0);
    assert_eq!(again.summary()["gone"], 0);
}

#[test]
fn an_ipv6_container_endpoint_is_reached() {
    // EKS Pod Identity over IPv6 serves credentials at http://[fd00:ec2::23]/…; loopback
    // stands in for it here.
    let moto = Moto::shared();
    let creds = moto.role_credentials();
    let ecs = Fake::start("ecs", &["--token", "v6-token-a9", "--host", "::1"]);
    ecs.set_state(json!({"path": "/creds", "credentials": creds}));
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL", moto.url())
        .envs(container_env(&ecs, "v6-token-a9"))
        .args(["run", "--dry-run", "--distributions", "E1"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ecs.state()["served"], 1);
}
