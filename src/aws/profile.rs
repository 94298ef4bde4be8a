//! The shared AWS files, `~/.aws/config` and `~/.aws/credentials` (or `AWS_CONFIG_FILE` and
//! `AWS_SHARED_CREDENTIALS_FILE`, a leading `~` expanded), read from disk only and parsed by
//! the rules of the AWS SDKs' shared profile-file suite (`profile-parser-tests.json`, run
//! whole by the tests). Where botocore reads a file otherwise, the suite's rule holds, and a
//! line the suite refuses is an error, never dropped:
//! - `name: value` is refused (botocore alone takes it as a property; the other SDKs fail);
//! - ` # comment` after a value ends the value (botocore keeps it in the value);
//! - `[profile default]` in the config file wins over `[default]` (botocore takes the later).
//!
//! Each profile keeps the keys of each file apart, because botocore takes the credentials
//! file's keys, a `credential_process` and the config file's keys in that order.

use crate::error::{Error, Result};
use crate::files;
use std::path::PathBuf;

/// A shared file larger than this is not read.
const FILE_LIMIT: u64 = 1 << 20;

/// The only whitespace of the format.
const BLANK: [char; 2] = [' ', '\t'];

/// Values by name, in the order first set, a later value replacing an earlier one. (A short
/// list: the files hold a few dozen names, and a map would cost the binary more.)
#[derive(Clone, Debug, PartialEq)]
pub struct Named<T>(Vec<(String, T)>);

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named(Vec::new())
    }
}

impl<T: Default> Named<T> {
    /// The value of `name`, made empty if there was none.
    pub fn entry(&mut self, name: &str) -> &mut T {
        let i = match self.0.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.0.push((name.to_string(), T::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
}

impl<T> Named<T> {
    pub fn get(&self, name: &str) -> Option<&T> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn insert(&mut self, name: String, value: T) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.0.iter().map(|(n, v)| (n, v))
    }
}

impl<T> Extend<(String, T)> for Named<T> {
    fn extend<I: IntoIterator<Item = (String, T)>>(&mut self, items: I) {
        for (n, v) in items {
            self.insert(n, v);
        }
    }
}

impl<T> FromIterator<(String, T)> for Named<T> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(items: I) -> Self {
        let mut out = Named::default();
        out.extend(items);
        out
    }
}

/// Tests only look up what they know is there.
#[cfg(test)]
impl<T> std::ops::Index<&str> for Named<T> {
    type Output = T;
    fn index(&self, name: &str) -> &T {
        match self.get(name) {
            Some(v) => v,
            None => panic!("no {name:?}"),
        }
    }
}

/// A section's `name = value` settings, names lower-cased.
pub type Section = Named<String>;

/// One profile: its settings in the config file and in the credentials file.
#[derive(Clone, Default)]
pub struct Profile {
    pub config: Section,
    pub credentials: Section,
}

impl Profile {
    /// The setting `key`, the credentials file's winning over the config file's.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.credentials
            .get(key)
            .or_else(|| self.config.get(key))
            .map(String::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Both files' settings in one, the credentials file's winning.
    pub fn merged(&self) -> Section {
        let mut all = self.config.clone();
        all.extend(self.credentials.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }
}

/// Everything the two files define.
#[derive(Default)]
pub struct Shared {
    pub profiles: Named<Profile>,
    /// `[sso-session NAME]` sections (only to recognise, and refuse, IAM Identity Center).
    pub sso_sessions: Named<Section>,
    /// `[services NAME]` sections: per-service settings such as `endpoint_url`.
    pub services: Named<Section>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Config,
    Credentials,
}

impl Shared {
    /// Reads both files; a missing file is an empty one, an unreadable or malformed one an
    /// error naming the file and line.
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Shared> {
        let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let home = var("HOME").map(PathBuf::from);
        let mut shared = Shared::default();
        for (variable, default, kind) in [
            ("AWS_CONFIG_FILE", "config", Kind::Config),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "credentials",
                Kind::Credentials,
            ),
        ] {
            let path = match var(variable) {
                Some(p) => Some(
                    expand_home(p.trim(), home.as_ref())
                        .map_err(|e| Error::config(format!("{variable}: {e}")))?,
                ),
                None => home.as_ref().map(|h| h.join(".aws").join(default)),
            };
            let Some(path) = path else { continue };
            let text = match files::read_text(&path, FILE_LIMIT) {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::config(format!("reading {}: {e}", path.display()))),
            };
            shared
                .add(&text, kind)
                .map_err(|e| Error::config(format!("{}: {e}", path.display())))?;
        }
        Ok(shared)
    }

    /// The profiles of a config file's and a credentials file's text.
    #[cfg(test)]
    pub fn parse(config: &str, credentials: &str) -> Result<Shared, String> {
        let mut shared = Shared::default();
        shared.add(config, Kind::Config)?;
        shared.add(credentials, Kind::Credentials)?;
        Ok(shared)
    }

    /// Adds one file's sections. In the config file, a profile is `[profile NAME]` or
    /// `[default]`; in the credentials file, `[NAME]`. Sections with names outside the
    /// format's characters are not profiles, as in every SDK.
    fn add(&mut self, text: &str, kind: Kind) -> Result<(), String> {
        let sections = sections(text)?;
        // `[profile default]` wins over `[default]` wherever either stands.
        let prefixed_default = kind == Kind::Config
            && sections
                .iter()
                .any(|(h, _)| prefixed(h, "profile") == Some("default"));
        for (header, props) in sections {
            let props = props.into_iter().filter(|(k, _)| identifier(k));
            let header = header.trim_matches(BLANK);
            let (target, name) = match kind {
                Kind::Credentials => (&mut self.profiles, header),
                Kind::Config if header == "default" && prefixed_default => continue,
                Kind::Config if header == "default" => (&mut self.profiles, header),
                Kind::Config => match (
                    prefixed(header, "profile"),
                    prefixed(header, "sso-session"),
                    prefixed(header, "services"),
                ) {
                    (Some(name), _, _) => (&mut self.profiles, name),
                    (_, Some(name), _) => {
                        if identifier(name) {
                            self.sso_sessions.entry(name).extend(props);
                        }
                        continue;
                    }
                    (_, _, Some(name)) => {
                        if identifier(name) {
                            self.services.entry(name).extend(props);
                        }
                        continue;
                    }
                    _ => continue,
                },
            };
            if !identifier(name) {
                continue;
            }
            let profile = target.entry(name);
            match kind {
                Kind::Config => profile.config.extend(props),
                Kind::Credentials => profile.credentials.extend(props),
            }
        }
        Ok(())
    }
}

/// `NAME` of a `PREFIX NAME` header (blanks between them), if the header is one.
fn prefixed<'a>(header: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = header.trim_matches(BLANK).strip_prefix(prefix)?;
    rest.starts_with(BLANK).then(|| rest.trim_matches(BLANK))
}

/// Profile, section and property names: letters, digits and `-/.%@_:+`.
fn identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-/.%@_:+".contains(c))
}

/// `~` or `~/…` with `HOME`, as botocore's `expanduser` does; `~user` is refused rather than
/// looked up.
fn expand_home(path: &str, home: Option<&PathBuf>) -> Result<PathBuf, String> {
    let rest = match path.strip_prefix('~') {
        None => return Ok(PathBuf::from(path)),
        Some(rest) => rest,
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return Err(format!(
            "{path:?}: only a leading ~ or ~/ is expanded; write the whole path"
        ));
    }
    let home = home.ok_or_else(|| format!("{path:?} starts with ~, but HOME is not set"))?;
    Ok(home.join(rest.trim_start_matches('/')))
}

/// A section as written: its header (between the brackets) and its properties in order.
type Raw = (String, Vec<(String, String)>);

/// A file's sections in order: the header between the brackets, and its properties. Errors
/// name the line but never show it (it may hold a secret key).
fn sections(text: &str) -> Result<Vec<Raw>, String> {
    let mut out: Vec<Raw> = Vec::new();
    // The property continuation lines add to, and whether it opened a block of
    // sub-properties (`name =` with nothing after it).
    let mut open: Option<(usize, bool)> = None;
    for (n, line) in text.lines().enumerate() {
        let fail = |what: &str| Err(format!("line {}: {what}", n + 1));
        if line.trim_matches(BLANK).is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if line.starts_with('[') {
            // A comment may follow the header directly: `[default]# note`.
            let header = line.split(['#', ';']).next().unwrap_or_default();
            let Some(name) = header
                .trim_matches(BLANK)
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
            else {
                return fail("a section header without its closing ]");
            };
            out.push((name.to_string(), Vec::new()));
            open = None;
            continue;
        }
        let Some((_, props)) = out.last_mut() else {
            return fail("a setting before the first [section] header");
        };
        if line.starts_with(BLANK) {
            // An indented line continues the property above it.
            let Some((i, sub)) = open else {
                return fail("an indented line that continues no property");
            };
            let line = line.trim_matches(BLANK);
            if sub {
                property(line).map_err(|e| format!("line {}: {e} (a sub-property)", n + 1))?;
            }
            props[i].1.push('\n');
            props[i].1.push_str(line);
            continue;
        }
        let (key, value) = property(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        open = Some((props.len(), value.is_empty()));
        props.push((key, value));
    }
    Ok(out)
}

/// `name = value`, with a ` #` or ` ;` comment after it dropped; the name lower-cased.
fn property(line: &str) -> Result<(String, String), String> {
    let line = line.trim_matches(BLANK);
    let mut end = line.len();
    let mut after_blank = false;
    for (i, c) in line.char_indices() {
        if after_blank && (c == '#' || c == ';') {
            end = i;
            break;
        }
        after_blank = c.is_whitespace();
    }
    let Some((name, value)) = line[..end].split_once('=') else {
        return Err(match line.contains(':') {
            true => "not `name = value`: the AWS SDKs read `name: value` as an error (botocore alone takes it), so write `=`".into(),
            false => "not `name = value`".into(),
        });
    };
    let name = name.trim_matches(BLANK);
    if name.is_empty() {
        return Err("a setting without a name before its =".into());
    }
    Ok((
        name.to_ascii_lowercase(),
        value.trim_matches(BLANK).to_string(),
    ))
}

/// The `name = value` lines of a value made of sub-properties (`[services]` entries):
/// `cloudwatch =` followed by indented `endpoint_url = …`.
pub fn sub_properties(value: &str) -> Option<Section> {
    if !value.starts_with('\n') {
        return None;
    }
    value
        .lines()
        .filter(|l| !l.trim_matches(BLANK).is_empty())
        .map(|l| property(l).ok())
        .collect()
}

/// The selected profile's settings other than secrets (the region, endpoints, IMDS and SDK
/// settings come from here), and the `[services NAME]` section its `services` names, if the
/// config file has it.
pub struct Selected {
    pub name: String,
    pub settings: Section,
    pub services: Option<(String, Option<Section>)>,
}

impl Selected {
    pub fn new(name: &str, profile: &Profile, shared: &Shared) -> Selected {
        let mut settings = profile.merged();
        for secret in [
            "aws_secret_access_key",
            "aws_session_token",
            "aws_security_token",
        ] {
            settings.remove(secret);
        }
        let services = settings
            .get("services")
            .map(|s| (s.clone(), shared.services.get(s).cloned()));
        Selected {
            name: name.to_string(),
            settings,
            services,
        }
    }

    /// A non-empty setting, with what to call it in a message.
    pub fn setting(&self, key: &str) -> Option<(String, String)> {
        self.settings
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| (v.clone(), format!("profile {:?}: {key}", self.name)))
    }
}

/// Names only: the values stay out of debug output.
impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("name", &self.name)
            .field(
                "settings",
                &self.settings.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
