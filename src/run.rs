//! The commands: `run` drives one cycle of the pipeline, discover → plan → fetch → map → post,
//! and logs one summary line; `list` prints what discovery finds.

use crate::aws::{Aws, ssm};
use crate::config::Config;
use crate::error::{Error, Result, Secret};
use crate::http::Http;
use crate::mackerel::Mackerel;
use crate::{clock, cloudfront, discover, fetch, log, map, plan, post};
use serde_json::json;
use std::io::Write;
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Summary {
    pub distributions: usize,
    pub queries: usize,
    pub datapoints: usize,
    pub zero_filled: usize,
    pub posted: usize,
}

/// One cycle. Whatever happens, exactly one line is logged: the summary at `info` when all
/// was posted, or the reason at `error` with the same counters.
pub fn run(cfg: &Config) -> Result<()> {
    let started = Instant::now();
    let http = Http::new(cfg.timeout);
    let aws = Aws::new(&http, &cfg.aws);
    let mut summary = Summary::default();
    let result = cycle(cfg, &aws, &mut summary);
    let mut fields = vec![
        ("distributions", json!(summary.distributions)),
        ("queries", json!(summary.queries)),
        ("datapoints", json!(summary.datapoints)),
        ("zero_filled", json!(summary.zero_filled)),
        ("posted", json!(summary.posted)),
        ("calls", json!(http.calls())),
        ("elapsed_ms", json!(started.elapsed().as_millis() as u64)),
    ];
    if cfg.dry_run {
        fields.push(("dry_run", json!(true)));
    }
    match &result {
        Ok(()) => log::info("run ok", &fields),
        Err(e) => {
            fields.insert(0, ("error", json!(e.message())));
            log::error("run failed", &fields);
        }
    }
    result
}

fn cycle(cfg: &Config, aws: &Aws, summary: &mut Summary) -> Result<()> {
    // The key first: a wrong SSM parameter should fail before any CloudWatch cost.
    let key = if cfg.dry_run {
        None
    } else {
        Some(api_key(cfg, aws)?)
    };

    let dists =
        discover::distributions(aws, &cfg.distributions, &cfg.tags, cfg.label.needs_tags())?;
    summary.distributions = dists.len();
    let labels = cloudfront::labels(&dists, &cfg.label);
    let series = cloudfront::series(&dists, &labels, &cfg.groups);
    let plan = plan::plan(series, clock::now(), cfg.lookback, cfg.delay);
    summary.queries = plan.series.len();

    let data = fetch::fetch(aws, &plan)?;
    let mapped = map::map(&plan, &data);
    summary.datapoints = mapped.points.len();
    summary.zero_filled = mapped.zero_filled;

    let Some(key) = key else {
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
    let service = cfg
        .service
        .as_deref()
        .ok_or_else(|| Error::config("no Mackerel service"))?;
    let mackerel = Mackerel::new(aws.http, &cfg.apibase, key);
    match post::to_service(&mackerel, service, &mapped.points) {
        Ok(n) => {
            summary.posted = n;
            Ok(())
        }
        Err((n, e)) => {
            summary.posted = n;
            Err(e)
        }
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

/// `list`: the distributions a run would read, as aligned columns on stdout.
pub fn list(cfg: &Config) -> Result<()> {
    let http = Http::new(cfg.timeout);
    let aws = Aws::new(&http, &cfg.aws);
    let dists =
        discover::distributions(&aws, &cfg.distributions, &cfg.tags, cfg.label.needs_tags())
            .inspect_err(|e| log::error("list failed", &[("error", json!(e.message()))]))?;
    let labels = cloudfront::labels(&dists, &cfg.label);
    let mut rows = vec![[
        "ID".to_string(),
        "LABEL".into(),
        "STATUS".into(),
        "ALIASES".into(),
    ]];
    for (d, label) in dists.iter().zip(labels) {
        let status = if d.status.is_empty() {
            "-".to_string()
        } else if d.enabled {
            d.status.clone()
        } else {
            format!("{} (disabled)", d.status)
        };
        let aliases = if d.aliases.is_empty() {
            "-".to_string()
        } else {
            d.aliases.join(",")
        };
        rows.push([d.id.clone(), label, status, aliases]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = std::io::stdout().lock();
    for r in &rows {
        let line = format!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        if writeln!(out, "{}", line.trim_end()).is_err() {
            break;
        }
    }
    Ok(())
}
