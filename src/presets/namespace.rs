//! The namespace preset, for any CloudWatch namespace: turns the metrics discovery found into
//! plain [`Series`], named by the job's template, and into the hosts a host target wants
//! ([`expand`]).

use super::expansion::{Expansion, HostJob, Listing, Resource, Table, or_dash};
use crate::jobs::{Dest, Dimensions, MetricsJob, Series, Target};
use crate::mackerel::HostSpec;
use serde_json::{Map, Value, json};
use std::rc::Rc;

/// A metric a namespace job reads: its region, name and dimensions (sorted by name).
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub region: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
}

/// A placeholder's value for one metric: a dimension, or `metric`, `stat`, `region`.
fn lookup<'a>(found: &'a Found, stat: &'a str) -> impl Fn(&str) -> Option<String> + 'a {
    move |var: &str| match var {
        "metric" => Some(found.metric.clone()),
        "stat" => Some(stat.to_ascii_lowercase()),
        "region" => Some(found.region.clone()),
        dim => found
            .dimensions
            .iter()
            .find(|(k, _)| k == dim)
            .map(|(_, v)| v.clone()),
    }
}

/// The job over the metrics discovery found: their series, and in host mode the hosts they
/// go to. A host is named by its customIdentifier where it is named as gone.
pub fn expand(job: &MetricsJob, found: Vec<Found>) -> Expansion {
    let (series, specs, dests) = series(job, &found);
    Expansion {
        series,
        host_job: HostJob::of(&job.name, &job.target, specs, |_| None),
        graph_defs: Vec::new(),
        listing: Box::new(Metrics {
            job: job.name.clone(),
            found,
            dests,
        }),
    }
}

/// The metrics found, with where the first series of each goes.
struct Metrics {
    job: String,
    found: Vec<Found>,
    dests: Vec<Option<Rc<Dest>>>,
}

impl Listing for Metrics {
    fn table(&self) -> Table {
        Table::Metrics
    }

    /// Job, region, metric and dimensions; the customIdentifier of a metric's host, the one
    /// its first series goes to.
    fn resources(&self) -> Vec<Resource> {
        self.found
            .iter()
            .zip(&self.dests)
            .map(|(f, dest)| {
                let dims: Vec<String> = f
                    .dimensions
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                Resource {
                    cells: vec![
                        self.job.clone(),
                        f.region.clone(),
                        f.metric.clone(),
                        or_dash(dims.join(",")),
                    ],
                    custom_identifier: match dest.as_deref() {
                        Some(Dest::Host(cid)) => Some(cid.clone()),
                        Some(Dest::Service(_)) | None => None,
                    },
                }
            })
            .collect()
    }
}

/// The series of `job` for what was `found`, in its order, the host each host-target series
/// goes to, and where the first series of each metric found goes. Two series that would post
/// under the same name to the same place are both made; [`crate::jobs::names::unique`] keeps
/// the first.
fn series(
    job: &MetricsJob,
    found: &[Found],
) -> (Vec<Series>, Vec<HostSpec>, Vec<Option<Rc<Dest>>>) {
    let mut series: Vec<Series> = Vec::new();
    let mut hosts: Vec<HostSpec> = Vec::new();
    let mut dests: Vec<Option<Rc<Dest>>> = Vec::with_capacity(found.len());
    let mut service: Option<Rc<Dest>> = None;
    let namespace: Rc<str> = job.namespace.as_str().into();
    for f in found {
        dests.push(None);
        let (region, metric): (Rc<str>, Rc<str>) =
            (f.region.as_str().into(), f.metric.as_str().into());
        let dimensions: Dimensions = f
            .dimensions
            .iter()
            .map(|(k, v)| (Rc::from(k.as_str()), Rc::from(v.as_str())))
            .collect();
        for m in job.metrics.iter().filter(|m| m.name == f.metric) {
            let value = lookup(f, &m.stat);
            let mut name = job.name_template.render(&value, true);
            let target = match &job.target {
                Target::Service(s) => {
                    Rc::clone(service.get_or_insert_with(|| Rc::new(Dest::Service(s.clone()))))
                }
                Target::Host(h) => {
                    if !name.starts_with("custom.") {
                        name = format!("custom.{name}");
                    }
                    // Required of a namespace job's host target when the file was read.
                    let Some(template) = h.custom_identifier.as_ref() else {
                        continue;
                    };
                    let cid = template.render(&value, false);
                    if !hosts.iter().any(|s| s.custom_identifier == cid) {
                        let host_name = h
                            .name
                            .as_ref()
                            .map_or_else(|| cid.clone(), |t| t.render(&value, false));
                        let used: Map<String, Value> = template
                            .vars()
                            .filter_map(|v| f.dimensions.iter().find(|(k, _)| k == v))
                            .map(|(k, v)| (k.clone(), json!(v)))
                            .collect();
                        let display_name = h
                            .display_name
                            .as_ref()
                            .map_or_else(|| host_name.clone(), |t| t.render(&value, false));
                        hosts.push(HostSpec {
                            display_name,
                            name: host_name,
                            custom_identifier: cid.clone(),
                            meta: json!({
                                "cw2mackerel": {"owner": job.name},
                                "cloudwatch": {
                                    "namespace": job.namespace,
                                    "region": f.region,
                                    "dimensions": used,
                                },
                            }),
                            role_fullnames: h.roles.clone(),
                        });
                    }
                    Rc::new(Dest::Host(cid))
                }
            };
            if let Some(first @ None) = dests.last_mut() {
                *first = Some(Rc::clone(&target));
            }
            series.push(Series {
                region: Rc::clone(&region),
                namespace: Rc::clone(&namespace),
                metric: Rc::clone(&metric),
                dimensions: Rc::clone(&dimensions),
                stat: m.stat.as_str().into(),
                period: job.period,
                name: name.into(),
                dest: target,
                role: job.role.clone(),
                fill_zero: m.nil_to_zero,
            });
        }
    }
    (series, hosts, dests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::template::{Pattern, Template};
    use crate::jobs::{HostTarget, MetricSpec};

    fn job(target: Target) -> MetricsJob {
        MetricsJob {
            name: "alb".into(),
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            namespace: "AWS/ApplicationELB".into(),
            period: 60,
            dimensions: vec![("LoadBalancer".into(), Pattern::new("app/*"))],
            tags: vec![],
            metrics: vec![
                MetricSpec {
                    name: "RequestCount".into(),
                    stat: "Sum".into(),
                    nil_to_zero: true,
                },
                MetricSpec {
                    name: "TargetResponseTime".into(),
                    stat: "p99".into(),
                    nil_to_zero: false,
                },
            ],
            target,
            name_template: Template::parse("alb.{LoadBalancer}.{metric}_{stat}").unwrap(),
            role: None,
        }
    }

    fn found(region: &str, metric: &str, lb: &str) -> Found {
        Found {
            region: region.into(),
            metric: metric.into(),
            dimensions: vec![("LoadBalancer".into(), lb.into())],
        }
    }

    #[test]
    fn names_from_templates_and_clashes_skipped() {
        let found = [
            found("us-east-1", "RequestCount", "app/web/1"),
            found("us-east-1", "TargetResponseTime", "app/web/1"),
            found("eu-west-1", "RequestCount", "app/web/1"),
        ];
        let (s, hosts, _) = series(&job(Target::Service("web".into())), &found);
        assert!(hosts.is_empty());
        // Both twins are made; the pipeline keeps the first of a name.
        assert_eq!(s.len(), 3);
        let (s, collided) = crate::jobs::names::unique(s);
        assert_eq!(collided, ["alb.app_web_1.RequestCount_sum (service web)"]);
        let names: Vec<&str> = s.iter().map(|s| &*s.name).collect();
        assert_eq!(
            names,
            [
                "alb.app_web_1.RequestCount_sum",
                "alb.app_web_1.TargetResponseTime_p99"
            ],
            "the eu-west-1 twin clashes"
        );
        assert!(s[0].fill_zero && !s[1].fill_zero);
        assert_eq!(&*s[1].stat, "p99");
    }

    #[test]
    fn host_targets_get_custom_names_and_one_host_each() {
        let target = Target::Host(HostTarget {
            custom_identifier: Some(Template::parse("alb:{region}:{LoadBalancer}").unwrap()),
            name: Some(Template::parse("{LoadBalancer}").unwrap()),
            display_name: None,
            roles: vec!["web:alb".into()],
            retire_gone: false,
            host_id: None,
        });
        let found = [
            found("us-east-1", "RequestCount", "app/web/1"),
            found("us-east-1", "TargetResponseTime", "app/web/1"),
        ];
        let (s, hosts, _) = series(&job(target), &found);
        assert_eq!(&*s[0].name, "custom.alb.app_web_1.RequestCount_sum");
        assert_eq!(*s[0].dest, Dest::Host("alb:us-east-1:app/web/1".into()));
        assert_eq!(hosts.len(), 1);
        assert_eq!(
            (hosts[0].name.as_str(), hosts[0].display_name.as_str()),
            ("app/web/1", "app/web/1")
        );
        assert_eq!(
            hosts[0].meta["cloudwatch"]["dimensions"],
            json!({"LoadBalancer": "app/web/1"})
        );
        assert_eq!(hosts[0].meta["cw2mackerel"]["owner"], "alb");
    }
}
