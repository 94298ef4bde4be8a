//! Which source the environment and the shared files pick, profile chains among them.

use super::*;
use std::collections::HashMap;

fn detect_with(vars: &[(&str, &str)]) -> Result<(Source, Option<String>)> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    detect(&move |k| map.get(k).cloned())
        .map(|(s, p)| (s, p.and_then(|(_, p)| p.get("region").cloned())))
}

#[test]
fn environment_keys_come_first() {
    let (s, _) = detect_with(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_SESSION_TOKEN", "t"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/f"),
        ("AWS_ROLE_ARN", "arn:r"),
    ])
    .unwrap();
    let Source::Static { creds, origin } = s else {
        panic!("{s:?}")
    };
    assert_eq!(
        (creds.access_key_id.as_str(), origin.as_str()),
        ("AKID", "environment")
    );
    assert_eq!(creds.token.unwrap().expose(), "t");
    assert!(detect_with(&[("AWS_ACCESS_KEY_ID", "AKID")]).is_err());
    // What would make a header the signer cannot build (aws-sigv4 panics on it).
    for (id, secret) in [
        ("AK\nID", "s"),
        ("AKIDü", "s"),
        ("AKID", "s\u{7f}"),
        ("AKID", "s t"),
    ] {
        let e = detect_with(&[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)])
            .unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
    }
}

#[test]
fn then_web_identity_then_container_then_imds() {
    let (s, _) = detect_with(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/f"),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
    ])
    .unwrap();
    assert!(matches!(s, Source::WebIdentity { .. }));
    for bad in [
        [("AWS_ROLE_ARN", "nope"), ("AWS_ROLE_SESSION_NAME", "ok")],
        [
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            ("AWS_ROLE_SESSION_NAME", "a b"),
        ],
    ] {
        let mut env = vec![("AWS_WEB_IDENTITY_TOKEN_FILE", "/f")];
        env.extend(bad);
        let e = detect_with(&env).unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e}");
    }
    let (s, _) = detect_with(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds")]).unwrap();
    assert!(
        matches!(s, Source::Container { ref url, .. } if url == "http://169.254.170.2/v2/creds")
    );
    let (s, _) = detect_with(&[]).unwrap();
    assert!(matches!(s, Source::Imds { ref endpoint } if endpoint == IMDS_ENDPOINT));
    let (s, _) = detect_with(&[("AWS_EC2_METADATA_DISABLED", "true")]).unwrap();
    assert!(matches!(s, Source::Missing));
}

#[test]
fn profiles_from_files() {
    let dir = std::env::temp_dir().join(format!("cw2m-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let creds = dir.join("credentials");
    let config = dir.join("config");
    std::fs::write(&creds, "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = sdef\n\n[work]\n# comment\naws_access_key_id=AKWORK\naws_secret_access_key = swork\n").unwrap();
    std::fs::write(&config, "[default]\nregion = eu-west-1\n[profile work]\nregion = ap-northeast-1\n[profile sso]\nsso_start_url = https://x\n[profile half]\naws_access_key_id = AKHALF\n").unwrap();
    let files = [
        ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
    ];
    let (s, region) = detect_with(&files).unwrap();
    assert!(matches!(s, Source::Static { ref creds, .. } if creds.access_key_id == "AKDEF"));
    assert_eq!(region.as_deref(), Some("eu-west-1"));
    let mut with = files.to_vec();
    with.push(("AWS_PROFILE", "work"));
    let (s, region) = detect_with(&with).unwrap();
    assert!(matches!(s, Source::Static { ref origin, .. } if origin == "profile work"));
    assert_eq!(region.as_deref(), Some("ap-northeast-1"));
    with.pop();
    with.push(("AWS_PROFILE", "missing"));
    assert!(
        detect_with(&with)
            .unwrap_err()
            .to_string()
            .contains("no such profile")
    );
    with.pop();
    with.push(("AWS_PROFILE", "half"));
    assert!(
        detect_with(&with)
            .unwrap_err()
            .to_string()
            .contains("only one of aws_access_key_id and aws_secret_access_key")
    );
    with.pop();
    with.push(("AWS_PROFILE", "sso"));
    assert!(
        detect_with(&with)
            .unwrap_err()
            .to_string()
            .contains("IAM Identity Center")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn roles_from_profiles() {
    let dir = std::env::temp_dir().join(format!("cw2m-roles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        "[profile base]\naws_access_key_id = AKBASE\naws_secret_access_key = s\n\
         [profile reader]\nrole_arn = arn:aws:iam::123456789012:role/reader\nsource_profile = base\n\
         external_id = ext\nrole_session_name = cron\nduration_seconds = 900\n\
         [profile chained]\nrole_arn = arn:aws:iam::123456789012:role/second\nsource_profile = reader\n\
         [profile self]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = self\n\
         aws_access_key_id = AKSELF\naws_secret_access_key = s\n\
         [profile box]\nrole_arn = arn:aws:iam::123456789012:role/r\ncredential_source = Ec2InstanceMetadata\n\
         [profile envsrc]\nrole_arn = arn:aws:iam::123456789012:role/r\ncredential_source = Environment\n\
         [profile tool]\ncredential_process = /usr/bin/get-creds --json\n\
         [profile loop-a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = loop-b\n\
         [profile loop-b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = loop-a\n\
         [profile both]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\ncredential_source = Environment\n\
         [profile neither]\nrole_arn = arn:aws:iam::1:role/a\n\
         [profile long]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nduration_seconds = 1h\n\
         [profile mfa]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/me\n",
    )
    .unwrap();
    let with = |profile: &str| {
        let map: HashMap<String, String> = [
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ("AWS_PROFILE", profile),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        detect(&move |k| map.get(k).cloned()).map(|(s, _)| s)
    };
    let Source::AssumeRole {
        base,
        role,
        session_name,
        duration,
        ..
    } = with("reader").unwrap()
    else {
        panic!()
    };
    assert_eq!(role.arn, "arn:aws:iam::123456789012:role/reader");
    assert_eq!(role.external_id.as_deref(), Some("ext"));
    assert_eq!((session_name.as_str(), duration), ("cron", 900));
    assert!(matches!(*base, Source::Static { ref creds, .. } if creds.access_key_id == "AKBASE"));
    // A source profile that assumes a role itself is followed.
    let Source::AssumeRole { base, .. } = with("chained").unwrap() else {
        panic!()
    };
    assert!(matches!(*base, Source::AssumeRole { ref role, .. } if role.arn.ends_with("/reader")));
    // A profile that is its own source uses its keys for the role.
    let Source::AssumeRole { base, .. } = with("self").unwrap() else {
        panic!()
    };
    assert!(matches!(*base, Source::Static { ref creds, .. } if creds.access_key_id == "AKSELF"));
    let Source::AssumeRole { base, .. } = with("box").unwrap() else {
        panic!()
    };
    assert!(matches!(*base, Source::Imds { .. }));
    let tool = with("tool").unwrap();
    assert!(
        matches!(tool, Source::Process { ref command, .. } if command == "/usr/bin/get-creds --json")
    );
    for (profile, expect) in [
        ("envsrc", "AWS_ACCESS_KEY_ID is not set"),
        ("loop-a", "loop"),
        ("both", "both source_profile and credential_source"),
        ("neither", "neither source_profile nor credential_source"),
        ("long", "duration_seconds"),
        ("mfa", "MFA"),
    ] {
        let e = with(profile).unwrap_err().to_string();
        assert!(e.contains(expect), "{profile}: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
