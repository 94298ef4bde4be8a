//! The summary of one cycle: the counters of each step, what failed, and for a dry run what
//! reading this every interval would cost; said as the fields of the cycle's one log line
//! (and of a Lambda invocation's answer).

use crate::error::{Error, Result};
use crate::hosts::Resolved;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// CloudWatch's price for GetMetricData, in dollars per metric requested.
const PRICE_PER_METRIC: f64 = 0.01 / 1000.0;

#[derive(Debug, Default)]
pub struct Summary {
    pub distributions: usize,
    pub queries: usize,
    pub requested: usize,
    pub datapoints: usize,
    pub zero_filled: usize,
    /// Points left out because Mackerel has them already, with the same value.
    pub skipped: usize,
    /// Series not read because an earlier one has their name and place.
    pub collisions: usize,
    pub posted: usize,
    /// Points Mackerel refused one by one for what they hold.
    pub refused: usize,
    /// Points past Mackerel's horizon (or beyond the backlog's bound) before they were posted.
    pub dropped: u64,
    /// Jobs with a host target only.
    pub hosts: Option<Resolved>,
    /// What failed, one line each: the job or resource, and what AWS or Mackerel said.
    pub failed: Vec<String>,
    /// Points kept for the next cycle (a daemon's or a Lambda environment's; a run ends with
    /// its cycle and keeps none).
    pub backlog: usize,
    /// The API calls made, per peer.
    pub calls: BTreeMap<&'static str, u32>,
    pub elapsed: Duration,
    /// A dry run's interval: what reading the jobs that often would cost is said.
    pub dry_run_every: Option<Duration>,
}

impl Summary {
    /// The cycle's result: `result`, or, when it went through but parts failed, an error
    /// naming the first.
    pub fn verdict(&self, result: Result<()>) -> Result<()> {
        match (&result, self.failed.first()) {
            (Ok(()), Some(first)) => Err(Error::runtime(match self.failed.len() {
                1 => first.clone(),
                n => format!("{n} parts of the cycle failed; the first: {first}"),
            })),
            _ => result,
        }
    }

    /// The fields of the summary line, in their order; a counter that is usually zero only
    /// when it is not.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        let mut fields = vec![
            ("distributions", json!(self.distributions)),
            ("queries", json!(self.queries)),
            ("metrics_requested", json!(self.requested)),
            ("datapoints", json!(self.datapoints)),
            ("zero_filled", json!(self.zero_filled)),
            ("skipped", json!(self.skipped)),
            ("posted", json!(self.posted)),
        ];
        for (name, n) in [("refused", self.refused as u64), ("dropped", self.dropped)] {
            if n > 0 {
                fields.push((name, json!(n)));
            }
        }
        if let Some(h) = &self.hosts {
            fields.push((
                "hosts",
                json!({"live": h.live, "created": h.created, "updated": h.updated, "retired": h.retired}),
            ));
            fields.push(("gone", json!(h.gone.len())));
            if !h.gone.is_empty() {
                fields.push(("gone_ids", json!(h.gone.join(","))));
            }
        }
        if self.backlog > 0 {
            fields.push(("backlog", json!(self.backlog)));
        }
        if self.collisions > 0 {
            fields.push(("collisions", json!(self.collisions)));
        }
        if !self.failed.is_empty() {
            fields.push(("failed", json!(self.failed)));
        }
        fields.push(("calls", json!(self.calls)));
        fields.push(("elapsed_ms", json!(self.elapsed.as_millis() as u64)));
        if let Some(interval) = self.dry_run_every {
            fields.push(("dry_run", json!(true)));
            fields.push(("interval_s", json!(interval.as_secs())));
            fields.push(("cost_per_day_usd", json!(self.cost_per_day(interval))));
        }
        fields
    }

    /// What reading this every `interval` would cost a day, in dollars to four places:
    /// GetMetricData bills per metric.
    fn cost_per_day(&self, interval: Duration) -> f64 {
        let per_day = self.queries as f64 * (86_400.0 / interval.as_secs_f64()) * PRICE_PER_METRIC;
        (per_day * 10_000.0).round() / 10_000.0
    }
}
