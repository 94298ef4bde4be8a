//! mackerel-plugin-aws-cloudfront's names (`CW2MACKEREL_NAMES=plugin`), its
//! `-metric-key-prefix` (`CW2MACKEREL_METRIC_KEY_PREFIX`) and an existing host
//! (`CW2MACKEREL_HOST_ID`), end to end: the five metric names and the three graph
//! definitions byte for byte as mackerel-agent posts the plugin's, and never a host created,
//! changed or retired when the host exists already.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::process::Command;

/// The body mackerel-agent posts for the plugin's graphs under `prefix` (one plugin, its
/// graphs in this order; the agent's own order is a Go map's), labelled `<title> …`.
fn plugin_graphs(prefix: &str, title: &str) -> String {
    let p = format!("custom.{prefix}");
    [
        format!(
            r#"{{"name":"{p}.Requests","displayName":"{title} Requests","unit":"integer","metrics":[{{"name":"{p}.Requests.Requests","displayName":"Requests","isStacked":false}}]}}"#
        ),
        format!(
            r#"{{"name":"{p}.Transfer","displayName":"{title} Transfer","unit":"bytes","metrics":[{{"name":"{p}.Transfer.BytesDownloaded","displayName":"Download","isStacked":true}},{{"name":"{p}.Transfer.BytesUploaded","displayName":"Upload","isStacked":true}}]}}"#
        ),
        format!(
            r#"{{"name":"{p}.ErrorRate","displayName":"{title} ErrorRate","unit":"percentage","metrics":[{{"name":"{p}.ErrorRate.4xxErrorRate","displayName":"4xx","isStacked":true}},{{"name":"{p}.ErrorRate.5xxErrorRate","displayName":"5xx","isStacked":true}}]}}"#
        ),
    ]
    .join(",")
}

/// The plugin's five host metric names under `prefix`.
fn plugin_names(prefix: &str) -> Vec<String> {
    [
        "ErrorRate.4xxErrorRate",
        "ErrorRate.5xxErrorRate",
        "Requests.Requests",
        "Transfer.BytesDownloaded",
        "Transfer.BytesUploaded",
    ]
    .iter()
    .map(|m| format!("custom.{prefix}.{m}"))
    .collect()
}

/// The one graph-definition body Mackerel received.
fn graph_body(mackerel: &Fake) -> String {
    let posts = mackerel.requests_to("/api/v0/graph-defs/create");
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0]["status"], 200, "{posts:#?}");
    posts[0]["body"].as_str().unwrap().to_string()
}

/// Host metric names Mackerel holds for host `id`, sorted.
fn names_on(mackerel: &Fake, id: &str) -> Vec<String> {
    let mut names: Vec<String> = mackerel.state()["host_points"][id]
        .as_object()
        .unwrap_or_else(|| panic!("no points on {id}"))
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// Requests that would create, change or retire a host.
fn host_writes(mackerel: &Fake) -> Vec<Value> {
    mackerel
        .requests()
        .into_iter()
        .filter(|r| {
            let path = r["path"].as_str().unwrap();
            (r["method"] == "POST" && path == "/api/v0/hosts")
                || (r["method"] == "PUT" && path.starts_with("/api/v0/hosts/"))
                || path.ends_with("/retire")
                || path.ends_with("/status")
                || path.ends_with("/role-fullnames")
        })
        .collect()
}

/// A host made as `mkr create` makes one: its ID.
fn make_host(mackerel: &Fake, name: &str) -> String {
    let mut made = agent()
        .post(format!("{}/api/v0/hosts", mackerel.url()))
        .header("X-Api-Key", MACKEREL_KEY)
        .header("content-type", "application/json")
        .send(json!({"name": name, "meta": {}}).to_string())
        .unwrap();
    let answer: Value = serde_json::from_slice(&made.body_mut().read_to_vec().unwrap()).unwrap();
    mackerel.reset();
    answer["id"].as_str().unwrap().to_string()
}

fn plugin_env(moto: &Moto, mackerel: &Fake, tag: &str) -> Command {
    let mut cmd = against(moto, "reader", mackerel);
    cmd.env_remove("CW2MACKEREL_SERVICE")
        .env("CW2MACKEREL_MODE", "host")
        .env("CW2MACKEREL_NAMES", "plugin")
        .env("CW2MACKEREL_TAG", format!("test={tag}"));
    cmd
}

#[test]
fn plugin_names_and_graphs_in_host_mode() {
    let moto = Moto::shared();
    let dists = moto.distributions("plugin-host", 1, &[]);
    let start = moto.traffic(&[id_of(&dists[0])], 15);
    let mackerel = Fake::mackerel();
    let mut cmd = plugin_env(moto, &mackerel, "plugin-host");
    cmd.arg("run");
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let host = live_hosts(&mackerel)[dists[0]["arn"].as_str().unwrap()][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(names_on(&mackerel, &host), plugin_names("cloudfront"));
    let held = &mackerel.state()["host_points"][&host];
    // CloudWatch's own minutes over the look-back, the plugin's statistics: Sum and Average.
    let requests = held["custom.cloudfront.Requests.Requests"]
        .as_object()
        .unwrap();
    assert_eq!(requests.len(), 10);
    for (t, v) in requests {
        let minute = (t.parse::<i64>().unwrap() - start) / 60;
        assert_eq!(v.as_f64().unwrap(), 10.0 + minute as f64, "at {t}");
    }
    for (t, v) in held["custom.cloudfront.ErrorRate.5xxErrorRate"]
        .as_object()
        .unwrap()
    {
        let minute = (t.parse::<i64>().unwrap() - start) / 60;
        assert_eq!(v.as_f64().unwrap(), 0.5 + minute as f64, "at {t}");
    }
    assert_eq!(
        graph_body(&mackerel),
        format!("[{}]", plugin_graphs("cloudfront", "CloudFront"))
    );
}

#[test]
fn an_existing_host_takes_every_distribution_under_its_own_prefix() {
    let moto = Moto::shared();
    let dists = moto.distributions("plugin-existing", 2, &[]);
    let ids: Vec<&str> = dists.iter().map(id_of).collect();
    moto.traffic(&ids, 15);
    let mackerel = Fake::mackerel();
    let host = make_host(&mackerel, "cdn-metrics");
    let mut cmd = plugin_env(moto, &mackerel, "plugin-existing");
    cmd.env("CW2MACKEREL_HOST_ID", &host)
        .env("CW2MACKEREL_METRIC_KEY_PREFIX", "{id}")
        .arg("run");
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        ran.summary()["hosts"],
        json!({"live": 1, "created": 0, "updated": 0, "retired": 0})
    );

    let mut want: Vec<String> = ids.iter().flat_map(|id| plugin_names(id)).collect();
    want.sort();
    assert_eq!(names_on(&mackerel, &host), want);
    // One set per prefix, in the order the distributions were listed.
    let body = graph_body(&mackerel);
    let (a, b) = (plugin_graphs(ids[0], ids[0]), plugin_graphs(ids[1], ids[1]));
    assert!(
        body == format!("[{a},{b}]") || body == format!("[{b},{a}]"),
        "{body}"
    );

    // Looked up once by its ID; never listed, created, changed or retired.
    assert_eq!(host_writes(&mackerel), Vec::<Value>::new());
    let lookups = mackerel.requests_to(&format!("/api/v0/hosts/{host}"));
    assert_eq!(lookups.len(), 1, "{lookups:#?}");
    assert!(
        mackerel.requests_to("/api/v0/hosts").len() == 1,
        "no listing"
    );
    assert_eq!(mackerel.state()["hosts"].as_array().unwrap().len(), 1);

    // A config file says the same.
    let file = temp_file(
        "plugin-existing.json",
        &json!({"jobs": [{"preset": "cloudfront", "names": "plugin", "metric_key_prefix": "{id}",
                          "tags": {"test": "plugin-existing"}, "target": {"host": {"id": host}}}]})
        .to_string(),
    );
    mackerel.reset();
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.env_remove("CW2MACKEREL_SERVICE")
        .env("CW2MACKEREL_CONFIG", &file)
        .arg("run");
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.summary()["posted"].as_u64().unwrap() > 0);
    assert_eq!(host_writes(&mackerel), Vec::<Value>::new());
}

#[test]
fn a_prefix_that_names_every_distribution_alike_is_refused() {
    let mackerel = Fake::mackerel();
    let cases: [&[(&str, &str)]; 4] = [
        // One host, the default prefix, any number of distributions.
        &[
            ("CW2MACKEREL_MODE", "host"),
            ("CW2MACKEREL_HOST_ID", "2eQGEaLxibb"),
        ],
        // A constant prefix, and a tag filter that may find two.
        &[
            ("CW2MACKEREL_MODE", "host"),
            ("CW2MACKEREL_HOST_ID", "2eQGEaLxibb"),
            ("CW2MACKEREL_METRIC_KEY_PREFIX", "cdn"),
            ("CW2MACKEREL_TAG", "test=x"),
        ],
        &[
            ("CW2MACKEREL_MODE", "host"),
            ("CW2MACKEREL_HOST_ID", "2eQGEaLxibb"),
            ("CW2MACKEREL_DISTRIBUTIONS", "E1,E2"),
        ],
        // Plugin names in one service.
        &[("CW2MACKEREL_NAMES", "plugin")],
    ];
    for env in cases {
        for command in ["check", "run"] {
            let mut cmd = cw2mackerel();
            cmd.env("MACKEREL_APIBASE", mackerel.url())
                .env("MACKEREL_APIKEY", MACKEREL_KEY)
                .env("CW2MACKEREL_SERVICE", "cdn")
                .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
                .env("AWS_SECRET_ACCESS_KEY", "secret")
                .envs(env.iter().copied())
                .arg(command);
            if env[0].0 == "CW2MACKEREL_MODE" {
                cmd.env_remove("CW2MACKEREL_SERVICE");
            }
            let ran = run(&mut cmd);
            assert_eq!(ran.code, 2, "{env:?} {command}: {}", ran.stderr);
            assert!(
                ran.stderr.contains("CW2MACKEREL_METRIC_KEY_PREFIX")
                    && ran.stderr.contains("the same metric names")
                    && ran.stderr.contains("{id}"),
                "{env:?}: {}",
                ran.stderr
            );
        }
    }
    assert!(mackerel.requests().is_empty(), "nothing reached Mackerel");

    // One distribution by its ID may keep the plugin's default prefix.
    let mut one = cw2mackerel();
    one.env("MACKEREL_APIKEY", MACKEREL_KEY)
        .env("CW2MACKEREL_MODE", "host")
        .env("CW2MACKEREL_HOST_ID", "2eQGEaLxibb")
        .env("CW2MACKEREL_DISTRIBUTIONS", "E1")
        .env("CW2MACKEREL_NAMES", "plugin")
        .arg("check");
    let ran = run(&mut one);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let file = temp_file(
        "plugin-shared.json",
        &json!({"jobs": [{"preset": "cloudfront", "names": "plugin",
                          "target": {"host": {"id": "2eQGEaLxibb"}}}]})
        .to_string(),
    );
    let mut cmd = cw2mackerel();
    cmd.env("MACKEREL_APIKEY", MACKEREL_KEY)
        .args(["check", "--config"])
        .arg(&file);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("jobs[0].metric_key_prefix: \\\"cloudfront\\\" gives"),
        "{}",
        ran.stderr
    );
}

#[test]
fn an_unknown_or_retired_host_fails_and_keeps_the_points() {
    let moto = Moto::shared();
    let dists = moto.distributions("plugin-gone", 1, &[]);
    moto.traffic(&[id_of(&dists[0])], 15);
    let mackerel = Fake::mackerel();
    let retired = make_host(&mackerel, "old");
    retire(&mackerel, &retired);
    mackerel.reset();
    for host in [retired.as_str(), "NoSuchHost1"] {
        let mut cmd = plugin_env(moto, &mackerel, "plugin-gone");
        cmd.env("CW2MACKEREL_HOST_ID", host)
            .env("CW2MACKEREL_METRIC_KEY_PREFIX", "{id}")
            .arg("run");
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 1, "{}", ran.stderr);
        let summary = ran.summary();
        assert!(
            summary["error"].as_str().unwrap().contains(&format!(
                "host {host}: Mackerel has no live host with this ID"
            )),
            "{summary}"
        );
        assert!(mackerel.requests_to("/tsdb").is_empty(), "nothing posted");
        assert_eq!(host_writes(&mackerel), Vec::<Value>::new());
        assert!(
            state_of(&cmd)["unposted_since"].is_i64(),
            "the points are owed to the next run"
        );
    }
}

#[test]
fn plugin_names_as_service_metrics() {
    let moto = Moto::shared();
    let dists = moto.distributions("plugin-service", 1, &[]);
    let id = id_of(&dists[0]);
    moto.traffic(&[id], 15);
    let mackerel = Fake::mackerel();
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.env("CW2MACKEREL_NAMES", "plugin")
        .env("CW2MACKEREL_METRIC_KEY_PREFIX", "cf-{id}")
        .env("CW2MACKEREL_TAG", "test=plugin-service")
        .arg("run");
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let mut names: Vec<String> = service_points(&mackerel, "cdn").keys().cloned().collect();
    names.sort();
    let want: Vec<String> = plugin_names(&format!("cf-{id}"))
        .iter()
        .map(|n| n.trim_start_matches("custom.").to_string())
        .collect();
    assert_eq!(names, want);
    assert!(mackerel.requests_to("/graph-defs").is_empty());
}

#[test]
fn a_daemon_looks_the_existing_host_up_once_per_discovery() {
    let moto = Moto::shared();
    let dists = moto.distributions("plugin-daemon", 1, &[]);
    moto.traffic(&[id_of(&dists[0])], 15);
    let mackerel = Fake::mackerel();
    let host = make_host(&mackerel, "cdn-metrics");
    let mut cmd = plugin_env(moto, &mackerel, "plugin-daemon");
    cmd.env("CW2MACKEREL_HOST_ID", &host)
        .env("CW2MACKEREL_METRIC_KEY_PREFIX", "{id}")
        .args(["daemon", "--interval", "2s"]);
    let daemon = spawn(&mut cmd);
    // Cycles at 2 s: the first posts the back-fill, the others only new minutes.
    wait_for(std::time::Duration::from_secs(60), "a post", || {
        !mackerel.requests_to("/tsdb").is_empty()
    });
    std::thread::sleep(std::time::Duration::from_secs(5));
    signal(&daemon, "-TERM");
    let (code, logs) = finish(daemon, std::time::Duration::from_secs(30));
    assert_eq!(code, 0, "{logs:#?}");
    let cycles = msgs(&logs).iter().filter(|m| **m == "cycle ok").count();
    assert!(cycles >= 3, "{logs:#?}");
    assert_eq!(
        mackerel.requests_to(&format!("/api/v0/hosts/{host}")).len(),
        1,
        "looked up once in {cycles} cycles (discovery_ttl)"
    );
    assert_eq!(mackerel.requests_to("/graph-defs/create").len(), 1);
    assert_eq!(host_writes(&mackerel), Vec::<Value>::new());
}
