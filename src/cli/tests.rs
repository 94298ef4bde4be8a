//! The command line's checks, end to end from arguments and environment to [`Config`].

use super::*;
use crate::jobs::cloudfront::{Group, Label};
use crate::jobs::{CloudFrontJob, Job, Target};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

fn load_with(args: &[&str], env: &[(&str, &str)]) -> Result<Action> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    load(&args, &move |k| env.get(k).cloned()).map_err(|r| r.error)
}

fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
    match load_with(args, env) {
        Ok(Action::Run(_, c)) => *c,
        other => panic!("expected a config, got {other:?}"),
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    match load_with(args, env) {
        Ok(Action::Run(command, _)) => command,
        other => panic!("expected a command, got {other:?}"),
    }
}

fn config_error(args: &[&str], env: &[(&str, &str)]) -> String {
    match load_with(args, env) {
        Err(e @ Error::Config(_)) => e.to_string(),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

const BASE: &[(&str, &str)] = &[("MACKEREL_APIKEY", "k"), ("CW2MACKEREL_SERVICE", "cdn")];

/// The one CloudFront job of an environment-only configuration.
fn job(c: &Config) -> &CloudFrontJob {
    match c.jobs.as_slice() {
        [Job::CloudFront(j)] => j,
        other => panic!("expected one CloudFront job, got {other:?}"),
    }
}

#[test]
fn defaults() {
    let c = config(&["run"], BASE);
    assert_eq!(command(&["run"], BASE), Command::Run);
    assert_eq!(c.apibase, "https://api.mackerelio.com");
    assert_eq!(job(&c).target, Target::Service("cdn".into()));
    assert_eq!(c.lookback, Duration::from_secs(600));
    assert_eq!(c.delay, Duration::from_secs(180));
    assert_eq!(job(&c).label, Label::Id);
    assert_eq!(job(&c).groups, Group::DEFAULT.to_vec());
}

#[test]
fn option_wins_over_environment() {
    let c = config(
        &["run", "--lookback", "20m", "--service=web"],
        &[
            ("CW2MACKEREL_LOOKBACK", "5m"),
            ("MACKEREL_APIKEY", "k"),
            ("CW2MACKEREL_SERVICE", "cdn"),
        ],
    );
    assert_eq!(c.lookback, Duration::from_secs(1200));
    assert_eq!(job(&c).target, Target::Service("web".into()));
}

#[test]
fn lowercase_apikey_of_the_agent_image_is_accepted() {
    let c = config(
        &["run"],
        &[("apikey", "abc"), ("CW2MACKEREL_SERVICE", "cdn")],
    );
    let ApiKey::Direct(key) = c.apikey else {
        panic!("no key")
    };
    assert_eq!(key.expose(), "abc");
}

#[test]
fn tags_repeat_and_split() {
    let c = config(
        &["list", "--tag", "env=prod", "--tag", "team=web,tier="],
        &[],
    );
    assert_eq!(
        job(&c).tags,
        vec![
            ("env".into(), "prod".into()),
            ("team".into(), "web".into()),
            ("tier".into(), "".into())
        ]
    );
}

#[test]
fn dry_run_and_list_need_no_key_or_service() {
    assert!(config(&["run", "--dry-run"], &[]).dry_run);
    assert_eq!(command(&["list"], &[]), Command::List);
}

#[test]
fn empty_variables_count_as_unset() {
    let c = config(
        &["run"],
        &[
            ("MACKEREL_APIKEY", "k"),
            ("CW2MACKEREL_SERVICE", "cdn"),
            ("CW2MACKEREL_TAG", " "),
        ],
    );
    assert!(job(&c).tags.is_empty());
}

#[test]
fn mistakes_name_their_source() {
    for (args, env, needle) in [
        (
            &["run"][..],
            &[("CW2MACKEREL_SERVICE", "cdn")][..],
            "no Mackerel API key",
        ),
        (&["run"], &[("MACKEREL_APIKEY", "k")], "no Mackerel service"),
        (
            &["run"],
            &[
                ("MACKEREL_APIKEY", "k"),
                ("MACKEREL_APIKEY_SSM", "p"),
                ("CW2MACKEREL_SERVICE", "cdn"),
            ],
            "keep one",
        ),
        (
            &["run", "--lookback", "10"],
            BASE,
            "--lookback: \"10\" is not a duration",
        ),
        (
            &["run"],
            &[
                ("MACKEREL_APIKEY", "k"),
                ("CW2MACKEREL_SERVICE", "cdn"),
                ("CW2MACKEREL_DELAY", "soon"),
            ],
            "CW2MACKEREL_DELAY",
        ),
        (&["run", "--lookback", "30s"], BASE, "at least 1m"),
        (&["run", "--lookback", "24h"], BASE, "24h"),
        (
            &["run", "--service", "c d"],
            BASE,
            "not a Mackerel service name",
        ),
        (&["run", "--apibase", "ftp://x"], BASE, "--apibase"),
        (
            &["run", "--distributions", "e123"],
            BASE,
            "not a CloudFront distribution ID",
        ),
        (&["run", "--tag", "env"], BASE, "not a tag filter"),
        (&["run", "--metrics", "requests,bogus"], BASE, "bogus"),
        (&["run", "--label", "name"], BASE, "--label"),
        (
            &["run", "--distributions", "E1", "--label", "alias"],
            BASE,
            "skips the CloudFront API",
        ),
        (&["run", "--log", "loud"], BASE, "--log"),
        (&["run", "--log-format", "xml"], BASE, "--log-format"),
        (
            &["run", "--timeout", "0s"],
            BASE,
            "--timeout: must be between 1s and 10m",
        ),
        (&["run", "--nope"], BASE, "unknown option --nope"),
        (&["run", "--service"], BASE, "--service needs a value"),
        (&["jump"], BASE, "unknown command"),
        (&[], BASE, "no command"),
        (
            &["list", "--dry-run"],
            BASE,
            "--dry-run goes with the run command",
        ),
        (
            &["run"],
            &[
                ("MACKEREL_APIKEY_SSM", "/mackerel/key"),
                ("CW2MACKEREL_SERVICE", "cdn"),
            ],
            "AWS_REGION",
        ),
        (
            &["run"],
            &[
                ("MACKEREL_APIKEY", "k"),
                ("CW2MACKEREL_SERVICE", "cdn"),
                ("AWS_ENDPOINT_URL_CLOUDWATCH", "nope"),
            ],
            "AWS_ENDPOINT_URL_CLOUDWATCH",
        ),
    ] {
        let msg = config_error(args, env);
        assert!(msg.contains(needle), "{args:?}: {msg}");
    }
}

#[test]
fn daemon_lambda_and_healthcheck() {
    let c = config(&["daemon", "--interval", "5m", "--backfill", "2h"], BASE);
    assert_eq!(
        (c.interval, c.backfill, c.max_failures),
        (Duration::from_secs(300), Duration::from_secs(7200), 10)
    );
    assert_eq!(
        config(&["daemon"], BASE).backfill,
        Duration::from_secs(600),
        "the lookback by default"
    );
    let mut lambda = BASE.to_vec();
    lambda.push(("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"));
    assert_eq!(command(&[], &lambda), Command::Lambda);
    match load_with(&["healthcheck"], &[("CW2MACKEREL_STATE_FILE", "/run/x")]) {
        Ok(Action::Healthcheck(p)) => assert_eq!(p, PathBuf::from("/run/x")),
        other => panic!("{other:?}"),
    }
    for (args, needle) in [
        (
            &["daemon", "--backfill", "24h"][..],
            "--backfill (24h) plus CW2MACKEREL_DELAY (3m)",
        ),
        (
            &["daemon", "--interval", "2h"],
            "--interval: must be between",
        ),
        (&["daemon", "--max-failures", "0"], "positive"),
        (
            &["daemon", "--interval", "15m"],
            "CW2MACKEREL_LOOKBACK (10m) is shorter than --interval (15m)",
        ),
        (&["daemon", "--dry-run"], "--dry-run"),
    ] {
        assert!(config_error(args, BASE).contains(needle), "{args:?}");
    }
    assert!(config_error(&["daemon"], &[("CW2MACKEREL_SERVICE", "cdn")]).contains("API key"));
}

#[test]
fn host_mode() {
    let c = config(
        &["run", "--mode", "host", "--roles", "cdn:edge, web:cf"],
        &[("MACKEREL_APIKEY", "k")],
    );
    let Target::Host(h) = &job(&c).target else {
        panic!("not host mode")
    };
    assert_eq!(h.roles, ["cdn:edge", "web:cf"]);
    // Host mode reads the account's list, so IDs can go with labels and tags.
    let c = config(
        &[
            "run",
            "--mode=host",
            "--distributions",
            "E1",
            "--label",
            "alias",
            "--retire-gone",
            "true",
        ],
        &[("MACKEREL_APIKEY", "k")],
    );
    assert!(matches!(&job(&c).target, Target::Host(h) if h.retire_gone));
    for (args, needle) in [
        (&["run", "--mode", "hosts"][..], "not a mode"),
        (&["run", "--mode", "host", "--roles", "edge"], "not a role"),
        (&["run", "--mode", "host", "--roles", "c:-x"], "not a role"),
        (
            &["run", "--mode", "host", "--retire-gone", "maybe"],
            "not true or false",
        ),
        (&["run", "--roles", "cdn:edge"], "CW2MACKEREL_MODE=host"),
    ] {
        let msg = config_error(
            args,
            &[("MACKEREL_APIKEY", "k"), ("CW2MACKEREL_SERVICE", "cdn")],
        );
        assert!(msg.contains(needle), "{args:?}: {msg}");
    }
    assert!(config_error(&["list", "--mode", "host"], &[]).contains("no Mackerel API key"));
}

#[test]
fn the_api_key_is_given_one_way_or_not_at_all() {
    assert!(matches!(
        config(&["check"], &[("CW2MACKEREL_SERVICE", "cdn")]).apikey,
        ApiKey::None
    ));
    let arn = "arn:aws:ssm:ap-northeast-1:123456789012:parameter/mackerel/key";
    for (env, region) in [
        (
            vec![("MACKEREL_APIKEY_SSM", arn)],
            Some(("ap-northeast-1", "the parameter's ARN")),
        ),
        (
            vec![("MACKEREL_APIKEY_SSM", arn), ("AWS_REGION", "eu-west-1")],
            Some(("ap-northeast-1", "the parameter's ARN")),
        ),
        (
            vec![
                ("MACKEREL_APIKEY_SSM", " /mackerel/key "),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
            ],
            Some(("eu-west-1", "AWS_DEFAULT_REGION")),
        ),
        // A dry run reads no key, so it needs no region to find one in.
        (vec![("MACKEREL_APIKEY_SSM", "/mackerel/key")], None),
    ] {
        let args: &[&str] = match region {
            Some(_) => &["check"],
            None => &["run", "--dry-run"],
        };
        let mut env = env.clone();
        env.push(("CW2MACKEREL_SERVICE", "cdn"));
        let ApiKey::Ssm { name, region: got } = config(args, &env).apikey else {
            panic!("{env:?}: not an SSM key")
        };
        assert!(name == arn || name == "/mackerel/key", "{name}");
        assert_eq!(
            got.as_ref().map(|r| (r.name.as_str(), r.from.as_str())),
            region,
            "{env:?}"
        );
    }
}
