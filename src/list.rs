//! `list`: what each job would read, as aligned columns on stdout.

use crate::aws::Aws;
use crate::aws::cloudfront::Distribution;
use crate::config::Config;
use crate::discover;
use crate::error::Result;
use crate::jobs::{Dest, HostTarget, Job, Target};
use crate::mackerel::Mackerel;
use crate::presets::{cloudfront, namespace};
use crate::session::{api_key, selection};
use crate::{hosts, log};
use serde_json::json;
use std::io::Write;
use std::time::Duration;

/// `list`: what each job would read, as aligned columns on stdout: CloudFront distributions
/// (ID, label, status, aliases), namespace metrics (job, region, metric, dimensions), and for
/// host targets the Mackerel host each maps to (`-` before the first run creates it).
pub fn list(cfg: &Config) -> Result<()> {
    let http = cfg.http()?;
    let aws = Aws::new(&http, &cfg.aws);
    let mut tables = tables(cfg, &aws)
        .inspect_err(|e| log::error("list failed", &[("error", json!(e.message()))]))?;
    // What AWS or Mackerel said goes to a terminal: no control character gets through.
    for cell in tables.iter_mut().flatten().flatten() {
        *cell = printable(cell);
    }
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
    let owners = hosts::owners(&cfg.jobs);
    // Jobs that post to an existing host make no hosts to look up.
    let host_ids = match !owners.is_empty() {
        true => Some(hosts::lookup(
            &Mackerel::new(aws.http, &cfg.apibase, api_key(cfg, aws)?),
            &owners,
        )?),
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
                let dists = discover::distributions(aws, &selection(j), &mut cache)?;
                for (d, label) in dists.iter().zip(cloudfront::labels(&dists, &j.label)) {
                    let mut row =
                        vec![d.id.clone(), label, status(d), or_dash(d.aliases.join(","))];
                    if has_hosts {
                        row.push(match &j.target {
                            Target::Host(HostTarget {
                                host_id: Some(id), ..
                            }) => id.clone(),
                            _ => host_of(&d.arn),
                        });
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
                                *s.region == *f.region
                                    && *s.metric == *f.metric
                                    && s.dimensions.len() == f.dimensions.len()
                                    && s.dimensions
                                        .iter()
                                        .zip(&f.dimensions)
                                        .all(|((k, v), (fk, fv))| **k == **fk && **v == **fv)
                            })
                            .and_then(|s| match &*s.dest {
                                Dest::Host(cid) => Some(cid.as_str()),
                                Dest::Service(_) => None,
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

/// `s` with control characters (escape sequences among them) written as `\u{1b}`.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| match c.is_control() {
            true => c.escape_unicode().to_string(),
            false => c.to_string(),
        })
        .collect()
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            printable("a\u{1b}[31mb\u{9b}c é"),
            "a\\u{1b}[31mb\\u{9b}c é"
        );
    }
}
