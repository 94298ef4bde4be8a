//! Values that were once accepted and went wrong later (a panic, a request to the wrong host,
//! a key in clear): each is now refused by `run` and `check` alike, with exit 2, a message
//! naming its source, and no network call.

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
            assert_eq!(ran.code, 2, "{command} {env:?} {args:?}: {}", ran.stderr);
            let msg = ran.logs()[0]["msg"].as_str().unwrap().to_string();
            assert!(msg.contains(expect), "{expect}: {msg}");
            ran.assert_no_secret(&["TEST-KEY-long-enough", "secret-key-example"]);
        }
    }
    assert!(peer.requests().is_empty(), "{:#?}", peer.requests());
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
