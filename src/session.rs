//! One cycle of the pipeline over every job, discover → plan → fetch → map → post, logged as
//! one summary line; and what lives from one cycle to the next in a daemon or a warm Lambda.

use crate::aws::{Aws, ssm};
use crate::config::Config;
use crate::discover::{self, Selection};
use crate::error::{Error, Result, Secret};
use crate::http::Http;
use crate::jobs::{CloudFrontJob, Dest, Job, Target};
use crate::mackerel::{HostSpec, Mackerel};
use crate::presets::{cloudfront, namespace};
use crate::{clock, fetch, hosts, log, map, plan, post};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

/// CloudWatch's price for GetMetricData, in dollars per metric requested.
const PRICE_PER_METRIC: f64 = 0.01 / 1000.0;

#[derive(Debug, Default)]
struct Summary {
    distributions: usize,
    queries: usize,
    requested: usize,
    datapoints: usize,
    zero_filled: usize,
    posted: usize,
    /// Jobs with a host target only.
    hosts: Option<hosts::Resolved>,
}

/// The hosts one job wants, and how it tells its own from others'.
struct HostJob {
    specs: Vec<HostSpec>,
    owner: String,
    role: Option<String>,
    retire_gone: bool,
}

/// What lives from one cycle to the next in a daemon or a warm Lambda: credentials (inside
/// `aws`), the Mackerel client with its key, discovery answers, whether graph definitions went
/// out, and the points not posted yet.
pub struct Session<'a> {
    cfg: &'a Config,
    http: &'a Http,
    aws: Aws<'a>,
    mackerel: Option<Mackerel<'a>>,
    cache: discover::Cache,
    graph_defs_posted: bool,
    backlog: post::Backlog,
}

impl<'a> Session<'a> {
    pub fn new(cfg: &'a Config, http: &'a Http) -> Self {
        Session {
            cfg,
            http,
            aws: Aws::new(http, &cfg.aws),
            mackerel: None,
            cache: discover::Cache::new(cfg.discovery_ttl),
            graph_defs_posted: false,
            backlog: post::Backlog::default(),
        }
    }

    /// One cycle over `lookback`, logged as one line: `<what> ok` with the counters at
    /// `info`, or `<what> failed` with the reason first at `error`. Returns the fields too.
    pub fn cycle(
        &mut self,
        what: &str,
        lookback: Duration,
    ) -> (Result<()>, Vec<(&'static str, Value)>) {
        let started = Instant::now();
        let mut summary = Summary::default();
        let result = self.pipeline(lookback, &mut summary);
        let mut fields = vec![
            ("distributions", json!(summary.distributions)),
            ("queries", json!(summary.queries)),
            ("metrics_requested", json!(summary.requested)),
            ("datapoints", json!(summary.datapoints)),
            ("zero_filled", json!(summary.zero_filled)),
            ("posted", json!(summary.posted)),
        ];
        if let Some(h) = &summary.hosts {
            fields.push(("hosts", json!({"live": h.ids.len(), "created": h.created, "updated": h.updated, "retired": h.retired})));
            fields.push(("gone", json!(h.gone.len())));
            if !h.gone.is_empty() {
                fields.push(("gone_ids", json!(h.gone.join(","))));
            }
        }
        if self.backlog.len() > 0 || self.backlog.dropped > 0 {
            fields.push(("backlog", json!(self.backlog.len())));
            fields.push(("dropped", json!(self.backlog.dropped)));
        }
        fields.push(("calls", json!(self.http.take_calls())));
        fields.push(("elapsed_ms", json!(started.elapsed().as_millis() as u64)));
        if self.cfg.dry_run {
            // What reading this every interval would cost: GetMetricData bills per metric.
            let per_day = summary.queries as f64
                * (86_400.0 / self.cfg.interval.as_secs_f64())
                * PRICE_PER_METRIC;
            fields.push(("dry_run", json!(true)));
            fields.push(("interval_s", json!(self.cfg.interval.as_secs())));
            fields.push((
                "cost_per_day_usd",
                json!((per_day * 10_000.0).round() / 10_000.0),
            ));
        }
        match &result {
            Ok(()) => log::info(&format!("{what} ok"), &fields),
            Err(e) => {
                fields.insert(0, ("error", json!(e.message())));
                log::error(&format!("{what} failed"), &fields);
            }
        }
        (result, fields)
    }

    fn pipeline(&mut self, lookback: Duration, summary: &mut Summary) -> Result<()> {
        let cfg = self.cfg;
        // The key first: a wrong SSM parameter should fail before any CloudWatch cost.
        if self.mackerel.is_none() && !cfg.dry_run {
            self.mackerel = Some(Mackerel::new(
                self.http,
                &cfg.apibase,
                api_key(cfg, &self.aws)?,
            ));
        }

        let mut series = Vec::new();
        let mut host_jobs = Vec::new();
        let mut graph_defs = Vec::new();
        for job in &cfg.jobs {
            match job {
                Job::CloudFront(j) => {
                    let dists = discover::distributions(&self.aws, &selection(j))?;
                    summary.distributions += dists.len();
                    let labels = cloudfront::labels(&dists, &j.label);
                    series.extend(cloudfront::series(
                        &dists,
                        &labels,
                        &j.groups,
                        &j.target,
                        j.role.as_ref(),
                    ));
                    if let Target::Host(h) = &j.target {
                        host_jobs.push(HostJob {
                            specs: cloudfront::host_specs(&dists, &j.label, h, &j.name),
                            owner: j.name.clone(),
                            role: h.roles.first().cloned(),
                            retire_gone: h.retire_gone,
                        });
                        if !dists.is_empty() {
                            graph_defs.extend(cloudfront::graph_defs(&j.groups));
                        }
                    }
                }
                Job::Metrics(j) => {
                    let found = discover::metrics(&self.aws, j, &mut self.cache)?;
                    let (s, specs) = namespace::series(j, &found);
                    series.extend(s);
                    if let Target::Host(h) = &j.target {
                        host_jobs.push(HostJob {
                            specs,
                            owner: j.name.clone(),
                            role: h.roles.first().cloned(),
                            retire_gone: h.retire_gone,
                        });
                    }
                }
            }
        }

        // Hosts before CloudWatch, so a Mackerel problem costs no GetMetricData.
        let mackerel = self.mackerel.as_ref();
        let mut host_ids = HashMap::new();
        if let Some(m) = mackerel.filter(|_| !host_jobs.is_empty()) {
            let resolved = ensure_all(m, &host_jobs)?;
            host_ids = resolved.ids.clone();
            summary.hosts = Some(resolved);
            if !graph_defs.is_empty() && !self.graph_defs_posted {
                m.create_graph_defs(&graph_defs)?;
                self.graph_defs_posted = true;
            }
        }

        let now = clock::now();
        let plan = plan::plan(series, now, lookback, cfg.delay);
        summary.queries = plan.series.len();
        let (data, requested) = fetch::fetch(&self.aws, &plan)?;
        summary.requested = requested;
        let mapped = map::map(&plan, &data);
        summary.datapoints = mapped.points.len();
        summary.zero_filled = mapped.zero_filled;

        // The points share their names with the plan: what CloudWatch said can go.
        drop((plan, data));
        let Some(mackerel) = mackerel else {
            print_points(&mapped.points);
            return Ok(());
        };
        let points = self.backlog.merge(mapped.points, now);
        let out = post::post(mackerel, points, host_ids, || {
            Ok(ensure_all(mackerel, &host_jobs)?.ids)
        });
        summary.posted = out.posted;
        self.backlog.keep(out.unposted);
        match out.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Finds or creates the hosts of every host job, adding up what happened.
fn ensure_all(mackerel: &Mackerel, jobs: &[HostJob]) -> Result<hosts::Resolved> {
    let mut all = hosts::Resolved::default();
    for j in jobs {
        let r = hosts::ensure(
            mackerel,
            &j.specs,
            &j.owner,
            j.role.as_deref(),
            j.retire_gone,
        )?;
        all.ids.extend(r.ids);
        all.created += r.created;
        all.updated += r.updated;
        all.retired += r.retired;
        all.gone.extend(r.gone);
    }
    Ok(all)
}

/// `--dry-run` output: one JSON line per point, `{"name","time","value"}`, with `host` (its
/// customIdentifier) for host metrics and `service` when more than one service is posted to.
fn print_points(points: &[map::Point]) {
    let services: BTreeSet<&str> = points
        .iter()
        .filter_map(|p| match &*p.dest {
            Dest::Service(s) => Some(s.as_str()),
            Dest::Host(_) => None,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for p in points {
        let mut line = json!({"name": &*p.name, "time": p.time, "value": p.value});
        match &*p.dest {
            Dest::Host(cid) => line["host"] = json!(cid),
            Dest::Service(s) if services.len() > 1 => line["service"] = json!(s),
            Dest::Service(_) => {}
        }
        // A closed pipe (`| head`) just ends the listing.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    let _ = out.flush();
}

/// `run`: one cycle.
pub fn run(cfg: &Config) -> Result<()> {
    let http = Http::new(cfg.timeout);
    Session::new(cfg, &http).cycle("run", cfg.lookback).0
}

pub fn selection(job: &CloudFrontJob) -> Selection<'_> {
    Selection {
        ids: &job.distributions,
        tags: &job.tags,
        need_tags: job.label.needs_tags(),
        need_details: matches!(job.target, Target::Host(_)),
        role: job.role.as_ref(),
    }
}

/// The API key: given directly, or read from SSM (the region of the ARN, else the configured
/// region, which the configuration check made sure exists).
pub fn api_key(cfg: &Config, aws: &Aws) -> Result<Secret> {
    if let Some(k) = &cfg.apikey {
        return Ok(k.clone());
    }
    let name = cfg
        .apikey_ssm
        .as_deref()
        .ok_or_else(|| Error::config("no Mackerel API key"))?;
    let region = ssm::arn_region(name)
        .or(cfg.aws.region.as_deref())
        .ok_or_else(|| Error::config("MACKEREL_APIKEY_SSM needs AWS_REGION or a parameter ARN"))?;
    ssm::get_parameter(aws, name, region)
}
