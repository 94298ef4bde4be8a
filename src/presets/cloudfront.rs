//! The CloudFront preset: turns the distributions discovery found into plain [`Series`] under
//! the catalogue's names, into the hosts a host target wants, and into host graph definitions.

use crate::aws::Role;
use crate::aws::cloudfront::Distribution;
use crate::jobs::cloudfront::{GRAPHS, Group, Label, METRICS, Metric, NAMESPACE, PERIOD};
use crate::jobs::template::{Template, name_part};
use crate::jobs::{Dest, Dimensions, HostTarget, Series, Target};
use crate::log;
use crate::mackerel::HostSpec;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

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

/// The series of every distribution for the chosen groups: to a service named
/// `cloudfront.<label>.<metric>`; to hosts, `custom.cloudfront.<metric>` on the
/// distribution's host (its ARN is the host's customIdentifier).
pub fn series(
    dists: &[Distribution],
    labels: &[String],
    groups: &[Group],
    target: &Target,
    role: Option<&Role>,
    region: &str,
) -> Vec<Series> {
    let metrics: Vec<(&Metric, Rc<str>, Rc<str>)> = METRICS
        .iter()
        .filter(|m| groups.contains(&m.group))
        .map(|m| (m, m.cloudwatch.into(), m.stat.into()))
        .collect();
    let mut out = Vec::with_capacity(dists.len() * metrics.len());
    let service = match target {
        Target::Service(s) => Some(Rc::new(Dest::Service(s.clone()))),
        Target::Host(_) => None,
    };
    let (region, namespace): (Rc<str>, Rc<str>) = (region.into(), NAMESPACE.into());
    let (id_name, region_name, global): (Rc<str>, Rc<str>, Rc<str>) =
        ("DistributionId".into(), "Region".into(), "Global".into());
    for (d, label) in dists.iter().zip(labels) {
        let host = Rc::new(Dest::Host(d.arn.clone()));
        let dimensions: Dimensions = Rc::from([
            (Rc::clone(&id_name), Rc::from(d.id.as_str())),
            (Rc::clone(&region_name), Rc::clone(&global)),
        ]);
        for (m, metric, stat) in &metrics {
            let (name, target) = match &service {
                Some(s) => (format!("cloudfront.{label}.{}", m.name), Rc::clone(s)),
                None => (format!("custom.cloudfront.{}", m.name), Rc::clone(&host)),
            };
            out.push(Series {
                region: Rc::clone(&region),
                namespace: Rc::clone(&namespace),
                metric: Rc::clone(metric),
                dimensions: Rc::clone(&dimensions),
                stat: Rc::clone(stat),
                period: PERIOD,
                name: name.into(),
                dest: target,
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

/// Host graph definitions for the chosen groups, one graph per metric-name prefix, with
/// Mackerel's units.
pub fn graph_defs(groups: &[Group]) -> Vec<Value> {
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
        // A suffix that makes another distribution's label: that one keeps its own text.
        let dists = [
            dist("E1", &[], "site", &[]),
            dist("E2", &[], "site", &[]),
            dist("E3", &[], "site_E1", &[]),
        ];
        assert_eq!(
            labels(&dists, &Label::Comment),
            ["site_E1_E1", "site_E2", "site_E1"]
        );
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
            "us-east-1",
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
        assert_eq!(
            (&*s[0].dimensions[1].0, &*s[0].dimensions[1].1),
            ("Region", "Global")
        );
        assert_eq!(
            series(
                &d,
                &["E1".into()],
                &Group::ALL,
                &Target::Service("cdn".into()),
                None,
                "us-east-1",
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
            "us-east-1",
        );
        assert_eq!(&*s[0].name, "custom.cloudfront.requests.request");
        assert_eq!(
            *s[0].dest,
            Dest::Host("arn:aws:cloudfront::1:distribution/E1".into())
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
            name: Some(Template::parse("cdn-{DistributionId}").unwrap()),
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
