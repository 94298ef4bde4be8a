//! One cycle of the pipeline over every job, discover → plan → fetch → map → post, logged as
//! one summary line; and what lives from one cycle to the next in a daemon or a warm Lambda:
//! credentials, the Mackerel key, discovery answers, the host map, the points Mackerel did
//! not take yet (the backlog) and the record of those it took. `run` keeps that record, and
//! the hosts it created lately, in the state file.
//!
//! One failing resource never blocks the others: a job whose discovery fails, a
//! GetMetricData batch that is refused, a host that cannot be made, a body Mackerel refuses —
//! each is reported (`failed` in the summary line) and costs its own points alone; the cycle
//! then counts as failed.

mod keep;

use crate::aws::{Aws, ssm};
use crate::config::{ApiKey, Config};
use crate::discover::{self, Selection};
use crate::error::{Error, Result, Secret};
use crate::hosts::{HostJob, Hosts, Resolved};
use crate::jobs::{CloudFrontJob, Job, Series, Target, names};
use crate::mackerel::{self, GraphDef, Mackerel};
use crate::presets::{cloudfront, namespace};
use crate::record::Record;
use crate::transport::Http;
use crate::{clock, dry_run, fetch, log, map, plan, post, signals, state};
use serde_json::{Value, json};
use std::collections::HashSet;
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
    /// Points left out because Mackerel has them already, with the same value.
    skipped: usize,
    /// Series not read because an earlier one has their name and place.
    collisions: usize,
    posted: usize,
    /// Points Mackerel refused one by one for what they hold.
    refused: usize,
    /// Points past Mackerel's horizon (or beyond the backlog's bound) before they were posted.
    dropped: u64,
    /// Jobs with a host target only.
    hosts: Option<Resolved>,
    /// What failed, one line each: the job or resource, and what AWS or Mackerel said.
    failed: Vec<String>,
}

/// Where a session keeps what outlives it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing (a Lambda environment lives in memory only).
    Nothing,
    /// When each cycle ended, for `healthcheck` (a daemon).
    Health,
    /// That, and the record and recent hosts, read back by the next run (`run`).
    Everything,
}

pub struct Session<'a> {
    cfg: &'a Config,
    http: &'a Http,
    aws: Aws<'a>,
    mackerel: Option<Mackerel<'a>>,
    /// The state file's fingerprint of this configuration (the API base and the jobs).
    fingerprint: String,
    /// And of the API key, once it is known (a dry run knows none).
    key_print: Option<String>,
    keep: Keep,
    /// Whether the state file was read (or found missing) yet; `Everything`: the lock held.
    loaded: bool,
    /// From the state file: the oldest point an earlier process or run left unposted.
    unposted_since: Option<i64>,
    lock: Option<state::Lock>,
    cache: discover::Cache,
    hosts: Hosts,
    /// The graph definitions Mackerel took, by name: a new distribution's are posted too.
    graph_defs_posted: HashSet<String>,
    backlog: post::Backlog,
    record: Record,
}

impl<'a> Session<'a> {
    pub fn new(cfg: &'a Config, http: &'a Http, keep: Keep) -> Self {
        Session {
            cfg,
            http,
            aws: Aws::new(http, &cfg.aws),
            mackerel: None,
            fingerprint: state::fingerprint(&[&cfg.apibase, &format!("{:?}", cfg.jobs)]),
            key_print: None,
            keep,
            loaded: false,
            unposted_since: None,
            lock: None,
            cache: discover::Cache::new(cfg.discovery_ttl),
            hosts: Hosts::new(crate::hosts::owners(&cfg.jobs)),
            graph_defs_posted: HashSet::new(),
            backlog: post::Backlog::default(),
            record: Record::default(),
        }
    }

    /// One cycle over `lookback`, done by `deadline` (no request or retry begins after it),
    /// logged as one line: `<what> ok` with the counters at `info`, or `<what> failed` with
    /// the reason first at `error`. Returns the fields too.
    pub fn cycle(
        &mut self,
        what: &str,
        lookback: Duration,
        deadline: Instant,
    ) -> (Result<()>, Vec<(&'static str, Value)>) {
        let started = Instant::now();
        let mut summary = Summary::default();
        self.http.set_deadline(Some(deadline));
        let mut result = self.pipeline(lookback, &mut summary);
        self.http.set_deadline(None);
        if result.is_ok()
            && let Some(first) = summary.failed.first()
        {
            result = Err(Error::runtime(match summary.failed.len() {
                1 => first.clone(),
                n => format!("{n} parts of the cycle failed; the first: {first}"),
            }));
        }
        self.save(result.is_ok());
        let fields = self.fields(&summary, started);
        let mut logged = fields.clone();
        match &result {
            Ok(()) => log::info(&format!("{what} ok"), &logged),
            Err(e) => {
                logged.insert(0, ("error", json!(e.message())));
                log::error(&format!("{what} failed"), &logged);
            }
        }
        (result, fields)
    }

    fn fields(&self, summary: &Summary, started: Instant) -> Vec<(&'static str, Value)> {
        let mut fields = vec![
            ("distributions", json!(summary.distributions)),
            ("queries", json!(summary.queries)),
            ("metrics_requested", json!(summary.requested)),
            ("datapoints", json!(summary.datapoints)),
            ("zero_filled", json!(summary.zero_filled)),
            ("skipped", json!(summary.skipped)),
            ("posted", json!(summary.posted)),
        ];
        for (name, n) in [
            ("refused", summary.refused as u64),
            ("dropped", summary.dropped),
        ] {
            if n > 0 {
                fields.push((name, json!(n)));
            }
        }
        if let Some(h) = &summary.hosts {
            fields.push(("hosts", json!({"live": h.live, "created": h.created, "updated": h.updated, "retired": h.retired})));
            fields.push(("gone", json!(h.gone.len())));
            if !h.gone.is_empty() {
                fields.push(("gone_ids", json!(h.gone.join(","))));
            }
        }
        // A run ends with its cycle: only a daemon or a Lambda environment keeps a backlog.
        if self.keep != Keep::Everything && self.backlog.len() > 0 {
            fields.push(("backlog", json!(self.backlog.len())));
        }
        if summary.collisions > 0 {
            fields.push(("collisions", json!(summary.collisions)));
        }
        if !summary.failed.is_empty() {
            fields.push(("failed", json!(summary.failed)));
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
        fields
    }

    fn pipeline(&mut self, lookback: Duration, summary: &mut Summary) -> Result<()> {
        let cfg = self.cfg;
        // The key first: a wrong SSM parameter should fail before any CloudWatch cost.
        if self.mackerel.is_none() && !cfg.dry_run {
            let key = api_key(cfg, &self.aws)?;
            self.key_print = Some(state::fingerprint(&[key.expose()]));
            self.mackerel = Some(Mackerel::new(self.http, &cfg.apibase, key));
        }
        if self.keep != Keep::Nothing && !self.loaded {
            self.load();
        }
        // A stop before anything was read (the state file's lock wait, say) ends the cycle.
        if let Some(signal) = signals::stopped_by() {
            let why = format!("stopped by {signal} before reading anything");
            return Err(Error::runtime(why));
        }
        let lookback = match self.unposted_since.take() {
            Some(since) => lookback.max(reach_back_to(since, clock::now(), cfg.delay)),
            None => lookback,
        };

        let (series, host_jobs, graph_defs) = self.discover(summary);
        let (series, collisions) = names::settle(series, self.cache.take_refreshed());
        summary.collisions = collisions;
        // Hosts before CloudWatch, so a Mackerel problem costs no GetMetricData.
        if let Some(m) = self.mackerel.as_ref().filter(|_| !host_jobs.is_empty()) {
            match self
                .hosts
                .resolve(m, &host_jobs, cfg.discovery_ttl, clock::now())
            {
                Ok(resolved) => {
                    for (cid, e) in &resolved.failed {
                        summary.failed.push(format!("host {cid}: {e}"));
                    }
                    summary.hosts = Some(resolved);
                    self.hosts.note(&mut self.record);
                }
                Err(e) => summary.failed.push(format!("listing hosts: {e}")),
            }
            let mut new = graph_defs;
            new.retain(|d| !self.graph_defs_posted.contains(&d.name));
            if !new.is_empty() {
                match m.create_graph_defs(&new) {
                    Ok(()) => {
                        for d in new {
                            self.graph_defs_posted.insert(d.name);
                        }
                    }
                    Err(e) => summary.failed.push(format!("graph definitions: {e}")),
                }
            }
        }

        let now = clock::now();
        let plan = plan::plan(series, now, lookback, cfg.delay);
        summary.queries = plan.series.len();
        let fetched = fetch::fetch(&self.aws, &plan);
        summary.requested = fetched.requested;
        for (place, e) in &fetched.failed {
            summary.failed.push(format!("{place}: {e}"));
        }
        let mapped = map::map(&plan, fetched.series, &self.record);
        summary.datapoints = mapped.datapoints;
        summary.zero_filled = mapped.zero_filled;
        summary.skipped = mapped.skipped;
        // Nothing older than the oldest window will be read again.
        let oldest = plan.batches.iter().map(|b| b.window.start).min();
        // The points share their names with the plan: the rest of it can go.
        drop(plan);

        let Some(mackerel) = self.mackerel.as_ref() else {
            dry_run::print(&mapped.points);
            return Ok(());
        };
        // Past Mackerel's horizon is judged now, after the reading, as close to the post as can be.
        let points = self.backlog.merge(mapped.points, clock::now());
        let out = post::post(mackerel, points, &mut self.hosts);
        summary.posted = out.accepted.len();
        summary.refused = out.refused;
        for e in &out.errors {
            summary.failed.push(e.to_string());
        }
        if let (Some(h), Some(again)) = (&mut summary.hosts, out.hosts) {
            h.absorb(again);
        }
        // A host found gone while posting was replaced: its new host has none of the record.
        self.hosts.note(&mut self.record);
        self.record.remember(&out.accepted);
        if let Some(oldest) = oldest {
            self.record.forget_before(oldest);
        }
        self.backlog.keep(out.unposted);
        summary.dropped = self.backlog.take_dropped();
        Ok(())
    }

    /// Every job's series, host jobs and graph definitions. A job whose discovery fails is
    /// reported and left out of this cycle.
    fn discover(&mut self, summary: &mut Summary) -> (Vec<Series>, Vec<HostJob>, Vec<GraphDef>) {
        let mut series = Vec::new();
        let mut host_jobs = Vec::new();
        let mut graph_defs = Vec::new();
        for job in &self.cfg.jobs {
            match job {
                Job::CloudFront(j) => {
                    let dists =
                        match discover::distributions(&self.aws, &selection(j), &mut self.cache) {
                            Ok(d) => d,
                            Err(e) => {
                                summary.failed.push(format!("job {}: {e}", j.name));
                                continue;
                            }
                        };
                    summary.distributions += dists.len();
                    let labels = cloudfront::labels(&dists, &j.label);
                    let region = self.aws.global_region();
                    series.extend(cloudfront::series(j, &dists, &labels, region));
                    if let Target::Host(h) = &j.target {
                        host_jobs.push(HostJob {
                            specs: cloudfront::host_specs(&dists, &j.label, h, &j.name),
                            owner: j.name.clone(),
                            role: h.roles.first().cloned(),
                            retire_gone: h.retire_gone,
                            existing: h.host_id.clone(),
                        });
                        graph_defs.extend(cloudfront::graph_defs(j, &dists, &labels));
                    }
                }
                Job::Metrics(j) => {
                    let found = match discover::metrics(&self.aws, j, &mut self.cache) {
                        Ok(f) => f,
                        Err(e) => {
                            summary.failed.push(format!("job {}: {e}", j.name));
                            continue;
                        }
                    };
                    let (s, specs) = namespace::series(j, &found);
                    series.extend(s);
                    if let Target::Host(h) = &j.target {
                        host_jobs.push(HostJob {
                            specs,
                            owner: j.name.clone(),
                            role: h.roles.first().cloned(),
                            retire_gone: h.retire_gone,
                            existing: None,
                        });
                    }
                }
            }
        }
        (series, host_jobs, graph_defs)
    }
}

/// The look-back that reaches `since` (a period start) from `now`, within what Mackerel
/// still accepts when the cycle posts ([`mackerel::POSTABLE`]), less a minute for rounding
/// the window and a minute for reading it: no point is read only to be dropped.
fn reach_back_to(since: i64, now: i64, delay: Duration) -> Duration {
    let reach = now
        .saturating_sub(delay.as_secs() as i64)
        .saturating_sub(since)
        .max(0);
    let spare = delay + Duration::from_secs(120);
    Duration::from_secs(reach as u64).min(mackerel::POSTABLE.saturating_sub(spare))
}

/// `run`: one cycle, with the state file.
pub fn run(cfg: &Config) -> Result<()> {
    let http = cfg.http()?;
    Session::new(cfg, &http, Keep::Everything)
        .cycle("run", cfg.lookback, Instant::now() + cfg.cycle_timeout)
        .0
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
/// region, which the configuration check made sure exists; an error names which it was).
pub fn api_key(cfg: &Config, aws: &Aws) -> Result<Secret> {
    let (name, region) = match &cfg.apikey {
        ApiKey::Direct(k) => return Ok(k.clone()),
        ApiKey::Ssm { name, region } => (name, region),
        ApiKey::None => return Err(Error::config("no Mackerel API key")),
    };
    let region = region
        .as_ref()
        .ok_or_else(|| Error::config("MACKEREL_APIKEY_SSM needs AWS_REGION or a parameter ARN"))?;
    let key = ssm::get_parameter(aws, name, &region.name, &region.from)?;
    mackerel::check_key(key.expose())
        .map_err(|e| Error::runtime(format!("the SSM parameter {name:?}: {e}")))?;
    Ok(key)
}
