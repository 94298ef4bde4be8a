//! Jobs: what to read and where it goes. The environment alone describes one CloudFront job;
//! a JSON file (`--config`, `CW2MACKEREL_CONFIG`) describes any number, for CloudFront or any
//! CloudWatch namespace. Every mistake in the file is reported with the path of the field at
//! fault (`jobs[2].metrics[0].stat: unknown statistic "avg"`), before any network call.

use crate::clock::parse_duration;
use crate::cloudfront::{Group, Label};
use serde_json::{Map, Value};
use std::time::Duration;

/// An IAM role assumed (STS AssumeRole) to read another account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Role {
    pub arn: String,
    pub external_id: Option<String>,
}

/// Where a job's points go in Mackerel.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Service metrics of this service (empty only for a dry run without a service).
    Service(String),
    Host(HostTarget),
}

/// One Mackerel host per resource, found by a customIdentifier made from a template.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTarget {
    /// Required for namespace jobs; the CloudFront preset uses the distribution ARN.
    pub custom_identifier: Option<Template>,
    /// Host name; defaults to the customIdentifier (CloudFront: the domain name).
    pub name: Option<Template>,
    /// Defaults to the name (CloudFront: the label's text).
    pub display_name: Option<Template>,
    pub roles: Vec<String>,
    pub retire_gone: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CloudFrontJob {
    pub name: String,
    pub distributions: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub groups: Vec<Group>,
    pub label: Label,
    pub target: Target,
    pub role: Option<Role>,
}

/// A metric of a namespace job, with one statistic.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSpec {
    pub name: String,
    pub stat: String,
    /// Post 0 for a settled period without data (counts and sums only, as a rule).
    pub nil_to_zero: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricsJob {
    pub name: String,
    pub regions: Vec<String>,
    pub namespace: String,
    pub period: u32,
    /// A metric matches when its dimension names are exactly these and every value matches.
    pub dimensions: Vec<(String, Pattern)>,
    pub tags: Vec<(String, String)>,
    pub metrics: Vec<MetricSpec>,
    pub target: Target,
    pub name_template: Template,
    pub role: Option<Role>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    CloudFront(CloudFrontJob),
    Metrics(MetricsJob),
}

impl Job {
    pub fn name(&self) -> &str {
        match self {
            Job::CloudFront(j) => &j.name,
            Job::Metrics(j) => &j.name,
        }
    }

    pub fn target(&self) -> &Target {
        match self {
            Job::CloudFront(j) => &j.target,
            Job::Metrics(j) => &j.target,
        }
    }
}

/// `{name}` placeholders in literal text. Values put in are made safe for Mackerel names.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Var(String),
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if rest[..open].contains('}') {
                return Err(format!("{s:?} has a '}}' without '{{'"));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("{s:?} has a '{{' without '}}'"))?
                + open;
            let var = &rest[open + 1..close];
            if var.is_empty() || var.contains('{') {
                return Err(format!("{s:?} has an empty or nested placeholder"));
            }
            parts.push(Part::Var(var.to_string()));
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("{s:?} has a '}}' without '{{'"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if parts.is_empty() {
            return Err("the template is empty".into());
        }
        Ok(Template { parts })
    }

    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Fills the placeholders; with `safe`, every value's characters outside
    /// `[a-zA-Z0-9_-]` become `_` (a dot would split a Mackerel graph).
    pub fn render(&self, value: &dyn Fn(&str) -> Option<String>, safe: bool) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out += t,
                Part::Var(v) => {
                    let v = value(v).unwrap_or_default();
                    if safe {
                        out.extend(v.chars().map(|c| {
                            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                                c
                            } else {
                                '_'
                            }
                        }));
                    } else {
                        out += &v;
                    }
                }
            }
        }
        out
    }
}

/// An exact value or a glob (`*` any run of characters, `?` one character).
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern(String);

impl Pattern {
    pub fn new(p: &str) -> Pattern {
        Pattern(p.to_string())
    }

    pub fn matches(&self, value: &str) -> bool {
        glob(self.0.as_bytes(), value.as_bytes())
    }
}

fn glob(p: &[u8], v: &[u8]) -> bool {
    // Iterative matcher with one backtrack point per `*`: linear enough for dimension values.
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Statistics GetMetricData takes that cw2mackerel accepts: the five basic ones and `pNN`.
pub fn check_stat(s: &str) -> Result<(), String> {
    const BASIC: [&str; 5] = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"];
    if BASIC.contains(&s) {
        return Ok(());
    }
    if let Some(n) = s.strip_prefix('p')
        && n.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v))
        && !n.starts_with(['+', '-'])
    {
        return Ok(());
    }
    Err(format!(
        "unknown statistic {s:?} (use Sum, Average, Minimum, Maximum, SampleCount or pNN like p99)"
    ))
}

/// What a config file holds.
#[derive(Debug)]
pub struct File {
    pub jobs: Vec<Job>,
    /// Daemon: how long ListMetrics answers are reused.
    pub discovery_ttl: Duration,
}

pub const DEFAULT_DISCOVERY_TTL: Duration = Duration::from_secs(600);

/// Parses and checks a config file's text.
pub fn parse_file(text: &str) -> Result<File, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let root = Obj::new(&root, "")?;
    root.known(&["jobs", "discovery_ttl"])?;
    let discovery_ttl = match root.opt_str("discovery_ttl")? {
        Some(s) => parse_duration(&s).map_err(|e| root.err("discovery_ttl", &e))?,
        None => DEFAULT_DISCOVERY_TTL,
    };
    let list = root.array("jobs")?;
    if list.is_empty() {
        return Err(root.err("jobs", "no job in the list"));
    }
    let mut jobs: Vec<Job> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let job = Obj::new(v, &format!("jobs[{i}]"))?;
        let parsed = if job.map.contains_key("preset") {
            cloudfront_job(&job)?
        } else {
            metrics_job(&job)?
        };
        if jobs.iter().any(|j| j.name() == parsed.name()) {
            return Err(job.err(
                "name",
                &format!(
                    "{:?} is the name of an earlier job too; give each job its own name",
                    parsed.name()
                ),
            ));
        }
        jobs.push(parsed);
    }
    Ok(File {
        jobs,
        discovery_ttl,
    })
}

fn cloudfront_job(job: &Obj) -> Result<Job, String> {
    match job.str("preset")?.as_str() {
        "cloudfront" => {}
        other => {
            return Err(job.err(
                "preset",
                &format!("unknown preset {other:?} (the one preset is cloudfront)"),
            ));
        }
    }
    job.known(&[
        "name",
        "preset",
        "distributions",
        "tags",
        "metrics",
        "label",
        "target",
        "role_arn",
        "external_id",
    ])?;
    let distributions = job.opt_str_array("distributions")?.unwrap_or_default();
    for (i, id) in distributions.iter().enumerate() {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(job.err(
                &format!("distributions[{i}]"),
                &format!("{id:?} is not a CloudFront distribution ID"),
            ));
        }
    }
    let groups = match job.map.get("metrics") {
        None => Group::DEFAULT.to_vec(),
        Some(Value::String(s)) => Group::parse_list(s).map_err(|e| job.err("metrics", &e))?,
        Some(Value::Array(_)) => {
            Group::parse_list(&job.opt_str_array("metrics")?.unwrap_or_default().join(","))
                .map_err(|e| job.err("metrics", &e))?
        }
        Some(_) => {
            return Err(job.err(
                "metrics",
                "must be \"default\", \"all\" or an array of group names",
            ));
        }
    };
    let label = match job.opt_str("label")? {
        Some(l) => Label::parse(&l).map_err(|e| job.err("label", &e))?,
        None => Label::Id,
    };
    let target = target(job, false)?;
    if let Target::Host(h) = &target {
        if h.custom_identifier.is_some() {
            return Err(job.err(
                "target.host.custom_identifier",
                "the cloudfront preset identifies hosts by the distribution ARN; remove it",
            ));
        }
        for (field, t) in [("name", &h.name), ("display_name", &h.display_name)] {
            if let Some(v) = t.as_ref().and_then(|t| {
                t.vars()
                    .find(|v| !["DistributionId", "id", "domain", "label"].contains(v))
            }) {
                return Err(job.err(
                    &format!("target.host.{field}"),
                    &format!("{{{v}}} is not DistributionId, domain or label"),
                ));
            }
        }
    }
    Ok(Job::CloudFront(CloudFrontJob {
        name: job.opt_str("name")?.unwrap_or_else(|| "cloudfront".into()),
        distributions,
        tags: tags(job)?,
        groups,
        label,
        target,
        role: role(job)?,
    }))
}

fn metrics_job(job: &Obj) -> Result<Job, String> {
    job.known(&[
        "name",
        "regions",
        "namespace",
        "period",
        "dimensions",
        "tags",
        "metrics",
        "target",
        "name_template",
        "role_arn",
        "external_id",
    ])?;
    let namespace = job.str("namespace")?;
    if namespace.trim().is_empty() || namespace.len() > 255 {
        return Err(job.err(
            "namespace",
            "must be a CloudWatch namespace like AWS/ApplicationELB",
        ));
    }
    let regions = job
        .opt_str_array("regions")?
        .ok_or_else(|| job.err("regions", "is required: a list like [\"us-east-1\"]"))?;
    if regions.is_empty() {
        return Err(job.err("regions", "no region in the list"));
    }
    for (i, r) in regions.iter().enumerate() {
        let ok = r.split('-').count() >= 3
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(job.err(
                &format!("regions[{i}]"),
                &format!("{r:?} is not an AWS region like eu-west-1"),
            ));
        }
    }
    let period = match job.map.get("period") {
        None => 60,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| job.err("period", "must be whole seconds"))?,
        Some(Value::String(s)) => u32::try_from(
            parse_duration(s)
                .map_err(|e| job.err("period", &e))?
                .as_secs(),
        )
        .map_err(|_| job.err("period", "is too long"))?,
        Some(_) => return Err(job.err("period", "must be seconds (60) or a duration (\"5m\")")),
    };
    if !(matches!(period, 1 | 5 | 10 | 30)
        || (period >= 60 && period % 60 == 0 && period <= 86_400))
    {
        return Err(job.err("period", &format!("{period}s is not a CloudWatch period (1, 5, 10, 30, or a multiple of 60 up to a day)")));
    }
    let dimensions: Vec<(String, Pattern)> = match job.map.get("dimensions") {
        None => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(p) if !p.is_empty() => Ok((k.clone(), Pattern::new(p))),
                _ => Err(job.err(
                    &format!("dimensions.{k}"),
                    "must be a value or a glob like \"app/web-*\"",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(job.err(
                "dimensions",
                "must be an object of dimension name to value or glob",
            ));
        }
    };
    let list = job.array("metrics")?;
    if list.is_empty() {
        return Err(job.err("metrics", "no metric in the list"));
    }
    let mut metrics = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let m = Obj::new(m, &format!("{}.metrics[{i}]", job.path))?;
        m.known(&["name", "stat", "nil_to_zero"])?;
        let name = m.str("name")?;
        let stat = m.str("stat")?;
        check_stat(&stat).map_err(|e| m.err("stat", &e))?;
        let nil_to_zero = m.opt_bool("nil_to_zero")?.unwrap_or(false);
        metrics.push(MetricSpec {
            name,
            stat,
            nil_to_zero,
        });
    }
    let name_template =
        Template::parse(&job.str("name_template")?).map_err(|e| job.err("name_template", &e))?;
    let known = |v: &str| {
        ["metric", "stat", "region"].contains(&v) || dimensions.iter().any(|(k, _)| k == v)
    };
    let check_vars = |t: &Template, field: &str| -> Result<(), String> {
        match t.vars().find(|v| !known(v)) {
            Some(v) => Err(job.err(
                field,
                &format!("{{{v}}} is neither a dimension of this job's `dimensions` nor metric, stat or region"),
            )),
            None => Ok(()),
        }
    };
    check_vars(&name_template, "name_template")?;
    let target = target(job, true)?;
    if let Target::Host(h) = &target {
        for (field, t) in [
            ("custom_identifier", &h.custom_identifier),
            ("name", &h.name),
            ("display_name", &h.display_name),
        ] {
            if let Some(t) = t {
                check_vars(t, &format!("target.host.{field}"))?;
            }
        }
    }
    Ok(Job::Metrics(MetricsJob {
        name: job.opt_str("name")?.unwrap_or_else(|| namespace.clone()),
        regions,
        namespace,
        period,
        dimensions,
        tags: tags(job)?,
        metrics,
        target,
        name_template,
        role: role(job)?,
    }))
}

fn target(job: &Obj, namespace_job: bool) -> Result<Target, String> {
    let t = Obj::new(
        job.map.get("target").ok_or_else(|| {
            job.err(
                "target",
                "is required: {\"service\": NAME} or {\"host\": {...}}",
            )
        })?,
        &format!("{}.target", job.path),
    )?;
    t.known(&["service", "host"])?;
    match (t.map.get("service"), t.map.get("host")) {
        (Some(_), None) => {
            let s = t.str("service")?;
            let ok = (2..=63).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(t.err(
                    "service",
                    &format!(
                        "{s:?} is not a Mackerel service name (2 to 63 letters, digits, '-' or '_')"
                    ),
                ));
            }
            Ok(Target::Service(s))
        }
        (None, Some(h)) => {
            let h = Obj::new(h, &format!("{}.host", t.path))?;
            h.known(&[
                "custom_identifier",
                "name",
                "display_name",
                "roles",
                "retire_gone",
            ])?;
            let template = |field: &str| -> Result<Option<Template>, String> {
                h.opt_str(field)?
                    .map(|s| Template::parse(&s).map_err(|e| h.err(field, &e)))
                    .transpose()
            };
            let custom_identifier = template("custom_identifier")?;
            if namespace_job && custom_identifier.is_none() {
                return Err(h.err(
                    "custom_identifier",
                    "is required: a template like \"alb:{LoadBalancer}\"",
                ));
            }
            let roles = h.opt_str_array("roles")?.unwrap_or_default();
            for (i, r) in roles.iter().enumerate() {
                let part = |s: &str| {
                    s.len() >= 2
                        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                };
                if !r.split_once(':').is_some_and(|(a, b)| part(a) && part(b)) {
                    return Err(h.err(
                        &format!("roles[{i}]"),
                        &format!("{r:?} is not a role; write service:role"),
                    ));
                }
            }
            Ok(Target::Host(HostTarget {
                custom_identifier,
                name: template("name")?,
                display_name: template("display_name")?,
                roles,
                retire_gone: h.opt_bool("retire_gone")?.unwrap_or(false),
            }))
        }
        _ => Err(t.err("", "give exactly one of service or host")),
    }
}

fn tags(job: &Obj) -> Result<Vec<(String, String)>, String> {
    match job.map.get("tags") {
        None => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(v) if !k.is_empty() => Ok((k.clone(), v.to_string())),
                _ => Err(job.err(&format!("tags.{k}"), "must be a string value")),
            })
            .collect(),
        Some(_) => Err(job.err("tags", "must be an object of tag key to value")),
    }
}

fn role(job: &Obj) -> Result<Option<Role>, String> {
    let external_id = job.opt_str("external_id")?;
    let Some(arn) = job.opt_str("role_arn")? else {
        return match external_id {
            Some(_) => Err(job.err("external_id", "goes with role_arn")),
            None => Ok(None),
        };
    };
    let ok = arn.starts_with("arn:")
        && arn.split(':').count() == 6
        && arn.split(':').nth(2) == Some("iam")
        && arn
            .split(':')
            .nth(5)
            .is_some_and(|r| r.starts_with("role/"));
    if !ok {
        return Err(job.err(
            "role_arn",
            &format!("{arn:?} is not an IAM role ARN like arn:aws:iam::123456789012:role/name"),
        ));
    }
    Ok(Some(Role { arn, external_id }))
}

/// A JSON object and its path, for messages that point at the field.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &str) -> Result<Obj<'a>, String> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
            }),
            _ => Err(format!(
                "{}: must be an object",
                if path.is_empty() { "the file" } else { path }
            )),
        }
    }

    fn err(&self, field: &str, msg: &str) -> String {
        match (self.path.is_empty(), field.is_empty()) {
            (true, _) => format!("{field}: {msg}"),
            (false, true) => format!("{}: {msg}", self.path),
            (false, false) => format!("{}.{field}: {msg}", self.path),
        }
    }

    fn known(&self, keys: &[&str]) -> Result<(), String> {
        match self.map.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(self.err(
                k,
                &format!("unknown field (known here: {})", keys.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(key, "must be a string")),
        }
    }

    fn str(&self, key: &str) -> Result<String, String> {
        self.opt_str(key)?
            .ok_or_else(|| self.err(key, "is required"))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(key, "must be true or false")),
        }
    }

    fn array(&self, key: &str) -> Result<&'a Vec<Value>, String> {
        match self.map.get(key) {
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(self.err(key, "must be an array")),
            None => Err(self.err(key, "is required")),
        }
    }

    fn opt_str_array(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        if !self.map.contains_key(key) {
            return Ok(None);
        }
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.err(&format!("{key}[{i}]"), "must be a string"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_globs() {
        let t = Template::parse("alb.{LoadBalancer}.{metric}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["LoadBalancer", "metric"]);
        let v = |k: &str| {
            Some(if k == "metric" {
                "RequestCount".to_string()
            } else {
                "app/web/1f.x".to_string()
            })
        };
        assert_eq!(t.render(&v, true), "alb.app_web_1f_x.RequestCount");
        assert_eq!(t.render(&v, false), "alb.app/web/1f.x.RequestCount");
        for bad in ["", "a{", "a}", "{}", "{a{b}}", "x}{y"] {
            assert!(Template::parse(bad).is_err(), "{bad:?}");
        }
        for (p, v, m) in [
            ("app/web-*", "app/web-1/abc", true),
            ("app/web-*", "app/api-1", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*c", "ab", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(Pattern::new(p).matches(v), m, "{p} {v}");
        }
        assert!(
            check_stat("p99").is_ok()
                && check_stat("p99.9").is_ok()
                && check_stat("SampleCount").is_ok()
        );
        for bad in ["avg", "p", "p101", "P99", "sum", "p-1"] {
            assert!(check_stat(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_full_file() {
        let f = parse_file(
            r#"{"discovery_ttl": "5m", "jobs": [
              {"preset": "cloudfront", "metrics": ["requests", "cache_hit_rate"], "label": "alias", "tags": {"env": "prod"},
               "target": {"host": {"roles": ["cdn:edge"], "retire_gone": true}}},
              {"name": "alb", "regions": ["us-east-1", "eu-west-1"], "namespace": "AWS/ApplicationELB", "period": "5m",
               "dimensions": {"LoadBalancer": "app/web-*"},
               "metrics": [{"name": "RequestCount", "stat": "Sum", "nil_to_zero": true}, {"name": "TargetResponseTime", "stat": "p99"}],
               "target": {"service": "web"}, "name_template": "alb.{LoadBalancer}.{metric}_{stat}",
               "role_arn": "arn:aws:iam::123456789012:role/reader", "external_id": "x"}]}"#,
        )
        .unwrap();
        assert_eq!(f.discovery_ttl, Duration::from_secs(300));
        let Job::CloudFront(cf) = &f.jobs[0] else {
            panic!()
        };
        assert_eq!(
            (cf.name.as_str(), cf.groups.as_slice()),
            ("cloudfront", &[Group::Requests, Group::CacheHitRate][..])
        );
        assert!(matches!(&cf.target, Target::Host(h) if h.retire_gone && h.roles == ["cdn:edge"]));
        let Job::Metrics(m) = &f.jobs[1] else {
            panic!()
        };
        assert_eq!((m.period, m.metrics.len(), m.regions.len()), (300, 2, 2));
        assert_eq!(m.role.as_ref().unwrap().external_id.as_deref(), Some("x"));
    }

    #[test]
    fn every_mistake_names_its_field() {
        let job = r#"{"regions": ["us-east-1"], "namespace": "App/X", "metrics": [{"name": "M", "stat": "Sum"}], "target": {"service": "app"}, "name_template": "app.{metric}"}"#;
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut v: Value = serde_json::from_str(job).unwrap();
            edit(&mut v);
            parse_file(&serde_json::json!({"jobs": [v]}).to_string()).unwrap_err()
        };
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|v| v["metrics"][0]["stat"] = "avg".into()),
                "jobs[0].metrics[0].stat: unknown statistic \"avg\"",
            ),
            (
                Box::new(|v| v["metrics"][0]["nil_to_zero"] = "yes".into()),
                "jobs[0].metrics[0].nil_to_zero: must be true or false",
            ),
            (
                Box::new(|v| v["metrics"] = serde_json::json!([])),
                "jobs[0].metrics: no metric",
            ),
            (
                Box::new(|v| {
                    v["metrics"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("name")
                        .map(drop)
                        .unwrap()
                }),
                "jobs[0].metrics[0].name: is required",
            ),
            (
                Box::new(|v| v["regions"] = serde_json::json!(["Tokyo"])),
                "jobs[0].regions[0]: \"Tokyo\" is not an AWS region",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut()
                        .unwrap()
                        .remove("regions")
                        .map(drop)
                        .unwrap()
                }),
                "jobs[0].regions: is required",
            ),
            (
                Box::new(|v| v["namespace"] = 5.into()),
                "jobs[0].namespace: must be a string",
            ),
            (
                Box::new(|v| v["period"] = 90.into()),
                "jobs[0].period: 90s is not a CloudWatch period",
            ),
            (
                Box::new(|v| v["period"] = "soon".into()),
                "jobs[0].period: \"soon\" is not a duration",
            ),
            (
                Box::new(|v| v["dimensions"] = serde_json::json!({"LoadBalancer": 1})),
                "jobs[0].dimensions.LoadBalancer: must be a value or a glob",
            ),
            (
                Box::new(|v| v["tags"] = serde_json::json!(["env"])),
                "jobs[0].tags: must be an object",
            ),
            (
                Box::new(|v| v["name_template"] = "app.{LoadBalancer}".into()),
                "jobs[0].name_template: {LoadBalancer} is neither a dimension",
            ),
            (
                Box::new(|v| v["name_template"] = "app.{metric".into()),
                "jobs[0].name_template:",
            ),
            (
                Box::new(|v| v["target"] = serde_json::json!({"service": "a b"})),
                "jobs[0].target.service: \"a b\" is not a Mackerel service name",
            ),
            (
                Box::new(|v| v["target"] = serde_json::json!({})),
                "jobs[0].target: give exactly one of service or host",
            ),
            (
                Box::new(|v| v["target"] = serde_json::json!({"host": {}})),
                "jobs[0].target.host.custom_identifier: is required",
            ),
            (
                Box::new(|v| {
                    v["target"] =
                        serde_json::json!({"host": {"custom_identifier": "x", "roles": ["edge"]}})
                }),
                "jobs[0].target.host.roles[0]: \"edge\" is not a role",
            ),
            (
                Box::new(|v| {
                    v["target"] = serde_json::json!({"host": {"custom_identifier": "{Nope}"}})
                }),
                "jobs[0].target.host.custom_identifier: {Nope}",
            ),
            (
                Box::new(|v| v["role_arn"] = "arn:aws:iam::1:user/x".into()),
                "jobs[0].role_arn: \"arn:aws:iam::1:user/x\" is not an IAM role ARN",
            ),
            (
                Box::new(|v| v["external_id"] = "x".into()),
                "jobs[0].external_id: goes with role_arn",
            ),
            (
                Box::new(|v| v["nmespace"] = "x".into()),
                "jobs[0].nmespace: unknown field",
            ),
            (
                Box::new(|v| v["preset"] = "alb".into()),
                "jobs[0].preset: unknown preset \"alb\"",
            ),
        ];
        for (edit, expected) in cases {
            let msg = with(&*edit);
            assert!(
                msg.starts_with(expected),
                "expected {expected:?}, got {msg:?}"
            );
        }
        assert!(
            parse_file("{\"jobs\": [")
                .unwrap_err()
                .starts_with("not valid JSON")
        );
        assert!(
            parse_file("{\"jobs\": []}")
                .unwrap_err()
                .starts_with("jobs: no job")
        );
        assert!(
            parse_file("[]")
                .unwrap_err()
                .starts_with("the file: must be an object")
        );
        assert!(
            parse_file("{\"jobs\": [5]}")
                .unwrap_err()
                .starts_with("jobs[0]: must be an object")
        );
        let twice = format!("{{\"jobs\": [{job}, {job}]}}");
        assert!(
            parse_file(&twice)
                .unwrap_err()
                .starts_with("jobs[1].name: \"App/X\" is the name of an earlier job")
        );
        let cf = |extra: &str| {
            parse_file(&format!(
                "{{\"jobs\": [{{\"preset\": \"cloudfront\", \"target\": {{\"service\": \"cdn\"}}{extra}}}]}}"
            ))
        };
        assert!(cf("").is_ok());
        assert!(
            cf(", \"metrics\": \"bogus\"")
                .unwrap_err()
                .starts_with("jobs[0].metrics: unknown metric group")
        );
        assert!(
            cf(", \"label\": \"name\"")
                .unwrap_err()
                .starts_with("jobs[0].label:")
        );
        assert!(
            cf(", \"distributions\": [\"e1\"]")
                .unwrap_err()
                .starts_with("jobs[0].distributions[0]:")
        );
        assert!(
            cf(", \"discovery\": 1")
                .unwrap_err()
                .starts_with("jobs[0].discovery: unknown field")
        );
    }
}
