//! Time as the tool sees it: whole Unix seconds, ISO 8601 for AWS, and the `90s`/`10m`/`1h`
//! durations of the configuration.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, macros::format_description};

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `2026-11-25T01:02:03Z`, the form AWS query APIs take and log lines show.
pub fn iso8601(secs: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Parses an RFC 3339 timestamp (`2026-11-25T01:02:00Z`, `…00.000Z`, `…+09:00`) to Unix seconds.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Parses `90s`, `10m`, `1h`, `1h30m`. A bare number is refused: the unit must be said.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a duration; write it like 90s, 10m or 1h");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// The inverse of [`parse_duration`] for messages: `1h30m`, `10m`, `90s` → `1m30s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if sec > 0 || out.is_empty() {
        out += &format!("{sec}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "durations and times",
            &[b"1h30m", b"2026-11-25T01:02:00.000+09:00"],
            |b| {
                let s = String::from_utf8_lossy(b);
                let _ = parse_iso8601(&s);
                parse_duration(&s).map_or(0, |_| 1)
            },
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "10", "m", "10x", "1.5m", "-1m", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_iso8601("2026-11-25T01:02:00Z"), Some(1795568520));
        assert_eq!(parse_iso8601("2026-11-25T01:02:00.000Z"), Some(1795568520));
        assert_eq!(parse_iso8601("2026-11-25T10:02:00+09:00"), Some(1795568520));
        assert_eq!(parse_iso8601("yesterday"), None);
    }
}
