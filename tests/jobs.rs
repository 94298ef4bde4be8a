//! Jobs from a config file, end to end against moto: two regions and two namespaces besides
//! CloudFront, a role assumed for one job, tags through the Tagging API, queries of all jobs
//! packed into as few GetMetricData calls as the 500-query limit allows, and a file with a
//! mistake in each kind of field.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};

fn config_file(name: &str, config: &Value) -> String {
    temp_file(name, &config.to_string())
        .to_str()
        .unwrap()
        .to_string()
}

/// Seeds `metric` under `namespace` in `region`, one series per `Name=Value` in `dims`, one
/// point a minute from `start` for `minutes`, each valued 10 + its minute index.
fn seed(
    moto: &Moto,
    region: &str,
    namespace: &str,
    metric: &str,
    dims: &[String],
    start: i64,
    minutes: i64,
) {
    seed_from(moto, (region, namespace, metric), 10, dims, start, minutes)
}

/// As [`seed`], each value `base` + its minute index.
fn seed_from(
    moto: &Moto,
    (region, namespace, metric): (&str, &str, &str),
    base: i64,
    dims: &[String],
    start: i64,
    minutes: i64,
) {
    let (id, secret) = moto.key("admin");
    let mut cmd = std::process::Command::new(python());
    cmd.arg(root().join("tests/peers/moto_seed.py"))
        .args(["--endpoint", moto.url(), "--region", region, "metrics"])
        .args([
            "--access-key-id",
            &id,
            "--secret-access-key",
            &secret,
            "--namespace",
            namespace,
        ])
        .args([
            "--start",
            &start.to_string(),
            "--minutes",
            &minutes.to_string(),
        ])
        .args([
            "--metric",
            &format!("{metric}={base}"),
            "--value-from-minute",
        ]);
    for d in dims {
        cmd.args(["--each", d]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The start of the minute `minutes` ago: one time for every seed call of a test.
fn minutes_ago(minutes: i64) -> i64 {
    (now() / 60 - minutes) * 60
}

#[test]
fn regions_namespaces_a_role_and_tags_in_one_run() {
    let moto = Moto::shared();
    let services = ["Service=api".to_string(), "Service=web".to_string()];
    let start = minutes_ago(15);
    seed(
        moto,
        "us-east-1",
        "App/Checkout",
        "Orders",
        &services,
        start,
        15,
    );
    seed(
        moto,
        "eu-west-1",
        "App/Checkout",
        "Orders",
        &services,
        start,
        15,
    );
    let tagged: Vec<String> =
        serde_json::from_value(moto.seed(&["ec2-instances", "--count", "2", "--tag", "team=web"]))
            .unwrap();
    let untagged: Vec<String> =
        serde_json::from_value(moto.seed(&["ec2-instances", "--count", "1", "--tag", "team=db"]))
            .unwrap();
    let instances: Vec<String> = tagged
        .iter()
        .chain(&untagged)
        .map(|i| format!("InstanceId={i}"))
        .collect();
    seed(
        moto,
        "us-east-1",
        "AWS/EC2",
        "CPUUtilization",
        &instances,
        start,
        15,
    );
    let dists = moto.distributions("jobs", 1, &[]);

    let config = config_file(
        "jobs.json",
        &json!({"jobs": [
            {"name": "checkout", "regions": ["us-east-1", "eu-west-1"], "namespace": "App/Checkout",
             "dimensions": {"Service": "*"}, "metrics": [{"name": "Orders", "stat": "Sum", "nil_to_zero": true}],
             "target": {"service": "shop"}, "name_template": "checkout.{region}.{Service}.{metric}"},
            {"name": "web-ec2", "regions": ["us-east-1"], "namespace": "AWS/EC2", "dimensions": {"InstanceId": "i-*"},
             "tags": {"team": "web"}, "metrics": [{"name": "CPUUtilization", "stat": "Maximum"}],
             "target": {"host": {"custom_identifier": "ec2:{InstanceId}", "name": "{InstanceId}", "roles": ["shop:web"]}},
             "name_template": "ec2.cpu.{stat}", "role_arn": moto.users["role_arn"], "external_id": "cw2m"},
            {"preset": "cloudfront", "distributions": [id_of(&dists[0])], "target": {"service": "cdn"}},
        ]}),
    );
    let mackerel = Fake::start(
        "mackerel",
        &[
            "--apikey",
            MACKEREL_KEY,
            "--service",
            "shop",
            "--service",
            "cdn",
        ],
    );
    let ran = run(against(moto, "reader", &mackerel)
        .env_remove("CW2MACKEREL_SERVICE")
        .args(["run", "--config", &config]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    // checkout: 2 regions × 2 services; web-ec2: 2 tagged instances; cloudfront: 6.
    assert_eq!(s["queries"], 12);
    assert_eq!(s["metrics_requested"], 12);
    // us-east-1 with the reader's keys, us-east-1 with the role's, eu-west-1: three calls.
    // ListMetrics: checkout twice (one per region), web-ec2 once.
    assert_eq!(s["calls"]["cloudwatch"], 3 + 3, "{s}");
    assert_eq!(s["calls"]["sts"], 1, "the role is assumed once");
    assert_eq!(s["calls"]["tagging"], 1);
    assert_eq!(
        s["calls"]["cloudfront"], 1,
        "explicit IDs in service mode: one ListDistributions checks them"
    );

    let state = mackerel.state();
    let shop = state["points"]["shop"].as_object().unwrap();
    let mut names: Vec<&String> = shop.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "checkout.eu-west-1.api.Orders",
            "checkout.eu-west-1.web.Orders",
            "checkout.us-east-1.api.Orders",
            "checkout.us-east-1.web.Orders"
        ]
    );
    for series in shop.values() {
        let series = series.as_object().unwrap();
        assert_eq!(series.len(), 10);
        for (t, v) in series {
            assert_eq!(
                v.as_f64().unwrap(),
                10.0 + ((t.parse::<i64>().unwrap() - start) / 60) as f64
            );
        }
    }
    assert_eq!(
        state["points"]["cdn"].as_object().unwrap().len(),
        3,
        "zero-filled sums of the idle distribution"
    );

    let live = live_hosts(&mackerel);
    let mut cids: Vec<&String> = live.keys().collect();
    cids.sort();
    let mut expected: Vec<String> = tagged.iter().map(|i| format!("ec2:{i}")).collect();
    expected.sort();
    assert_eq!(
        cids,
        expected.iter().collect::<Vec<_>>(),
        "only the tagged instances"
    );
    for hosts in live.values() {
        let h = &hosts[0];
        assert_eq!(h["roles"], json!({"shop": ["web"]}));
        assert_eq!(h["meta"]["cw2mackerel"]["owner"], "web-ec2");
        let points = &state["host_points"][h["id"].as_str().unwrap()]["custom.ec2.cpu.maximum"];
        assert_eq!(points.as_object().unwrap().len(), 10);
    }
}

#[test]
fn queries_of_all_jobs_are_packed_500_to_a_call() {
    let moto = Moto::shared();
    let shards = |n: usize| (0..n).map(|i| format!("Shard=s{i:03}")).collect::<Vec<_>>();
    seed(
        moto,
        "us-east-1",
        "Pack/Alpha",
        "Hits",
        &shards(260),
        minutes_ago(1),
        1,
    );
    seed(
        moto,
        "us-east-1",
        "Pack/Beta",
        "Hits",
        &shards(260),
        minutes_ago(1),
        1,
    );
    seed(
        moto,
        "eu-west-1",
        "Pack/Alpha",
        "Hits",
        &shards(1),
        minutes_ago(1),
        1,
    );
    let job = |name: &str, ns: &str, regions: Value| {
        json!({"name": name, "regions": regions, "namespace": ns, "dimensions": {"Shard": "*"},
               "metrics": [{"name": "Hits", "stat": "Sum"}], "target": {"service": "pack"},
               "name_template": format!("{name}.{{region}}.{{Shard}}")})
    };
    let config = config_file(
        "pack.json",
        &json!({"jobs": [job("alpha", "Pack/Alpha", json!(["us-east-1", "eu-west-1"])), job("beta", "Pack/Beta", json!(["us-east-1"]))]}),
    );
    let mackerel = Fake::mackerel();
    let ran = run(against(moto, "reader", &mackerel)
        .env_remove("CW2MACKEREL_SERVICE")
        .env_remove("MACKEREL_APIKEY")
        .args(["run", "--dry-run", "--config", &config]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert_eq!(s["queries"], 521);
    // ceil(520/500) = 2 calls in us-east-1, 1 in eu-west-1; plus 3 ListMetrics.
    assert_eq!(s["calls"]["cloudwatch"], 3 + 3, "{s}");
    assert_eq!(s["metrics_requested"], 521);
    let cost = s["cost_per_day_usd"].as_f64().unwrap();
    assert!((cost - 521.0 * 1440.0 * 0.00001).abs() < 1e-9, "{cost}");
    assert_eq!(s["interval_s"], 60);
}

#[test]
fn a_daemon_reuses_discovery_until_it_is_stale() {
    let moto = Moto::shared();
    seed(
        moto,
        "us-east-1",
        "Cache/Test",
        "Hits",
        &["Shard=a".to_string()],
        minutes_ago(4),
        4,
    );
    // Cycles every second, discovery kept three: ListMetrics in the first cycle, then again
    // once the answer is three seconds old.
    let config = config_file(
        "cache.json",
        &json!({"discovery_ttl": "3s", "jobs": [{"regions": ["us-east-1"], "namespace": "Cache/Test", "dimensions": {"Shard": "*"},
            "metrics": [{"name": "Hits", "stat": "Sum"}], "target": {"service": "cdn"}, "name_template": "cache.{Shard}"}]}),
    );
    let mackerel = Fake::mackerel();
    let daemon = against(moto, "reader", &mackerel)
        .env_remove("CW2MACKEREL_SERVICE")
        .env("CW2MACKEREL_INTERVAL", "1s")
        .args(["daemon", "--config", &config])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(7500));
    std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let out = daemon.wait_with_output().unwrap();
    assert!(out.status.success());
    let calls: Vec<u64> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["msg"] == "cycle ok")
        .map(|c| c["calls"]["cloudwatch"].as_u64().unwrap())
        .collect();
    // 2: ListMetrics and GetMetricData; 1: GetMetricData alone.
    assert!(calls.len() >= 6, "{calls:?}");
    assert_eq!(&calls[..2], [2, 1], "reused while fresh: {calls:?}");
    assert!(
        calls[2..].contains(&2),
        "listed again once stale: {calls:?}"
    );
    assert!(
        calls.windows(2).all(|w| w != [2, 2]),
        "never listed twice in a row: {calls:?}"
    );
}

#[test]
fn check_names_the_field_at_fault() {
    let good = json!({"regions": ["us-east-1"], "namespace": "App/X", "metrics": [{"name": "M", "stat": "Sum"}],
                      "target": {"service": "app"}, "name_template": "app.{metric}"});
    let with = |field: &str, value: Value| {
        let mut job = good.clone();
        let mut at = &mut job;
        let parts: Vec<&str> = field.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        at[parts[parts.len() - 1]] = value;
        json!({"jobs": [good.clone(), job]})
    };
    for (config, expected) in [
        (
            with("metrics.0.stat", json!("avg")),
            "jobs[1].metrics[0].stat: unknown statistic \"avg\"",
        ),
        (
            with("regions", json!(["mars-1"])),
            "jobs[1].regions[0]: \"mars-1\" is not an AWS region",
        ),
        (
            with("period", json!(45)),
            "jobs[1].period: 45s is not a CloudWatch period",
        ),
        (
            with("dimensions", json!({"LoadBalancer": ""})),
            "jobs[1].dimensions.LoadBalancer:",
        ),
        (
            with("target", json!({"host": {}})),
            "jobs[1].target.host.custom_identifier: is required",
        ),
        (
            with("name_template", json!("x.{Nope}")),
            "jobs[1].name_template: {Nope}",
        ),
        (with("role_arn", json!("role/x")), "jobs[1].role_arn:"),
        (with("tags", json!({"env": 1})), "jobs[1].tags.env:"),
        (
            with("namespace", json!(5)),
            "jobs[1].namespace: invalid type: integer `5`, expected a string",
        ),
        (
            with("namespace", json!(null)),
            "jobs[1].namespace: is required",
        ),
        (
            with("name", json!("App/X")),
            "jobs[1].name: \"App/X\" is the name of an earlier job",
        ),
    ] {
        let path = config_file("bad.json", &config);
        let ran = run(cw2mackerel().args(["check", "--config", &path]));
        assert_eq!(ran.code, 2, "{expected}: {}", ran.stderr);
        let msg = ran.logs()[0]["msg"].as_str().unwrap().to_string();
        assert!(
            msg.contains(&format!("{path}: {expected}")),
            "expected {expected:?} in {msg:?}"
        );
    }
    let path = config_file("good.json", &json!({"jobs": [good]}));
    // No AWS credentials to be found: check makes no AWS call, so it needs none.
    let ran = run(cw2mackerel()
        .env("MACKEREL_APIKEY", "k")
        .args(["check", "--config", &path]));
    assert_eq!(
        (ran.code, ran.stdout.trim()),
        (0, "configuration OK: 1 job(s): App/X"),
        "{}",
        ran.stderr
    );
    let ran = run(cw2mackerel()
        .env("CW2MACKEREL_SERVICE", "cdn")
        .args(["check", "--config", &path]));
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("CW2MACKEREL_SERVICE describes a job"),
        "{}",
        ran.stderr
    );
    let ran = run(cw2mackerel().args(["check", "--config", "/nonexistent.json"]));
    assert_eq!(ran.code, 2);
}

/// A namespace job reading `Orders` of App/Names in `regions` to service `app`.
fn names_job(name: &str, regions: &[&str], dimensions: Value, template: &str) -> Value {
    json!({"name": name, "regions": regions, "namespace": "App/Names", "dimensions": dimensions,
           "metrics": [{"name": "Orders", "stat": "Sum"}], "target": {"service": "app"},
           "name_template": template})
}

#[test]
fn check_refuses_two_jobs_that_can_post_under_one_name() {
    let check = |jobs: Value| {
        let path = config_file("names.json", &json!({ "jobs": jobs }));
        let ran = run(cw2mackerel()
            .env("MACKEREL_APIKEY", "k")
            .args(["check", "--config", &path]));
        let msg = ran
            .logs()
            .first()
            .map(|l| l["msg"].as_str().unwrap().to_string())
            .unwrap_or_default();
        (ran.code, msg, path)
    };
    let any = json!({"Service": "*"});
    let template = "orders.{Service}.{metric}";
    // A job copied for a second region, its name_template left without {region}.
    let (code, msg, path) = check(json!([
        names_job("orders", &["us-east-1"], any.clone(), template),
        names_job("orders-eu", &["eu-west-1"], any.clone(), template),
    ]));
    assert_eq!(code, 2, "{msg}");
    assert!(
        msg.contains(&format!(
            "{path}: jobs[1] (\"orders-eu\") and jobs[0] (\"orders\")"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("service app") && msg.contains("{region}"),
        "{msg}"
    );
    // run refuses it the same way, before any network call.
    let peer = Fake::mackerel();
    let ran = run(cw2mackerel()
        .env("MACKEREL_APIKEY", "k")
        .env("AWS_ACCESS_KEY_ID", "A")
        .env("AWS_SECRET_ACCESS_KEY", "S")
        .env("AWS_ENDPOINT_URL", peer.url())
        .env("MACKEREL_APIBASE", peer.url())
        .args(["run", "--config", &path]));
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(peer.requests().is_empty());

    // One job, two regions, no {region}; one job, one metric twice, no {stat}.
    for (job, what) in [
        (
            names_job("two", &["us-east-1", "eu-west-1"], any.clone(), template),
            "us-east-1",
        ),
        (
            json!({"name": "stats", "regions": ["us-east-1"], "namespace": "App/Names", "dimensions": {},
                   "metrics": [{"name": "Orders", "stat": "Sum"}, {"name": "Orders", "stat": "Maximum"}],
                   "target": {"service": "app"}, "name_template": "orders.{metric}"}),
            "Maximum",
        ),
    ] {
        let (code, msg, _) = check(json!([job]));
        assert_eq!(code, 2, "{msg}");
        assert!(msg.contains(what), "{msg}");
    }
    // A CloudFront job and a namespace job whose template can make CloudFront's names.
    let (code, msg, _) = check(json!([
        {"preset": "cloudfront", "label": "alias", "target": {"service": "app"}},
        names_job("mimic", &["us-east-1"], any.clone(), "cloudfront.{Service}.requests.request"),
    ]));
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("\"cloudfront\""), "{msg}");

    // What cannot collide passes: {region} in the template, another service, literal
    // dimension values or globs that differ, another literal prefix, host targets with
    // different customIdentifiers, CloudFront jobs labelled by ID (the same name is then the
    // same distribution, the same series).
    for jobs in [
        json!([
            names_job(
                "a",
                &["us-east-1"],
                any.clone(),
                "orders.{region}.{Service}"
            ),
            names_job(
                "b",
                &["eu-west-1"],
                any.clone(),
                "orders.{region}.{Service}"
            ),
        ]),
        json!([
            names_job("a", &["us-east-1"], json!({"Service": "api"}), template),
            names_job("b", &["eu-west-1"], json!({"Service": "web"}), template),
        ]),
        json!([
            names_job("a", &["us-east-1"], json!({"Service": "api-*"}), template),
            names_job("b", &["eu-west-1"], json!({"Service": "web-*"}), template),
        ]),
        json!([
            names_job("a", &["us-east-1"], any.clone(), "api.{Service}"),
            names_job("b", &["eu-west-1"], any.clone(), "web.{Service}"),
        ]),
        json!([
            names_job("a", &["us-east-1"], any.clone(), "x{Service}"),
            names_job("b", &["eu-west-1"], any.clone(), "x"),
        ]),
        json!([
            {"name": "a", "regions": ["us-east-1"], "namespace": "App/Names", "dimensions": {"Service": "*"},
             "metrics": [{"name": "Orders", "stat": "Sum"}], "name_template": "orders",
             "target": {"host": {"custom_identifier": "us:{Service}"}}},
            {"name": "b", "regions": ["eu-west-1"], "namespace": "App/Names", "dimensions": {"Service": "*"},
             "metrics": [{"name": "Orders", "stat": "Sum"}], "name_template": "orders",
             "target": {"host": {"custom_identifier": "eu:{Service}"}}},
        ]),
        json!([
            {"name": "cf1", "preset": "cloudfront", "target": {"service": "app"}},
            {"name": "cf2", "preset": "cloudfront", "metrics": "all", "target": {"service": "app"},
             "role_arn": "arn:aws:iam::123456789012:role/other"},
        ]),
    ] {
        let (code, msg, _) = check(jobs.clone());
        assert_eq!(code, 0, "{jobs}: {msg}");
    }
}

#[test]
fn dimension_values_that_make_one_name_keep_the_first_and_say_so() {
    let moto = Moto::shared();
    let start = minutes_ago(6);
    // "a.b" and "a_b" both become "a_b" in a metric name; "a.b" sorts first.
    let key = ("us-east-1", "App/Collide", "Orders");
    seed_from(moto, key, 100, &["Service=a.b".to_string()], start, 6);
    seed_from(moto, key, 500, &["Service=a_b".to_string()], start, 6);
    seed_from(moto, key, 900, &["Service=c".to_string()], start, 6);
    let config = config_file(
        "collide.json",
        &json!({"jobs": [{"name": "collide", "regions": ["us-east-1"], "namespace": "App/Collide",
            "dimensions": {"Service": "*"}, "metrics": [{"name": "Orders", "stat": "Sum"}],
            "target": {"service": "cdn"}, "name_template": "collide.{Service}"}]}),
    );
    let mackerel = Fake::mackerel();
    let mut cmd = against(moto, "reader", &mackerel);
    cmd.env_remove("CW2MACKEREL_SERVICE")
        .args(["run", "--config", &config]);
    for _ in 0..2 {
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        assert_eq!(ran.summary()["collisions"], 1, "{}", ran.stderr);
        let warned = ran.said("warn", "collide.a_b");
        assert_eq!(warned.len(), 1, "one warning per discovery: {}", ran.stderr);
    }
    let points = service_points(&mackerel, "cdn");
    let kept = points["collide.a_b"].as_object().unwrap();
    assert!(
        kept.values()
            .all(|v| (100.0..106.0).contains(&v.as_f64().unwrap())),
        "the first by a stable order keeps the name, every run: {kept:?}"
    );
    assert!(!points["collide.c"].as_object().unwrap().is_empty());
}

#[test]
fn a_label_suffix_never_makes_a_name_another_distribution_has() {
    let moto = Moto::shared();
    let tag = "suffix";
    let first = moto.distributions(tag, 1, &["--comment", "site"]);
    let first_id = id_of(&first[0]).to_string();
    let second = moto.distributions(tag, 1, &["--comment", "site"]);
    let third = moto.distributions(tag, 1, &["--comment", &format!("site_{first_id}")]);
    let ids = [
        first_id.clone(),
        id_of(&second[0]).to_string(),
        id_of(&third[0]).to_string(),
    ];
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    moto.traffic(&refs, 4);
    let mackerel = Fake::mackerel();
    let ran = run(against(moto, "reader", &mackerel).args([
        "run",
        "--tag",
        &format!("test={tag}"),
        "--label",
        "comment",
        "--metrics",
        "requests",
    ]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let names: Vec<String> = service_points(&mackerel, "cdn").keys().cloned().collect();
    assert_eq!(names.len(), 3, "one name per distribution: {names:?}");
    // Each name is one distribution's whole window.
    let posted = posted_points(&mackerel);
    let per_name = |n: &str| posted.keys().filter(|(name, _)| name == n).count();
    for n in &names {
        assert_eq!(per_name(n), 10, "{n}: {posted:?}");
    }
}
