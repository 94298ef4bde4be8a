//! Fetch: run the plan's GetMetricData calls (one per batch, plus NextToken pages) and hand
//! back what was read of each series, indexed like `plan.series`: its points and whether
//! CloudWatch said they are whole, or nothing. A batch
//! that fails (access denied in one region or account, say) costs its own series alone, and so
//! does a query CloudWatch answers with `Forbidden`, or with `InternalError` twice; the rest is
//! still read. A query's `InternalError` is retried with the NextToken when there is one, as the
//! API reference says, else by asking for the page once more.
//!
//! Unread is unread: a query left out of every page of the answer, or whose last word is
//! `PartialData` with no NextToken to read the rest with, is not read (no points, no zeros)
//! and is named in `failed`. A top-level message (`MaxMetricsExceeded`, say: "as much of the
//! operation as possible is still executed") fails the batch too; the series it did answer
//! keep CloudWatch's own points, but no period of theirs is zero-filled, since an answer that
//! says it is not whole cannot tell "no traffic" from "not said".

use crate::aws::Aws;
use crate::aws::cloudwatch::{self, Query, Status};
use crate::aws::pages::Pages;
use crate::error::{Error, Result};
use crate::plan::{Batch, Plan};
use std::collections::{BTreeMap, BTreeSet};

/// Pages of one batch, at most: each is billed, and a day of 500 series takes about eight.
const MOST_PAGES: usize = 1000;

/// One series' (timestamp, value) pairs.
pub type Points = Vec<(i64, f64)>;

/// What CloudWatch gave of a series that was read.
#[derive(Clone, Debug, PartialEq)]
pub enum Got {
    /// CloudWatch's points, from an answer that says it is not whole: no zeros.
    Points(Points),
    /// Every page: a settled period without a point had no data.
    Whole(Points),
}

#[derive(Debug, Default)]
pub struct Fetched {
    /// What was read of each series of the plan; `None`: nothing to go by (no points, and no
    /// zeros either).
    pub series: Vec<Option<Got>>,
    /// How many metrics GetMetricData was asked for in all the calls made (what it bills; a
    /// NextToken page asks again).
    pub requested: usize,
    /// What failed: where, and why.
    pub failed: Vec<(String, Error)>,
}

/// Why a query of a batch was not read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Unread {
    Ended(Status),
    NotAnswered,
}

impl Unread {
    fn says(&self) -> String {
        match self {
            Unread::Ended(Status::PartialData) => {
                "ended with PartialData and no NextToken to read the rest with".into()
            }
            Unread::Ended(status) => format!("ended with {}", status.as_str()),
            Unread::NotAnswered => "were in no page of the answer".into(),
        }
    }
}

/// What one batch's pages said.
#[derive(Default)]
struct Answer {
    unread: BTreeMap<usize, Unread>,
    /// The top-level messages, each once.
    messages: BTreeSet<(String, String)>,
}

pub fn fetch(aws: &Aws, plan: &Plan) -> Fetched {
    let mut out = Fetched {
        series: vec![None; plan.series.len()],
        ..Fetched::default()
    };
    // The points of each series as the pages bring them.
    let mut data: Vec<Points> = vec![Vec::new(); plan.series.len()];
    // Which series belong to the batch being read: answers for others are refused.
    let mut member = vec![false; plan.series.len()];
    for batch in &plan.batches {
        batch.series.iter().for_each(|&i| member[i] = true);
        let read_batch = read(aws, plan, batch, &member, &mut data, &mut out.requested);
        batch.series.iter().for_each(|&i| member[i] = false);
        let place = match &batch.role {
            Some(r) => format!("GetMetricData in {} as {}", batch.region, r.arn),
            None => format!("GetMetricData in {}", batch.region),
        };
        match read_batch {
            Ok(answer) => {
                let whole = answer.messages.is_empty();
                for &i in batch
                    .series
                    .iter()
                    .filter(|i| !answer.unread.contains_key(i))
                {
                    let points = std::mem::take(&mut data[i]);
                    out.series[i] = Some(match whole {
                        true => Got::Whole(points),
                        false => Got::Points(points),
                    });
                }
                let mut why: BTreeMap<&Unread, Vec<usize>> = BTreeMap::new();
                for (i, u) in &answer.unread {
                    why.entry(u).or_default().push(*i);
                }
                for (u, series) in why {
                    let e = Error::runtime(format!(
                        "{} of {} queries {} (the first: {})",
                        series.len(),
                        batch.series.len(),
                        u.says(),
                        describe(plan, series[0])
                    ));
                    out.failed.push((place.clone(), e));
                }
                for (code, value) in &answer.messages {
                    let e = Error::runtime(format!(
                        "CloudWatch said {code}: {value}; the series it answered are posted without zero-filling"
                    ));
                    out.failed.push((place.clone(), e));
                }
            }
            Err(e) => out.failed.push((place, e)),
        }
        // What was not read is dropped: an unread series gives nothing.
        for &i in &batch.series {
            data[i] = Vec::new();
        }
    }
    out
}

/// Reads one batch, every page, into `data`, counting the metrics asked for in `requested`.
/// Returns the series CloudWatch would not give whole, and why, and the messages it gave
/// about the whole call.
fn read(
    aws: &Aws,
    plan: &Plan,
    batch: &Batch,
    member: &[bool],
    data: &mut [Points],
    requested: &mut usize,
) -> Result<Answer> {
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
    let mut answer = Answer::default();
    // Each query's last word: a later page may still bring the data of one that said
    // InternalError or PartialData.
    let mut last: BTreeMap<usize, Status> = BTreeMap::new();
    loop {
        pages.read(0)?;
        *requested += queries.len();
        let page = cloudwatch::get_metric_data(
            aws,
            &batch.region,
            batch.role.as_ref(),
            &queries,
            w.start,
            w.end,
            token.as_deref(),
        )?;
        answer.messages.extend(page.messages);
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
            let data = &mut data[i];
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
            match r.status {
                Status::Forbidden | Status::Other(_) => {
                    answer.unread.insert(i, Unread::Ended(r.status.clone()));
                }
                _ => {}
            }
            last.insert(i, r.status);
        }
        let internal = last.values().any(|s| *s == Status::InternalError);
        match page.next_token {
            Some(t) => {
                pages.next(&t)?;
                token = Some(t);
            }
            // No NextToken to go on with: ask for the same page once more.
            None if internal && !retried => retried = true,
            None => break,
        }
    }
    for &i in &batch.series {
        match last.get(&i) {
            None => {
                answer.unread.insert(i, Unread::NotAnswered);
            }
            Some(s @ (Status::InternalError | Status::PartialData)) => {
                answer.unread.entry(i).or_insert(Unread::Ended(s.clone()));
            }
            Some(_) => {}
        }
    }
    Ok(answer)
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
