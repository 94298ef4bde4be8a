//! Which source the environment and the shared files pick, profile chains among them: the
//! cases are data, in `fixtures/credential-chain` (its `SOURCE.md` says how they are written).

use super::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Runs detection with `vars` as the whole environment: the source, and the picked profile's
/// region.
fn detect_with(vars: &HashMap<String, String>) -> Result<(Source, Option<String>)> {
    let map = vars.clone();
    let env = move |k: &str| map.get(k).cloned();
    let found = detect(&env, &Shared::load(&env)?)?;
    let region = found
        .profile
        .and_then(|p| p.settings.get("region").cloned());
    Ok((found.source, region))
}

/// What a source is, as the cases name it (`kind`, `access_key_id`, `base.role_arn`, …).
fn facts(s: &Source, prefix: &str, out: &mut BTreeMap<String, String>) {
    let mut put = |k: &str, v: &str| {
        out.insert(format!("{prefix}{k}"), v.to_string());
    };
    match s {
        Source::Static { creds, origin } => {
            put("kind", "static");
            put("access_key_id", &creds.access_key_id);
            put("origin", origin);
            if let Some(t) = &creds.token {
                put("token", t.expose());
            }
        }
        Source::WebIdentity {
            token_file,
            role_arn,
            session_name,
        } => {
            put("kind", "web-identity");
            put("token_file", &token_file.display().to_string());
            put("role_arn", role_arn);
            put("session_name", session_name);
        }
        Source::Container {
            url,
            token,
            token_file,
        } => {
            put("kind", "container");
            put("url", url);
            if let Some(t) = token {
                put("token", t.expose());
            }
            if let Some(f) = token_file {
                put("token_file", &f.display().to_string());
            }
        }
        Source::Imds { endpoint } => {
            put("kind", "imds");
            put("endpoint", endpoint);
        }
        Source::AssumeRole {
            base,
            role,
            session_name,
            duration,
            profile,
        } => {
            put("kind", "assume-role");
            put("role_arn", &role.arn);
            if let Some(x) = &role.external_id {
                put("external_id", x);
            }
            put("session_name", session_name);
            put("duration", &duration.to_string());
            put("profile", profile);
            facts(base, &format!("{prefix}base."), out);
        }
        Source::Process { command, profile } => {
            put("kind", "process");
            put("command", command);
            put("profile", profile);
        }
        Source::Missing => put("kind", "missing"),
    }
}

/// Runs one case; `None` when it came out as the case says, else what went otherwise.
fn run_case(case: &Value, env: &HashMap<String, String>) -> Option<String> {
    let found = detect_with(env);
    if let Some(expect) = case["expect"].as_object() {
        let (source, region) = match found {
            Ok(f) => f,
            Err(e) => return Some(format!("failed: {e}")),
        };
        let mut have = BTreeMap::new();
        facts(&source, "", &mut have);
        if let Some(r) = region {
            have.insert("region".into(), r);
        }
        let wrong: Vec<String> = expect
            .iter()
            .filter(|(k, v)| have.get(*k).map(String::as_str) != v.as_str())
            .map(|(k, v)| format!("{k}: {:?}, not {v}", have.get(k)))
            .collect();
        return (!wrong.is_empty()).then(|| wrong.join("; "));
    }
    let e = match found {
        Ok((source, _)) => return Some(format!("picked {source:?}, not an error")),
        Err(e) => e,
    };
    let says = e.to_string();
    let words = case["error"].as_str().is_none_or(|w| says.contains(w));
    let start = case["error_starts"]
        .as_str()
        .is_none_or(|w| says.starts_with(w));
    let exit = case["exit"]
        .as_u64()
        .is_none_or(|x| x == u64::from(e.exit_code()));
    (!(words && start && exit)).then(|| format!("error {says:?} (exit {})", e.exit_code()))
}

#[test]
fn the_credential_chain_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/credential-chain");
    let tmp = std::env::temp_dir().join(format!("cw2m-chain-{}", std::process::id()));
    let (mut ran, mut wrong) = (0, Vec::new());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for file in &files {
        let doc: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        for (g, group) in doc["groups"].as_array().unwrap().iter().enumerate() {
            let mut base = HashMap::new();
            let stem = file.file_stem().unwrap().to_string_lossy();
            for (key, var) in [
                ("config", "AWS_CONFIG_FILE"),
                ("credentials", "AWS_SHARED_CREDENTIALS_FILE"),
            ] {
                if let Some(text) = group[key].as_str() {
                    let path = tmp.join(format!("{stem}-{g}-{key}"));
                    std::fs::create_dir_all(&tmp).unwrap();
                    std::fs::write(&path, text).unwrap();
                    base.insert(var.to_string(), path.display().to_string());
                }
            }
            let vars = |v: &Value| -> Vec<(String, String)> {
                v.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            };
            base.extend(vars(&group["env"]));
            for case in group["cases"].as_array().unwrap() {
                let mut env = base.clone();
                env.extend(vars(&case["env"]));
                ran += 1;
                if let Some(w) = run_case(case, &env) {
                    let name = case["name"].as_str().unwrap();
                    wrong.push(format!("{}: {name}: {w}", file.display()));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every file was read: an empty or unread directory passes nothing.
    assert!(
        files.len() >= 5 && ran >= 42,
        "{} files, {ran} cases",
        files.len()
    );
}
