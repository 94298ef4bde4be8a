//! Fetch: run the plan's GetMetricData calls (one per batch, plus NextToken pages) and hand
//! back each series' points, indexed like `plan.series`. A batch that fails (access denied in
//! one region or account, say) costs its own series alone, and so does a query CloudWatch
//! answers with `Forbidden`, or with `InternalError` twice; the rest is still read. A query's
//! `InternalError` is retried with the NextToken when there is one, as the API reference says,
//! else by asking for the page once more.

use crate::aws::Aws;
use crate::aws::cloudwatch::{self, Query};
use crate::aws::pages::Pages;
use crate::error::{Error, Result};
use crate::plan::{Batch, Plan};
use std::collections::BTreeSet;

/// Pages of one batch, at most: each is billed, and a day of 500 series takes about eight.
const MOST_PAGES: usize = 1000;

/// One series' (timestamp, value) pairs.
pub type Points = Vec<(i64, f64)>;

#[derive(Debug, Default)]
pub struct Fetched {
    /// The points of each series of the plan.
    pub data: Vec<Points>,
    /// Whether each series of the plan was read whole: an unread one gets no points, and
    /// no zeros either.
    pub read: Vec<bool>,
    /// How many metrics GetMetricData was asked for in all the calls made (what it bills; a
    /// NextToken page asks again).
    pub requested: usize,
    /// What failed: where, and why.
    pub failed: Vec<(String, Error)>,
}

pub fn fetch(aws: &Aws, plan: &Plan) -> Fetched {
    let mut out = Fetched {
        data: vec![Vec::new(); plan.series.len()],
        read: vec![false; plan.series.len()],
        ..Fetched::default()
    };
    // Which series belong to the batch being read: answers for others are refused.
    let mut member = vec![false; plan.series.len()];
    for batch in &plan.batches {
        batch.series.iter().for_each(|&i| member[i] = true);
        let read_batch = read(aws, plan, batch, &member, &mut out);
        batch.series.iter().for_each(|&i| member[i] = false);
        let place = match &batch.role {
            Some(r) => format!("GetMetricData in {} as {}", batch.region, r.arn),
            None => format!("GetMetricData in {}", batch.region),
        };
        match read_batch {
            Ok(unread) => {
                for &i in &batch.series {
                    out.read[i] = !unread.iter().any(|(u, _)| *u == i);
                }
                if let Some((_, status)) = unread.first() {
                    let e = Error::runtime(format!(
                        "{} of {} queries ended with {status} (the first: {})",
                        unread.len(),
                        batch.series.len(),
                        describe(plan, unread[0].0)
                    ));
                    out.failed.push((place, e));
                }
            }
            Err(e) => out.failed.push((place, e)),
        }
        for &i in batch.series.iter().filter(|&&i| !out.read[i]) {
            out.data[i].clear();
        }
    }
    out
}

/// Reads one batch, every page. Returns the series CloudWatch would not give whole, with
/// their status.
fn read(
    aws: &Aws,
    plan: &Plan,
    batch: &Batch,
    member: &[bool],
    out: &mut Fetched,
) -> Result<Vec<(usize, String)>> {
    let queries: Vec<Query> = batch
        .series
        .iter()
        .map(|&i| {
            let s = &plan.series[i];
            Query {
                // The index in the plan is the id, so answers map straight back.
                id: format!("q{i}"),
                namespace: &s.namespace,
                metric: &s.metric,
                dimensions: &s.dimensions,
                stat: &s.stat,
                period: s.period,
            }
        })
        .collect();
    let w = batch.window;
    // A series has at most one point a period; more than twice that is a peer repeating itself.
    let most = 2 * w.steps(batch.period).count();
    let mut token: Option<String> = None;
    // Points are kept at `most` a series, whatever comes; the pages themselves are counted.
    let mut pages = Pages::new("CloudWatch GetMetricData", "NextToken").at_most(MOST_PAGES);
    let mut retried = false;
    let mut unread: Vec<(usize, String)> = Vec::new();
    // Queries whose last word was InternalError: a later page may still bring their data.
    let mut internal = BTreeSet::new();
    loop {
        pages.read(0)?;
        out.requested += queries.len();
        let page = cloudwatch::get_metric_data(
            aws,
            &batch.region,
            batch.role.as_ref(),
            &queries,
            w.start,
            w.end,
            token.as_deref(),
        )?;
        for r in page.results {
            let i =
                r.id.strip_prefix('q')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&i| member.get(i) == Some(&true))
                    .ok_or_else(|| {
                        Error::runtime(format!(
                            "CloudWatch GetMetricData answered for a query it was not asked: {:?}",
                            r.id
                        ))
                    })?;
            let data = &mut out.data[i];
            if data.capacity() == 0 {
                // One point a period, usually: room for exactly that.
                data.reserve_exact(most / 2);
            }
            data.extend(
                r.points
                    .into_iter()
                    .filter(|(t, _)| (w.start..w.end).contains(t)),
            );
            if data.len() > most {
                data.sort_by_key(|(t, _)| *t);
                data.dedup_by_key(|(t, _)| *t);
                data.truncate(most);
            }
            match r.status.as_str() {
                "Complete" | "PartialData" => {
                    internal.remove(&i);
                }
                "InternalError" => {
                    internal.insert(i);
                }
                other => unread.push((i, other.to_string())),
            }
        }
        match page.next_token {
            Some(t) => {
                pages.next(&t)?;
                token = Some(t);
            }
            // No NextToken to go on with: ask for the same page once more.
            None if !internal.is_empty() && !retried => retried = true,
            None => {
                unread.extend(internal.iter().map(|&i| (i, "InternalError".into())));
                break;
            }
        }
    }
    Ok(unread)
}

/// A series, for messages: `AWS/CloudFront Requests DistributionId=E1,Region=Global Sum`.
fn describe(plan: &Plan, i: usize) -> String {
    let s = &plan.series[i];
    let dims: Vec<String> = s
        .dimensions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{} {} {} {}", s.namespace, s.metric, dims.join(","), s.stat)
}
