//! Fetch: run the plan's GetMetricData calls (one per batch, plus NextToken pages) and hand
//! back each series' points, indexed like `plan.series`. A batch that fails (access denied in
//! one region or account, say) costs its own series alone; the other batches are still read.

use crate::aws::Aws;
use crate::aws::cloudwatch::{self, Query};
use crate::error::{Error, Result};
use crate::plan::{Batch, Plan};

/// A guard against a NextToken that never ends.
const MAX_PAGES: usize = 1000;

/// One series' (timestamp, value) pairs.
pub type Points = Vec<(i64, f64)>;

#[derive(Debug, Default)]
pub struct Fetched {
    /// The points of each series of the plan.
    pub data: Vec<Points>,
    /// Whether each batch of the plan was read whole.
    pub read: Vec<bool>,
    /// How many metrics GetMetricData was asked for (what it bills; a NextToken page asks
    /// again).
    pub requested: usize,
    /// The batches that failed: where, and why.
    pub failed: Vec<(String, Error)>,
}

pub fn fetch(aws: &Aws, plan: &Plan) -> Fetched {
    let mut out = Fetched {
        data: vec![Vec::new(); plan.series.len()],
        ..Fetched::default()
    };
    for batch in &plan.batches {
        match read(aws, plan, batch, &mut out) {
            Ok(()) => out.read.push(true),
            Err(e) => {
                for &i in &batch.series {
                    out.data[i].clear();
                }
                let place = match &batch.role {
                    Some(r) => format!("GetMetricData in {} as {}", batch.region, r.arn),
                    None => format!("GetMetricData in {}", batch.region),
                };
                out.failed.push((place, e));
                out.read.push(false);
            }
        }
    }
    out
}

fn read(aws: &Aws, plan: &Plan, batch: &Batch, out: &mut Fetched) -> Result<()> {
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
    let mut token: Option<String> = None;
    for page_no in 0.. {
        if page_no == MAX_PAGES {
            return Err(Error::runtime(
                "CloudWatch GetMetricData kept returning NextToken; giving up",
            ));
        }
        let page = cloudwatch::get_metric_data(
            aws,
            &batch.region,
            batch.role.as_ref(),
            &queries,
            batch.window.start,
            batch.window.end,
            token.as_deref(),
        )?;
        out.requested += queries.len();
        for (id, points) in page.results {
            let i = id
                .strip_prefix('q')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|i| batch.series.contains(i))
                .ok_or_else(|| {
                    Error::runtime(format!(
                        "CloudWatch GetMetricData answered for a query it was not asked: {id:?}"
                    ))
                })?;
            out.data[i].extend(points);
        }
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    Ok(())
}
