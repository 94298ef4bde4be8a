//! The shared AWS files, `~/.aws/config` and `~/.aws/credentials` (or `AWS_CONFIG_FILE`,
//! `AWS_SHARED_CREDENTIALS_FILE`): a named profile's settings, read from disk only.

use crate::error::{Error, Result};
use crate::files;
use std::collections::HashMap;
use std::path::PathBuf;

/// A shared file larger than this is not read.
const FILE_LIMIT: u64 = 1 << 20;

/// A profile's `key = value` settings, keys lower-cased.
pub type Profile = HashMap<String, String>;

/// The named profile's settings, merged from the config file (`[profile name]`, or
/// `[default]`) and the credentials file (`[name]`), which wins. `None` if neither has it.
pub fn load(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<Profile>> {
    let home = env("HOME").filter(|h| !h.is_empty());
    let path = |var: &str, default: &str| -> Option<PathBuf> {
        env(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                home.as_ref()
                    .map(|h| PathBuf::from(h).join(".aws").join(default))
            })
    };
    let read = |p: Option<PathBuf>| -> Result<Option<String>> {
        let Some(p) = p else { return Ok(None) };
        match files::read_text(&p, FILE_LIMIT) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::config(format!("reading {}: {e}", p.display()))),
        }
    };
    let config_section = if name == "default" {
        "default".to_string()
    } else {
        format!("profile {name}")
    };
    let section = |p: Option<PathBuf>, wanted: &str| -> Result<Option<Profile>> {
        let Some(text) = read(p.clone())? else {
            return Ok(None);
        };
        ini_section(&text, wanted).map_err(|e| {
            let p = p.unwrap_or_default();
            Error::config(format!("{}: {e}", p.display()))
        })
    };
    let mut found = section(path("AWS_CONFIG_FILE", "config"), &config_section)?;
    if let Some(creds) = section(path("AWS_SHARED_CREDENTIALS_FILE", "credentials"), name)? {
        found.get_or_insert_with(HashMap::new).extend(creds);
    }
    Ok(found)
}

/// One `[section]` of an AWS ini file: `key = value` lines, `#`/`;` comments. A line that
/// opens a section header without closing it is an error, as botocore's parser makes it.
fn ini_section(text: &str, wanted: &str) -> std::result::Result<Option<Profile>, String> {
    let mut current: Option<bool> = None;
    let mut out: Option<HashMap<String, String>> = None;
    for (n, line) in text.lines().map(str::trim).enumerate() {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && !line.ends_with(']') {
            return Err(format!(
                "line {}: a section header without its closing ]",
                n + 1
            ));
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let is = section.split_whitespace().collect::<Vec<_>>().join(" ") == wanted;
            current = Some(is);
            if is {
                out.get_or_insert_with(HashMap::new);
            }
            continue;
        }
        if current == Some(true)
            && let Some((k, v)) = line.split_once('=')
        {
            out.get_or_insert_with(HashMap::new)
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "profiles",
            &[b"[default]\nregion = eu-west-1\n# c\n[profile work]\naws_access_key_id = A\nrole_arn=arn:aws:iam::1:role/r\n"],
            |b| {
                let text = String::from_utf8_lossy(b);
                ini_section(&text, "profile work").map_or(0, |p| p.map_or(1, |p| p.len()))
            },
        );
    }

    #[test]
    fn sections_keys_and_comments() {
        let text = "[default]\nregion = eu-west-1\n# c\n; c\n[profile  work]\nAWS_Access_Key_Id=A\nx = a = b\n";
        let section = |wanted| ini_section(text, wanted).unwrap();
        assert_eq!(section("default").unwrap()["region"], "eu-west-1");
        let work = section("profile work").unwrap();
        assert_eq!(
            (work["aws_access_key_id"].as_str(), work["x"].as_str()),
            ("A", "a = b")
        );
        assert!(section("other").is_none());
        assert_eq!(
            ini_section("[default]\nregion = x\n[work\n", "default"),
            Err("line 3: a section header without its closing ]".into())
        );
    }
}
