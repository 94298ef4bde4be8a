//! Log lines on stderr, text or JSON. The tool is quiet by design: one summary line per run at
//! `info`, problems at `warn`/`error`, each API call at `debug`. Every line passes one
//! redaction step first: each secret the process knows (every [`crate::error::Secret`] made:
//! API key, secret key, session and container tokens, the web identity token) is masked
//! wherever it appears, and so is the userinfo of any URL, whatever a peer echoed back.

use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

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
static SECRETS: Mutex<Known> = Mutex::new(Known {
    live: Vec::new(),
    retired: VecDeque::new(),
});

/// Secrets shorter than this are not masked: they would mask ordinary words.
const SHORTEST_SECRET: usize = 8;
/// Secrets no longer held still masked, the newest first (a peer may echo an old token late).
const MOST_RETIRED: usize = 64;

/// The secrets to mask: every one the process holds, counted by its holders, so a daemon
/// renewing its session token every hour never pushes the API key out; and the last few it
/// let go of.
struct Known {
    live: Vec<(String, usize)>,
    retired: VecDeque<String>,
}

fn known() -> std::sync::MutexGuard<'static, Known> {
    SECRETS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes every later log line mask `value`, until each [`secret`] of it is [`forget`]-ed.
pub fn secret(value: &str) {
    if value.len() < SHORTEST_SECRET {
        return;
    }
    let mut known = known();
    match known.live.iter_mut().find(|(s, _)| s == value) {
        Some((_, holders)) => *holders += 1,
        None => {
            known.retired.retain(|s| s != value);
            known.live.push((value.to_string(), 1));
        }
    }
}

/// One holder of `value` let it go; the last one moves it to the retired few.
pub fn forget(value: &str) {
    let mut known = known();
    let Some(i) = known.live.iter().position(|(s, _)| s == value) else {
        return;
    };
    known.live[i].1 -= 1;
    if known.live[i].1 == 0 {
        let (s, _) = known.live.swap_remove(i);
        if known.retired.len() == MOST_RETIRED {
            known.retired.pop_back();
        }
        known.retired.push_front(s);
    }
}

/// `text` with every known secret and every URL's userinfo masked as `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    let known = known();
    let live = known.live.iter().map(|(s, _)| s);
    for s in live.chain(&known.retired) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    mask_userinfo(&out)
}

/// The start of a peer's answer, fit for a message: masked before it is cut to 200
/// characters, so a secret the cut would split is still masked.
pub fn excerpt(body: &[u8]) -> String {
    // No secret is longer than this, so what lies beyond cannot reach back into the excerpt.
    let head = &body[..body.len().min(200 * 4 + 8192)];
    redact(&String::from_utf8_lossy(head))
        .chars()
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

/// `scheme://user:password@host` → `scheme://***@host`. The userinfo runs to the first `/`,
/// `?`, `#` or space: a quote, even an escaped one, may be part of a password.
fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out += head;
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out += "***";
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out + rest
}

fn redact_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(redact(s)),
        Value::Array(a) => Value::Array(a.iter().map(redact_value).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), redact_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

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
    let fields: Vec<(&str, Value)> = fields.iter().map(|(k, v)| (*k, redact_value(v))).collect();
    let line = render(
        settings().1,
        Some(crate::clock::now()),
        level,
        &redact(msg),
        &fields,
    );
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
    fn secrets_and_userinfo_are_masked() {
        secret("s3cr3t-t0ken-value");
        secret("short");
        assert_eq!(
            redact("token s3cr3t-t0ken-value, not short, http://u:p@h:1/x https://h/y"),
            "token ***, not short, http://***@h:1/x https://h/y"
        );
        assert_eq!(
            redact(r#"proxy "http://user:pa\"ss@proxy:3128" refused"#),
            r#"proxy "http://***@proxy:3128" refused"#
        );
        assert_eq!(
            redact_value(&serde_json::json!({"a": ["xs3cr3t-t0ken-value"]})),
            serde_json::json!({"a": ["x***"]})
        );
    }

    #[test]
    fn an_excerpt_is_masked_before_it_is_cut() {
        secret("excerpt-secret-value");
        let body = format!("{}excerpt-secret-value", "x".repeat(190));
        assert_eq!(excerpt(body.as_bytes()), format!("{}***", "x".repeat(190)));
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
