//! Host mode end to end: one Mackerel host per distribution, created once and found again
//! after restarts, crashes, retirements and concurrent runs; never a host for the tool.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::process::Command;

/// A host-mode daemon with a 2 s interval, its log piped.
fn host_daemon(moto: &Moto, mackerel: &Fake, tag: &str) -> std::process::Child {
    host_mode(moto, mackerel, tag)
        .args(["daemon", "--interval", "2s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops `daemon` with SIGTERM: whether it exited 0, and its log.
fn stop(daemon: std::process::Child) -> (bool, String) {
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let out = daemon.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every distribution has exactly one live host, and no other host exists.
fn assert_one_host_each(mackerel: &Fake, dists: &[Value]) -> Vec<String> {
    let live = live_hosts(mackerel);
    assert_eq!(live.len(), dists.len(), "hosts: {live:#?}");
    dists
        .iter()
        .map(|d| {
            let hosts = &live[d["arn"].as_str().unwrap()];
            assert_eq!(hosts.len(), 1, "{}: {hosts:#?}", d["id"]);
            hosts[0]["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn hosts_are_created_once_and_found_again() {
    let moto = Moto::shared();
    let dists = moto.distributions("hosts", 2, &["--alias", "img.example.org"]);
    let start = moto.traffic(&[id_of(&dists[0])], 15);
    let mackerel = Fake::mackerel();
    let mut cmd = host_run(moto, &mackerel, "hosts");
    cmd.env("CW2MACKEREL_ROLES", "cdn:edge")
        .env("CW2MACKEREL_LABEL", "alias");

    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(
        s["hosts"],
        json!({"live": 2, "created": 2, "updated": 0, "retired": 0})
    );
    let ids = assert_one_host_each(&mackerel, &dists);

    let state = mackerel.state();
    for (d, id) in dists.iter().zip(&ids) {
        let h = state["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == id.as_str())
            .unwrap();
        assert_eq!(h["name"], d["domain"]);
        assert_eq!(h["displayName"], d["aliases"][0]);
        assert_eq!(h["roles"], json!({"cdn": ["edge"]}));
        assert_eq!(h["meta"]["cloudfront"]["aliases"], d["aliases"]);
        assert_eq!(h["meta"]["cloudfront"]["origins"], 1);
        assert_eq!(h["meta"]["cloudfront"]["status"], "Deployed");
    }
    // Host metrics, named without the label, on the right host, with their CloudWatch times.
    let busy = &state["host_points"][&ids[0]];
    let requests = busy["custom.cloudfront.requests.request"]
        .as_object()
        .unwrap();
    assert_eq!(requests.len(), 10);
    for (t, v) in requests {
        assert_eq!(
            v.as_f64().unwrap(),
            10.0 + ((t.parse::<i64>().unwrap() - start) / 60) as f64
        );
    }
    let idle = state["host_points"][&ids[1]].as_object().unwrap();
    let mut names: Vec<&String> = idle.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "custom.cloudfront.requests.request",
            "custom.cloudfront.transfer.download",
            "custom.cloudfront.transfer.upload"
        ]
    );
    assert!(
        state["points"].as_object().unwrap().is_empty(),
        "no service metrics in host mode"
    );

    let defs = state["graph_defs"].as_array().unwrap();
    let by_name = |n: &str| {
        defs.iter()
            .find(|d| d["name"] == n)
            .unwrap_or_else(|| panic!("no graph {n}: {defs:#?}"))
    };
    assert_eq!(by_name("custom.cloudfront.requests")["unit"], "integer");
    assert_eq!(
        by_name("custom.cloudfront.requests")["displayName"],
        "CloudFront Requests"
    );
    assert_eq!(by_name("custom.cloudfront.transfer")["unit"], "bytes");
    let errors = by_name("custom.cloudfront.error_rate");
    assert_eq!(errors["unit"], "percentage");
    assert_eq!(
        errors["metrics"][0],
        json!({"name": "custom.cloudfront.error_rate.total_error_rate", "displayName": "Total", "isStacked": false})
    );
    assert_eq!(defs.len(), 3, "only the chosen groups");
    assert_eq!(mackerel.requests_to("/graph-defs/create").len(), 1);

    assert_eq!(full_listings(&mackerel), 1, "a run lists at most once");

    // Run again: the same hosts, nothing created or changed.
    let again = run(&mut cmd);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.summary()["hosts"],
        json!({"live": 2, "created": 0, "updated": 0, "retired": 0})
    );
    assert_eq!(assert_one_host_each(&mackerel, &dists), ids);
    assert_eq!(
        mackerel
            .requests()
            .iter()
            .filter(|r| r["method"] == "POST" && r["path"] == "/api/v0/hosts")
            .count(),
        2
    );
}

/// Listings of every host (`GET /api/v0/hosts` without a customIdentifier).
fn full_listings(mackerel: &Fake) -> usize {
    mackerel
        .requests()
        .iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"] == "/api/v0/hosts"
                && r["query"].get("customIdentifier").is_none()
        })
        .count()
}

#[test]
fn a_daemon_keeps_its_host_map_between_cycles() {
    let moto = Moto::shared();
    let dists = moto.distributions("hostmap", 2, &[]);
    let mackerel = Fake::mackerel();
    let daemon = host_daemon(moto, &mackerel, "hostmap");
    std::thread::sleep(std::time::Duration::from_secs(7));
    let (_, stderr) = stop(daemon);
    let cycles = stderr
        .lines()
        .filter(|l| l.contains("\"cycle ok\""))
        .count();
    assert!(cycles >= 3, "{stderr}");
    assert_eq!(
        full_listings(&mackerel),
        1,
        "listed once, then kept: {stderr}"
    );
    assert_one_host_each(&mackerel, &dists);
}

#[test]
fn a_crash_between_create_and_post_leaves_one_host() {
    let moto = Moto::shared();
    let dists = moto.distributions("crash", 2, &[]);
    let mackerel = Fake::mackerel();
    // The run dies after creating the hosts, before any point is posted.
    mackerel.faults(json!([{"path": "^/api/v0/tsdb$", "status": 500, "count": 10}]));
    let ran = run(&mut host_run(moto, &mackerel, "crash"));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let ids = assert_one_host_each(&mackerel, &dists);
    assert!(
        mackerel.state()["host_points"]
            .as_object()
            .unwrap()
            .is_empty()
    );

    mackerel.reset();
    let ran = run(&mut host_run(moto, &mackerel, "crash"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["hosts"]["created"], 0);
    assert_eq!(assert_one_host_each(&mackerel, &dists), ids);
    assert_eq!(
        mackerel.state()["host_points"].as_object().unwrap().len(),
        2
    );
}

#[test]
fn retired_hosts_are_never_reused_and_hidden_statuses_are_found() {
    let moto = Moto::shared();
    let dists = moto.distributions("status", 2, &[]);
    let mackerel = Fake::mackerel();
    let (a, b) = (
        dists[0]["arn"].as_str().unwrap(),
        dists[1]["arn"].as_str().unwrap(),
    );
    let made = mackerel.set_state(json!({"hosts": [
        {"name": "old", "customIdentifier": a, "isRetired": true, "meta": {"cw2mackerel": {"owner": "cloudfront"}}},
        {"name": "resting", "customIdentifier": b, "status": "maintenance", "meta": {"cw2mackerel": {"owner": "cloudfront"}}},
    ]}));
    let maintenance_id = made["hosts"][1]["id"].as_str().unwrap();
    let ran = run(&mut host_run(moto, &mackerel, "status"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(
        (
            s["hosts"]["created"].as_u64(),
            s["hosts"]["updated"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let ids = assert_one_host_each(&mackerel, &dists);
    assert_ne!(
        ids[0],
        made["hosts"][0]["id"].as_str().unwrap(),
        "a retired host stays retired"
    );
    assert_eq!(
        ids[1], maintenance_id,
        "a host in maintenance is still the distribution's host"
    );
}

#[test]
fn two_runs_at_once_leave_one_live_host_per_distribution() {
    let moto = Moto::shared();
    let dists = moto.distributions("race", 3, &[]);
    for unique in [false, true] {
        let mackerel = match unique {
            true => Fake::mackerel_with(&["--unique-custom-identifier"]),
            false => Fake::mackerel(),
        };
        // Slow host creation, so both runs look, find nothing, and create.
        mackerel.faults(
            json!([{"path": "^/api/v0/hosts$", "method": "POST", "delay": 0.5, "count": 6}]),
        );
        let children: Vec<_> = (0..2)
            .map(|_| {
                host_run(moto, &mackerel, "race")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut created = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "unique={unique}: {stderr}");
            let ran = Ran {
                code: 0,
                stdout: String::new(),
                stderr,
            };
            created += ran.summary()["hosts"]["created"].as_u64().unwrap();
        }
        if !unique {
            assert!(
                created > 3,
                "the runs did race: {created} hosts created for 3 distributions"
            );
        }
        assert_one_host_each(&mackerel, &dists);
        // The points went to the surviving hosts.
        let state = mackerel.state();
        for hosts in live_hosts(&mackerel).values() {
            assert!(
                state["host_points"]
                    .get(hosts[0]["id"].as_str().unwrap())
                    .is_some(),
                "unique={unique}"
            );
        }
    }
}

#[test]
fn gone_distributions_are_reported_and_retired_when_asked() {
    let moto = Moto::shared();
    let dists = moto.distributions("gone", 2, &[]);
    let (keep, leave) = (id_of(&dists[0]), id_of(&dists[1]));
    let mackerel = Fake::mackerel();
    // A host that is not ours must never be touched.
    mackerel.set_state(json!({"hosts": [{"name": "web-1", "customIdentifier": "i-0abc", "meta": {"agent-name": "mackerel-agent"}}]}));
    assert_eq!(run(&mut host_run(moto, &mackerel, "gone")).code, 0);

    let mut narrowed = host_run(moto, &mackerel, "gone");
    narrowed.env("CW2MACKEREL_DISTRIBUTIONS", keep);
    let ran = run(&mut narrowed);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(
        (s["gone"].as_u64(), s["gone_ids"].as_str()),
        (Some(1), Some(leave))
    );
    assert_eq!(live_hosts(&mackerel).len(), 3, "reported, not retired");

    let ran = run(narrowed.env("CW2MACKEREL_RETIRE_GONE", "true"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["hosts"]["retired"], 1);
    let live = live_hosts(&mackerel);
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        [
            "arn:aws:cloudfront::123456789012:distribution/".to_string() + keep,
            "i-0abc".into()
        ]
        .iter()
        .collect::<Vec<_>>()
    );
}

#[test]
fn list_shows_each_distributions_host_and_dry_run_names_it() {
    let moto = Moto::shared();
    let dists = moto.distributions("hostlist", 1, &[]);
    let mackerel = Fake::mackerel();
    let mut list = against(moto, "reader", &mackerel);
    list.env("CW2MACKEREL_MODE", "host")
        .args(["list", "--tag", "test=hostlist"]);
    let before = run(&mut list);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(
        mackerel.requests().iter().all(|r| r["method"] == "GET"),
        "list changes nothing"
    );
    assert!(before.stdout.lines().next().unwrap().ends_with("HOST"));
    assert!(
        before.stdout.lines().nth(1).unwrap().ends_with(" -"),
        "{}",
        before.stdout
    );

    assert_eq!(run(&mut host_run(moto, &mackerel, "hostlist")).code, 0);
    let after = run(&mut list);
    let host_id = assert_one_host_each(&mackerel, &dists).remove(0);
    assert!(
        after.stdout.lines().nth(1).unwrap().ends_with(&host_id),
        "{}",
        after.stdout
    );

    let dry = run(host_run(moto, &mackerel, "hostlist")
        .env_remove("MACKEREL_APIKEY")
        .arg("--dry-run"));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let first: Value = serde_json::from_str(dry.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["host"], dists[0]["arn"]);
    assert!(
        first["name"]
            .as_str()
            .unwrap()
            .starts_with("custom.cloudfront.")
    );
}

#[test]
fn a_replaced_host_gets_the_whole_window() {
    let moto = Moto::shared();
    let dists = moto.distributions("replaced", 1, &[]);
    moto.traffic(&[id_of(&dists[0])], 15);
    let mackerel = Fake::mackerel();
    let mut cmd = host_run(moto, &mackerel, "replaced");
    let minutes_of = |host: &str| {
        post_counts(&mackerel)
            .keys()
            .filter(|(name, _)| {
                name.starts_with(&format!("{host}/")) && name.ends_with("requests.request")
            })
            .count()
    };
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let old = assert_one_host_each(&mackerel, &dists).remove(0);
    assert_eq!(minutes_of(&old), 10);
    // Someone retires the host; the next run makes a new one, which has none of the points.
    retire(&mackerel, &old);
    // Long enough ago that the host it made is no longer trusted to be listed late.
    let mut saved = state_of(&cmd);
    for made in saved["hosts_created"].as_array_mut().unwrap() {
        made[2] = json!(made[2].as_i64().unwrap() - 3600);
    }
    std::fs::write(state_path(&cmd), saved.to_string()).unwrap();
    mackerel.reset();
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let new = assert_one_host_each(&mackerel, &dists).remove(0);
    assert_ne!(new, old);
    assert!(minutes_of(&new) >= 10, "{}", ran.stderr);
}

#[test]
fn a_host_retired_by_hand_is_replaced_in_the_same_run() {
    let moto = Moto::shared();
    let dists = moto.distributions("byhand", 2, &[]);
    moto.traffic(&[id_of(&dists[0]), id_of(&dists[1])], 15);
    let mackerel = Fake::mackerel();
    let mut cmd = host_run(moto, &mackerel, "byhand");
    assert_eq!(run(&mut cmd).code, 0);
    let before = assert_one_host_each(&mackerel, &dists);
    // Retired within minutes of its creation, while a late listing would still excuse it.
    retire(&mackerel, &before[1]);
    mackerel.reset();
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(s["hosts"]["created"], 1, "{s}");
    assert_eq!(s["posted"], 60, "the new host gets the whole window: {s}");
    let after = assert_one_host_each(&mackerel, &dists);
    assert_eq!(after[0], before[0]);
    assert_ne!(after[1], before[1]);
    assert!(
        mackerel
            .requests_to("/tsdb")
            .iter()
            .all(|r| !r["body"].as_str().unwrap().contains(&before[1])),
        "the retired host is never posted to"
    );
    assert_eq!(warnings(&ran, "retired").len(), 1, "{}", ran.stderr);
}

#[test]
fn two_deployments_that_retire_each_others_hosts_still_post_and_say_what_to_do() {
    let moto = Moto::shared();
    let a = moto.distributions("deploya", 1, &[]);
    let b = moto.distributions("deployb", 1, &[]);
    moto.traffic(&[id_of(&a[0]), id_of(&b[0])], 15);
    let mackerel = Fake::mackerel();
    let mut one = host_run(moto, &mackerel, "deploya");
    let mut two = host_run(moto, &mackerel, "deployb");
    for cmd in [&mut one, &mut two] {
        cmd.env("CW2MACKEREL_RETIRE_GONE", "true");
    }
    assert_eq!(run(&mut one).code, 0);
    let ran = run(&mut two);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["hosts"]["retired"], 1, "the first one's host");

    let ran = run(&mut one);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(
        s["posted"], 60,
        "its host was replaced and took the window: {s}"
    );
    let said = warnings(&ran, "retired");
    assert_eq!(said.len(), 1, "{}", ran.stderr);
    assert!(
        said[0].to_string().contains("CW2MACKEREL_ROLES"),
        "{}",
        said[0]
    );
    let live = live_hosts(&mackerel);
    let host = &live[a[0]["arn"].as_str().unwrap()][0];
    assert!(
        mackerel.state()["host_points"]
            .get(host["id"].as_str().unwrap())
            .is_some()
    );
}

#[test]
fn a_refused_host_body_costs_one_look_not_two_per_point() {
    let moto = Moto::shared();
    let dists = moto.distributions("storm", 2, &[]);
    moto.traffic(&[id_of(&dists[0]), id_of(&dists[1])], 65);
    let mackerel = Fake::mackerel();
    assert_eq!(run(&mut host_run(moto, &mackerel, "storm")).code, 0);
    mackerel.reset();
    // The first host body of an hour's points is refused (a host Mackerel briefly did not
    // know, say).
    mackerel.faults(json!([{"path": "^/api/v0/tsdb$", "status": 400, "count": 1,
        "body": "{\"error\":{\"message\":\"host not found\"}}"}]));
    let ran = run(host_run(moto, &mackerel, "storm").env("CW2MACKEREL_LOOKBACK", "60m"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let lookups = mackerel
        .requests()
        .iter()
        .filter(|r| {
            r["method"] == "GET" && r["path"].as_str().unwrap().starts_with("/api/v0/hosts")
        })
        .count();
    assert_eq!(lookups, 2, "the listing, and one more after the refusal");
    assert_eq!(ran.summary()["posted"], 720, "every point of both hosts");
    assert_one_host_each(&mackerel, &dists);

    // Every host body refused: one more listing, then each host looked up once.
    mackerel.reset();
    mackerel.faults(
        json!([{"path": "^/api/v0/tsdb$", "status": 400, "count": 10_000,
        "body": "{\"error\":{\"message\":\"host not found\"}}"}]),
    );
    let ran = run(host_run(moto, &mackerel, "storm").env("CW2MACKEREL_LOOKBACK", "60m"));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let gets = mackerel
        .requests()
        .iter()
        .filter(|r| r["method"] == "GET")
        .count();
    let posts = mackerel.requests_to("/tsdb").len();
    assert!(gets <= 4 && posts <= 40, "{gets} lookups, {posts} posts");
}

#[test]
fn a_70_mb_host_list_is_read_in_a_fixed_memory_budget() {
    let moto = Moto::shared();
    let dists = moto.distributions("biglist", 1, &[]);
    // 18,000 agent hosts of someone else with ordinary meta: about 70 MB of listing.
    let mackerel = Fake::mackerel_with(&["--stranger-hosts", "18000"]);
    let child = host_run(moto, &mackerel, "biglist")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (out, peak_kb) = peak_rss(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(peak_kb < 64 * 1024, "peak RSS {peak_kb} kB");
    assert_one_host_each(&mackerel, &dists);
    assert!(!stderr.contains("not made by cw2mackerel"), "{stderr}");
}

#[test]
fn jobs_sharing_a_custom_identifier_feed_one_host() {
    let moto = Moto::shared();
    let start = (now() / 60 - 15) * 60;
    let start = start.to_string();
    moto.seed(&[
        "metrics",
        "--namespace",
        "App/SharedHost",
        "--start",
        &start,
        "--minutes",
        "15",
        "--metric",
        "Sent=10",
        "--metric",
        "Received=20",
        "--value-from-minute",
        "--each",
        "Queue=orders",
    ]);
    let job = |name: &str, metric: &str| {
        json!({"name": name, "regions": ["us-east-1"], "namespace": "App/SharedHost",
               "dimensions": {"Queue": "*"}, "metrics": [{"name": metric, "stat": "Sum"}],
               "target": {"host": {"custom_identifier": "queue:{Queue}", "name": "{Queue}"}},
               "name_template": format!("queue.{}", metric.to_lowercase())})
    };
    let config = temp_file(
        "shared-host.json",
        &json!({"jobs": [job("sent", "Sent"), job("received", "Received")]}).to_string(),
    );
    let mackerel = Fake::mackerel_with(&["--unique-custom-identifier"]);
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.env_remove("CW2MACKEREL_SERVICE")
        .arg("run")
        .arg("--config")
        .arg(&config);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(warnings(&ran, "not made by").is_empty(), "{}", ran.stderr);
    let live = live_hosts(&mackerel);
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        ["queue:orders"],
        "{live:#?}"
    );
    let host = &live["queue:orders"];
    assert_eq!(host.len(), 1, "{host:#?}");
    assert_eq!(
        host[0]["meta"]["cw2mackerel"]["owner"], "sent",
        "the first job's"
    );
    let points = &mackerel.state()["host_points"][host[0]["id"].as_str().unwrap()];
    for name in ["custom.queue.sent", "custom.queue.received"] {
        assert_eq!(
            points[name].as_object().map(|p| p.len()),
            Some(10),
            "{name}: {points}"
        );
    }

    let again = run(&mut cmd);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.summary()["hosts"],
        json!({"live": 1, "created": 0, "updated": 0, "retired": 0})
    );
    assert!(
        again.logs().iter().all(|l| l["level"] != "warn"),
        "{}",
        again.stderr
    );
    assert_eq!(live_hosts(&mackerel), live, "nothing changed");
}

#[test]
fn a_daemon_replaces_a_host_retired_under_it() {
    let moto = Moto::shared();
    let dists = moto.distributions("daemonretire", 2, &[]);
    moto.traffic(&[id_of(&dists[0]), id_of(&dists[1])], 16);
    let mackerel = Fake::mackerel();
    let daemon = host_daemon(moto, &mackerel, "daemonretire");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while live_hosts(&mackerel).len() < 2 || mackerel.requests_to("/tsdb").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no first cycle");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let before = assert_one_host_each(&mackerel, &dists);
    // Retired under the daemon, whose map of hosts is good for ten minutes more; then
    // CloudWatch revises the distribution's counts, which the daemon posts again.
    retire(&mackerel, &before[1]);
    let start = ((now() / 60 - 15) * 60).to_string();
    moto.seed(&[
        "metrics",
        "--ids",
        id_of(&dists[1]),
        "--start",
        &start,
        "--minutes",
        "15",
        "--metric",
        "Requests=1000",
    ]);
    let replaced = || {
        live_hosts(&mackerel)
            .get(dists[1]["arn"].as_str().unwrap())
            .and_then(|hosts| hosts.first().cloned())
            .and_then(|h| {
                mackerel.state()["host_points"]
                    .get(h["id"].as_str().unwrap())
                    .cloned()
            })
            .is_some_and(|p| {
                p["custom.cloudfront.requests.request"]
                    .as_object()
                    .map(|m| m.len())
                    == Some(10)
            })
    };
    while !replaced() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (ok, stderr) = stop(daemon);
    assert!(ok && replaced(), "{stderr}");
    let after = assert_one_host_each(&mackerel, &dists);
    assert_eq!(after[0], before[0]);
    assert_ne!(after[1], before[1]);
    assert!(stderr.contains("hosts of ours were retired"), "{stderr}");
}
