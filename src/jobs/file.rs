//! Config files: JSON that describes jobs. serde reads the text into documents shaped like the
//! file (unknown fields, wrong types and keys given twice are refused there), then each job is
//! checked into the job model. Every mistake names the path of the field at fault
//! (`jobs[2].metrics[0].stat: unknown statistic "avg"`), before any network call.

use super::cloudfront::{DEFAULT_PREFIX, Group, Label, Naming};
use super::template::{Pattern, Template};
use super::{
    CloudFrontJob, DEFAULT_DISCOVERY_TTL, HostTarget, Job, MetricSpec, MetricsJob, Target, check,
};
mod doc;

use crate::aws::Role;
use crate::clock::parse_duration;
use crate::fault::Invalid;
use doc::{FileDoc, JobDoc, MetricItem, Metrics, Pairs, TargetDoc};
use std::fmt;
use std::time::Duration;

/// What a config file holds.
#[derive(Debug)]
pub struct File {
    pub jobs: Vec<Job>,
    /// Daemon and warm Lambda: how long discovery answers are reused.
    pub discovery_ttl: Duration,
}

/// Parses and checks a config file's text. A file serde cannot read (not JSON, a wrong type,
/// an unknown field) stops at that first mistake; past that, every job is checked and each
/// job's first mistake named, so that one `check` lists what to fix in each. Each mistake
/// names its field; the caller names the file.
pub fn parse(text: &str) -> Result<File, Vec<Invalid>> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let doc: FileDoc = serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { "the file".into() } else { at };
        vec![Invalid::new(format!("{at}: {}", e.inner()))]
    })?;
    let mut mistakes = Vec::new();
    let discovery_ttl = match &doc.discovery_ttl {
        Some(s) => parse_duration(s).unwrap_or_else(|e| {
            mistakes.push(Invalid::new(format!("discovery_ttl: {e}")));
            DEFAULT_DISCOVERY_TTL
        }),
        None => DEFAULT_DISCOVERY_TTL,
    };
    if doc.jobs.is_empty() {
        mistakes.push(Invalid::new("jobs: no job in the list"));
    }
    let mut jobs: Vec<Job> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, job) in doc.jobs.into_iter().enumerate() {
        let at = At(format!("jobs[{i}]"));
        let name = job.name.clone();
        let parsed = match job.preset.is_some() {
            true => cloudfront_job(job, &at),
            false => metrics_job(job, &at),
        };
        // A job that fails still has its name, if it gave one, for the names after it.
        if let Some(name) = parsed.as_ref().map_or(name, |j| Some(j.name().to_string())) {
            if names.contains(&name) {
                mistakes.push(at.err(
                    "name",
                    format!(
                        "{name:?} is the name of an earlier job too; give each job its own name"
                    ),
                ));
            }
            names.push(name);
        }
        match parsed {
            Ok(job) => jobs.push(job),
            Err(e) => mistakes.push(e),
        }
    }
    // Two jobs that post under one name are judged once each job is whole.
    if mistakes.is_empty() {
        super::names::check(&jobs).map_err(|e| vec![e])?;
    }
    match mistakes.is_empty() {
        true => Ok(File {
            jobs,
            discovery_ttl,
        }),
        false => Err(mistakes),
    }
}

/// The path of a job, for messages that point at one of its fields.
struct At(String);

impl At {
    fn err(&self, field: &str, msg: impl fmt::Display) -> Invalid {
        Invalid::new(match field.is_empty() {
            true => format!("{}: {msg}", self.0),
            false => format!("{}.{field}: {msg}", self.0),
        })
    }
}

const CLOUDFRONT_FIELDS: &str = "name, preset, distributions, tags, metrics, label, names, metric_key_prefix, target, role_arn, external_id";
const METRICS_FIELDS: &str = "name, regions, namespace, period, dimensions, tags, metrics, target, name_template, role_arn, external_id";

fn cloudfront_job(job: JobDoc, at: &At) -> Result<Job, Invalid> {
    match job.preset.as_deref() {
        Some("cloudfront") => {}
        other => {
            return Err(at.err(
                "preset",
                format!(
                    "unknown preset {:?} (the one preset is cloudfront)",
                    other.unwrap_or_default()
                ),
            ));
        }
    }
    for (field, given) in [
        ("regions", job.regions.is_some()),
        ("namespace", job.namespace.is_some()),
        ("period", job.period.is_some()),
        ("dimensions", job.dimensions.is_some()),
        ("name_template", job.name_template.is_some()),
    ] {
        if given {
            return Err(at.err(
                field,
                format!(
                    "unknown field for the cloudfront preset (known here: {CLOUDFRONT_FIELDS})"
                ),
            ));
        }
    }
    let mut distributions = Vec::new();
    for (i, id) in job
        .distributions
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        check::distribution_id(&id).map_err(|e| at.err(&format!("distributions[{i}]"), e))?;
        distributions.push(id);
    }
    let distributions = check::dedup(distributions);
    let names = match &job.names {
        Some(n) => Naming::parse(n).map_err(|e| at.err("names", e))?,
        None => Naming::Cw2mackerel,
    };
    if names == Naming::Plugin && job.metrics.is_some() {
        return Err(at.err(
            "metrics",
            "goes with cw2mackerel names: plugin names are the plugin's five metrics; remove it",
        ));
    }
    let groups = match job.metrics {
        None => Group::DEFAULT.to_vec(),
        Some(Metrics::Set(s)) => Group::parse_list(&s).map_err(|e| at.err("metrics", e))?,
        Some(Metrics::Items(items)) => {
            let mut names = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    MetricItem::Group(g) => names.push(g),
                    MetricItem::Spec(_) => {
                        return Err(at.err(
                            &format!("metrics[{i}]"),
                            "must be a group name like \"requests\"",
                        ));
                    }
                }
            }
            Group::parse_list(&names.join(",")).map_err(|e| at.err("metrics", e))?
        }
    };
    let label = match job.label {
        Some(l) => Label::parse(&l).map_err(|e| at.err("label", e))?,
        None => Label::Id,
    };
    let target = target(job.target, at, false)?;
    let prefix_given = job.metric_key_prefix.is_some();
    let prefix_text = job
        .metric_key_prefix
        .as_deref()
        .unwrap_or(DEFAULT_PREFIX)
        .trim();
    let prefix =
        check::metric_key_prefix(prefix_text).map_err(|e| at.err("metric_key_prefix", e))?;
    let one_place = match &target {
        Target::Service(_) if names == Naming::Cw2mackerel && prefix_given => {
            return Err(at.err(
                "metric_key_prefix",
                "names service metrics only with \"names\": \"plugin\" (cw2mackerel's service metrics are cloudfront.<label>.…); remove it, or post to hosts",
            ));
        }
        Target::Service(_) if names == Naming::Plugin => Some("in the one service"),
        Target::Host(h) if h.host_id.is_some() => Some("on the one host target.host.id names"),
        _ => None,
    };
    if let Some(place) = one_place {
        check::prefix_for_one_place(prefix_text, &prefix, &distributions, place)
            .map_err(|e| at.err("metric_key_prefix", e))?;
    }
    if let Target::Host(h) = &target {
        if h.custom_identifier.is_some() {
            return Err(at.err(
                "target.host.custom_identifier",
                "the cloudfront preset identifies hosts by the distribution ARN; remove it",
            ));
        }
        for (field, t) in [("name", &h.name), ("display_name", &h.display_name)] {
            if let Some(v) = t.as_ref().and_then(|t| {
                t.vars()
                    .find(|v| !["DistributionId", "id", "domain", "label"].contains(v))
            }) {
                return Err(at.err(
                    &format!("target.host.{field}"),
                    format!("{{{v}}} is not DistributionId, domain or label"),
                ));
            }
        }
    }
    Ok(Job::CloudFront(CloudFrontJob {
        name: job.name.unwrap_or_else(|| "cloudfront".into()),
        distributions,
        tags: tags(job.tags, at)?,
        groups,
        label,
        names,
        prefix,
        target,
        role: role(job.role_arn, job.external_id, at)?,
    }))
}

fn metrics_job(job: JobDoc, at: &At) -> Result<Job, Invalid> {
    for (field, given) in [
        ("distributions", job.distributions.is_some()),
        ("label", job.label.is_some()),
        ("names", job.names.is_some()),
        ("metric_key_prefix", job.metric_key_prefix.is_some()),
    ] {
        if given {
            return Err(at.err(
                field,
                format!("unknown field for a namespace job (known here: {METRICS_FIELDS})"),
            ));
        }
    }
    let namespace = job
        .namespace
        .ok_or_else(|| at.err("namespace", "is required"))?;
    if namespace.trim().is_empty() || namespace.len() > 255 {
        return Err(at.err(
            "namespace",
            "must be a CloudWatch namespace like AWS/ApplicationELB",
        ));
    }
    let regions = job
        .regions
        .ok_or_else(|| at.err("regions", "is required: a list like [\"us-east-1\"]"))?;
    if regions.is_empty() {
        return Err(at.err("regions", "no region in the list"));
    }
    for (i, r) in regions.iter().enumerate() {
        check::region(r).map_err(|e| at.err(&format!("regions[{i}]"), e))?;
    }
    let period = job.period.map_or(60, |p| p.0);
    check::period(period).map_err(|e| at.err("period", e))?;
    let mut dimensions = Vec::new();
    for (k, p) in job.dimensions.map(|d| d.0).unwrap_or_default() {
        if p.is_empty() {
            return Err(at.err(
                &format!("dimensions.{k}"),
                "must be a value or a glob like \"app/web-*\"",
            ));
        }
        dimensions.push((k, Pattern::new(&p)));
    }
    let items = match job.metrics {
        Some(Metrics::Items(items)) => items,
        Some(Metrics::Set(_)) => {
            return Err(at.err(
                "metrics",
                "must be an array of {\"name\", \"stat\"} objects",
            ));
        }
        None => return Err(at.err("metrics", "is required")),
    };
    if items.is_empty() {
        return Err(at.err("metrics", "no metric in the list"));
    }
    let mut metrics = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let MetricItem::Spec(m) = item else {
            return Err(at.err(
                &format!("metrics[{i}]"),
                "must be an object like {\"name\": \"RequestCount\", \"stat\": \"Sum\"}",
            ));
        };
        check::stat(&m.stat).map_err(|e| at.err(&format!("metrics[{i}].stat"), e))?;
        metrics.push(MetricSpec {
            name: m.name,
            stat: m.stat,
            nil_to_zero: m.nil_to_zero,
        });
    }
    let template_text = job
        .name_template
        .ok_or_else(|| at.err("name_template", "is required"))?;
    let name_template = Template::parse(&template_text).map_err(|e| at.err("name_template", e))?;
    let known = |v: &str| {
        ["metric", "stat", "region"].contains(&v) || dimensions.iter().any(|(k, _)| k == v)
    };
    let check_vars = |t: &Template, field: &str| -> Result<(), Invalid> {
        match t.vars().find(|v| !known(v)) {
            Some(v) => Err(at.err(
                field,
                format!("{{{v}}} is neither a dimension of this job's `dimensions` nor metric, stat or region"),
            )),
            None => Ok(()),
        }
    };
    check_vars(&name_template, "name_template")?;
    let literals: Vec<&str> = name_template.literals().collect();
    check::metric_name_text(&template_text, &literals).map_err(|e| at.err("name_template", e))?;
    let target = target(job.target, at, true)?;
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
        name: job.name.unwrap_or_else(|| namespace.clone()),
        regions,
        namespace,
        period,
        dimensions,
        tags: tags(job.tags, at)?,
        metrics,
        target,
        name_template,
        role: role(job.role_arn, job.external_id, at)?,
    }))
}

fn target(doc: Option<TargetDoc>, at: &At, namespace_job: bool) -> Result<Target, Invalid> {
    let doc = doc.ok_or_else(|| {
        at.err(
            "target",
            "is required: {\"service\": NAME} or {\"host\": {...}}",
        )
    })?;
    match (doc.service, doc.host) {
        (Some(s), None) => {
            check::service_name(&s).map_err(|e| at.err("target.service", e))?;
            Ok(Target::Service(s))
        }
        (None, Some(h)) => {
            if let Some(id) = &h.id {
                if namespace_job {
                    return Err(at.err(
                        "target.host.id",
                        "an existing host takes the points of cloudfront jobs only; give a namespace job a custom_identifier",
                    ));
                }
                check::host_id(id).map_err(|e| at.err("target.host.id", e))?;
                let others = [
                    ("custom_identifier", h.custom_identifier.is_some()),
                    ("name", h.name.is_some()),
                    ("display_name", h.display_name.is_some()),
                    ("roles", !h.roles.is_empty()),
                    ("retire_gone", h.retire_gone),
                ];
                if let Some((field, _)) = others.iter().find(|(_, given)| *given) {
                    return Err(at.err(
                        &format!("target.host.{field}"),
                        "describes a host cw2mackerel makes, and the host with this id exists already (nothing about it is changed); remove it",
                    ));
                }
            }
            let template = |field: &str, t: Option<String>| {
                t.map(|s| {
                    Template::parse(&s).map_err(|e| at.err(&format!("target.host.{field}"), e))
                })
                .transpose()
            };
            let custom_identifier = template("custom_identifier", h.custom_identifier)?;
            if namespace_job && custom_identifier.is_none() {
                return Err(at.err(
                    "target.host.custom_identifier",
                    "is required: a template like \"alb:{LoadBalancer}\"",
                ));
            }
            for (i, r) in h.roles.iter().enumerate() {
                check::role_fullname(r)
                    .map_err(|e| at.err(&format!("target.host.roles[{i}]"), e))?;
            }
            Ok(Target::Host(HostTarget {
                custom_identifier,
                name: template("name", h.name)?,
                display_name: template("display_name", h.display_name)?,
                roles: h.roles,
                retire_gone: h.retire_gone,
                host_id: h.id,
            }))
        }
        _ => Err(at.err("target", "give exactly one of service or host")),
    }
}

fn tags(doc: Option<Pairs>, at: &At) -> Result<Vec<(String, String)>, Invalid> {
    let tags = doc.map(|p| p.0).unwrap_or_default();
    for (k, _) in &tags {
        check::tag_key(k).map_err(|e| at.err("tags", e))?;
    }
    Ok(tags)
}

fn role(
    arn: Option<String>,
    external_id: Option<String>,
    at: &At,
) -> Result<Option<Role>, Invalid> {
    let Some(arn) = arn else {
        return match external_id {
            Some(_) => Err(at.err("external_id", "goes with role_arn")),
            None => Ok(None),
        };
    };
    check::role_arn(&arn).map_err(|e| at.err("role_arn", e))?;
    if let Some(id) = &external_id {
        check::external_id(id).map_err(|e| at.err("external_id", e))?;
    }
    Ok(Some(Role { arn, external_id }))
}

#[cfg(test)]
mod tests;
