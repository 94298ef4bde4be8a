//! Hostile peers, end to end: a Mackerel whose answers hold hosts that are not ours or IDs
//! that try to walk the API, AWS answers nested past reason or paging for ever, peers that echo
//! secrets or ask to wait a minute, planted symlinks and forged state. Each case did harm once;
//! here each must be harmless.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn hosts_not_made_by_cw2mackerel_are_never_touched() {
    let moto = Moto::shared();
    let dists = moto.distributions("strangers", 1, &[]);
    let arn = dists[0]["arn"].as_str().unwrap();
    let mackerel = Fake::mackerel();
    // Agent hosts: one even carries the distribution's ARN, but not cw2mackerel's mark.
    let made = mackerel.set_state(json!({"hosts": [
        {"name": "web-1", "customIdentifier": "i-0abc", "meta": {"agent-name": "mackerel-agent"}},
        {"name": "web-2", "meta": {}},
        {"name": "impostor", "customIdentifier": arn, "meta": {}},
    ]}));
    let strangers: Vec<Value> = made["hosts"].as_array().unwrap().clone();
    // A proxy that drops the query string: every listing, by identifier or not, answers
    // these three and nothing else (not even the hosts cw2mackerel makes).
    let listing = json!({"hosts": strangers}).to_string();
    mackerel.faults(
        json!([{"path": "^/api/v0/hosts$", "method": "GET", "status": 200,
                            "body": listing, "count": 1000}]),
    );
    let mut cmd = host_run(moto, &mackerel, "strangers");
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let again = run(&mut cmd);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.summary()["hosts"]["created"],
        0,
        "the host made a moment ago is remembered, not made again"
    );

    let state = mackerel.state();
    for s in &strangers {
        let now = state["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == s["id"])
            .unwrap();
        assert_eq!(now["isRetired"], false, "{}", s["name"]);
        assert_eq!(now["name"], s["name"], "not rewritten");
    }
    let writes = mackerel
        .requests()
        .into_iter()
        .filter(|r| r["method"] != "GET")
        .filter(|r| {
            let path = r["path"].as_str().unwrap();
            strangers
                .iter()
                .any(|s| path.contains(s["id"].as_str().unwrap()))
        })
        .count();
    assert_eq!(writes, 0, "a stranger was written to");
    let ours: Vec<&Value> = state["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["meta"]["cw2mackerel"]["owner"] == "cloudfront")
        .collect();
    assert_eq!(ours.len(), 1, "one host of ours, made once: {ours:#?}");
    let warned = ran
        .logs()
        .iter()
        .filter(|l| {
            l["msg"]
                .as_str()
                .unwrap()
                .contains("not made by cw2mackerel")
        })
        .count();
    assert_eq!(warned, 1);
}

#[test]
fn a_host_id_from_mackerel_cannot_walk_the_api() {
    let moto = Moto::shared();
    let dists = moto.distributions("walk", 1, &[]);
    let arn = dists[0]["arn"].as_str().unwrap();
    let mackerel = Fake::mackerel();
    let evil = json!({"hosts": [{"id": "../../services/cdn/tsdb", "name": "stale",
        "customIdentifier": arn, "status": "working", "meta": {"cw2mackerel": {"owner": "cloudfront"}},
        "roles": {}, "createdAt": 1}]});
    mackerel.faults(
        json!([{"path": "^/api/v0/hosts$", "method": "GET", "status": 200,
                            "body": evil.to_string(), "count": 1000}]),
    );
    let ran = run(&mut host_run(moto, &mackerel, "walk"));
    assert!(
        mackerel.requests_to("/services/").is_empty(),
        "{:#?}",
        mackerel.requests()
    );
    let update = mackerel
        .requests()
        .into_iter()
        .find(|r| r["method"] == "PUT")
        .unwrap_or_else(|| panic!("{}", ran.stderr));
    assert_eq!(
        update["path"],
        "/api/v0/hosts/..%2F..%2Fservices%2Fcdn%2Ftsdb"
    );
}

#[test]
fn deeply_nested_xml_is_an_error_not_a_crash() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let deep = "<a>".repeat(200_000);
    for (endpoint, select) in [
        ("AWS_ENDPOINT_URL_CLOUDFRONT", "--tag=test=none"),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", "--distributions=E1"),
    ] {
        let aws = answering(&deep);
        // Without cloudfront:ListDistributions the ID is read as given.
        let ran = run(against(moto, "nocloudfront", &mackerel)
            .env(endpoint, aws.url())
            .args(["run", select]));
        assert_eq!(ran.code, 1, "{endpoint}: {}", ran.stderr);
        assert!(
            ran.summary()["error"]
                .as_str()
                .unwrap()
                .contains("64 levels")
        );
    }
}

#[test]
fn a_cycle_ends_by_its_deadline_whatever_peers_ask() {
    let (moto, id) = busy("deadline");
    let mackerel = Fake::mackerel();
    mackerel.faults(json!([{"path": "/tsdb", "status": 429, "count": 100,
                            "headers": {"Retry-After": "60"}}]));
    let started = Instant::now();
    let ran = run(against(moto, "reader", &mackerel)
        .env("CW2MACKEREL_CYCLE_TIMEOUT", "4s")
        .args(["run", "--distributions", &id]));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(ran.summary()["error"].as_str().unwrap().contains("429"));

    // Pages that never end: the same marker and the same token again.
    let list = answering(
        "<DistributionList><IsTruncated>true</IsTruncated><NextMarker>again</NextMarker></DistributionList>",
    );
    let ran = run(against(moto, "reader", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDFRONT", list.url())
        .arg("run"));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.summary()["error"]
            .as_str()
            .unwrap()
            .contains("\"again\" twice")
    );
    assert_eq!(list.requests().len(), 2);

    let pages = answering(
        "<GetMetricDataResponse><GetMetricDataResult><MetricDataResults/><NextToken>more</NextToken></GetMetricDataResult></GetMetricDataResponse>",
    );
    let ran = run(against(moto, "reader", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", pages.url())
        .args(["run", "--distributions", &id]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let s = ran.summary();
    assert!(
        s["error"].as_str().unwrap().contains("\"more\" twice"),
        "{s}"
    );
    assert_eq!(
        s["metrics_requested"], 12,
        "two calls of six metrics, both billed"
    );
}

#[test]
fn secrets_a_peer_echoes_are_masked() {
    let moto = Moto::shared();
    let creds = moto.role_credentials();
    let token = creds["Token"].as_str().unwrap();
    let ecs = ecs_endpoint(&creds, "container-auth-token-5e3");
    let mackerel = Fake::mackerel();
    let aws = Fake::start("mackerel", &[]);
    let echo = format!(
        "<ErrorResponse><Error><Code>AccessDenied</Code><Message>the token {token} may not</Message></Error></ErrorResponse>"
    );
    aws.faults(json!([{"status": 403, "body": echo, "count": 10}]));
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", aws.url())
        .envs(container_env(&ecs, "container-auth-token-5e3"))
        .env("CW2MACKEREL_LOG", "debug")
        .args(["run", "--dry-run", "--distributions", "E1"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.summary()["error"]
            .as_str()
            .unwrap()
            .contains("the token *** may not")
    );
    ran.assert_no_secret(&[token, "container-auth-token-5e3"]);
    drop(mackerel);

    // A container endpoint that echoes its authorization token, at a URL with userinfo.
    let ecs = Fake::start("ecs", &[]);
    ecs.faults(json!([{"status": 500, "count": 10,
        "body": "{\"message\": \"bad Authorization container-auth-token-5e3\"}"}]));
    let url = ecs.url().replace("http://", "http://user:pa55w0rd-in-url@");
    let ran = run(cw2mackerel()
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{url}/creds"))
        .env(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "container-auth-token-5e3",
        )
        .env("CW2MACKEREL_LOG", "debug")
        .args(["run", "--dry-run", "--distributions", "E1"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("bad Authorization ***"),
        "{}",
        ran.stderr
    );
    ran.assert_no_secret(&["container-auth-token-5e3", "pa55w0rd-in-url"]);

    // A URL refused at start, whose password holds what ends a URL in a log line.
    for (var, url) in [
        ("HTTPS_PROXY", r#"http://user:pa55"w0rd@proxy:3128"#),
        ("HTTPS_PROXY", "http://user:pa55 w0rd@proxy:3128"),
        ("MACKEREL_APIBASE", "https://user:pa55 w0rd@mackerel/#x"),
        ("AWS_ENDPOINT_URL", "http://user:pa55 w0rd@10.1.2.3"),
    ] {
        let ran = run(cw2mackerel()
            .env(var, url)
            .env("MACKEREL_APIKEY", "k")
            .args(["check", "--service", "cdn"]));
        assert_eq!(ran.code, 2, "{var}: {}", ran.stderr);
        assert!(ran.stderr.contains(var), "{}", ran.stderr);
        ran.assert_no_secret(&["pa55"]);
    }
}

#[test]
fn the_state_file_is_never_written_through_a_planted_link() {
    let (moto, id) = busy("symlink");
    let mackerel = Fake::mackerel();
    let dir = fresh_path("jail");
    std::fs::create_dir_all(&dir).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let state = dir.join("state");
    // The old predictable temp name, and the state file itself.
    std::os::unix::fs::symlink(&victim, dir.join("state.tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, &state).unwrap();
    let ran = run(against(moto, "reader", &mackerel)
        .env("CW2MACKEREL_STATE_FILE", &state)
        .args(["run", "--distributions", &id]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!std::fs::symlink_metadata(&state).unwrap().is_symlink());
}

#[test]
fn healthcheck_refuses_a_forged_or_future_state() {
    for state in [
        json!({"version": 2, "completed": now() + 3600, "interval_s": 60}),
        json!({"version": 2, "completed": now() - 10, "interval_s": 1_000_000_000_000_000u64}),
        json!({"version": 2, "completed": i64::MIN, "interval_s": 60}),
    ] {
        let path = temp_file("forged.state", &state.to_string());
        let ran = run(cw2mackerel()
            .env("CW2MACKEREL_STATE_FILE", &path)
            .arg("healthcheck"));
        assert_eq!(ran.code, 1, "{state}: {}", ran.stdout);
    }
}

#[test]
fn what_aws_calls_a_distribution_is_made_safe() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let aws = answering(
        "<DistributionList><IsTruncated>false</IsTruncated><Items><DistributionSummary><Id>E1.x y</Id>\
         <ARN>arn:aws:cloudfront::1:distribution/E1</ARN><DomainName>d1.cloudfront.net</DomainName>\
         <Aliases><Items><CNAME>\u{1b}[31mred.example.com</CNAME></Items></Aliases><Status>Deployed</Status>\
         </DistributionSummary></Items></DistributionList>",
    );
    let ran = run(against(moto, "reader", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDFRONT", aws.url())
        .env_remove("MACKEREL_APIKEY")
        .args(["run", "--dry-run", "--metrics", "requests"]));
    // The one distribution's points are named after its ID made safe.
    let names: Vec<String> = ran
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("cloudfront.E1_x_y.")),
        "{names:?}: {}",
        ran.stderr
    );
    let ran = run(against(moto, "reader", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDFRONT", aws.url())
        .arg("list"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(!ran.stdout.contains('\u{1b}'), "{:?}", ran.stdout);
    assert!(
        ran.stdout.contains("\\u{1b}[31mred.example.com"),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_55_mb_answer_is_read_in_little_more_memory_than_itself() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    // Six results (the six default metrics of E1) of 160,000 points each, outside the window.
    let mut body = String::with_capacity(56 << 20);
    body += "<GetMetricDataResponse><GetMetricDataResult><MetricDataResults>";
    for q in 0..6 {
        body += &format!("<member><Id>q{q}</Id><Timestamps>");
        for _ in 0..160_000 {
            body += "<member>2001-01-01T00:00:00Z</member>";
        }
        body += "</Timestamps><Values>";
        for _ in 0..160_000 {
            body += "<member>1.25</member>";
        }
        body += "</Values><StatusCode>Complete</StatusCode></member>";
    }
    body += "</MetricDataResults></GetMetricDataResult></GetMetricDataResponse>";
    assert!(body.len() > 55_000_000, "{}", body.len());
    let aws = answering(&body);
    drop(body);
    // Without cloudfront:ListDistributions the ID is read as given.
    let child = against(moto, "nocloudfront", &mackerel)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", aws.url())
        .args(["run", "--dry-run", "--distributions", "E1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (out, peak_kb) = peak_rss(child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(peak_kb > 55_000, "measured {peak_kb} kB: too early?");
    assert!(peak_kb < 150 * 1024, "peak RSS {peak_kb} kB");
}

#[test]
fn the_lambda_runtime_api_is_answered_at_escaped_ids_and_its_failures_are_said() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    let runtime = Fake::start("lambda", &[]);
    let mut child = against(moto, "reader", &mackerel)
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            runtime.url().trim_start_matches("http://"),
        )
        .env("CW2MACKEREL_DISTRIBUTIONS", "E1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // An ID that would walk to /runtime/init/error if it went into the path as it is.
    let id = "../../init/error?x=1#";
    post_json(
        &format!("{}/_fake/invoke", runtime.url()),
        &json!({"request_id": id, "payload": {}}),
    );
    let done = get_json(&format!(
        "{}/_fake/wait?id={}&timeout=30",
        runtime.url(),
        "..%2F..%2Finit%2Ferror%3Fx%3D1%23"
    ));
    assert_eq!(done["done"], true);
    let state = runtime.state();
    assert!(
        state["init_errors"].as_array().unwrap().is_empty(),
        "{state}"
    );
    assert!(
        state["responses"].get(id).is_some() || state["errors"].get(id).is_some(),
        "{state}"
    );

    // The runtime API fails: the process says why before it exits.
    runtime.faults(json!([{"path": "/invocation/next", "status": 500, "count": 10}]));
    post_json(
        &format!("{}/_fake/invoke", runtime.url()),
        &json!({"payload": {}}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["msg"], "Lambda runtime API failed; exiting",
        "{stderr}"
    );
    assert!(
        last["error"].as_str().unwrap().contains("HTTP 500"),
        "{stderr}"
    );
}

#[test]
fn https_proxy_carries_aws_and_mackerel_but_not_the_credential_endpoint() {
    let (moto, id) = busy("proxied");
    let creds = moto.role_credentials();
    let ecs = ecs_endpoint(&creds, "proxy-test-token");
    let mackerel = Fake::mackerel();
    let proxy = Fake::start("proxy", &[]);
    let mut cmd = cw2mackerel();
    cmd.env("AWS_ENDPOINT_URL", moto.url())
        .envs(container_env(&ecs, "proxy-test-token"))
        .env("MACKEREL_APIBASE", mackerel.url())
        .env("MACKEREL_APIKEY", MACKEREL_KEY)
        .env("CW2MACKEREL_SERVICE", "cdn")
        .env("HTTPS_PROXY", proxy.url())
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .args(["run", "--distributions", &id]);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let tunnels: BTreeSet<String> = proxy
        .requests()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    let host = |url: &str| url.trim_start_matches("http://").to_string();
    assert!(tunnels.contains(&host(moto.url())), "{tunnels:?}");
    assert!(tunnels.contains(&host(mackerel.url())), "{tunnels:?}");
    assert!(
        !tunnels.contains(&host(ecs.url())),
        "credentials go direct: {tunnels:?}"
    );
    assert_eq!(
        series_len(
            &mackerel,
            "cdn",
            &format!("cloudfront.{id}.requests.request")
        ),
        10
    );

    // NO_PROXY sends the named hosts direct.
    proxy.reset();
    let ran = run(cmd.env("NO_PROXY", "127.0.0.1"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(proxy.requests().is_empty());

    // A proxy that is down is named in the error, or it looks like AWS being down.
    let ran = run(cmd
        .env_remove("NO_PROXY")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("CW2MACKEREL_CYCLE_TIMEOUT", "3s"));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.summary()["error"]
            .as_str()
            .unwrap()
            .contains("(HTTPS_PROXY is set)"),
        "{}",
        ran.stderr
    );
}
