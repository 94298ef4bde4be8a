//! Config files read end to end: a full file, and a mistake in every kind of field.

use super::*;
use serde_json::Value;

/// [`super::parse`], its mistakes one a line.
fn parse(text: &str) -> Result<File, String> {
    super::parse(text).map_err(|e| e.iter().map(Invalid::as_str).collect::<Vec<_>>().join("\n"))
}

#[test]
fn a_full_file() {
    let f = parse(
        r#"{"discovery_ttl": "5m", "jobs": [
          {"preset": "cloudfront", "metrics": ["requests", "cache_hit_rate"], "label": "alias", "tags": {"env": "prod"},
           "target": {"host": {"roles": ["cdn:edge"], "retire_gone": true}}},
          {"name": "alb", "regions": ["us-east-1", "eu-west-1"], "namespace": "AWS/ApplicationELB", "period": "5m",
           "dimensions": {"LoadBalancer": "app/web-*"},
           "metrics": [{"name": "RequestCount", "stat": "Sum", "nil_to_zero": true}, {"name": "TargetResponseTime", "stat": "p99"}],
           "target": {"service": "web"}, "name_template": "alb.{region}.{LoadBalancer}.{metric}_{stat}",
           "role_arn": "arn:aws:iam::123456789012:role/reader", "external_id": "ext-id"}]}"#,
    )
    .unwrap();
    assert_eq!(f.discovery_ttl, Duration::from_secs(300));
    let Job::CloudFront(cf) = &f.jobs[0] else {
        panic!()
    };
    assert_eq!(
        (cf.name.as_str(), cf.groups.as_slice()),
        ("cloudfront", &[Group::Requests, Group::CacheHitRate][..])
    );
    assert!(matches!(&cf.target, Target::Host(h) if h.retire_gone && h.roles == ["cdn:edge"]));
    let Job::Metrics(m) = &f.jobs[1] else {
        panic!()
    };
    assert_eq!((m.period, m.metrics.len(), m.regions.len()), (300, 2, 2));
    assert_eq!(
        m.role.as_ref().unwrap().external_id.as_deref(),
        Some("ext-id")
    );
}

#[test]
fn every_mistake_names_its_field() {
    let job = r#"{"regions": ["us-east-1"], "namespace": "App/X", "metrics": [{"name": "M", "stat": "Sum"}], "target": {"service": "app"}, "name_template": "app.{metric}"}"#;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(job).unwrap();
        edit(&mut v);
        parse(&serde_json::json!({"jobs": [v]}).to_string()).unwrap_err()
    };
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["metrics"][0]["stat"] = "avg".into()),
            "jobs[0].metrics[0].stat: unknown statistic \"avg\"",
        ),
        (
            Box::new(|v| v["metrics"][0]["nil_to_zero"] = "yes".into()),
            "jobs[0].metrics[0].nil_to_zero: invalid type: string \"yes\", expected a boolean",
        ),
        (
            Box::new(|v| v["metrics"] = serde_json::json!([])),
            "jobs[0].metrics: no metric",
        ),
        (
            Box::new(|v| {
                v["metrics"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("name")
                    .map(drop)
                    .unwrap()
            }),
            "jobs[0].metrics[0]: missing field `name`",
        ),
        (
            Box::new(|v| v["regions"] = serde_json::json!(["Tokyo"])),
            "jobs[0].regions[0]: \"Tokyo\" is not an AWS region",
        ),
        (
            Box::new(|v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("regions")
                    .map(drop)
                    .unwrap()
            }),
            "jobs[0].regions: is required",
        ),
        (
            Box::new(|v| v["namespace"] = 5.into()),
            "jobs[0].namespace: invalid type: integer `5`, expected a string",
        ),
        (
            Box::new(|v| v["period"] = 90.into()),
            "jobs[0].period: 90s is not a CloudWatch period",
        ),
        (
            Box::new(|v| v["period"] = "soon".into()),
            "jobs[0].period: \"soon\" is not a duration",
        ),
        (
            Box::new(|v| v["dimensions"] = serde_json::json!({"LoadBalancer": 1})),
            "jobs[0].dimensions.LoadBalancer: invalid type: integer `1`, expected a string",
        ),
        (
            Box::new(|v| v["tags"] = serde_json::json!(["env"])),
            "jobs[0].tags: invalid type: sequence, expected an object",
        ),
        (
            Box::new(|v| v["name_template"] = "app.{LoadBalancer}".into()),
            "jobs[0].name_template: {LoadBalancer} is neither a dimension",
        ),
        (
            Box::new(|v| v["name_template"] = "app.{metric".into()),
            "jobs[0].name_template:",
        ),
        (
            Box::new(|v| v["target"] = serde_json::json!({"service": "a b"})),
            "jobs[0].target.service: \"a b\" is not a Mackerel service name",
        ),
        (
            Box::new(|v| v["target"] = serde_json::json!({})),
            "jobs[0].target: give exactly one of service or host",
        ),
        (
            Box::new(|v| v["target"] = serde_json::json!({"host": {}})),
            "jobs[0].target.host.custom_identifier: is required",
        ),
        (
            Box::new(|v| {
                v["target"] =
                    serde_json::json!({"host": {"custom_identifier": "x", "roles": ["edge"]}})
            }),
            "jobs[0].target.host.roles[0]: \"edge\" is not a role",
        ),
        (
            Box::new(|v| {
                v["target"] = serde_json::json!({"host": {"custom_identifier": "{Nope}"}})
            }),
            "jobs[0].target.host.custom_identifier: {Nope}",
        ),
        (
            Box::new(|v| v["role_arn"] = "arn:aws:iam::1:user/x".into()),
            "jobs[0].role_arn: \"arn:aws:iam::1:user/x\" is not an IAM role ARN",
        ),
        (
            Box::new(|v| v["external_id"] = "x".into()),
            "jobs[0].external_id: goes with role_arn",
        ),
        (
            Box::new(|v| v["nmespace"] = "x".into()),
            "jobs[0].nmespace: unknown field `nmespace`",
        ),
        (
            Box::new(|v| v["preset"] = "alb".into()),
            "jobs[0].preset: unknown preset \"alb\"",
        ),
    ];
    for (edit, expected) in cases {
        let msg = with(&*edit);
        assert!(
            msg.starts_with(expected),
            "expected {expected:?}, got {msg:?}"
        );
    }
    assert!(
        parse("{\"jobs\": [")
            .unwrap_err()
            .starts_with("jobs: EOF while parsing a list at line 1 column 10")
    );
    assert!(
        parse("{\"jobs\": []}")
            .unwrap_err()
            .starts_with("jobs: no job")
    );
    assert!(
        parse("[]")
            .unwrap_err()
            .starts_with("the file: invalid length 0, expected an object with \"jobs\"")
    );
    assert!(
        parse("{\"jobs\": [5]}")
            .unwrap_err()
            .starts_with("jobs[0]: invalid type: integer `5`, expected a job object")
    );
    let twice = format!("{{\"jobs\": [{job}, {job}]}}");
    assert!(
        parse(&twice)
            .unwrap_err()
            .starts_with("jobs[1].name: \"App/X\" is the name of an earlier job")
    );
    let cf = |extra: &str| {
        parse(&format!(
            "{{\"jobs\": [{{\"preset\": \"cloudfront\", \"target\": {{\"service\": \"cdn\"}}{extra}}}]}}"
        ))
    };
    assert!(cf("").is_ok());
    // A repeated ID reads the distribution once, as in CW2MACKEREL_DISTRIBUTIONS.
    let Job::CloudFront(twice) = &cf(", \"distributions\": [\"E1\", \"E1\"]").unwrap().jobs[0]
    else {
        panic!()
    };
    assert_eq!(twice.distributions, ["E1"]);
    for (extra, expected) in [
        (
            ", \"tags\": {\"env\": \"a\", \"env\": \"b\"}",
            "jobs[0].tags: \"env\" is given twice",
        ),
        (
            ", \"label\": \"id\", \"label\": \"alias\"",
            "jobs[0]: duplicate field `label`",
        ),
        (
            ", \"regions\": [\"us-east-1\"]",
            "jobs[0].regions: unknown field for the cloudfront preset",
        ),
        (
            ", \"metrics\": [{\"name\": \"M\", \"stat\": \"Sum\"}]",
            "jobs[0].metrics[0]: must be a group name",
        ),
    ] {
        let msg = cf(extra).unwrap_err();
        assert!(msg.starts_with(expected), "{extra}: {msg}");
    }
    assert!(
        cf(", \"metrics\": \"bogus\"")
            .unwrap_err()
            .starts_with("jobs[0].metrics: unknown metric group")
    );
    assert!(
        cf(", \"label\": \"name\"")
            .unwrap_err()
            .starts_with("jobs[0].label:")
    );
    assert!(
        cf(", \"distributions\": [\"e1\"]")
            .unwrap_err()
            .starts_with("jobs[0].distributions[0]:")
    );
    assert!(
        cf(", \"discovery\": 1")
            .unwrap_err()
            .starts_with("jobs[0].discovery: unknown field")
    );
}

#[test]
fn fuzz() {
    crate::fuzz_tests::fuzz(
        "config files",
        &[
            br#"{"discovery_ttl": "5m", "jobs": [{"preset": "cloudfront", "metrics": ["requests"], "label": "alias", "tags": {"env": "prod"}, "target": {"host": {"roles": ["cdn:edge"]}}}]}"#,
            br#"{"jobs": [{"regions": ["us-east-1"], "namespace": "AWS/ApplicationELB", "period": "5m", "dimensions": {"LoadBalancer": "app/web-*"}, "metrics": [{"name": "RequestCount", "stat": "p99.5", "nil_to_zero": true}], "target": {"service": "web"}, "name_template": "alb.{LoadBalancer}.{metric}"}]}"#,
        ],
        |b| parse(&String::from_utf8_lossy(b)).map_or(0, |f| f.jobs.len()),
    );
}

#[test]
fn plugin_names_and_an_existing_host() {
    let f = parse(
        r#"{"jobs": [{"preset": "cloudfront", "names": "plugin", "metric_key_prefix": "cf.{id}",
                      "target": {"host": {"id": "2eQGEaLxibb"}}}]}"#,
    )
    .unwrap();
    let Job::CloudFront(cf) = &f.jobs[0] else {
        panic!()
    };
    assert_eq!(cf.names, Naming::Plugin);
    assert!(matches!(&cf.target, Target::Host(h) if h.host_id.as_deref() == Some("2eQGEaLxibb")));
    let err = |job: &str| parse(&format!(r#"{{"jobs": [{job}]}}"#)).unwrap_err();
    for (job, says) in [
        (
            r#"{"preset": "cloudfront", "names": "plugin", "metrics": "all", "target": {"service": "cdn"}}"#,
            "jobs[0].metrics: goes with cw2mackerel names",
        ),
        (
            r#"{"preset": "cloudfront", "names": "plugin", "target": {"service": "cdn"}}"#,
            "jobs[0].metric_key_prefix: \"cloudfront\" gives every distribution the same metric names in the one service",
        ),
        (
            r#"{"preset": "cloudfront", "metric_key_prefix": "{id}", "target": {"service": "cdn"}}"#,
            "jobs[0].metric_key_prefix: names service metrics only with",
        ),
        (
            r#"{"preset": "cloudfront", "metric_key_prefix": "{domain}", "target": {"service": "cdn"}}"#,
            "jobs[0].metric_key_prefix: {domain} is not a placeholder",
        ),
        (
            r#"{"preset": "cloudfront", "names": "integration", "target": {"service": "cdn"}}"#,
            "jobs[0].names: \"integration\" is not a naming",
        ),
        (
            r#"{"preset": "cloudfront", "distributions": ["E1"], "target": {"host": {"id": "2eQGEaLxibb", "roles": ["a:bb"]}}}"#,
            "jobs[0].target.host.roles: describes a host cw2mackerel makes",
        ),
        (
            r#"{"preset": "cloudfront", "target": {"host": {"id": "a b"}}}"#,
            "jobs[0].target.host.id: \"a b\" is not a Mackerel host ID",
        ),
        (
            r#"{"regions": ["us-east-1"], "namespace": "X", "metrics": [{"name": "M", "stat": "Sum"}], "name_template": "x", "target": {"host": {"id": "2eQGEaLxibb"}}}"#,
            "jobs[0].target.host.id: an existing host takes the points of cloudfront jobs only",
        ),
        (
            r#"{"regions": ["us-east-1"], "namespace": "X", "metrics": [{"name": "M", "stat": "Sum"}], "name_template": "x", "names": "plugin", "target": {"service": "cdn"}}"#,
            "jobs[0].names: unknown field for a namespace job",
        ),
    ] {
        assert!(err(job).starts_with(says), "{job}: {}", err(job));
    }
    // Two jobs on one host whose names meet.
    let two = r#"{"jobs": [
        {"name": "a", "preset": "cloudfront", "distributions": ["E1"], "names": "plugin", "target": {"host": {"id": "2eQGEaLxibb"}}},
        {"name": "b", "preset": "cloudfront", "distributions": ["E2"], "names": "plugin", "target": {"host": {"id": "2eQGEaLxibb"}}}]}"#;
    let e = parse(two).unwrap_err();
    assert!(
        e.contains("can both post \"custom.cloudfront.Requests.Requests\" to the host 2eQGEaLxibb"),
        "{e}"
    );
    assert!(
        parse(&two.replace(
            "\"names\": \"plugin\", \"target\": {\"host\": {\"id\": \"2eQGEaLxibb\"}}}]",
            "\"names\": \"plugin\", \"target\": {\"host\": {\"id\": \"3eQGEaLxibb\"}}}]"
        ))
        .is_ok()
    );
}
