//! `list`: what each job would read, as aligned columns on stdout.

use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;
use crate::jobs::Target;
use crate::mackerel::{self, Mackerel};
use crate::presets::{Table, or_dash};
use crate::session::key_source;
use crate::{discover, hosts, log};
use serde_json::json;
use std::collections::BTreeMap;
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
        true => {
            let key = mackerel::api_key(aws, key_source(cfg)?)?;
            Some(hosts::lookup(
                &Mackerel::new(aws.http, &cfg.apibase, key),
                &owners,
            )?)
        }
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
    // One table per kind of job, in the order `Table` gives, each under its headings.
    let mut tables: BTreeMap<Table, Vec<Vec<String>>> = BTreeMap::new();
    let mut cache = discover::Cache::new(Duration::ZERO);
    for job in &cfg.jobs {
        let expansion = discover::expand(aws, job, &mut cache)?;
        let table = expansion.table();
        let rows = tables.entry(table).or_insert_with(|| {
            let mut headings: Vec<String> =
                table.headings().iter().map(|h| h.to_string()).collect();
            if has_hosts {
                headings.push("HOST".into());
            }
            vec![headings]
        });
        // Every point of a job with an existing host goes to it.
        let existing = expansion
            .host_job
            .as_ref()
            .and_then(|h| h.existing.as_ref());
        for r in expansion.resources() {
            let mut row = r.cells;
            if has_hosts {
                row.push(match (existing, &r.custom_identifier) {
                    (Some(id), _) => id.clone(),
                    (None, Some(cid)) => host_of(cid),
                    (None, None) => "-".into(),
                });
            }
            rows.push(row);
        }
    }
    Ok(tables.into_values().collect())
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
