//! Time as the tool sees it: whole Unix seconds, ISO 8601 for AWS, and the `90s`/`10m`/`1h`
//! durations of the configuration.

use crate::fault::Invalid;
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
    let s = s.trim();
    fast_utc(s).or_else(|| {
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    })
}

/// An HTTP `Date` (`Wed, 25 Nov 2026 01:02:03 GMT`, RFC 9110's IMF-fixdate, the only form
/// AWS sends) to Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// `2026-11-25T01:02:03Z` (or with `.000` before the `Z`), the form CloudWatch answers
/// hundreds of thousands of times a cycle, without the general parser. Anything else: `None`.
fn fast_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let rest = b.get(19..)?;
    if rest != b"Z" && rest != b".000Z" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    if [4, 7].iter().any(|&i| b[i] != b'-') || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m)
        || d < 1
        || d > month_days[(m - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Parses `90s`, `10m`, `1h`, `1h30m`. A bare number is refused: the unit must be said.
pub fn parse_duration(s: &str) -> Result<Duration, Invalid> {
    let s = s.trim();
    let bad = || {
        Invalid::new(format!(
            "{s:?} is not a duration; write it like 90s, 10m or 1h"
        ))
    };
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
                let _ = parse_http_date(&s);
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
        assert_eq!(
            parse_http_date("Wed, 25 Nov 2026 01:02:00 GMT"),
            Some(1795568520)
        );
        for bad in [
            "25 Nov 2026 01:02:00 GMT",
            "Wed, 25 Nov 2026 01:02:00 +0900",
            "",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
        // The fast path agrees with the general parser.
        for s in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2024-12-31T12:00:00.000Z",
            "2026-11-25T01:02:00Z",
            "2100-03-01T00:00:00Z",
        ] {
            let general = OffsetDateTime::parse(s, &Rfc3339).unwrap().unix_timestamp();
            assert_eq!(fast_utc(s), Some(general), "{s}");
        }
        for s in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25 01:02:00Z",
        ] {
            assert_eq!(fast_utc(s), None, "{s}");
        }
    }
}
