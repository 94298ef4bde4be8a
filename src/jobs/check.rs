//! The checks every job setting passes, whether it came from the environment or a config file,
//! so both say the same about the same value. Each returns the sentence that follows the name
//! of the field at fault.

use std::time::Duration;

/// Mackerel service names: 2 to 63 of `[a-zA-Z0-9_-]`.
pub fn service_name(name: &str) -> Result<(), String> {
    let ok = (2..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{name:?} is not a Mackerel service name (2 to 63 letters, digits, '-' or '_')"
        )),
    }
}

/// `service:role` as Mackerel allows it: `[A-Za-z0-9][A-Za-z0-9_-]+` on each side.
pub fn role_fullname(role: &str) -> Result<(), String> {
    let part = |s: &str| {
        s.len() >= 2
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match role.split_once(':') {
        Some((svc, r)) if part(svc) && part(r) => Ok(()),
        _ => Err(format!("{role:?} is not a role; write service:role")),
    }
}

/// CloudFront distribution IDs: capital letters and digits, like `E2QWRUHAPOMQZL`.
pub fn distribution_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{id:?} is not a CloudFront distribution ID (capital letters and digits, like E2QWRUHAPOMQZL)"
        )),
    }
}

/// Each value once, in the order first given: a repeated distribution ID reads it once.
pub fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for v in list {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// AWS regions, as the AWS layer checks them.
pub fn region(r: &str) -> Result<(), String> {
    crate::aws::endpoint::check_region(r)
}

/// Statistics GetMetricData takes that cw2mackerel accepts: the five basic ones and `pNN`.
pub fn stat(s: &str) -> Result<(), String> {
    const BASIC: [&str; 5] = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"];
    if BASIC.contains(&s) {
        return Ok(());
    }
    // pNN or pNN.N…: a percentile from 0 to 100, in plain digits.
    if let Some(n) = s.strip_prefix('p') {
        let (whole, frac) = n.split_once('.').unwrap_or((n, "0"));
        let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        if digits(whole)
            && digits(frac)
            && whole.len() <= 3
            && n.parse::<f64>().is_ok_and(|v| v <= 100.0)
        {
            return Ok(());
        }
    }
    Err(format!(
        "unknown statistic {s:?} (use Sum, Average, Minimum, Maximum, SampleCount or pNN like p99)"
    ))
}

/// IAM role ARNs: `arn:PARTITION:iam::ACCOUNT:role/NAME`.
pub fn role_arn(arn: &str) -> Result<(), String> {
    crate::aws::keys::check_role_arn(arn)
}

/// The literal text of a metric name template: what Mackerel allows in metric names,
/// `[a-zA-Z0-9._-]` (placeholders are made safe when filled), without two dots in a row or a
/// dot at either end.
pub fn metric_name_text(template: &str, literals: &[&str]) -> Result<(), String> {
    for text in literals {
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "{template:?} has {c:?}, which Mackerel metric names cannot hold (letters, digits, '.', '_' and '-' only)"
            ));
        }
    }
    if template.contains("..") || template.starts_with('.') || template.ends_with('.') {
        return Err(format!(
            "{template:?} would make a metric name with an empty part between dots"
        ));
    }
    Ok(())
}

/// How long CloudWatch keeps data at `period` seconds, and that said in words (the API
/// reference, GetMetricData: under 60 s for 3 hours, 60 s for 15 days, 300 s for 63 days,
/// 3600 s for 455 days). A period between those needs the finer data, so it is kept as long
/// as the finest period it is a multiple of. A window reaching further back comes back empty,
/// and a sum would be zero-filled over what Mackerel holds.
pub fn retention(period: u32) -> (Duration, &'static str) {
    const DAY: u64 = 86_400;
    match period {
        p if p < 60 => (Duration::from_secs(3 * 3600), "3h"),
        p if p.is_multiple_of(3600) => (Duration::from_secs(455 * DAY), "455 days"),
        p if p.is_multiple_of(300) => (Duration::from_secs(63 * DAY), "63 days"),
        _ => (Duration::from_secs(15 * DAY), "15 days"),
    }
}

/// A tag filter's key: anything but empty.
pub fn tag_key(key: &str) -> Result<(), String> {
    match key.trim().is_empty() {
        true => Err("a tag key is empty".into()),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(service_name("cdn").is_ok() && service_name("c d").is_err());
        assert!(service_name("c").is_err());
        assert!(role_fullname("cdn:edge").is_ok());
        for bad in ["edge", "c:-x", "cdn:e", ":x"] {
            assert!(role_fullname(bad).is_err(), "{bad}");
        }
        assert!(distribution_id("E2QWRUHAPOMQZL").is_ok());
        assert!(distribution_id("e1").is_err() && distribution_id("").is_err());
        assert_eq!(
            dedup(vec!["E1".into(), "E2".into(), "E1".into()]),
            ["E1", "E2"]
        );
        assert!(region("eu-west-1").is_ok());
        for bad in ["Tokyo", "mars-1", "eu--1", "us-east-1@x"] {
            assert!(region(bad).is_err(), "{bad}");
        }
        for good in ["p99", "p99.9", "p0", "p100", "p50.25", "SampleCount"] {
            assert!(stat(good).is_ok(), "{good}");
        }
        for bad in [
            "avg", "p", "p101", "P99", "sum", "p-1", "p1e1", "p+5", "p.5", "p5.", "pinf", "p0100",
        ] {
            assert!(stat(bad).is_err(), "{bad}");
        }
        assert!(role_arn("arn:aws:iam::123456789012:role/r").is_ok());
        assert!(role_arn("arn:aws:iam::1:user/x").is_err());
        assert!(tag_key(" ").is_err());
        let kept = |p| retention(p).0.as_secs();
        assert_eq!(
            [
                kept(1),
                kept(30),
                kept(60),
                kept(120),
                kept(300),
                kept(900),
                kept(3600),
                kept(86_400)
            ],
            [
                10_800, 10_800, 1_296_000, 1_296_000, 5_443_200, 5_443_200, 39_312_000, 39_312_000
            ]
        );
    }
}
