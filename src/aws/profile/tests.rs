//! The profile-file parser, against the AWS SDKs' shared suite and botocore's cases.

use super::*;
use serde_json::Value;
use std::path::Path;

#[test]
fn fuzz() {
    crate::fuzz_tests::fuzz(
        "profiles",
        &[b"[default]\nregion = eu-west-1\n# c\n[profile work]\naws_access_key_id = A\nrole_arn=arn:aws:iam::1:role/r\ns3 =\n  x = y\n[services s]\nsts =\n endpoint_url = http://x\n"],
        |b| {
            let text = String::from_utf8_lossy(b);
            Shared::parse(&text, &text).map_or(0, |s| s.profiles.iter().count())
        },
    );
}

fn object(s: &Section) -> Value {
    s.iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The shared suite, every case: a file's text → the profiles an SDK reads, or an error.
#[test]
fn the_sdks_profile_parser_suite() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/aws-sdk/profile-parser-tests.json");
    let suite: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let cases = suite["tests"].as_array().unwrap();
    assert_eq!(cases.len(), 65);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        let text = |k: &str| input[k].as_str().unwrap_or_default().to_string();
        let got = Shared::parse(&text("configFile"), &text("credentialsFile"));
        let output = &case["output"];
        match (got, output.get("errorContaining")) {
            (Ok(shared), None) => {
                let profiles: serde_json::Map<String, Value> = shared
                    .profiles
                    .iter()
                    .map(|(n, p)| (n.clone(), object(&p.merged())))
                    .collect();
                assert_eq!(
                    Value::Object(profiles),
                    output["config"]["profiles"],
                    "{name}"
                );
                if let Some(sessions) = output["config"].get("sso_sessions") {
                    let ours: serde_json::Map<String, Value> = shared
                        .sso_sessions
                        .iter()
                        .map(|(n, s)| (n.clone(), object(s)))
                        .collect();
                    assert_eq!(&Value::Object(ours), sessions, "{name}");
                }
            }
            (Err(e), Some(_)) => assert!(e.starts_with("line "), "{name}: {e}"),
            (got, _) => panic!("{name}: {:?}", got.map(|s| s.profiles.iter().count())),
        }
    }
}

#[test]
fn botocore_cases_the_suite_leaves_open() {
    // A comment after the header, as `aws configure` users write it.
    let s = Shared::parse("[default]   # main account\nregion = eu-west-1\n", "").unwrap();
    assert_eq!(s.profiles["default"].get("region"), Some("eu-west-1"));
    // `name: value` is an error that says what to write, naming the line, never showing it.
    let e = Shared::parse(
        "[default]\nregion = x\naws_secret_access_key: SECRETVALUE\n",
        "",
    )
    .err()
    .unwrap();
    assert!(e.starts_with("line 3: ") && e.contains("write `=`"), "{e}");
    assert!(!e.contains("SECRETVALUE"));
    // Each file's keys stay apart; the credentials file wins where both have one.
    let s = Shared::parse(
        "[profile w]\nregion = a\naws_access_key_id = C\n",
        "[w]\naws_access_key_id = K\n",
    )
    .unwrap();
    let w = &s.profiles["w"];
    assert_eq!(
        (
            w.config["aws_access_key_id"].as_str(),
            w.get("aws_access_key_id")
        ),
        ("C", Some("K"))
    );
    // [services NAME] sections with sub-properties.
    let s = Shared::parse(
        "[services x]\ncloudwatch =\n  endpoint_url = http://127.0.0.1:1\n\n  other = 1\n",
        "",
    )
    .unwrap();
    let cw = sub_properties(&s.services["x"]["cloudwatch"]).unwrap();
    assert_eq!(cw["endpoint_url"], "http://127.0.0.1:1");
    assert_eq!(sub_properties("http://x"), None);
}

#[test]
fn a_leading_tilde_is_the_home_directory() {
    let home = PathBuf::from("/home/me");
    let expand = |p| expand_home(p, Some(&home));
    assert_eq!(
        expand("~/.aws/creds").unwrap(),
        PathBuf::from("/home/me/.aws/creds")
    );
    assert_eq!(expand("~").unwrap(), home);
    assert_eq!(expand("/etc/aws").unwrap(), PathBuf::from("/etc/aws"));
    assert!(expand("~other/x").unwrap_err().contains("only a leading ~"));
    assert!(
        expand_home("~/x", None)
            .unwrap_err()
            .contains("HOME is not set")
    );
}

#[test]
fn files_are_read_from_the_variables_or_home() {
    let dir = std::env::temp_dir().join(format!("cw2m-shared-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".aws")).unwrap();
    std::fs::write(dir.join(".aws/config"), "[default]\nregion = eu-west-1\n").unwrap();
    std::fs::write(dir.join("creds"), "[w]\naws_access_key_id = K\n").unwrap();
    let home = dir.to_str().unwrap().to_string();
    let env = move |k: &str| match k {
        "HOME" => Some(home.clone()),
        "AWS_SHARED_CREDENTIALS_FILE" => Some("~/creds".into()),
        _ => None,
    };
    let s = Shared::load(&env).unwrap();
    assert_eq!(s.profiles["default"].get("region"), Some("eu-west-1"));
    assert_eq!(s.profiles["w"].get("aws_access_key_id"), Some("K"));
    std::fs::write(dir.join(".aws/config"), "[default\n").unwrap();
    let e = Shared::load(&env).err().unwrap().to_string();
    assert!(
        e.ends_with("config: line 1: a section header without its closing ]"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
