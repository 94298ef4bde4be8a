//! The checks every job setting passes, whether it came from the environment or a config file,
//! so both say the same about the same value. Each returns, as a [`Invalid`], the sentence that
//! follows the name of the field at fault.

use super::template::Template;
use crate::fault::Invalid;
use std::time::Duration;

/// Mackerel service names, as its API documents them ("Register Services"): 2 to 63 of
/// `[a-zA-Z0-9_-]`, not starting with `-` or `_`.
pub fn service_name(name: &str) -> Result<(), Invalid> {
    match mackerel_name(name) {
        true => Ok(()),
        false => Err(Invalid::new(format!(
            "{name:?} is not a Mackerel service name ({NAME_RULE})"
        ))),
    }
}

/// `service:role`, each part a Mackerel name: roles follow the services' rule.
pub fn role_fullname(role: &str) -> Result<(), Invalid> {
    match role.split_once(':') {
        Some((svc, r)) if mackerel_name(svc) && mackerel_name(r) => Ok(()),
        Some(_) => Err(Invalid::new(format!(
            "{role:?} is not a role: the service and the role are each {NAME_RULE}"
        ))),
        None => Err(Invalid::new(format!(
            "{role:?} is not a role; write service:role"
        ))),
    }
}

const NAME_RULE: &str = "2 to 63 letters, digits, '-' or '_', starting with a letter or digit";

/// Mackerel's rule for service and role names.
fn mackerel_name(name: &str) -> bool {
    (2..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// CloudWatch periods in seconds, as the model lists them: 1, 5, 10, 20, 30 (high
/// resolution) or a multiple of 60, here up to a day.
pub fn period(seconds: u32) -> Result<(), Invalid> {
    let ok = matches!(seconds, 1 | 5 | 10 | 20 | 30)
        || (seconds >= 60 && seconds.is_multiple_of(60) && seconds <= 86_400);
    match ok {
        true => Ok(()),
        false => Err(Invalid::new(format!(
            "{seconds}s is not a CloudWatch period (1, 5, 10, 20, 30, or a multiple of 60 up to a day)"
        ))),
    }
}

/// CloudFront distribution IDs: capital letters and digits, like `E2QWRUHAPOMQZL`.
pub fn distribution_id(id: &str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    match ok {
        true => Ok(()),
        false => Err(Invalid::new(format!(
            "{id:?} is not a CloudFront distribution ID (capital letters and digits, like E2QWRUHAPOMQZL)"
        ))),
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
pub fn region(r: &str) -> Result<(), Invalid> {
    crate::aws::endpoint::check_region(r)
}

/// Statistics GetMetricData takes that cw2mackerel accepts: the five basic ones and `pNN`.
pub fn stat(s: &str) -> Result<(), Invalid> {
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
    Err(Invalid::new(format!(
        "unknown statistic {s:?} (use Sum, Average, Minimum, Maximum, SampleCount or pNN like p99)"
    )))
}

/// IAM role ARNs: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`, as IAM has them.
pub fn role_arn(arn: &str) -> Result<(), Invalid> {
    crate::aws::keys::check_role_arn(arn)
}

/// The external ID of a role, as STS takes it.
pub fn external_id(id: &str) -> Result<(), Invalid> {
    crate::aws::keys::check_external_id(id)
}

/// The literal text of a metric name template: what Mackerel allows in metric names,
/// `[a-zA-Z0-9._-]` (placeholders are made safe when filled), without two dots in a row or a
/// dot at either end.
pub fn metric_name_text(template: &str, literals: &[&str]) -> Result<(), Invalid> {
    for text in literals {
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(Invalid::new(format!(
                "{template:?} has {c:?}, which Mackerel metric names cannot hold (letters, digits, '.', '_' and '-' only)"
            )));
        }
    }
    if template.contains("..") || template.starts_with('.') || template.ends_with('.') {
        return Err(Invalid::new(format!(
            "{template:?} would make a metric name with an empty part between dots"
        )));
    }
    Ok(())
}

/// The placeholders a CloudFront metric key prefix may hold: each names one distribution.
pub const PREFIX_VARS: [&str; 3] = ["id", "DistributionId", "label"];

/// A CloudFront job's metric key prefix (mackerel-plugin-aws-cloudfront's
/// `-metric-key-prefix`): a template whose placeholders are [`PREFIX_VARS`] and whose text
/// can stand in a metric name. The values always render to `[a-zA-Z0-9_-]`, never empty.
pub fn metric_key_prefix(text: &str) -> Result<Template, Invalid> {
    let t = Template::parse(text.trim())?;
    if let Some(v) = t.vars().find(|v| !PREFIX_VARS.contains(v)) {
        return Err(Invalid::new(format!(
            "{{{v}}} is not a placeholder of the prefix; use {{id}} (the distribution ID) or {{label}}"
        )));
    }
    let literals: Vec<&str> = t.literals().collect();
    metric_name_text(text.trim(), &literals)?;
    Ok(t)
}

/// Whether a prefix renders differently for each distribution.
pub fn prefix_names_one(prefix: &Template) -> bool {
    prefix.vars().any(|v| PREFIX_VARS.contains(&v))
}

/// A prefix for a job whose distributions all post to one place (one host, or one service
/// with plugin names) must tell them apart, unless the job reads one distribution named by
/// its ID (discovery could find more under any other selection).
pub fn prefix_for_one_place(
    text: &str,
    prefix: &Template,
    ids: &[String],
    place: &str,
) -> Result<(), Invalid> {
    match prefix_names_one(prefix) || ids.len() == 1 {
        true => Ok(()),
        false => Err(Invalid::new(format!(
            "{text:?} gives every distribution the same metric names {place}, where their values would overwrite each other; put {{id}} (or {{label}}) in it, or select one distribution by its ID"
        ))),
    }
}

/// A Mackerel host ID, as Mackerel makes them (`2eQGEaLxibb`): letters and digits.
pub fn host_id(id: &str) -> Result<(), Invalid> {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    match ok {
        true => Ok(()),
        false => Err(Invalid::new(format!(
            "{id:?} is not a Mackerel host ID (letters and digits, like 2eQGEaLxibb: the host's page or `mkr hosts` shows it)"
        ))),
    }
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
pub fn tag_key(key: &str) -> Result<(), Invalid> {
    match key.trim().is_empty() {
        true => Err(Invalid::new("a tag key is empty")),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mackerel_names() {
        let long = "n".repeat(63);
        for good in ["cdn", "C1", "cdn_edge-1", "1cdn", long.as_str()] {
            assert_eq!(service_name(good), Ok(()), "{good}");
            assert_eq!(role_fullname(&format!("{good}:{good}")), Ok(()), "{good}");
        }
        let too_long = "n".repeat(64);
        for bad in [
            "c",
            "c d",
            "_cdn",
            "-cdn",
            "cdn.x",
            "ü1",
            too_long.as_str(),
            "",
        ] {
            assert!(service_name(bad).is_err(), "{bad}");
            assert!(role_fullname(&format!("cdn:{bad}")).is_err(), "{bad}");
            assert!(role_fullname(&format!("{bad}:edge")).is_err(), "{bad}");
        }
        assert!(
            role_fullname("edge")
                .unwrap_err()
                .as_str()
                .contains("write service:role")
        );
    }

    #[test]
    fn prefixes() {
        for good in ["cloudfront", "{id}", "cdn.{label}", "cf-{DistributionId}_x"] {
            assert!(metric_key_prefix(good).is_ok(), "{good}");
        }
        for bad in ["", "{domain}", "a b", "x.", ".{id}", "a..{id}", "{id"] {
            assert!(metric_key_prefix(bad).is_err(), "{bad}");
        }
        let one = |t: &str, ids: &[&str]| {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            prefix_for_one_place(t, &metric_key_prefix(t).unwrap(), &ids, "on one host")
        };
        assert!(one("cloudfront", &["E1"]).is_ok());
        assert!(
            one("cloudfront", &[])
                .unwrap_err()
                .as_str()
                .contains("\"cloudfront\" gives")
        );
        assert!(one("cloudfront", &["E1", "E2"]).is_err());
        assert!(one("cf-{label}", &[]).is_ok());
        assert!(host_id("2eQGEaLxibb").is_ok());
        assert!(host_id("").is_err() && host_id("a/b").is_err());
    }

    #[test]
    fn periods() {
        for good in [1, 5, 10, 20, 30, 60, 120, 300, 86_400] {
            assert_eq!(period(good), Ok(()), "{good}");
        }
        for bad in [0, 2, 15, 25, 45, 90, 86_460] {
            assert!(period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks() {
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
