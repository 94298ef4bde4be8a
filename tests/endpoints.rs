//! FIPS and dual-stack endpoints, seen from outside: with `HTTPS_PROXY` pointing at the
//! CONNECT proxy fake, every AWS request asks for a tunnel to the host the SDKs' endpoint
//! rules name, and the proxy records it (then refuses it: nothing leaves this machine, so each
//! run fails after asking). A combination without an endpoint, or a bad value, exits 2 before
//! any call, `check` included.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::json;
use std::collections::BTreeSet;

const DISTRIBUTION: &str = "EDFDVBD6EXAMPLE";

/// The tunnels (`host:port`) `cw2mackerel ARGS` asks `proxy` for with `env`, and its run.
fn tunnels(proxy: &Fake, env: &[(&str, &str)], args: &[&str]) -> (Ran, BTreeSet<String>) {
    proxy.reset();
    let ran = run(cw2mackerel()
        .env("HTTPS_PROXY", proxy.url())
        .env("CW2MACKEREL_CYCLE_TIMEOUT", "3s")
        .envs(env.iter().copied())
        .args(args));
    let asked = proxy
        .requests()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    (ran, asked)
}

const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "secret-key-example"),
];

#[test]
fn each_service_goes_to_its_fips_or_dual_stack_host_in_each_partition() {
    let proxy = Fake::start("proxy", &[]);
    let token = temp_file("web-identity-token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
    let web_identity = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/reader"),
    ];
    let tagged = temp_file(
        "tagged-job.json",
        &json!({"jobs": [{"regions": ["eu-west-1"], "namespace": "AWS/EC2",
            "dimensions": {"InstanceId": "*"}, "tags": {"team": "web"},
            "metrics": [{"name": "CPUUtilization", "stat": "Maximum"}],
            "target": {"service": "cdn"}, "name_template": "ec2.{InstanceId}"}]})
        .to_string(),
    );
    let profile = temp_file(
        "fips-profile",
        "[default]\nuse_fips_endpoint = true\nuse_dualstack_endpoint = TRUE\n",
    );
    let fips = ("AWS_USE_FIPS_ENDPOINT", "true");
    let dual = ("AWS_USE_DUALSTACK_ENDPOINT", "true");
    let dry = ["run", "--dry-run", "--distributions", DISTRIBUTION];
    let list = ["list"];
    let ssm = [
        ("MACKEREL_APIKEY_SSM", "/mackerel/apikey"),
        ("CW2MACKEREL_SERVICE", "cdn"),
    ];
    let run_ssm = ["run", "--distributions", DISTRIBUTION];
    let tags = ["run", "--dry-run", "--config", tagged.to_str().unwrap()];
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [&'a str], &'a str);
    let cases: Vec<Case> = vec![
        // CloudWatch (GetMetricData), in CloudFront's region of each partition.
        (vec![fips], &dry, "monitoring-fips.us-east-1.amazonaws.com"),
        (vec![dual], &dry, "monitoring.us-east-1.api.aws"),
        (vec![fips, dual], &dry, "monitoring-fips.us-east-1.api.aws"),
        (
            vec![fips, ("AWS_REGION", "us-gov-east-1")],
            &dry,
            "monitoring.us-gov-west-1.amazonaws.com",
        ),
        (
            vec![fips, dual, ("AWS_REGION", "us-gov-west-1")],
            &dry,
            "monitoring.us-gov-west-1.api.aws",
        ),
        (
            vec![fips, ("AWS_REGION", "cn-north-1")],
            &dry,
            "monitoring-fips.cn-northwest-1.amazonaws.com.cn",
        ),
        (
            vec![dual, ("AWS_REGION", "cn-north-1")],
            &dry,
            "monitoring.cn-northwest-1.api.amazonwebservices.com.cn",
        ),
        // CloudFront (ListDistributions): global, with names of its own.
        (vec![fips], &list, "cloudfront-fips.amazonaws.com"),
        (vec![dual], &list, "cloudfront.global.api.aws"),
        (vec![fips, dual], &list, "cloudfront-fips.global.api.aws"),
        (
            vec![fips, ("AWS_REGION", "cn-northwest-1")],
            &list,
            "cloudfront-fips.cn-northwest-1.amazonaws.com.cn",
        ),
        (
            vec![dual, ("AWS_REGION", "cn-northwest-1")],
            &list,
            "cloudfront.api.amazonwebservices.com.cn",
        ),
        (
            vec![fips, dual, ("AWS_REGION", "us-gov-west-1")],
            &list,
            "cloudfront-fips.api.aws",
        ),
        // SSM (GetParameter for the API key); GovCloud's regional name is its FIPS one.
        (
            [&ssm[..], &[fips, ("AWS_REGION", "us-east-2")]].concat(),
            &run_ssm,
            "ssm-fips.us-east-2.amazonaws.com",
        ),
        (
            [&ssm[..], &[fips, ("AWS_REGION", "us-gov-west-1")]].concat(),
            &run_ssm,
            "ssm.us-gov-west-1.amazonaws.com",
        ),
        // STS (AssumeRoleWithWebIdentity).
        (
            [
                &web_identity[..],
                &[fips, dual, ("AWS_REGION", "eu-west-1")],
            ]
            .concat(),
            &dry,
            "sts-fips.eu-west-1.api.aws",
        ),
        (
            [&web_identity[..], &[fips, ("AWS_REGION", "us-gov-east-1")]].concat(),
            &dry,
            "sts.us-gov-east-1.amazonaws.com",
        ),
        // The Resource Groups Tagging API (GetResources), in the job's region.
        (vec![fips], &tags, "tagging-fips.eu-west-1.amazonaws.com"),
        (vec![dual], &tags, "tagging.eu-west-1.api.aws"),
        // The profile's keys, and the variables over them.
        (
            vec![("AWS_CONFIG_FILE", profile.to_str().unwrap())],
            &dry,
            "monitoring-fips.us-east-1.api.aws",
        ),
        (
            vec![
                ("AWS_CONFIG_FILE", profile.to_str().unwrap()),
                ("AWS_USE_FIPS_ENDPOINT", "false"),
            ],
            &dry,
            "monitoring.us-east-1.api.aws",
        ),
        // An endpoint URL wins over both, as in botocore.
        (
            vec![
                fips,
                dual,
                ("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9"),
            ],
            &dry,
            "127.0.0.1:9",
        ),
    ];
    for (env, args, host) in cases {
        let keyed = env.iter().any(|(k, _)| *k == "AWS_WEB_IDENTITY_TOKEN_FILE");
        let mut all = env.clone();
        if !keyed {
            all.extend(KEYS);
        }
        let (ran, mut asked) = tunnels(&proxy, &all, args);
        if *args == dry && !host.starts_with("cloudfront") {
            // A dry run first asks CloudFront whether the ID is in the account (its hosts are
            // the `list` cases'), then reads it as given when that fails.
            asked.retain(|t| !t.starts_with("cloudfront"));
        }
        let want = match host.contains(':') {
            true => host.to_string(),
            false => format!("{host}:443"),
        };
        assert_eq!(
            asked,
            BTreeSet::from([want]),
            "{env:?} {args:?}:\n{}",
            ran.stderr
        );
        assert_eq!(ran.code, 1, "{env:?} {args:?}:\n{}", ran.stderr);
    }
}

#[test]
fn no_endpoint_or_a_bad_value_exits_2_before_any_call() {
    let proxy = Fake::start("proxy", &[]);
    let iso_job = temp_file(
        "iso-job.json",
        &json!({"jobs": [{"regions": ["us-iso-east-1"], "namespace": "AWS/SQS",
            "dimensions": {"QueueName": "*"},
            "metrics": [{"name": "NumberOfMessagesSent", "stat": "Sum"}],
            "target": {"service": "cdn"}, "name_template": "sqs.{QueueName}"}]})
        .to_string(),
    );
    let iso = iso_job.to_str().unwrap();
    let profile = temp_file(
        "bad-dual-profile",
        "[profile ci]\nuse_dualstack_endpoint = 1\n",
    );
    let fips = ("AWS_USE_FIPS_ENDPOINT", "true");
    let key = ("MACKEREL_APIKEY", "TEST-KEY-long-enough");
    let service = ("CW2MACKEREL_SERVICE", "cdn");
    // The environment, the options after the command (run or check), what the error says.
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (
            vec![("AWS_USE_FIPS_ENDPOINT", "yes"), key, service],
            vec![],
            &["AWS_USE_FIPS_ENDPOINT: \"yes\" is not true or false"],
        ),
        (
            vec![
                ("AWS_CONFIG_FILE", profile.to_str().unwrap()),
                ("AWS_PROFILE", "ci"),
                key,
                service,
            ],
            vec![],
            &["profile \"ci\": use_dualstack_endpoint: \"1\" is not true or false"],
        ),
        // A region of a partition whose endpoints cw2mackerel does not know.
        (
            vec![fips, key],
            vec!["--config", iso],
            &[
                "CloudWatch in us-iso-east-1",
                "aws-iso partition",
                "AWS_ENDPOINT_URL_CLOUDWATCH",
                "AWS_USE_FIPS_ENDPOINT",
            ],
        ),
        (
            vec![("AWS_REGION", "eusc-de-east-1"), key, service],
            vec!["--distributions", DISTRIBUTION],
            &[
                "CloudFront in eusc-de-east-1",
                "aws-eusc partition",
                "AWS_ENDPOINT_URL_CLOUDFRONT",
            ],
        ),
        (
            vec![
                fips,
                ("AWS_REGION", "us-isob-east-1"),
                // Given for these two: SSM is the one left without an endpoint.
                ("AWS_ENDPOINT_URL_CLOUDFRONT", "https://127.0.0.1:9"),
                ("AWS_ENDPOINT_URL_CLOUDWATCH", "https://127.0.0.1:9"),
                ("MACKEREL_APIKEY_SSM", "/mackerel/apikey"),
                service,
            ],
            vec!["--distributions", DISTRIBUTION],
            &["SSM in us-isob-east-1", "aws-iso-b", "AWS_ENDPOINT_URL_SSM"],
        ),
    ];
    for (env, options, says) in cases {
        for command in ["run", "check"] {
            let mut all = env.clone();
            all.extend(KEYS);
            let args = [&[command][..], &options].concat();
            let (ran, asked) = tunnels(&proxy, &all, &args);
            let refused = refused_as_mistake(&ran, says);
            assert!(refused.is_ok(), "{env:?} {args:?} {says:?}: {refused:?}");
            assert!(asked.is_empty(), "{asked:?}");
        }
    }
    // With the endpoint given, the same region is fine.
    let (ran, _) = tunnels(
        &proxy,
        &[
            fips,
            key,
            ("AWS_ENDPOINT_URL_CLOUDWATCH", "https://127.0.0.1:9"),
        ],
        &["check", "--config", iso],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}
