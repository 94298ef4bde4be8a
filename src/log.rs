//! Log lines on stderr, text or JSON. The tool is quiet by design: one summary line per run at
//! `info`, problems at `warn`/`error`, each API call at `debug`. Callers pass only values that
//! are safe to print; secrets are kept in [`crate::error::Secret`], which cannot be logged.

use serde_json::{Map, Value};
use std::io::Write;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

static SETTINGS: OnceLock<(Level, Format)> = OnceLock::new();

/// Sets level and format once, at start; until then `info` and text apply.
pub fn init(level: Level, format: Format) {
    let _ = SETTINGS.set((level, format));
}

fn settings() -> (Level, Format) {
    *SETTINGS.get().unwrap_or(&(Level::Info, Format::Text))
}

pub fn enabled(level: Level) -> bool {
    level <= settings().0
}

fn emit(level: Level, msg: &str, fields: &[(&str, Value)]) {
    if !enabled(level) {
        return;
    }
    let line = render(settings().1, Some(crate::clock::now()), level, msg, fields);
    // A closed stderr must not turn a good run into a panic.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub fn error(msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Error, msg, fields)
}

pub fn warn(msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Warn, msg, fields)
}

pub fn info(msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Info, msg, fields)
}

pub fn debug(msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Debug, msg, fields)
}

/// One line: `2026-11-25T01:02:03Z INFO msg key=value …`, or one JSON object with `time`,
/// `level`, `msg` and the fields, ready for CloudWatch Logs Insights. Without `now` the
/// time is left out (a line rendered ahead of when it is written).
pub fn render(
    format: Format,
    now: Option<i64>,
    level: Level,
    msg: &str,
    fields: &[(&str, Value)],
) -> String {
    let time = now.map(crate::clock::iso8601);
    match format {
        Format::Json => {
            let mut obj = Map::new();
            if let Some(time) = &time {
                obj.insert("time".into(), time.as_str().into());
            }
            obj.insert("level".into(), level.name().into());
            obj.insert("msg".into(), msg.into());
            for (k, v) in fields {
                obj.insert((*k).into(), v.clone());
            }
            Value::Object(obj).to_string()
        }
        Format::Text => {
            let mut line = format!("{} {msg}", level.name().to_ascii_uppercase());
            if let Some(time) = time {
                line = format!("{time} {line}");
            }
            for (k, v) in fields {
                push_text(&mut line, k, v);
            }
            line
        }
    }
}

fn push_text(line: &mut String, key: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                push_text(line, &format!("{key}.{k}"), v);
            }
        }
        Value::String(s) if !s.is_empty() && !s.contains([' ', '"', '=']) => {
            *line += &format!(" {key}={s}");
        }
        Value::String(s) => *line += &format!(" {key}={}", Value::from(s.as_str())),
        other => *line += &format!(" {key}={other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_line() {
        let line = render(
            Format::Text,
            Some(0),
            Level::Info,
            "run ok",
            &[
                ("distributions", json!(3)),
                ("calls", json!({"cloudwatch": 1, "mackerel": 2})),
                ("reason", json!("two words")),
            ],
        );
        assert_eq!(
            line,
            "1970-01-01T00:00:00Z INFO run ok distributions=3 calls.cloudwatch=1 calls.mackerel=2 reason=\"two words\""
        );
    }

    #[test]
    fn json_line() {
        let line = render(Format::Json, Some(0), Level::Warn, "m", &[("n", json!(1))]);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({"time": "1970-01-01T00:00:00Z", "level": "warn", "msg": "m", "n": 1})
        );
    }
}
