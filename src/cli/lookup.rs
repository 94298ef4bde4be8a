//! Where a setting's value comes from: the option (the last one given; repeated `--tag`s add
//! up), else the first non-empty environment variable, else the default. Every value keeps the
//! name of its source, so a message about it names what the user actually set.

use super::settings::{self, Setting};
use crate::clock::parse_duration;
use crate::error::{Error, Result};
use std::time::Duration;

/// A value and where it came from: `--flag` or the environment variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub value: String,
    pub from: String,
}

impl Given {
    /// A configuration error about this value: `<source>: <msg>`.
    pub fn error(&self, msg: impl std::fmt::Display) -> Error {
        Error::config(format!("{}: {msg}", self.from))
    }
}

pub struct Lookup<'e> {
    pub options: &'e [(&'static Setting, String)],
    pub env: &'e dyn Fn(&str) -> Option<String>,
}

impl Lookup<'_> {
    /// The value given for `setting`, by option or environment; `None` if neither.
    pub fn get(&self, setting: &Setting) -> Option<Given> {
        let given: Vec<&str> = self
            .options
            .iter()
            .filter(|(s, _)| s.flag == setting.flag)
            .map(|(_, v)| v.as_str())
            .collect();
        if let Some(last) = given.last() {
            // Repeating an option appends for lists (`--tag a=b --tag c=d`) and otherwise the
            // last one wins, as with most tools.
            let value = match setting.flag == settings::TAG.flag {
                true => given.join(","),
                false => last.to_string(),
            };
            return Some(Given {
                value,
                from: format!("--{}", setting.flag),
            });
        }
        setting.envs.iter().find_map(|name| {
            (self.env)(name)
                .filter(|v| !v.trim().is_empty())
                .map(|value| Given {
                    value,
                    from: (*name).to_string(),
                })
        })
    }

    /// The value given, or the setting's default (named by its option).
    pub fn or_default(&self, setting: &Setting) -> Given {
        // A default is named by its variable, the usual way to change it.
        self.get(setting).unwrap_or_else(|| Given {
            value: setting.default.to_string(),
            from: setting
                .envs
                .first()
                .map_or_else(|| format!("--{}", setting.flag), |e| e.to_string()),
        })
    }

    /// A duration setting with its source; unparsable text names the source.
    pub fn duration(&self, setting: &Setting) -> Result<(Duration, Given)> {
        let given = self.or_default(setting);
        let d = parse_duration(&given.value).map_err(|e| given.error(e))?;
        Ok((d, given))
    }
}

/// `A`, `A and B`, `A, B and C`: names in a sentence.
pub fn and_list(names: &[impl AsRef<str>]) -> String {
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// `true`/`false` (and `1`/`0`, `yes`/`no`).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}
