//! The commands: `run` drives one cycle of the pipeline, discover → plan → fetch → map → post,
//! and logs one summary line; `list` prints what discovery finds.

use crate::aws::cloudfront::Distribution;
use crate::aws::{Aws, ssm};
use crate::config::{Config, Mode};
use crate::discover::{self, Selection};
use crate::error::{Error, Result, Secret};
use crate::http::Http;
use crate::mackerel::Mackerel;
use crate::{clock, cloudfront, fetch, hosts, log, map, plan, post};
use serde_json::{Value, json};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Summary {
    pub distributions: usize,
    pub queries: usize,
    pub datapoints: usize,
    pub zero_filled: usize,
    pub posted: usize,
    /// Host mode only.
    pub hosts: Option<hosts::Resolved>,
}

/// What lives from one cycle to the next in a daemon or a warm Lambda: credentials (inside
/// `aws`), the Mackerel client with its key, whether graph definitions went out, and the
/// points not posted yet.
pub struct Session<'a> {
    cfg: &'a Config,
    http: &'a Http,
    aws: Aws<'a>,
    mackerel: Option<Mackerel<'a>>,
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
            fields.push(("dry_run", json!(true)));
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
        let (cfg, aws) = (self.cfg, &self.aws);
        // The key first: a wrong SSM parameter should fail before any CloudWatch cost.
        if self.mackerel.is_none() && !cfg.dry_run {
            self.mackerel = Some(Mackerel::new(self.http, &cfg.apibase, api_key(cfg, aws)?));
        }
        let mackerel = self.mackerel.as_ref();

        let dists = discover::distributions(aws, &selection(cfg))?;
        summary.distributions = dists.len();

        // Hosts before CloudWatch, so a Mackerel problem costs no GetMetricData.
        let ensure_hosts = |mackerel: &Mackerel| {
            let specs = cloudfront::host_specs(&dists, &cfg.label, &cfg.roles);
            hosts::ensure(
                mackerel,
                &specs,
                cloudfront::OWNER,
                cfg.roles.first().map(String::as_str),
                cfg.retire_gone,
            )
        };
        if let (Some(m), Mode::Host) = (mackerel, cfg.mode) {
            summary.hosts = Some(ensure_hosts(m)?);
            if !dists.is_empty() && !self.graph_defs_posted {
                m.create_graph_defs(&cloudfront::graph_defs(&cfg.groups))?;
                self.graph_defs_posted = true;
            }
        }

        let labels = cloudfront::labels(&dists, &cfg.label);
        let series = cloudfront::series(&dists, &labels, &cfg.groups, cfg.mode);
        let now = clock::now();
        let plan = plan::plan(series, now, lookback, cfg.delay);
        summary.queries = plan.series.len();

        let data = fetch::fetch(aws, &plan)?;
        let mapped = map::map(&plan, &data);
        summary.datapoints = mapped.points.len();
        summary.zero_filled = mapped.zero_filled;

        let Some(mackerel) = mackerel else {
            let mut out = std::io::stdout().lock();
            for p in &mapped.points {
                // A closed pipe (`| head`) just ends the listing.
                if writeln!(out, "{}", json!(p)).is_err() {
                    break;
                }
            }
            let _ = out.flush();
            return Ok(());
        };
        let points = self.backlog.merge(mapped.points, now);
        let result = match (cfg.mode, &summary.hosts) {
            (Mode::Host, Some(h)) => post::to_hosts(mackerel, &points, h.ids.clone(), || {
                Ok(ensure_hosts(mackerel)?.ids)
            }),
            _ => {
                let service = cfg
                    .service
                    .as_deref()
                    .ok_or_else(|| Error::config("no Mackerel service"))?;
                post::to_service(mackerel, service, &points)
            }
        };
        let (posted, result) = match result {
            Ok(n) => (n, Ok(())),
            Err((n, e)) => (n, Err(e)),
        };
        summary.posted = posted;
        self.backlog.keep(points[posted..].to_vec());
        result
    }
}

/// `run`: one cycle.
pub fn run(cfg: &Config) -> Result<()> {
    let http = Http::new(cfg.timeout);
    Session::new(cfg, &http).cycle("run", cfg.lookback).0
}

fn selection(cfg: &Config) -> Selection<'_> {
    Selection {
        ids: &cfg.distributions,
        tags: &cfg.tags,
        need_tags: cfg.label.needs_tags(),
        need_details: cfg.mode == Mode::Host,
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

/// `list`: the distributions a run would read, as aligned columns on stdout; in host mode
/// with the Mackerel host each maps to (`-` before the first run creates it).
pub fn list(cfg: &Config) -> Result<()> {
    let http = Http::new(cfg.timeout);
    let aws = Aws::new(&http, &cfg.aws);
    let result = rows(cfg, &aws);
    let rows =
        result.inspect_err(|e| log::error("list failed", &[("error", json!(e.message()))]))?;
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = std::io::stdout().lock();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        if writeln!(out, "{}", line.join("  ").trim_end()).is_err() {
            break;
        }
    }
    Ok(())
}

fn rows(cfg: &Config, aws: &Aws) -> Result<Vec<Vec<String>>> {
    let dists = discover::distributions(aws, &selection(cfg))?;
    let labels = cloudfront::labels(&dists, &cfg.label);
    let host_ids = match cfg.mode {
        Mode::Host => Some(hosts::lookup(&Mackerel::new(
            aws.http,
            &cfg.apibase,
            api_key(cfg, aws)?,
        ))?),
        Mode::Service => None,
    };
    let mut header = vec!["ID", "LABEL", "STATUS", "ALIASES"];
    if host_ids.is_some() {
        header.push("HOST");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for (d, label) in dists.iter().zip(labels) {
        let mut row = vec![d.id.clone(), label, status(d), or_dash(d.aliases.join(","))];
        if let Some(ids) = &host_ids {
            row.push(or_dash(ids.get(&d.arn).cloned().unwrap_or_default()));
        }
        rows.push(row);
    }
    Ok(rows)
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
