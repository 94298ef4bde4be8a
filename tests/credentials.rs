//! The credential chain and the shared files as the AWS CLI reads them: each case is given to
//! botocore 1.44 (the test venv's, through `tests/peers/botocore_pick.py`) and to cw2mackerel,
//! with the same files and variables, and both must pick the same credentials and endpoints
//! (cw2mackerel proving its pick by signing calls moto accepts, where the other candidate's
//! keys are bogus). Then the credential endpoints' rules: renewal, retries, IMDS settings.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

type Env = Vec<(&'static str, String)>;

/// What botocore picks with `env` (and a clean environment otherwise, as [`cw2mackerel`]
/// has it), with the endpoints of `services`.
fn botocore(env: &Env, services: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(root().join("tests/peers/botocore_pick.py"))
        .args(services)
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// cw2mackerel reading E1's metrics in a dry run, at moto, with `env`.
fn ours(moto: &Moto, env: &Env) -> Ran {
    run(cw2mackerel()
        .env("AWS_ENDPOINT_URL", moto.url())
        .envs(env.iter().cloned())
        .args(["run", "--dry-run", "--distributions", "E1"]))
}

/// `[SECTION]` with `id`/`secret` as its keys.
fn keys(section: &str, (id, secret): &(String, String)) -> String {
    format!("[{section}]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n")
}

fn bogus() -> (String, String) {
    ("AKIABOGUSBOGUSBOGUS1".into(), "bogus-secret-key".into())
}

fn file(name: &str, text: &str) -> String {
    temp_file(name, text).to_str().unwrap().to_string()
}

/// botocore picked `method` with `key`, and cw2mackerel's calls were accepted.
fn both_pick(moto: &Moto, env: &Env, method: &str, key: &str) {
    let boto = botocore(env, &[]);
    assert_eq!(
        (boto["method"].as_str(), boto["access_key"].as_str()),
        (Some(method), Some(key)),
        "{boto}"
    );
    let ran = ours(moto, env);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn a_profile_with_only_a_region_goes_on_to_the_container_endpoint() {
    let moto = Moto::shared();
    let creds = moto.role_credentials();
    let ecs = ecs_endpoint(&creds, "region-only-token");
    let mut env: Env = vec![
        (
            "AWS_CONFIG_FILE",
            file("region-only", "[profile r]\nregion = us-east-1\n"),
        ),
        ("AWS_PROFILE", "r".into()),
    ];
    env.extend(container_env(&ecs, "region-only-token"));
    let key = creds["AccessKeyId"].as_str().unwrap();
    // botocore fetches 15-minute credentials twice (they are inside its refresh window at
    // once); cw2mackerel once.
    both_pick(moto, &env, "container-role", key);
    let served = ecs.state()["served"].as_u64().unwrap();
    assert_eq!(ours(moto, &env).code, 0);
    assert_eq!(ecs.state()["served"].as_u64().unwrap(), served + 1);
}

#[test]
fn profile_default_in_the_config_file() {
    let moto = Moto::shared();
    let reader = moto.key("reader");
    let env: Env = vec![(
        "AWS_CONFIG_FILE",
        file("profile-default", &keys("profile default", &reader)),
    )];
    both_pick(moto, &env, "config-file", &reader.0);
}

#[test]
fn aws_default_profile_comes_before_aws_profile() {
    let moto = Moto::shared();
    let reader = moto.key("reader");
    let config = keys("profile good", &reader) + &keys("profile bad", &bogus());
    let env: Env = vec![
        ("AWS_CONFIG_FILE", file("default-profile", &config)),
        ("AWS_DEFAULT_PROFILE", "good".into()),
        ("AWS_PROFILE", "bad".into()),
    ];
    both_pick(moto, &env, "config-file", &reader.0);
}

#[test]
fn mfa_serial_beside_static_keys_is_no_obstacle() {
    let moto = Moto::shared();
    let reader = moto.key("reader");
    let creds = keys("default", &reader) + "mfa_serial = arn:aws:iam::123456789012:mfa/me\n";
    let env: Env = vec![("AWS_SHARED_CREDENTIALS_FILE", file("mfa-keys", &creds))];
    both_pick(moto, &env, "shared-credentials-file", &reader.0);
}

#[test]
fn a_comment_after_the_section_header() {
    let moto = Moto::shared();
    let reader = moto.key("reader");
    let creds = keys("default", &reader).replacen("[default]", "[default]   # main account", 1);
    let env: Env = vec![(
        "AWS_SHARED_CREDENTIALS_FILE",
        file("header-comment", &creds),
    )];
    both_pick(moto, &env, "shared-credentials-file", &reader.0);
}

#[test]
fn name_colon_value_is_refused_where_botocore_reads_it() {
    // botocore alone reads `name: value` as a property; the SDKs' shared suite makes it an
    // error. cw2mackerel takes the suite's side, and says so rather than drop the line.
    let moto = Moto::shared();
    let reader = moto.key("reader");
    let creds =
        keys("default", &reader).replace("aws_secret_access_key =", "aws_secret_access_key:");
    let env: Env = vec![("AWS_SHARED_CREDENTIALS_FILE", file("colon", &creds))];
    assert_eq!(botocore(&env, &[])["access_key"], reader.0.as_str());
    let ran = ours(moto, &env);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("colon: line 3: not `name = value`"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("write `=`"), "{}", ran.stderr);
    ran.assert_no_secret(&[&reader.1]);
}

#[test]
fn a_tilde_in_the_file_variables_is_the_home_directory() {
    let moto = Moto::shared();
    let reader = moto.key("reader");
    let home = fresh_path("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("creds"), keys("default", &reader)).unwrap();
    std::fs::write(home.join("conf"), "[default]\nregion = us-east-1\n").unwrap();
    let env: Env = vec![
        ("HOME", home.to_str().unwrap().into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "~/creds".into()),
        ("AWS_CONFIG_FILE", "~/conf".into()),
    ];
    both_pick(moto, &env, "shared-credentials-file", &reader.0);
    assert_eq!(botocore(&env, &[])["region"], "us-east-1");
}

/// A `credential_process` script printing `keys` (and checking its arguments).
fn process(name: &str, (id, secret): &(String, String)) -> PathBuf {
    let script = temp_file(
        name,
        &format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{id}\", \"SecretAccessKey\": \"{secret}\"}}'\n"
        ),
    );
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    script
}

#[test]
fn credentials_file_keys_then_credential_process_then_config_file_keys() {
    let moto = Moto::shared();
    let reader = moto.key("reader");
    let tool = process("order-process", &reader);
    // A config file with keys and a credential_process: the process.
    let config = keys("default", &bogus()) + &format!("credential_process = {}\n", tool.display());
    let env: Env = vec![("AWS_CONFIG_FILE", file("order-config", &config))];
    both_pick(moto, &env, "custom-process", &reader.0);
    // The credentials file's keys come before a credential_process.
    let failing = process("order-fails", &bogus());
    let env: Env = vec![
        (
            "AWS_CONFIG_FILE",
            file(
                "order-config-2",
                &format!("[default]\ncredential_process = {}\n", failing.display()),
            ),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            file("order-credentials", &keys("default", &reader)),
        ),
    ];
    both_pick(moto, &env, "shared-credentials-file", &reader.0);
}

#[test]
fn endpoint_urls_from_the_shared_config_file() {
    // botocore's configured endpoints: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the
    // profile's [services] entry, its endpoint_url. Every run goes through a proxy that tunnels
    // to loopback alone, so a call meant for AWS is seen, never sent.
    let moto = Moto::shared();
    // CloudWatch only: E1 is then read as given, not looked up in CloudFront first.
    let reader = moto.key("nocloudfront");
    let cw = answering(&empty_gmd(6));
    let proxy = Fake::start("proxy", &[]);
    let profile = |extra: &str| {
        keys("default", &reader)
            + &format!("region = us-east-1\nendpoint_url = {}\n{extra}", moto.url())
    };
    let services = format!(
        "services = local\n[services local]\ncloudwatch =\n  endpoint_url = {}\n",
        cw.url()
    );
    let check = |config: &str, extra: &[(&'static str, String)], expect: &str| {
        let mut env: Env = vec![("AWS_CONFIG_FILE", file("endpoints", config))];
        env.extend(extra.iter().cloned());
        let boto = botocore(&env, &["cloudwatch"]);
        assert_eq!(boto["endpoints"]["cloudwatch"], expect, "{boto}");
        proxy.reset();
        let ran = run(cw2mackerel()
            .env("HTTPS_PROXY", proxy.url())
            .envs(env)
            .args([
                "run",
                "--dry-run",
                "--distributions",
                "E1",
                "--timeout",
                "2s",
            ]));
        let tunnels: BTreeSet<String> = proxy
            .requests()
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect();
        let host = expect.split("://").nth(1).unwrap();
        let host = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:443")
        };
        // CloudFront is asked too (is E1 in the account?): the profile's endpoint serves it.
        assert!(tunnels.contains(&host), "{tunnels:?}\n{}", ran.stderr);
        ran
    };
    // The [services] entry, before the profile's endpoint_url.
    let ran = check(&profile(&services), &[], cw.url());
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(cw.requests().len(), 1);
    // The profile's endpoint_url.
    assert_eq!(check(&profile(""), &[], moto.url()).code, 0);
    // AWS_ENDPOINT_URL before both.
    let env = [("AWS_ENDPOINT_URL", moto.url().to_string())];
    assert_eq!(check(&profile(&services), &env, moto.url()).code, 0);
    // Ignored on request, by the variable or the profile: the calls go to AWS (and are
    // refused by the proxy).
    let aws = "https://monitoring.us-east-1.amazonaws.com";
    let env = [("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true".to_string())];
    assert_eq!(check(&profile(&services), &env, aws).code, 1);
    let ignoring = profile(&format!(
        "ignore_configured_endpoint_urls = true\n{services}"
    ));
    assert_eq!(check(&ignoring, &[], aws).code, 1);
}

#[test]
fn instance_metadata_endpoint_from_the_profile() {
    let moto = Moto::shared();
    let creds = moto.role_credentials();
    let imds = Fake::start("imds", &[]);
    imds.set_state(json!({"role": "cw2mackerel", "credentials": creds}));
    let config = format!(
        "[default]\nec2_metadata_service_endpoint = {}\n",
        imds.url()
    );
    let env: Env = vec![("AWS_CONFIG_FILE", file("imds-endpoint", &config))];
    let mut boto_env = env.clone();
    boto_env.push(("AWS_EC2_METADATA_DISABLED", "false".into()));
    let boto = botocore(&boto_env, &[]);
    assert_eq!(boto["access_key"], creds["AccessKeyId"], "{boto}");
    let served = imds.state()["served"].as_u64().unwrap();
    let ran = run(cw2mackerel()
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_ENDPOINT_URL", moto.url())
        .envs(env)
        .args(["run", "--dry-run", "--distributions", "E1"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(imds.state()["served"].as_u64().unwrap(), served + 1);
}

#[test]
fn credentials_about_to_expire_are_used_not_fetched_per_call() {
    let moto = Moto::shared();
    let dists = moto.distributions("renew", 2, &[]);
    let mut creds = moto.role_credentials();
    // Two minutes left: inside botocore's mandatory window, so botocore would fetch them
    // again for every call; cw2mackerel uses them for half their life, and says so.
    creds["Expiration"] = json!(iso(now() + 120));
    let ecs = ecs_endpoint(&creds, "tok");
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL", moto.url())
        .envs(container_env(&ecs, "tok"))
        .args(["run", "--dry-run", "--tag", "test=renew"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let s = ran.summary();
    assert!(
        s["calls"]["cloudwatch"].as_u64().unwrap() + s["calls"]["cloudfront"].as_u64().unwrap()
            >= 3
    );
    assert_eq!(ecs.state()["served"], 1);
    assert!(
        ran.stderr
            .contains("expire sooner than the SDKs renew them ahead"),
        "{}",
        ran.stderr
    );
    assert_eq!(s["distributions"], dists.len());
}

#[test]
fn credentials_already_expired_when_fetched_are_an_error() {
    let moto = Moto::shared();
    let mut creds = moto.role_credentials();
    creds["Expiration"] = json!(iso(now() - 60));
    let ecs = ecs_endpoint(&creds, "tok");
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL", moto.url())
        .envs(container_env(&ecs, "tok"))
        .args(["run", "--dry-run", "--distributions", "E1"]));
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let error = ran.summary()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("are already expired when fetched"),
        "{error}"
    );
    assert!(error.contains("check the clock"), "{error}");
}

#[test]
fn a_4xx_from_the_container_endpoint_is_tried_again() {
    // botocore's ContainerMetadataFetcher tries three times on any status but 200.
    let moto = Moto::shared();
    let creds = moto.role_credentials();
    let ecs = ecs_endpoint(&creds, "tok");
    ecs.faults(json!([{"path": "^/creds", "status": 404, "count": 2,
        "body": "{\"code\": \"NotFound\", \"message\": \"not yet\"}"}]));
    let ran = run(cw2mackerel()
        .env("AWS_ENDPOINT_URL", moto.url())
        .envs(container_env(&ecs, "tok"))
        .args(["run", "--dry-run", "--distributions", "E1"]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ecs.requests().len(), 3);
}
