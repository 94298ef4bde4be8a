//! Fetch: run the plan's GetMetricData calls (one per batch, plus NextToken pages) and hand
//! back each series' points, indexed like `plan.series`.

use crate::aws::Aws;
use crate::aws::cloudwatch::{self, Query};
use crate::error::{Error, Result};
use crate::plan::Plan;

/// A guard against a NextToken that never ends.
const MAX_PAGES: usize = 1000;

/// One series' (timestamp, value) pairs.
pub type Points = Vec<(i64, f64)>;

/// The points of each series, and how many metrics were requested in all (the unit
/// GetMetricData is billed by; a NextToken page requests its metrics again).
pub fn fetch(aws: &Aws, plan: &Plan) -> Result<(Vec<Points>, usize)> {
    let mut data = vec![Vec::new(); plan.series.len()];
    let mut requested = 0;
    for batch in &plan.batches {
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
            requested += queries.len();
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
                data[i].extend(points);
            }
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    Ok((data, requested))
}
