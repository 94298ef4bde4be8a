//! The commands: `run` drives one cycle of the pipeline, discover → plan → fetch → map → post,
//! over every job and logs one summary line; `list` prints what discovery finds.

use crate::aws::cloudfront::Distribution;
use crate::aws::{Aws, ssm};
use crate::config::Config;
use crate::discover::{self, Selection};
use crate::error::{Error, Result, Secret};
use crate::http::Http;
use crate::jobs::{CloudFrontJob, Job, Target};
use crate::mackerel::{HostSpec, Mackerel};
use crate::{clock, cloudfront, fetch, hosts, log, map, namespace, plan, post};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

/// CloudWatch's price for GetMetricData, in dollars per metric requested.
const PRICE_PER_METRIC: f64 = 0.01 / 1000.0;

#[derive(Debug, Default)]
pub struct Summary {
    pub distributions: usize,
    pub queries: usize,
    pub requested: usize,
    pub datapoints: usize,
    pub zero_filled: usize,
    pub posted: usize,
    /// Jobs with a host target only.
    pub hosts: Option<hosts::Resolved>,
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
        .filter_map(|p| match &*p.target {
            plan::Target::Service(s) => Some(s.as_str()),
            plan::Target::Host(_) => None,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for p in points {
        let mut line = json!({"name": &*p.name, "time": p.time, "value": p.value});
        match &*p.target {
            plan::Target::Host(cid) => line["host"] = json!(cid),
            plan::Target::Service(s) if services.len() > 1 => line["service"] = json!(s),
            plan::Target::Service(_) => {}
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

fn selection(job: &CloudFrontJob) -> Selection<'_> {
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
fn api_key(cfg: &Config, aws: &Aws) -> Result<Secret> {
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

/// `list`: what each job would read, as aligned columns on stdout: CloudFront distributions
/// (ID, label, status, aliases), namespace metrics (job, region, metric, dimensions), and for
/// host targets the Mackerel host each maps to (`-` before the first run creates it).
pub fn list(cfg: &Config) -> Result<()> {
    let http = Http::new(cfg.timeout);
    let aws = Aws::new(&http, &cfg.aws);
    let tables = tables(cfg, &aws)
        .inspect_err(|e| log::error("list failed", &[("error", json!(e.message()))]))?;
    let mut out = std::io::stdout().lock();
    for (n, rows) in tables.iter().enumerate() {
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let blank = if n > 0 { "\n" } else { "" };
        let text: String = rows
            .iter()
            .map(|r| {
                let cells: Vec<String> = r
                    .iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:w$}"))
                    .collect();
                format!("{}\n", cells.join("  ").trim_end())
            })
            .collect();
        if write!(out, "{blank}{text}").is_err() {
            break;
        }
    }
    Ok(())
}

fn tables(cfg: &Config, aws: &Aws) -> Result<Vec<Vec<Vec<String>>>> {
    let has_hosts = cfg
        .jobs
        .iter()
        .any(|j| matches!(j.target(), Target::Host(_)));
    let host_ids = match has_hosts {
        true => Some(hosts::lookup(&Mackerel::new(
            aws.http,
            &cfg.apibase,
            api_key(cfg, aws)?,
        ))?),
        false => None,
    };
    let host_of = |cid: &str| {
        or_dash(
            host_ids
                .as_ref()
                .and_then(|ids| ids.get(cid))
                .cloned()
                .unwrap_or_default(),
        )
    };
    let mut distributions = vec![
        ["ID", "LABEL", "STATUS", "ALIASES"]
            .map(String::from)
            .to_vec(),
    ];
    let mut metrics = vec![
        ["JOB", "REGION", "METRIC", "DIMENSIONS"]
            .map(String::from)
            .to_vec(),
    ];
    if has_hosts {
        distributions[0].push("HOST".into());
        metrics[0].push("HOST".into());
    }
    let mut cache = discover::Cache::new(Duration::ZERO);
    for job in &cfg.jobs {
        match job {
            Job::CloudFront(j) => {
                let dists = discover::distributions(aws, &selection(j))?;
                for (d, label) in dists.iter().zip(cloudfront::labels(&dists, &j.label)) {
                    let mut row =
                        vec![d.id.clone(), label, status(d), or_dash(d.aliases.join(","))];
                    if has_hosts {
                        row.push(host_of(&d.arn));
                    }
                    distributions.push(row);
                }
            }
            Job::Metrics(j) => {
                let found = discover::metrics(aws, j, &mut cache)?;
                let (series, _) = namespace::series(j, &found);
                for f in &found {
                    let dims: Vec<String> = f
                        .dimensions
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    let mut row = vec![
                        j.name.clone(),
                        f.region.clone(),
                        f.metric.clone(),
                        or_dash(dims.join(",")),
                    ];
                    if has_hosts {
                        let cid = series
                            .iter()
                            .find(|s| {
                                s.region == f.region
                                    && s.metric == f.metric
                                    && s.dimensions == f.dimensions
                            })
                            .and_then(|s| match &*s.target {
                                plan::Target::Host(cid) => Some(cid.as_str()),
                                plan::Target::Service(_) => None,
                            });
                        row.push(cid.map_or_else(|| "-".to_string(), host_of));
                    }
                    metrics.push(row);
                }
            }
        }
    }
    let mut tables = Vec::new();
    if cfg.jobs.iter().any(|j| matches!(j, Job::CloudFront(_))) {
        tables.push(distributions);
    }
    if cfg.jobs.iter().any(|j| matches!(j, Job::Metrics(_))) {
        tables.push(metrics);
    }
    Ok(tables)
}

fn status(d: &Distribution) -> String {
    match (d.status.is_empty(), d.enabled) {
        (true, _) => "-".into(),
        (false, true) => d.status.clone(),
        (false, false) => format!("{} (disabled)", d.status),
    }
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}
