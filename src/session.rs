//! One cycle of the pipeline over every job, and nothing else: discover → plan → fetch → map
//! → post, in that order, each step a module of its own, logged as one summary line
//! ([`summary`]). A session also holds what lives from one cycle to the next in a daemon or
//! a warm Lambda: the clients (credentials, the Mackerel key), discovery answers, the host
//! map (`hosts`), the points Mackerel did not take yet (the backlog) and the record of those
//! it took; the state file's keeper ([`keep`]) reads and writes what outlives the process.
//!
//! One failing resource never blocks the others: a job whose discovery fails, a
//! GetMetricData batch that is refused, a host that cannot be made, a body Mackerel refuses —
//! each is reported (`failed` in the summary line) and costs its own points alone; the cycle
//! then counts as failed.

mod keep;
mod summary;

pub use keep::Keep;

use crate::aws::Aws;
use crate::config::{ApiKey, Config};
use crate::error::{Error, Result};
use crate::hosts::Hosts;
use crate::jobs::{Series, names};
use crate::mackerel::{self, GraphDef, KeySource, Mackerel};
use crate::presets::HostJob;
use crate::record::Record;
use crate::transport::Http;
use crate::{clock, discover, dry_run, fetch, log, map, plan, post, signals};
use keep::Keeper;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use summary::Summary;

pub struct Session<'a> {
    cfg: &'a Config,
    http: &'a Http,
    aws: Aws<'a>,
    /// Made at the first cycle that posts: its key may be read from SSM.
    mackerel: Option<Mackerel<'a>>,
    keeper: Keeper<'a>,
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
            keeper: Keeper::new(cfg, keep),
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
        let result = self.pipeline(lookback, &mut summary);
        self.http.set_deadline(None);
        let result = summary.verdict(result);
        let unposted = self.backlog.oldest();
        self.keeper
            .save(result.is_ok(), &self.record, &self.hosts, unposted);
        // A run ends with its cycle: only a daemon or a Lambda environment keeps a backlog.
        if self.keeper.keep() != Keep::Everything {
            summary.backlog = self.backlog.len();
        }
        summary.calls = self.http.take_calls();
        summary.elapsed = started.elapsed();
        summary.dry_run_every = self.cfg.dry_run.then_some(self.cfg.interval);
        let fields = summary.fields();
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

    fn pipeline(&mut self, lookback: Duration, summary: &mut Summary) -> Result<()> {
        let cfg = self.cfg;
        // The key first: a wrong SSM parameter should fail before any CloudWatch cost.
        if self.mackerel.is_none() && !cfg.dry_run {
            let key = mackerel::api_key(&self.aws, key_source(cfg)?)?;
            self.keeper.know_key(&key);
            self.mackerel = Some(Mackerel::new(self.http, &cfg.apibase, key));
        }
        self.keeper.load(&mut self.record, &mut self.hosts);
        // A stop before anything was read (the state file's lock wait, say) ends the cycle.
        if let Some(signal) = signals::stopped_by() {
            let why = format!("stopped by {signal} before reading anything");
            return Err(Error::runtime(why));
        }
        let lookback = match self.keeper.take_owed() {
            Some(since) => lookback.max(reach_back_to(since, clock::now(), cfg.delay)),
            None => lookback,
        };

        let (series, host_jobs, graph_defs) = self.discover(summary);
        let (series, collisions) = names::settle(series, self.cache.take_refreshed());
        summary.collisions = collisions;
        // Hosts before CloudWatch, so a Mackerel problem costs no GetMetricData.
        self.hosts_and_graphs(&host_jobs, graph_defs, summary);

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
        summary
            .failed
            .extend(out.errors.iter().map(Error::to_string));
        if let Some(again) = out.hosts {
            // A host found gone while posting was replaced: its new host has none of the record.
            self.record.forget_hosts(&again.moved);
            if let Some(h) = &mut summary.hosts {
                h.absorb(again);
            }
        }
        self.record.remember(&out.accepted);
        if let Some(oldest) = oldest {
            self.record.forget_before(oldest);
        }
        self.backlog.keep(out.unposted);
        summary.dropped = self.backlog.take_dropped();
        Ok(())
    }

    /// Every job's series, host jobs and graph definitions, as its preset expands what
    /// discovery found. A job whose discovery fails is reported and left out of this cycle.
    fn discover(&mut self, summary: &mut Summary) -> (Vec<Series>, Vec<HostJob>, Vec<GraphDef>) {
        let mut series = Vec::new();
        let mut host_jobs = Vec::new();
        let mut graph_defs = Vec::new();
        for job in &self.cfg.jobs {
            match discover::expand(&self.aws, job, &mut self.cache) {
                Ok(e) => {
                    summary.distributions += e.distributions();
                    series.extend(e.series);
                    host_jobs.extend(e.host_job);
                    graph_defs.extend(e.graph_defs);
                }
                Err(e) => summary.failed.push(format!("job {}: {e}", job.name())),
            }
        }
        (series, host_jobs, graph_defs)
    }

    /// The hosts of the host jobs found or made, and their graph definitions posted once
    /// (posting only). What moved to another host is forgotten by the record.
    fn hosts_and_graphs(
        &mut self,
        host_jobs: &[HostJob],
        mut graph_defs: Vec<GraphDef>,
        summary: &mut Summary,
    ) {
        let Some(m) = self.mackerel.as_ref().filter(|_| !host_jobs.is_empty()) else {
            return;
        };
        let ttl = self.cfg.discovery_ttl;
        match self.hosts.resolve(m, host_jobs, ttl, clock::now()) {
            Ok(resolved) => {
                for (cid, e) in &resolved.failed {
                    summary.failed.push(format!("host {cid}: {e}"));
                }
                self.record.forget_hosts(&resolved.moved);
                summary.hosts = Some(resolved);
            }
            Err(e) => summary.failed.push(format!("listing hosts: {e}")),
        }
        graph_defs.retain(|d| !self.graph_defs_posted.contains(&d.name));
        if graph_defs.is_empty() {
            return;
        }
        match m.create_graph_defs(&graph_defs) {
            Ok(()) => {
                let names = graph_defs.into_iter().map(|d| d.name);
                self.graph_defs_posted.extend(names);
            }
            Err(e) => summary.failed.push(format!("graph definitions: {e}")),
        }
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

/// Where the configuration says the API key is: the one place that reads it. A parameter is
/// read in the region of its ARN, else in the configured region (which the configuration
/// check made sure exists; an error names which it was).
pub fn key_source(cfg: &Config) -> Result<KeySource<'_>> {
    match &cfg.apikey {
        ApiKey::Direct(key) => Ok(KeySource::Given(key)),
        ApiKey::Ssm {
            name,
            region: Some(r),
        } => Ok(KeySource::Ssm {
            name,
            region: &r.name,
            region_from: &r.from,
        }),
        ApiKey::Ssm { region: None, .. } => Err(Error::config(
            "MACKEREL_APIKEY_SSM needs AWS_REGION or a parameter ARN",
        )),
        ApiKey::None => Err(Error::config("no Mackerel API key")),
    }
}
