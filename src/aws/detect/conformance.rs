//! The AWS SDKs' shared credential test data (`fixtures/aws-sdk`, from smithy-rs), run as
//! data: one test per file or directory of cases. Every case runs; those about sources
//! cw2mackerel does not support (IAM Identity Center) must meet its refusal, not other
//! credentials.
//!
//! The recorded-traffic cases (`default-credential-provider-chain/`, `profile-provider/`)
//! run the real chain and [`Provider`] against [`replay::Replay`], which serves the recorded
//! answers in order on loopback. The chain's endpoints are taken as they are (the container
//! and IMDS URLs, and STS's endpoint for the region and overrides), checked against the
//! recorded ones, and then pointed at the replay; the clock is set before the recorded
//! credentials expire. The case's `fs/` is copied to a temporary root, with its absolute
//! paths (`HOME`, token files) moved under it, and each `credential_process` wrapped in
//! `sh -c`: the suite writes shell pipelines, which botocore and cw2mackerel run without a
//! shell. `profile-provider/` cases test the profile step alone, so they run with the
//! environment's keys removed and instance metadata disabled.

mod replay;

use super::*;
use crate::aws::credentials::Provider;
use crate::aws::endpoint::{Endpoints, Service};
use crate::aws::{Settings, keys::Credentials};
use crate::transport::Http;
use replay::{Replay, exchanges, origin};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

fn fixture(path: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/aws-sdk")
        .join(path);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"))).unwrap()
}

/// The sources cw2mackerel refuses, and the words of its refusal.
const SSO: &str = "IAM Identity Center";

fn env_of(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn section(keys: &Value) -> Section {
    let keys = keys.as_object().into_iter().flatten();
    keys.map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A source as the suite writes a profile chain: base first, then each role assumed.
fn chain_of(s: &Source) -> Vec<Value> {
    match s {
        Source::Static { origin, .. } if origin == "environment" => {
            vec![json!({"NamedSource": "Environment"})]
        }
        Source::Static { creds, .. } => vec![json!({"AccessKey": {
            "access_key_id": creds.access_key_id, "secret_access_key": creds.secret.expose()}})],
        Source::Imds { .. } => vec![json!({"NamedSource": "Ec2InstanceMetadata"})],
        Source::Container { .. } => vec![json!({"NamedSource": "EcsContainer"})],
        Source::WebIdentity {
            token_file,
            role_arn,
            session_name,
        } => vec![json!({"WebIdentityToken": {"role_arn": role_arn,
            "web_identity_token_file": token_file, "role_session_name": session_name}})],
        Source::AssumeRole {
            base,
            role,
            session_name,
            ..
        } => {
            let mut out = chain_of(base);
            out.push(json!({"AssumeRole": {"role_arn": role.arn,
                "external_id": role.external_id, "role_session_name": session_name}}));
            out
        }
        other => vec![json!({"Other": other.describe()})],
    }
}

/// `ours`, with only the fields `expected` names (the account ID left out: cw2mackerel has
/// no use for it).
fn like(ours: &[Value], expected: &[Value]) -> Vec<Value> {
    ours.iter()
        .zip(expected)
        .map(|(o, e)| match (o.as_object(), e.as_object()) {
            (Some(o), Some(e)) => Value::Object(
                o.iter()
                    .filter(|(k, _)| e.contains_key(*k))
                    .map(|(k, v)| {
                        let fields = e[k].as_object().map(|f| {
                            v.as_object()
                                .into_iter()
                                .flatten()
                                .filter(|(n, _)| f.contains_key(*n))
                                .map(|(n, v)| (n.clone(), v.clone()))
                                .collect::<serde_json::Map<_, _>>()
                        });
                        (k.clone(), fields.map_or(v.clone(), Value::Object))
                    })
                    .collect(),
            ),
            _ => o.clone(),
        })
        .collect()
}

fn strip_account(v: &mut Value) {
    for step in v.as_array_mut().into_iter().flatten() {
        if let Some(keys) = step.get_mut("AccessKey").and_then(Value::as_object_mut) {
            keys.remove("account_id");
        }
    }
}

/// `assume-role-tests.json`: profiles and a selected profile → the chain of sources.
#[test]
fn the_sdks_assume_role_suite() {
    let cases = fixture("assume-role-tests.json");
    let (mut chains, mut errors, mut refused) = (0, 0, 0);
    for case in cases.as_array().unwrap() {
        let docs = case["docs"].as_str().unwrap();
        let input = &case["input"];
        let mut shared = Shared::default();
        for (name, keys) in input["profiles"].as_object().unwrap() {
            shared.profiles.entry(name).config = section(keys);
        }
        for (name, keys) in input["sso_sessions"].as_object().into_iter().flatten() {
            shared.sso_sessions.insert(name.clone(), section(keys));
        }
        let chain = Chain {
            var: &|_| None,
            shared: &shared,
            imds: Some(IMDS_ENDPOINT.into()),
        };
        let selected = input["selected_profile"].as_str().unwrap();
        let got = match shared.profiles.get(selected) {
            Some(p) => chain.profile_steps(selected, Some(p)),
            None => Err(Error::config("no such profile")),
        };
        let output = &case["output"];
        let uses_sso = input.to_string().contains("\"sso_");
        match (got, output.get("ProfileChain"), output.get("Error")) {
            (Err(e), _, _) if uses_sso => {
                assert!(e.message().contains(SSO), "{docs}: {e}");
                refused += 1;
            }
            (Ok(Some(s)), Some(expected), None) => {
                let mut expected = expected.clone();
                strip_account(&mut expected);
                let expected = expected.as_array().unwrap();
                assert_eq!(&like(&chain_of(&s), expected), expected, "{docs}");
                chains += 1;
            }
            // The selected profile has no credentials: the chain goes on past it.
            (Ok(None), None, Some(e)) if e.as_str().unwrap().contains("did not contain") => {
                errors += 1
            }
            (Err(_), None, Some(_)) => errors += 1,
            (got, _, _) => panic!(
                "{docs}: {:?} against {output}",
                got.map(|s| s.map(|s| s.describe()))
            ),
        }
    }
    assert_eq!((chains, errors, refused), (11, 11, 6));
}

/// `ecs-tests.json`: the container variables → the URL asked, or an error.
#[test]
fn the_sdks_container_endpoint_suite() {
    let cases = fixture("ecs-tests.json");
    for case in cases["tests"].as_array().unwrap() {
        let docs = case["docs"].as_str().unwrap();
        let env = env_of(&case["env"]);
        let var = |k: &str| env.get(k).cloned();
        let shared = Shared::default();
        let chain = Chain {
            var: &var,
            shared: &shared,
            imds: None,
        };
        match (chain.container(), &case["result"]) {
            (Ok(Some(Source::Container { url, .. })), r) if r.get("Ok").is_some() => {
                assert_eq!(url, r["Ok"], "{docs}")
            }
            (Ok(None), r)
                if r["ErrorContains"]
                    .as_str()
                    .unwrap()
                    .contains("No environment") => {}
            (Err(e), r) if r.get("ErrorContains").is_some() => assert_eq!(e.exit_code(), 2),
            (got, r) => panic!(
                "{docs}: {:?} against {r}",
                got.map(|s| s.map(|s| s.describe()))
            ),
        }
    }
}

/// `imds-config/`: the IMDS variables and profile keys → the token URL, or an error. The
/// cases that set the SDK builder's own overrides do not apply: cw2mackerel has no builder.
#[test]
fn the_sdks_imds_config_suite() {
    let cases = fixture("imds-config/imds-endpoint-tests.json");
    let mut ran = 0;
    for case in cases["tests"].as_array().unwrap() {
        let docs = case["docs"].as_str().unwrap();
        if case.get("endpoint_override").is_some() || case.get("mode_override").is_some() {
            continue;
        }
        let env = env_of(&case["env"]);
        let var = |k: &str| env.get(k).cloned();
        let config = case["fs"]["config"].as_str().unwrap_or_default();
        let shared = Shared::parse(config, "").unwrap();
        let selected = shared
            .profiles
            .get("default")
            .map(|p| Selected::new("default", p, &shared));
        match (imds_endpoint(&var, selected.as_ref()), &case["result"]) {
            (Ok(Some(e)), r) => assert_eq!(format!("{e}/latest/api/token"), r["Ok"], "{docs}"),
            (Err(e), r) if r.get("Err").is_some() => assert_eq!(e.exit_code(), 2, "{docs}"),
            (got, r) => panic!("{docs}: {got:?} against {r}"),
        }
        ran += 1;
    }
    assert_eq!(ran, 11);
}

/// What each recorded case that expects an error gets from cw2mackerel.
const ERRORS: &[(&str, &str)] = &[
    (
        "eks_pod_identity_no_token_file",
        "No such file or directory",
    ),
    ("imds_default_chain_error", "no IAM role attached"),
    ("imds_disabled", "no AWS credentials"),
    ("imds_no_iam_role", "no IAM role attached"),
    ("imds_token_fail", "instance metadata is turned off"),
    (
        "profile_overrides_web_identity",
        "AWS_ACCESS_KEY_ID is not set",
    ),
    ("web_identity_source_profile_no_env", "no role_arn"),
    ("web_identity_token_invalid_jwt", "InvalidIdentityToken"),
    ("credential_process_failure", "exit status: 1"),
    ("credential_process_invalid", "not the JSON"),
    ("empty_config", "no AWS credentials"),
    ("invalid_config", "a setting without a name"),
];

#[test]
fn the_sdks_default_chain_traffic() {
    assert_eq!(
        traffic("default-credential-provider-chain", false),
        (17, 8, 4)
    );
}

#[test]
fn the_sdks_profile_provider_traffic() {
    assert_eq!(traffic("profile-provider", true), (10, 4, 4));
}

/// Runs every case directory under `dir`; how many gave the recorded credentials, the
/// expected error, and cw2mackerel's refusal.
fn traffic(dir: &str, profile_only: bool) -> (usize, usize, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/aws-sdk")
        .join(dir);
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut counts = (0, 0, 0);
    for name in names {
        let case = root.join(&name);
        let expected = fixture(&format!("{dir}/{name}/test-case.json"))["result"].clone();
        let (got, problems) = replay_case(&case, &name, profile_only);
        if name.contains("sso") {
            let e = got.err().unwrap_or_default();
            assert!(e.contains(SSO), "{name}: {e}");
            counts.2 += 1;
            continue;
        }
        assert!(problems.is_empty(), "{name}: {problems:?}");
        match (got, expected.get("Ok")) {
            (Ok(c), Some(ok)) => {
                assert_eq!(c.access_key_id, ok["access_key_id"], "{name}");
                assert_eq!(c.secret.expose(), ok["secret_access_key"], "{name}");
                assert_eq!(
                    c.token.as_ref().map(|t| t.expose()),
                    ok["session_token"].as_str()
                );
                assert_eq!(c.expires, ok["expiry"].as_i64(), "{name}");
                counts.0 += 1;
            }
            (Err(e), None) => {
                let Some((_, words)) = ERRORS.iter().find(|(n, _)| *n == name) else {
                    panic!("{name}: {e}, and no expected words for it");
                };
                assert!(e.contains(words), "{name}: {e}");
                counts.1 += 1;
            }
            (got, _) => panic!(
                "{name}: {:?} against {expected}",
                got.map(|c| c.access_key_id)
            ),
        }
    }
    counts
}

/// One recorded case: the credentials the chain gets, and what differed from the recording.
fn replay_case(
    case: &Path,
    name: &str,
    profile_only: bool,
) -> (Result<Credentials, String>, Vec<String>) {
    let root = std::env::temp_dir().join(format!("cw2m-replay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    copy_fs(&case.join("fs"), &root, &root);
    let mut env = env_of(&fixture_at(&case.join("env.json")));
    for (k, v) in &mut env {
        let path_var = k == "HOME" || k.ends_with("_FILE");
        if path_var && v.starts_with('/') {
            *v = format!("{}{v}", root.display());
        }
    }
    if profile_only {
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            env.remove(k);
        }
        env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    }
    let traffic = exchanges(&fixture_at(&case.join("http-traffic.json")));
    let expected = fixture_at(&case.join("test-case.json"));
    let var = |k: &str| env.get(k).cloned();
    let result = Settings::from_env(&var).map_err(|e| e.to_string());
    let Ok(settings) = result else {
        let _ = std::fs::remove_dir_all(&root);
        return (Err(result.unwrap_err()), Vec::new());
    };
    let replay = Replay::start(traffic.clone());
    let mut source = settings.credentials;
    let mut ours = BTreeSet::new();
    redirect(&mut source, &replay.url, &mut ours);
    let http = Http::new(std::time::Duration::from_secs(5));
    let original = Provider::new(
        &http,
        &source,
        &settings.endpoints,
        settings.region.as_deref(),
    );
    for arn in role_arns(&source) {
        ours.insert(origin(
            &settings
                .endpoints
                .url(Service::Sts, original.sts_region(&arn))
                .unwrap(),
        ));
    }
    let sts = [("AWS_ENDPOINT_URL_STS".to_string(), replay.url.clone())];
    let sts: BTreeMap<_, _> = sts.into_iter().collect();
    let endpoints = Endpoints::from_env(&|k| sts.get(k).cloned()).unwrap();
    let now = clock_for(&traffic, &expected["result"]["Ok"]["expiry"]);
    let provider = Provider::new(&http, &source, &endpoints, settings.region.as_deref())
        .with_clock(move || now);
    let got = provider.get(None).map_err(|e| e.to_string());
    let mut problems = replay.finish();
    for x in &traffic {
        if !ours.contains(&origin(&x.uri)) {
            problems.push(format!(
                "recorded {}, but the chain would ask {ours:?}",
                x.uri
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    (got, problems)
}

fn fixture_at(p: &Path) -> Value {
    std::fs::read(p).map_or(Value::Null, |b| serde_json::from_slice(&b).unwrap())
}

/// Copies the case's files under `root`, moving absolute token paths there too and running
/// each `credential_process` through `sh -c`.
fn copy_fs(from: &Path, to: &Path, root: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).into_iter().flatten() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_fs(&src, &dst, root);
            continue;
        }
        let text = std::fs::read_to_string(&src).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| match l.split_once('=') {
                Some((k, v)) if k.trim() == "web_identity_token_file" => {
                    format!("{k}= {}{}", root.display(), v.trim())
                }
                Some((k, v)) if k.trim() == "credential_process" => {
                    let v = v.trim().replace('\\', "\\\\").replace('"', "\\\"");
                    format!("{k}= sh -c \"{}\"", v.replace('$', "\\$"))
                }
                _ => l.to_string(),
            })
            .collect();
        std::fs::write(dst, text.join("\n") + "\n").unwrap();
    }
}

/// Points the container and IMDS URLs of `source` at `to`, noting the origins they had.
fn redirect(source: &mut Source, to: &str, was: &mut BTreeSet<String>) {
    match source {
        Source::Container { url, .. } => {
            was.insert(origin(url));
            *url = format!("{to}{}", &url[origin(url).len()..]);
        }
        Source::Imds { endpoint } => {
            was.insert(origin(endpoint));
            *endpoint = to.to_string();
        }
        Source::AssumeRole { base, .. } => redirect(base, to, was),
        _ => {}
    }
}

fn role_arns(source: &Source) -> Vec<String> {
    match source {
        Source::WebIdentity { role_arn, .. } => vec![role_arn.clone()],
        Source::AssumeRole { base, role, .. } => {
            let mut out = role_arns(base);
            out.push(role.arn.clone());
            out
        }
        _ => Vec::new(),
    }
}

/// A time at which every recorded credential still has 20 minutes to live: the suite's
/// credentials expired years ago.
fn clock_for(traffic: &[replay::Exchange], expiry: &Value) -> i64 {
    let mut times: Vec<i64> = expiry.as_i64().into_iter().collect();
    for x in traffic {
        let answer = x.answer();
        let json: Value = serde_json::from_str(answer).unwrap_or_default();
        times.extend(json["Expiration"].as_str().and_then(clock::parse_iso8601));
        for part in answer.split("<Expiration>").skip(1) {
            times.extend(part.split('<').next().and_then(clock::parse_iso8601));
        }
    }
    times
        .into_iter()
        .min()
        .map_or_else(clock::now, |t| t - 20 * 60)
}
