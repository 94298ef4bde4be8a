//! The CloudFront preset: which CloudWatch metrics a distribution has, the Mackerel names they
//! get (the groups of Mackerel's AWS integration), and the label that names a distribution.
//! It turns discovered distributions into plain [`Series`] for the generic stages.

use crate::aws::cloudfront::Distribution;
use crate::jobs::{HostTarget, Role, Target};
use crate::mackerel::HostSpec;
use crate::plan::{self, Series};
use serde_json::{Value, json};
use std::rc::Rc;

/// CloudFront publishes its metrics in one place only.
pub const REGION: &str = "us-east-1";
pub const NAMESPACE: &str = "AWS/CloudFront";
pub const PERIOD: u32 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Requests,
    Transfer,
    ErrorRate,
    /// 401/403/404/502/503/504 error rates: additional (paid) metrics.
    StatusErrorRate,
    /// Additional metric.
    CacheHitRate,
    /// Additional metric.
    OriginLatency,
}

impl Group {
    /// The metrics every distribution has at no extra cost.
    pub const DEFAULT: [Group; 3] = [Group::Requests, Group::Transfer, Group::ErrorRate];
    pub const ALL: [Group; 6] = [
        Group::Requests,
        Group::Transfer,
        Group::ErrorRate,
        Group::StatusErrorRate,
        Group::CacheHitRate,
        Group::OriginLatency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Requests => "requests",
            Group::Transfer => "transfer",
            Group::ErrorRate => "error_rate",
            Group::StatusErrorRate => "status_error_rate",
            Group::CacheHitRate => "cache_hit_rate",
            Group::OriginLatency => "origin_latency",
        }
    }

    /// `default`, `all`, or a comma list of group names (which may include `default`).
    pub fn parse_list(list: &str) -> Result<Vec<Group>, String> {
        let mut wanted = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "default" => wanted.extend(Group::DEFAULT),
                "all" => wanted.extend(Group::ALL),
                w => match Group::ALL.into_iter().find(|g| g.name() == w) {
                    Some(g) => wanted.push(g),
                    None => {
                        let names: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
                        return Err(format!(
                            "unknown metric group {w:?}; use default, all, or some of {}",
                            names.join(", ")
                        ));
                    }
                },
            }
        }
        if wanted.is_empty() {
            return Err("no metric group given".into());
        }
        // Catalogue order, each once: the output does not depend on how the list was written.
        Ok(Group::ALL
            .into_iter()
            .filter(|g| wanted.contains(g))
            .collect())
    }
}

/// One CloudWatch metric and the Mackerel name it is posted as, after `cloudfront.<label>.`
/// (service mode) or `custom.cloudfront.` (host mode); `display` names it in host graphs.
pub struct Metric {
    pub group: Group,
    pub cloudwatch: &'static str,
    pub stat: &'static str,
    pub name: &'static str,
    pub display: &'static str,
}

impl Metric {
    /// Sums are zero when nothing happened; averages of nothing are not zero, they are absent.
    pub fn fill_zero(&self) -> bool {
        self.stat == "Sum"
    }
}

const fn metric(
    group: Group,
    cloudwatch: &'static str,
    stat: &'static str,
    name: &'static str,
    display: &'static str,
) -> Metric {
    Metric {
        group,
        cloudwatch,
        stat,
        name,
        display,
    }
}

#[rustfmt::skip]
pub const METRICS: &[Metric] = &[
    metric(Group::Requests, "Requests", "Sum", "requests.request", "Requests"),
    metric(Group::Transfer, "BytesDownloaded", "Sum", "transfer.download", "Download"),
    metric(Group::Transfer, "BytesUploaded", "Sum", "transfer.upload", "Upload"),
    metric(Group::ErrorRate, "TotalErrorRate", "Average", "error_rate.total_error_rate", "Total"),
    metric(Group::ErrorRate, "4xxErrorRate", "Average", "error_rate.4xx_error_rate", "4xx"),
    metric(Group::ErrorRate, "5xxErrorRate", "Average", "error_rate.5xx_error_rate", "5xx"),
    metric(Group::StatusErrorRate, "401ErrorRate", "Average", "error_rate.401_error_rate", "401"),
    metric(Group::StatusErrorRate, "403ErrorRate", "Average", "error_rate.403_error_rate", "403"),
    metric(Group::StatusErrorRate, "404ErrorRate", "Average", "error_rate.404_error_rate", "404"),
    metric(Group::StatusErrorRate, "502ErrorRate", "Average", "error_rate.502_error_rate", "502"),
    metric(Group::StatusErrorRate, "503ErrorRate", "Average", "error_rate.503_error_rate", "503"),
    metric(Group::StatusErrorRate, "504ErrorRate", "Average", "error_rate.504_error_rate", "504"),
    metric(Group::CacheHitRate, "CacheHitRate", "Average", "cache_hit_rate.hit", "Hit"),
    metric(Group::OriginLatency, "OriginLatency", "Minimum", "origin_latency.minimum", "Minimum"),
    metric(Group::OriginLatency, "OriginLatency", "Average", "origin_latency.average", "Average"),
    metric(Group::OriginLatency, "OriginLatency", "Maximum", "origin_latency.maximum", "Maximum"),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Label {
    Id,
    /// The first alternate domain name (CNAME).
    Alias,
    Comment,
    Tag(String),
}

impl Label {
    pub fn parse(s: &str) -> Result<Label, String> {
        match s.trim() {
            "id" => Ok(Label::Id),
            "alias" => Ok(Label::Alias),
            "comment" => Ok(Label::Comment),
            t => match t.strip_prefix("tag:") {
                Some(key) if !key.is_empty() => Ok(Label::Tag(key.to_string())),
                _ => Err(format!(
                    "{t:?} is not a label; use id, alias, comment or tag:KEY"
                )),
            },
        }
    }

    /// Whether this label needs the distributions' tags (one ListTagsForResource each).
    pub fn needs_tags(&self) -> bool {
        matches!(self, Label::Tag(_))
    }
}

/// Mackerel metric names allow `[a-zA-Z0-9._-]`, and a dot would split the graph: anything
/// else becomes `_`. A label with no letter or digit left falls back to the ID.
pub fn sanitize(raw: &str, id: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.chars().any(|c| c.is_ascii_alphanumeric()) {
        s
    } else {
        id.to_string()
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
/// gets `_<ID>` appended on each, so their metrics never overwrite each other.
pub fn labels(dists: &[Distribution], label: &Label) -> Vec<String> {
    let mut out: Vec<String> = dists
        .iter()
        .map(|d| sanitize(raw_label(d, label).unwrap_or(""), &d.id))
        .collect();
    let taken = out.clone();
    let mut clashes = Vec::new();
    for (i, l) in out.iter_mut().enumerate() {
        if taken.iter().filter(|t| *t == l).count() > 1 {
            clashes.push(l.clone());
            *l = format!("{l}_{}", dists[i].id);
        }
    }
    if !clashes.is_empty() {
        clashes.dedup();
        crate::log::warn(
            "distributions share a label; their IDs were appended",
            &[("labels", json!(clashes.join(",")))],
        );
    }
    out
}

/// The series of every distribution for the chosen groups: to a service named
/// `cloudfront.<label>.<metric>`; to hosts, `custom.cloudfront.<metric>` on the
/// distribution's host (its ARN is the host's customIdentifier).
pub fn series(
    dists: &[Distribution],
    labels: &[String],
    groups: &[Group],
    target: &Target,
    role: Option<&Role>,
) -> Vec<Series> {
    let mut out = Vec::with_capacity(dists.len() * METRICS.len());
    let service = match target {
        Target::Service(s) => Some(Rc::new(plan::Target::Service(s.clone()))),
        Target::Host(_) => None,
    };
    for (d, label) in dists.iter().zip(labels) {
        let host = Rc::new(plan::Target::Host(d.arn.clone()));
        for m in METRICS.iter().filter(|m| groups.contains(&m.group)) {
            let (name, target) = match &service {
                Some(s) => (format!("cloudfront.{label}.{}", m.name), Rc::clone(s)),
                None => (format!("custom.cloudfront.{}", m.name), Rc::clone(&host)),
            };
            out.push(Series {
                region: REGION.into(),
                namespace: NAMESPACE.into(),
                metric: m.cloudwatch.into(),
                dimensions: vec![
                    ("DistributionId".into(), d.id.clone()),
                    ("Region".into(), "Global".into()),
                ],
                stat: m.stat.into(),
                period: PERIOD,
                name: name.into(),
                target,
                role: role.cloned(),
                fill_zero: m.fill_zero(),
            });
        }
    }
    out
}

/// The host each distribution should have: found again by its ARN, named after its domain
/// (or the target's templates, which may use `{DistributionId}`, `{domain}`, `{label}`), shown
/// under its label, with what CloudFront says of it in `meta`. `owner` marks the hosts this
/// job made.
pub fn host_specs(
    dists: &[Distribution],
    label: &Label,
    host: &HostTarget,
    owner: &str,
) -> Vec<HostSpec> {
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
            let render = |t: &Option<crate::jobs::Template>, default: &str| {
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

/// Host graph definitions for the chosen groups, one graph per metric-name prefix, with
/// Mackerel's units.
pub fn graph_defs(groups: &[Group]) -> Vec<Value> {
    const GRAPHS: [(&str, &str, &str); 5] = [
        ("requests", "CloudFront Requests", "integer"),
        ("transfer", "CloudFront Transfer", "bytes"),
        ("error_rate", "CloudFront Error Rate", "percentage"),
        ("cache_hit_rate", "CloudFront Cache Hit Rate", "percentage"),
        (
            "origin_latency",
            "CloudFront Origin Latency",
            "milliseconds",
        ),
    ];
    GRAPHS
        .iter()
        .filter_map(|(prefix, display, unit)| {
            let metrics: Vec<Value> = METRICS
                .iter()
                .filter(|m| groups.contains(&m.group) && m.name.split('.').next() == Some(*prefix))
                .map(|m| json!({"name": format!("custom.cloudfront.{}", m.name), "displayName": m.display, "isStacked": false}))
                .collect();
            (!metrics.is_empty()).then(|| {
                json!({"name": format!("custom.cloudfront.{prefix}"), "displayName": display, "unit": unit, "metrics": metrics})
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(id: &str, aliases: &[&str], comment: &str, tags: &[(&str, &str)]) -> Distribution {
        Distribution {
            id: id.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            comment: comment.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Distribution::default()
        }
    }

    #[test]
    fn groups() {
        assert_eq!(
            Group::parse_list("default").unwrap(),
            Group::DEFAULT.to_vec()
        );
        assert_eq!(Group::parse_list("all").unwrap(), Group::ALL.to_vec());
        assert_eq!(
            Group::parse_list("cache_hit_rate, requests,requests").unwrap(),
            vec![Group::Requests, Group::CacheHitRate]
        );
        assert!(Group::parse_list("avg").unwrap_err().contains("avg"));
        assert!(Group::parse_list(" , ").is_err());
    }

    #[test]
    fn labels_sanitize_fall_back_and_never_clash() {
        let dists = [
            dist("E1", &["www.example.com"], "web site", &[("name", "front")]),
            dist("E2", &[], "日本語", &[]),
            dist(
                "E3",
                &["static.example.com"],
                "web site",
                &[("name", "front")],
            ),
        ];
        assert_eq!(labels(&dists, &Label::Id), ["E1", "E2", "E3"]);
        assert_eq!(
            labels(&dists, &Label::Alias),
            ["www_example_com", "E2", "static_example_com"]
        );
        assert_eq!(
            labels(&dists, &Label::Comment),
            ["web_site_E1", "E2", "web_site_E3"]
        );
        assert_eq!(
            labels(&dists, &Label::Tag("name".into())),
            ["front_E1", "E2", "front_E3"]
        );
        assert!(Label::parse("tag:").is_err());
        assert_eq!(Label::parse("tag:Name").unwrap(), Label::Tag("Name".into()));
    }

    #[test]
    fn default_series_follow_the_integration_names() {
        let d = [dist("E1", &[], "", &[])];
        let s = series(
            &d,
            &labels(&d, &Label::Id),
            &Group::DEFAULT,
            &Target::Service("cdn".into()),
            None,
        );
        let names: Vec<&str> = s.iter().map(|s| &*s.name).collect();
        assert_eq!(
            names,
            [
                "cloudfront.E1.requests.request",
                "cloudfront.E1.transfer.download",
                "cloudfront.E1.transfer.upload",
                "cloudfront.E1.error_rate.total_error_rate",
                "cloudfront.E1.error_rate.4xx_error_rate",
                "cloudfront.E1.error_rate.5xx_error_rate",
            ]
        );
        assert!(s[0].fill_zero && !s[3].fill_zero);
        assert_eq!(s[0].dimensions[1], ("Region".into(), "Global".into()));
        assert_eq!(
            series(
                &d,
                &["E1".into()],
                &Group::ALL,
                &Target::Service("cdn".into()),
                None
            )
            .len(),
            METRICS.len()
        );
    }

    #[test]
    fn host_mode_names_hosts_and_graphs() {
        let mut d = dist("E1", &["www.example.com"], "", &[]);
        d.arn = "arn:aws:cloudfront::1:distribution/E1".into();
        d.domain = "d1.cloudfront.net".into();
        let d = [d];
        let host = HostTarget {
            custom_identifier: None,
            name: None,
            display_name: None,
            roles: vec!["cdn:edge".into()],
            retire_gone: false,
        };
        let target = Target::Host(host.clone());
        let s = series(
            &d,
            &labels(&d, &Label::Alias),
            &Group::DEFAULT,
            &target,
            None,
        );
        assert_eq!(&*s[0].name, "custom.cloudfront.requests.request");
        assert_eq!(
            *s[0].target,
            plan::Target::Host("arn:aws:cloudfront::1:distribution/E1".into())
        );
        let spec = &host_specs(&d, &Label::Alias, &host, "cloudfront")[0];
        assert_eq!(
            (spec.name.as_str(), spec.display_name.as_str()),
            ("d1.cloudfront.net", "www.example.com")
        );
        assert_eq!(spec.meta["cloudfront"]["aliases"][0], "www.example.com");
        assert_eq!(spec.meta["cw2mackerel"]["owner"], "cloudfront");
        assert_eq!(spec.role_fullnames, ["cdn:edge"]);
        assert_eq!(
            host_specs(&d, &Label::Comment, &host, "cloudfront")[0].display_name,
            "E1"
        );
        let named = HostTarget {
            name: Some(crate::jobs::Template::parse("cdn-{DistributionId}").unwrap()),
            ..host
        };
        assert_eq!(
            host_specs(&d, &Label::Id, &named, "cloudfront")[0].name,
            "cdn-E1"
        );

        let defs = graph_defs(&[
            Group::Requests,
            Group::StatusErrorRate,
            Group::OriginLatency,
        ]);
        let names: Vec<&str> = defs.iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "custom.cloudfront.requests",
                "custom.cloudfront.error_rate",
                "custom.cloudfront.origin_latency"
            ]
        );
        assert_eq!(defs[0]["unit"], "integer");
        assert_eq!(defs[1]["metrics"].as_array().unwrap().len(), 6);
        assert_eq!(defs[2]["unit"], "milliseconds");
        let all = graph_defs(&Group::ALL);
        assert_eq!(all[2]["metrics"].as_array().unwrap().len(), 9);
        assert_eq!(all[1]["unit"], "bytes");
        assert_eq!(all[3]["displayName"], "CloudFront Cache Hit Rate");
    }
}
