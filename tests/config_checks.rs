//! Values that were once accepted and went wrong later (a panic, a request to the wrong host,
//! a key in clear): each is now refused by `run` and `check` alike, with exit 2, a message
//! naming its source, and no network call.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::json;

#[test]
fn bad_values_exit_2_before_any_network_call() {
    let peer = Fake::mackerel();
    let base = [
        ("MACKEREL_APIKEY", "TEST-KEY-long-enough"),
        ("CW2MACKEREL_SERVICE", "cdn"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key-example"),
    ];
    let huge = "18446744073709551615s";
    let profile = temp_file(
        "empty-key-profile",
        "[ci]\naws_access_key_id =\naws_secret_access_key = s\n",
    );
    let job = |template: &str| {
        json!({"jobs": [{"regions": ["us-east-1"], "namespace": "AWS/SQS", "dimensions": {"QueueName": "*"},
            "metrics": [{"name": "ApproximateNumberOfMessagesVisible", "stat": "Maximum"}],
            "target": {"service": "cdn"}, "name_template": template}]})
        .to_string()
    };
    let spaced = temp_file("spaced.json", &job("sqs {QueueName}"));
    let accented = temp_file("accented.json", &job("ü.{metric}"));
    let twice = temp_file(
        "twice.json",
        r#"{"jobs": [{"preset": "cloudfront", "target": {"service": "cdn"}, "target": {"service": "web"}}]}"#,
    );
    let p1e1 = temp_file(
        "p1e1.json",
        &job("sqs.{metric}").replace("\"Maximum\"", "\"p1e1\""),
    );
    let half = temp_file("half-profile", "[half]\naws_access_key_id = AKIDHALF\n");
    let long_name = "n".repeat(64);
    let long_role = format!("cdn:{}", "r".repeat(70));
    let role_arn = "arn:aws:iam::123456789012:role/reader";
    let files = [
        ("period", json!({"period": 15})),
        ("service", json!({"target": {"service": "_cdn"}})),
        (
            "host-roles",
            json!({"target": {"host": {"custom_identifier": "{QueueName}", "roles": ["cdn:-edge"]}}}),
        ),
        ("abc-account", json!({"role_arn": "arn:aws:iam::abc:role/x"})),
        (
            "spaced-role",
            json!({"role_arn": "arn:aws:iam::123456789012:role/a b"}),
        ),
        ("short-id", json!({"role_arn": role_arn, "external_id": "x"})),
        ("spaced-id", json!({"role_arn": role_arn, "external_id": "a b"})),
    ]
    .map(|(name, patch)| {
        let path = namespace_job(name, &patch);
        path.to_str().unwrap().to_string()
    });
    let profiles = temp_file(
        "retry-and-role-profiles",
        "[profile zero]\nmax_attempts = 0\n\
         [profile spaced]\nrole_arn = arn:aws:iam::123456789012:role/a b\ncredential_source = Environment\n",
    );
    let profiles = profiles.to_str().unwrap();
    let fifo = fresh_path("fifo.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<String>, &'a str);
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let cases: Vec<Case> = vec![
        (
            vec![("CW2MACKEREL_LOOKBACK", huge)],
            s(&[]),
            "CW2MACKEREL_LOOKBACK",
        ),
        (
            vec![("CW2MACKEREL_DELAY", huge)],
            s(&[]),
            "CW2MACKEREL_DELAY",
        ),
        (
            vec![("CW2MACKEREL_BACKFILL", huge)],
            s(&[]),
            "CW2MACKEREL_BACKFILL",
        ),
        (vec![], s(&["--apikey="]), "--apikey needs a value"),
        (
            vec![("MACKEREL_APIKEY", "TEST-KEY\nX-Evil: 1")],
            s(&[]),
            "line break",
        ),
        (
            vec![("MACKEREL_APIBASE", "https://api.mackerelio.com/#frag")],
            s(&[]),
            "without a query or fragment",
        ),
        (
            vec![("MACKEREL_APIBASE", "https://api.mackerelio.com:99999")],
            s(&[]),
            "MACKEREL_APIBASE",
        ),
        (
            vec![("MACKEREL_APIBASE", "http://mackerel.example.com")],
            s(&[]),
            "plain http",
        ),
        (
            vec![("AWS_ENDPOINT_URL", "http://aws.example.com")],
            s(&[]),
            "AWS_ENDPOINT_URL: \"http://aws.example.com\" is plain http",
        ),
        (
            vec![("AWS_REGION", "us-east-1.attacker.example@x/")],
            s(&[]),
            "AWS_REGION: \"us-east-1.attacker.example@x/\" is not an AWS region",
        ),
        (
            vec![
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_PROFILE", "ci"),
                ("AWS_SHARED_CREDENTIALS_FILE", profile.to_str().unwrap()),
            ],
            s(&[]),
            "empty aws_access_key_id",
        ),
        (
            vec![],
            s(&["--config", spaced.to_str().unwrap()]),
            "name_template: \"sqs {QueueName}\" has ' '",
        ),
        (
            vec![],
            s(&["--config", accented.to_str().unwrap()]),
            "has 'ü'",
        ),
        (
            vec![],
            s(&["--config", twice.to_str().unwrap()]),
            "duplicate field `target`",
        ),
        (
            vec![],
            s(&["--config", p1e1.to_str().unwrap()]),
            "unknown statistic \"p1e1\"",
        ),
        (vec![], s(&["--config", "/dev/zero"]), "a device"),
        (vec![], s(&["--config", fifo.to_str().unwrap()]), "a FIFO"),
        (
            vec![("HTTPS_PROXY", "ftp://proxy.example.com")],
            s(&[]),
            "HTTPS_PROXY",
        ),
        (
            vec![("HTTPS_PROXY", "http://proxy.example.com:70000")],
            s(&[]),
            "HTTPS_PROXY",
        ),
        // Keys the request signer could not put in a header.
        (
            vec![("AWS_ACCESS_KEY_ID", "AKID\u{7f}")],
            s(&[]),
            "AWS_ACCESS_KEY_ID",
        ),
        (
            vec![("AWS_SESSION_TOKEN", "token\nX-Evil: 1")],
            s(&[]),
            "AWS_SESSION_TOKEN",
        ),
        (
            vec![
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent"),
                ("AWS_ROLE_ARN", "nope"),
            ],
            s(&[]),
            "AWS_ROLE_ARN",
        ),
        (
            vec![
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_PROFILE", "half"),
                ("AWS_SHARED_CREDENTIALS_FILE", half.to_str().unwrap()),
            ],
            s(&[]),
            "only one of aws_access_key_id and aws_secret_access_key",
        ),
        // CloudWatch periods, Mackerel names, IAM role ARNs and STS external IDs, each by the
        // rule of the API that would refuse it later.
        (
            vec![],
            s(&["--config", &files[0]]),
            "period: 15s is not a CloudWatch period",
        ),
        (
            vec![],
            s(&["--config", &files[1]]),
            "target.service: \"_cdn\"",
        ),
        (vec![], s(&["--config", &files[2]]), "target.host.roles[0]"),
        (
            vec![],
            s(&["--config", &files[3]]),
            "role_arn: \"arn:aws:iam::abc:role/x\"",
        ),
        (vec![], s(&["--config", &files[4]]), "role_arn: "),
        (vec![], s(&["--config", &files[5]]), "external_id: \"x\""),
        (vec![], s(&["--config", &files[6]]), "external_id: \"a b\""),
        (
            vec![("CW2MACKEREL_SERVICE", "_cdn")],
            s(&[]),
            "CW2MACKEREL_SERVICE",
        ),
        (
            vec![("CW2MACKEREL_SERVICE", "-cdn")],
            s(&[]),
            "CW2MACKEREL_SERVICE",
        ),
        (
            vec![("CW2MACKEREL_SERVICE", &long_name)],
            s(&[]),
            "CW2MACKEREL_SERVICE",
        ),
        (
            vec![
                ("CW2MACKEREL_MODE", "host"),
                ("CW2MACKEREL_ROLES", "cdn:_edge"),
            ],
            s(&[]),
            "CW2MACKEREL_ROLES",
        ),
        (
            vec![
                ("CW2MACKEREL_MODE", "host"),
                ("CW2MACKEREL_ROLES", "-cdn:edge"),
            ],
            s(&[]),
            "CW2MACKEREL_ROLES",
        ),
        (
            vec![
                ("CW2MACKEREL_MODE", "host"),
                ("CW2MACKEREL_ROLES", &long_role),
            ],
            s(&[]),
            "CW2MACKEREL_ROLES",
        ),
        (
            vec![("AWS_MAX_ATTEMPTS", "0")],
            s(&[]),
            "AWS_MAX_ATTEMPTS: \"0\"",
        ),
        (
            vec![("AWS_MAX_ATTEMPTS", "three")],
            s(&[]),
            "AWS_MAX_ATTEMPTS",
        ),
        (
            vec![("AWS_CONFIG_FILE", profiles), ("AWS_PROFILE", "zero")],
            s(&[]),
            "the profile's max_attempts: \"0\"",
        ),
        (
            vec![
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent"),
                ("AWS_ROLE_ARN", "arn:aws:iam::abc:role/x"),
            ],
            s(&[]),
            "AWS_ROLE_ARN",
        ),
        (
            vec![
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_CONFIG_FILE", profiles),
                ("AWS_PROFILE", "spaced"),
            ],
            s(&[]),
            "role_arn",
        ),
        // A secret in the wrong setting is masked in that setting's error.
        (
            vec![("CW2MACKEREL_SERVICE", "TEST-KEY-long-enough!")],
            s(&[]),
            "CW2MACKEREL_SERVICE",
        ),
        (
            vec![("CW2MACKEREL_LOOKBACK", "secret-key-example")],
            s(&[]),
            "CW2MACKEREL_LOOKBACK",
        ),
    ];
    // Every row is tried; the ones that went otherwise are listed together.
    let mut wrong = Vec::new();
    for (env, args, expect) in &cases {
        for command in ["run", "check"] {
            let mut cmd = cw2mackerel();
            cmd.env("AWS_ENDPOINT_URL", peer.url())
                .env("MACKEREL_APIBASE", peer.url())
                .envs(base)
                .envs(env.iter().copied());
            if args.iter().any(|a| a == "--config") {
                cmd.env_remove("CW2MACKEREL_SERVICE");
            }
            let ran = run(cmd.arg(command).args(args));
            ran.assert_no_secret(&["TEST-KEY-long-enough", "secret-key-example"]);
            if let Err(e) = refused_as_mistake(&ran, &[expect]) {
                wrong.push(format!("{command} {env:?} {args:?}: {e}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(peer.requests().is_empty(), "{:#?}", peer.requests());
}

/// A namespace job in a file of its own, with `patch`'s fields set over the base ones.
fn namespace_job(name: &str, patch: &serde_json::Value) -> std::path::PathBuf {
    let mut job = json!({"regions": ["us-east-1"], "namespace": "AWS/SQS",
        "dimensions": {"QueueName": "*"},
        "metrics": [{"name": "ApproximateNumberOfMessagesVisible", "stat": "Maximum"}],
        "target": {"service": "cdn"}, "name_template": "sqs.{QueueName}.{metric}"});
    for (k, v) in patch.as_object().unwrap() {
        job[k] = v.clone();
    }
    temp_file(&format!("{name}.json"), &json!({"jobs": [job]}).to_string())
}

/// The other side of each rule: what the APIs accept, `check` accepts too.
#[test]
fn values_the_apis_accept_pass_check() {
    let base = [
        ("MACKEREL_APIKEY", "TEST-KEY-long-enough"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key-example"),
    ];
    let long_name = "n".repeat(63);
    let long_id = "x".repeat(1224);
    let mut files = Vec::new();
    for period in [1, 5, 10, 20, 30, 60, 300, 86_400] {
        files.push(json!({"period": period}));
    }
    files.extend([
        json!({"target": {"service": "1cdn_edge-2"}}),
        json!({"target": {"service": long_name}}),
        json!({"target": {"host": {"custom_identifier": "{QueueName}",
                                    "roles": ["web-1:edge_2", format!("{long_name}:{long_name}")]}}}),
        json!({"role_arn": "arn:aws-cn:iam::123456789012:role/service-role/reader+x=y,z.w@v-u",
               "external_id": "a+b=c,d.e@f:g/h-i_j"}),
        json!({"role_arn": "arn:aws:iam::123456789012:role/r", "external_id": long_id}),
        json!({"role_arn": "arn:aws-us-gov:iam::123456789012:role/r", "external_id": "ab"}),
    ]);
    let profiles = temp_file("good-profiles", "[profile twice]\nmax_attempts = 2\n");
    let mut cases: Vec<Vec<(&str, String)>> = files
        .iter()
        .enumerate()
        .map(|(i, patch)| {
            let path = namespace_job(&format!("good-{i}"), patch);
            vec![("CW2MACKEREL_CONFIG", path.to_str().unwrap().to_string())]
        })
        .collect();
    for (k, v) in [
        ("CW2MACKEREL_SERVICE", "1cdn_edge-2"),
        ("CW2MACKEREL_SERVICE", long_name.as_str()),
        ("AWS_MAX_ATTEMPTS", "1"),
        ("AWS_MAX_ATTEMPTS", "10"),
    ] {
        // The later value of a variable wins.
        cases.push(vec![
            ("CW2MACKEREL_SERVICE", "cdn".into()),
            (k, v.to_string()),
        ]);
    }
    cases.push(vec![
        ("CW2MACKEREL_MODE", "host".into()),
        (
            "CW2MACKEREL_ROLES",
            format!("web-1:edge_2,{long_name}:{long_name}"),
        ),
    ]);
    cases.push(vec![
        ("CW2MACKEREL_SERVICE", "cdn".into()),
        ("AWS_CONFIG_FILE", profiles.to_str().unwrap().into()),
        ("AWS_PROFILE", "twice".into()),
    ]);
    let wrong: Vec<String> = cases
        .into_iter()
        .filter_map(|env| {
            let ran = run(cw2mackerel().envs(base).envs(env.clone()).arg("check"));
            (ran.code != 0).then(|| format!("{env:?}: {}", ran.stderr))
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn plain_http_is_allowed_to_this_machine_or_when_asked() {
    let moto = Moto::shared();
    let mackerel = Fake::mackerel();
    // Loopback is this machine: every test here talks plain http to 127.0.0.1.
    let ran = run(against(moto, "reader", &mackerel).args(["check"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = run(against(moto, "reader", &mackerel)
        .env("MACKEREL_APIBASE", "http://mackerel.internal.example")
        .env("CW2MACKEREL_ALLOW_HTTP", "true")
        .arg("check"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn a_full_stdout_is_no_crash() {
    for args in [
        &["--help"][..],
        &["--version"],
        &[
            "check",
            "--service",
            "cdn",
            "--apikey",
            "TEST-KEY-long-enough",
        ],
    ] {
        let status = cw2mackerel()
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret-key-example")
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}");
    }
}

#[test]
fn a_config_file_may_begin_with_a_byte_order_mark() {
    let file = temp_file(
        "bom.json",
        "\u{feff}{\"jobs\": [{\"preset\": \"cloudfront\", \"target\": {\"service\": \"cdn\"}}]}",
    );
    let ran = run(cw2mackerel()
        .env("MACKEREL_APIKEY", "TEST-KEY-long-enough")
        .args(["check", "--config", file.to_str().unwrap()]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

/// The `msg` of every log line of `ran`.
fn lines(ran: &Ran) -> Vec<String> {
    ran.logs()
        .iter()
        .map(|l| l["msg"].as_str().unwrap().to_string())
        .collect()
}

/// Fails unless `ran` exited 2 with exactly one error line per `expected` start, in order.
fn assert_mistakes(what: &str, ran: &Ran, expected: &[String]) {
    let got = lines(ran);
    assert_eq!(ran.code, 2, "{what}: {got:#?}");
    assert!(
        got.len() == expected.len()
            && got
                .iter()
                .zip(expected)
                .all(|(g, e)| g.starts_with(&format!("configuration: {e}"))),
        "{what}: expected {expected:#?}, got {got:#?}"
    );
}

#[test]
fn every_mistake_is_named_in_one_run_and_every_command_names_the_same() {
    let peer = Fake::mackerel();
    // No service, and a mistake in six other settings: none hides another.
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key-example"),
        ("MACKEREL_APIKEY", "TEST-KEY-long-enough"),
        ("CW2MACKEREL_LOG", "loud"),
        ("CW2MACKEREL_METRICS", "avg"),
        ("CW2MACKEREL_ROLES", "cdn:_edge"),
        ("CW2MACKEREL_LOOKBACK", "ten"),
        ("CW2MACKEREL_TIMEOUT", "0s"),
        ("MACKEREL_APIBASE", "http://mackerel.example.com"),
    ];
    let expected = [
        "CW2MACKEREL_LOG: \"loud\" is not a log level",
        "no Mackerel service: set CW2MACKEREL_SERVICE",
        "CW2MACKEREL_METRICS: unknown metric group \"avg\"",
        "CW2MACKEREL_ROLES: \"cdn:_edge\" is not a role",
        "CW2MACKEREL_ROLES is for host mode only; set CW2MACKEREL_MODE=host or remove it",
        "CW2MACKEREL_LOOKBACK: ",
        "CW2MACKEREL_TIMEOUT: must be between 1s and 10m",
        "MACKEREL_APIBASE: \"http://mackerel.example.com\" is plain http",
    ]
    .map(String::from);
    for command in ["run", "daemon", "check"] {
        let ran = run(cw2mackerel()
            .env("AWS_ENDPOINT_URL", peer.url())
            .envs(env)
            .arg(command));
        assert_mistakes(command, &ran, &expected);
        ran.assert_no_secret(&["TEST-KEY-long-enough", "secret-key-example"]);
    }

    // A config file's mistakes: every job's, beside the stray job variable.
    let file = temp_file(
        "many-mistakes.json",
        &json!({"discovery_ttl": "soon", "jobs": [
            {"name": "a", "regions": ["us-east-1"], "namespace": "AWS/SQS", "period": 15,
             "metrics": [{"name": "M", "stat": "Sum"}], "target": {"service": "cdn"},
             "name_template": "sqs.{metric}"},
            {"preset": "cloudfront", "name": "b", "target": {"service": "_cdn"}},
            {"preset": "cloudfront", "name": "a", "target": {"service": "cdn"}}]})
        .to_string(),
    );
    let path = file.to_str().unwrap();
    let expected = [
        format!(
            "CW2MACKEREL_SERVICE describes a job, and jobs come from {path} here; move it into the file or leave it unset"
        ),
        format!("{path}: discovery_ttl: "),
        format!("{path}: jobs[0].period: 15s is not a CloudWatch period"),
        format!("{path}: jobs[1].target.service: \"_cdn\""),
        format!("{path}: jobs[2].name: \"a\" is the name of an earlier job too"),
    ];
    for command in ["run", "check"] {
        let ran = run(cw2mackerel()
            .env("AWS_ENDPOINT_URL", peer.url())
            .envs(env[..3].iter().copied())
            .env("CW2MACKEREL_SERVICE", "cdn")
            .args([command, "--config", path]));
        assert_mistakes(command, &ran, &expected);
    }
    assert!(peer.requests().is_empty(), "{:#?}", peer.requests());
}

#[test]
fn check_applies_the_daemons_rules_when_an_interval_is_set() {
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key-example"),
        ("MACKEREL_APIKEY", "TEST-KEY-long-enough"),
        ("CW2MACKEREL_SERVICE", "cdn"),
    ];
    let shorter = "CW2MACKEREL_LOOKBACK (10m) is shorter than CW2MACKEREL_INTERVAL (15m): the minutes between two cycles would never be read".to_string();
    for command in ["daemon", "check"] {
        let ran = run(cw2mackerel()
            .envs(env)
            .env("CW2MACKEREL_INTERVAL", "15m")
            .arg(command));
        assert_mistakes(command, &ran, std::slice::from_ref(&shorter));
    }
    // An interval the look-back covers passes; without an interval, check is run's check,
    // and run's look-back may be shorter than the default interval (cron reads what it reads).
    for extra in [
        &[("CW2MACKEREL_INTERVAL", "5m")][..],
        &[
            ("CW2MACKEREL_INTERVAL", "15m"),
            ("CW2MACKEREL_LOOKBACK", "15m"),
        ],
        &[("CW2MACKEREL_LOOKBACK", "1m")],
    ] {
        let ran = run(cw2mackerel()
            .envs(env)
            .envs(extra.iter().copied())
            .arg("check"));
        assert_eq!(ran.code, 0, "{extra:?}: {}", ran.stderr);
    }
}

#[test]
fn check_needs_no_api_key_and_says_so_while_commands_that_post_refuse() {
    let file = namespace_job("no-key", &json!({}));
    let file = file.to_str().unwrap();
    // Neither a key nor AWS credentials here: the file is checked, and both are noted.
    let ran = run(cw2mackerel().args(["check", "--config", file]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "configuration OK: 1 job(s): AWS/SQS\n");
    let notes = lines(&ran);
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(
        notes[0].starts_with("no Mackerel API key is set here"),
        "{notes:#?}"
    );
    assert!(
        notes[1].starts_with("no AWS credentials are found here"),
        "{notes:#?}"
    );
    assert!(ran.logs().iter().all(|l| l["level"] == "info"));
    // Without a file too.
    let ran = run(cw2mackerel().env("CW2MACKEREL_SERVICE", "cdn").arg("check"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // What posts (or, for host jobs, lists hosts) still refuses.
    let hosts = namespace_job(
        "no-key-hosts",
        &json!({"target": {"host": {"custom_identifier": "{QueueName}"}}}),
    );
    for args in [
        vec!["run", "--config", file],
        vec!["daemon", "--config", file],
        vec!["list", "--config", hosts.to_str().unwrap()],
    ] {
        let ran = run(cw2mackerel()
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret-key-example")
            .args(&args));
        assert_mistakes(
            &args.join(" "),
            &ran,
            &["no Mackerel API key: set MACKEREL_APIKEY".to_string()],
        );
    }
    // A key in SSM by name still needs a region to be found in, which check can judge.
    let ran = run(cw2mackerel()
        .env("MACKEREL_APIKEY_SSM", "/mackerel/apikey")
        .args(["check", "--config", file]));
    assert_mistakes(
        "ssm",
        &ran,
        &["MACKEREL_APIKEY_SSM is a parameter name, so AWS_REGION".to_string()],
    );
}

#[test]
fn messages_name_what_was_set_in_sentences_that_read() {
    let base = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key-example"),
        ("MACKEREL_APIKEY", "TEST-KEY-long-enough"),
    ];
    let missing = fresh_path("missing.json");
    let missing = missing.to_str().unwrap();
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, Vec<String>);
    let cases: Vec<Case> = vec![
        // A missing file is named as missing first, whatever else is wrong beside it.
        (
            vec![("CW2MACKEREL_SERVICE", "cdn")],
            vec!["--config", missing],
            vec![
                format!("--config: there is no file {missing}"),
                "CW2MACKEREL_SERVICE describes a job".into(),
            ],
        ),
        (
            vec![("CW2MACKEREL_CONFIG", missing)],
            vec![],
            vec![format!("CW2MACKEREL_CONFIG: there is no file {missing}")],
        ),
        (
            vec![("CW2MACKEREL_CONFIG", missing), ("CW2MACKEREL_MODE", "host"), ("CW2MACKEREL_ROLES", "cdn:edge")],
            vec![],
            vec![
                format!("CW2MACKEREL_CONFIG: there is no file {missing}"),
                "CW2MACKEREL_MODE and CW2MACKEREL_ROLES describe a job, and jobs come from".into(),
            ],
        ),
        (
            vec![("CW2MACKEREL_SERVICE", "cdn"), ("CW2MACKEREL_ROLES", "cdn:edge")],
            vec![],
            vec!["CW2MACKEREL_ROLES is for host mode only; set CW2MACKEREL_MODE=host or remove it".into()],
        ),
        (
            vec![("CW2MACKEREL_SERVICE", "cdn"), ("CW2MACKEREL_RETIRE_GONE", "true")],
            vec!["--roles", "cdn:edge"],
            vec!["--roles and CW2MACKEREL_RETIRE_GONE are for host mode only; set CW2MACKEREL_MODE=host or remove them".into()],
        ),
        (
            vec![("CW2MACKEREL_SERVICE", "cdn")],
            vec!["--apikey-ssm", "arn:aws:s3:::bucket"],
            vec![
                "--apikey-ssm: \"arn:aws:s3:::bucket\" is not an SSM parameter ARN".into(),
                "both an API key (MACKEREL_APIKEY) and --apikey-ssm are set; keep one of them".into(),
            ],
        ),
        (
            vec![("CW2MACKEREL_SERVICE", "cdn"), ("CW2MACKEREL_MAX_FAILURES", "2.5")],
            vec![],
            vec!["CW2MACKEREL_MAX_FAILURES: \"2.5\" is not a positive whole number".into()],
        ),
        (
            vec![("CW2MACKEREL_SERVICE", "cdn"), ("CW2MACKEREL_BACKFILL", "23h58m")],
            vec![],
            vec!["CW2MACKEREL_BACKFILL (23h58m) plus CW2MACKEREL_DELAY (3m) reaches back more than 24h".into()],
        ),
    ];
    for (env, args, expected) in cases {
        for command in ["run", "check"] {
            let ran = run(cw2mackerel()
                .envs(base)
                .envs(env.iter().copied())
                .arg(command)
                .args(&args));
            assert_mistakes(&format!("{command} {env:?} {args:?}"), &ran, &expected);
        }
    }
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error_naming_its_place() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9");
    for (args, place) in [
        (vec!["run".as_ref(), bad], 2),
        (vec!["check".as_ref(), "--service".as_ref(), bad], 3),
    ] {
        let ran = run(cw2mackerel().args(&args));
        assert_mistakes(
            &format!("{args:?}"),
            &ran,
            &[format!(
                "argument {place} is not UTF-8 text; cw2mackerel reads its arguments as UTF-8"
            )],
        );
    }
}

#[test]
fn mistakes_are_logged_in_the_format_asked_for_even_on_an_unreadable_command_line() {
    // Each log line of `ran` read as JSON, or None when it is a text line.
    let json = |ran: &Ran| -> Vec<Option<serde_json::Value>> {
        ran.stderr
            .lines()
            .map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    for (args, env, says) in [
        // The command line cannot be read: the format is found past the mistake.
        (
            &["run", "--nope", "--log-format", "json"][..],
            None,
            "configuration: unknown option --nope (see --help)",
        ),
        (
            &["--log-format=json", "run", "stray"],
            None,
            "configuration: unexpected argument \"stray\" (see --help)",
        ),
        (
            &["run", "--nope"],
            Some("json"),
            "configuration: unknown option --nope (see --help)",
        ),
        // It can, and the configuration is bad.
        (
            &[
                "check",
                "--service=cdn",
                "--lookback",
                "ten",
                "--log-format",
                "json",
            ],
            Some("text"),
            "configuration: --lookback: ",
        ),
    ] {
        let mut cmd = cw2mackerel();
        cmd.env_remove("CW2MACKEREL_LOG_FORMAT").args(args);
        if let Some(format) = env {
            cmd.env("CW2MACKEREL_LOG_FORMAT", format);
        }
        let ran = run(&mut cmd);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        let lines = json(&ran);
        assert!(
            lines.len() == 1
                && lines[0].as_ref().is_some_and(
                    |l| l["level"] == "error" && l["msg"].as_str().unwrap().starts_with(says)
                ),
            "{args:?}: {}",
            ran.stderr
        );
    }
    // A format that does not read, or text asked for, gives text lines.
    for (args, env) in [
        (&["run", "--nope", "--log-format", "xml"][..], "json"),
        (&["run", "--nope", "--log-format=text"], "json"),
        (&["run", "--log-format", "xml"], "json"),
    ] {
        let ran = run(cw2mackerel().env("CW2MACKEREL_LOG_FORMAT", env).args(args));
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(
            json(&ran).iter().all(Option::is_none) && ran.stderr.contains(" ERROR configuration: "),
            "{args:?}: {}",
            ran.stderr
        );
    }
}
