//! The CloudFront preset: turns the distributions discovery found into plain [`Series`] under
//! the catalogue's names (cw2mackerel's or the plugin's, after the job's metric key prefix),
//! into the hosts a host target wants, and into host graph definitions ([`expand`]).

use super::expansion::{Expansion, HostJob, Listing, Resource, Table, or_dash};
use crate::aws::cloudfront::Distribution;
use crate::jobs::cloudfront::{Label, Metric, NAMESPACE, Naming, PERIOD, title_prefix};
use crate::jobs::template::{Template, name_part};
use crate::jobs::{CloudFrontJob, Dest, Dimensions, HostTarget, Series, Target};
use crate::log;
use crate::mackerel::{GraphDef, GraphMetric, Host, HostSpec};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

/// The job over the distributions discovery found: its series (read in `region`, the global
/// region of the partition, where CloudFront's metrics are), and in host mode its hosts and
/// graph definitions.
pub fn expand(job: &CloudFrontJob, dists: Vec<Distribution>, region: &str) -> Expansion {
    let labels = labels(&dists, &job.label);
    let series = series(job, &dists, &labels, region);
    let (host_job, graph_defs) = match &job.target {
        Target::Host(h) => (
            HostJob::of(
                &job.name,
                &job.target,
                host_specs(&dists, &job.label, h, &job.name),
                shown,
            ),
            graph_defs(job, &dists, &labels),
        ),
        Target::Service(_) => (None, Vec::new()),
    };
    Expansion {
        series,
        host_job,
        graph_defs,
        listing: Box::new(Distributions { dists, labels }),
    }
}

/// A host of ours is named by its distribution's ID, which [`host_specs`] puts in its meta.
fn shown(host: &Host) -> Option<&str> {
    host.meta["cloudfront"]["id"].as_str()
}

/// The distributions found, with their labels.
struct Distributions {
    dists: Vec<Distribution>,
    labels: Vec<String>,
}

impl Listing for Distributions {
    fn table(&self) -> Table {
        Table::Distributions
    }

    fn distributions(&self) -> usize {
        self.dists.len()
    }

    /// ID, label, status and aliases; the customIdentifier of a distribution's host is its ARN.
    fn resources(&self) -> Vec<Resource> {
        self.dists
            .iter()
            .zip(&self.labels)
            .map(|(d, label)| Resource {
                cells: vec![
                    d.id.clone(),
                    label.clone(),
                    status(d),
                    or_dash(d.aliases.join(",")),
                ],
                custom_identifier: Some(d.arn.clone()),
            })
            .collect()
    }
}

fn status(d: &Distribution) -> String {
    match (d.status.is_empty(), d.enabled) {
        (true, _) => "-".into(),
        (false, true) => d.status.clone(),
        (false, false) => format!("{} (disabled)", d.status),
    }
}

/// Mackerel metric names allow `[a-zA-Z0-9._-]`, and a dot would split the graph: anything
/// else becomes `_`. A label with no letter or digit left falls back to the ID.
fn sanitize(raw: &str, id: &str) -> String {
    let s = name_part(raw);
    if s.chars().any(|c| c.is_ascii_alphanumeric()) {
        s
    } else {
        // CloudFront's IDs are capitals and digits; one that is not is made safe all the same.
        name_part(id)
    }
}

/// The label's own text for a distribution (alias, comment, tag value), if it has one.
fn raw_label<'a>(d: &'a Distribution, label: &Label) -> Option<&'a str> {
    match label {
        Label::Id => None,
        Label::Alias => d.aliases.first().map(String::as_str),
        Label::Comment => Some(d.comment.as_str()),
        Label::Tag(key) => d
            .tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str()),
    }
    .filter(|s| !s.trim().is_empty())
}

/// The label of each distribution, in order. A label that would be shared by two distributions
/// gets `_<ID>` appended on each, so their metrics never overwrite each other. A suffix can
/// make a label another distribution has (comments `site`, `site` and `site_<ID of the
/// first>`): then the suffixed one gets its ID once more, and a label its own text gave keeps
/// it, until every label is its distribution's alone.
pub fn labels(dists: &[Distribution], label: &Label) -> Vec<String> {
    let mut out: Vec<String> = dists
        .iter()
        .map(|d| sanitize(raw_label(d, label).unwrap_or(""), &d.id))
        .collect();
    let mut suffixed = vec![false; out.len()];
    let mut clashes = BTreeSet::new();
    // Each round makes every shared label longer; as many rounds as labels always end it.
    for _ in 0..out.len() {
        let mut holders: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, l) in out.iter().enumerate() {
            holders.entry(l.as_str()).or_default().push(i);
        }
        let mut grow: Vec<usize> = Vec::new();
        for shared in holders.into_values().filter(|h| h.len() > 1) {
            let own: Vec<usize> = shared.iter().copied().filter(|&i| !suffixed[i]).collect();
            grow.extend(
                shared
                    .into_iter()
                    .filter(|&i| own.len() != 1 || suffixed[i]),
            );
        }
        if grow.is_empty() {
            break;
        }
        for i in grow {
            clashes.insert(out[i].clone());
            out[i] = format!("{}_{}", out[i], name_part(&dists[i].id));
            suffixed[i] = true;
        }
    }
    if !clashes.is_empty() {
        let clashes: Vec<String> = clashes.into_iter().collect();
        log::warn(
            "distributions share a label; their IDs were appended",
            &[("labels", json!(clashes.join(",")))],
        );
    }
    out
}

/// The metric-name prefix of each distribution (`{id}`, `{label}` filled), in order.
pub fn prefixes(job: &CloudFrontJob, dists: &[Distribution], labels: &[String]) -> Vec<String> {
    dists
        .iter()
        .zip(labels)
        .map(|(d, label)| {
            let value = |v: &str| match v {
                "label" => Some(label.clone()),
                _ => Some(d.id.clone()),
            };
            job.prefix.render(&value, true)
        })
        .collect()
}

/// The series of every distribution for the job's groups and naming: to a service,
/// `cloudfront.<label>.<metric>` (plugin names: `<prefix>.<metric>`); to hosts,
/// `custom.<prefix>.<metric>` on the distribution's host (its ARN is the host's
/// customIdentifier) or on the job's existing host.
pub fn series(
    job: &CloudFrontJob,
    dists: &[Distribution],
    labels: &[String],
    region: &str,
) -> Vec<Series> {
    let metrics: Vec<(&Metric, Rc<str>, Rc<str>)> = job
        .names
        .metrics()
        .iter()
        .filter(|m| job.groups.contains(&m.group))
        .map(|m| (m, m.cloudwatch.into(), m.stat.into()))
        .collect();
    let mut out = Vec::with_capacity(dists.len() * metrics.len());
    let shared = match &job.target {
        Target::Service(s) => Some(Rc::new(Dest::Service(s.clone()))),
        Target::Host(h) => h.host_id.as_ref().map(|id| Rc::new(Dest::Host(id.clone()))),
    };
    let (region, namespace): (Rc<str>, Rc<str>) = (region.into(), NAMESPACE.into());
    let (id_name, region_name, global): (Rc<str>, Rc<str>, Rc<str>) =
        ("DistributionId".into(), "Region".into(), "Global".into());
    let prefixes = prefixes(job, dists, labels);
    for ((d, label), prefix) in dists.iter().zip(labels).zip(&prefixes) {
        let dest = match &shared {
            Some(s) => Rc::clone(s),
            None => Rc::new(Dest::Host(d.arn.clone())),
        };
        let dimensions: Dimensions = Rc::from([
            (Rc::clone(&id_name), Rc::from(d.id.as_str())),
            (Rc::clone(&region_name), Rc::clone(&global)),
        ]);
        for (m, metric, stat) in &metrics {
            let name = match (&job.target, job.names) {
                (Target::Service(_), Naming::Cw2mackerel) => {
                    format!("cloudfront.{label}.{}", m.name)
                }
                (Target::Service(_), Naming::Plugin) => format!("{prefix}.{}", m.name),
                (Target::Host(_), _) => format!("custom.{prefix}.{}", m.name),
            };
            out.push(Series {
                region: Rc::clone(&region),
                namespace: Rc::clone(&namespace),
                metric: Rc::clone(metric),
                dimensions: Rc::clone(&dimensions),
                stat: Rc::clone(stat),
                period: PERIOD,
                name: name.into(),
                dest: Rc::clone(&dest),
                role: job.role.clone(),
                fill_zero: m.fill_zero(),
            });
        }
    }
    out
}

/// The host each distribution should have: found again by its ARN, named after its domain
/// (or the target's templates, which may use `{DistributionId}`, `{domain}`, `{label}`), shown
/// under its label, with what CloudFront says of it in `meta`. `owner` marks the hosts this
/// job made. An existing host wants none.
pub fn host_specs(
    dists: &[Distribution],
    label: &Label,
    host: &HostTarget,
    owner: &str,
) -> Vec<HostSpec> {
    if host.host_id.is_some() {
        return Vec::new();
    }
    dists
        .iter()
        .map(|d| {
            let label = raw_label(d, label).unwrap_or(&d.id).to_string();
            let value = |v: &str| match v {
                "DistributionId" | "id" => Some(d.id.clone()),
                "domain" => Some(d.domain.clone()),
                "label" => Some(label.clone()),
                _ => None,
            };
            let render = |t: &Option<Template>, default: &str| {
                t.as_ref()
                    .map_or_else(|| default.to_string(), |t| t.render(&value, false))
            };
            HostSpec {
                name: render(&host.name, &d.domain),
                display_name: render(&host.display_name, &label),
                custom_identifier: d.arn.clone(),
                meta: json!({
                    "cw2mackerel": {"owner": owner},
                    "cloudfront": {
                        "id": d.id,
                        "aliases": d.aliases,
                        "origins": d.origins,
                        "status": d.status,
                        "enabled": d.enabled,
                    },
                }),
                role_fullnames: host.roles.clone(),
            }
        })
        .collect()
}

/// Host graph definitions for the job's groups and naming, one graph per metric-name prefix
/// and graph: `custom.<prefix>.<key>`, titled `<Prefix> <title>` ([`title_prefix`]), with
/// Mackerel's units; none for service metrics.
pub fn graph_defs(job: &CloudFrontJob, dists: &[Distribution], labels: &[String]) -> Vec<GraphDef> {
    if !matches!(job.target, Target::Host(_)) {
        return Vec::new();
    }
    let prefixes = prefixes(job, dists, labels);
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for prefix in prefixes.iter().filter(|p| seen.insert(p.as_str())) {
        let title = title_prefix(prefix);
        for g in job.names.graphs() {
            let metrics: Vec<GraphMetric> = job
                .names
                .metrics()
                .iter()
                .filter(|m| {
                    job.groups.contains(&m.group) && m.name.split('.').next() == Some(g.key)
                })
                .map(|m| GraphMetric {
                    name: format!("custom.{prefix}.{}", m.name),
                    display_name: m.display.into(),
                    is_stacked: g.stacked,
                })
                .collect();
            if !metrics.is_empty() {
                out.push(GraphDef {
                    name: format!("custom.{prefix}.{}", g.key),
                    display_name: format!("{title} {}", g.title),
                    unit: g.unit,
                    metrics,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
