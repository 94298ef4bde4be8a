//! Post: datapoints to Mackerel in batches of at most 100, service metrics per service and
//! host metrics to the host tsdb, stopping at the first batch that fails for good. Re-posting
//! a timestamp overwrites it, so a retried or repeated batch does no harm.

use crate::error::{Error, Result};
use crate::jobs::Dest;
use crate::mackerel::{HostPoint, Mackerel, Refused, ServicePoint};
use crate::map::Point;
use std::collections::HashMap;

/// Datapoints per request.
pub const BATCH: usize = 100;

/// What became of a post: how many points went out, and what did not with why.
#[derive(Debug, Default)]
pub struct Posted {
    pub posted: usize,
    pub unposted: Vec<Point>,
    pub error: Option<Error>,
}

/// Posts `points`: service points to their service, host points (whose target is a
/// customIdentifier) to the host `ids` maps them to. When Mackerel refuses a host batch with
/// 400 or 404 (a host retired under us, say by a run that healed a duplicate), the hosts are
/// resolved again with `resolve` and the batch retried once.
pub fn post(
    mackerel: &Mackerel,
    mut points: Vec<Point>,
    mut ids: HashMap<String, String>,
    mut resolve: impl FnMut() -> Result<HashMap<String, String>>,
) -> Posted {
    // Each service's points together, then all host points (the host tsdb takes any host);
    // the sort is stable, so each group stays oldest first.
    points.sort_by(|a, b| {
        service_of(a)
            .is_none()
            .cmp(&service_of(b).is_none())
            .then(service_of(a).cmp(&service_of(b)))
    });
    let mut out = Posted::default();
    let mut resolved_again = false;
    let mut start = 0;
    while start < points.len() {
        let service = service_of(&points[start]);
        let end = points[start..]
            .iter()
            .take(BATCH)
            .position(|p| service_of(p) != service)
            .map_or((start + BATCH).min(points.len()), |n| start + n);
        let batch = &points[start..end];
        let result = match service {
            Some(service) => {
                let items: Vec<ServicePoint> = batch
                    .iter()
                    .map(|p| ServicePoint {
                        name: &p.name,
                        time: p.time,
                        value: p.value,
                    })
                    .collect();
                mackerel.post_service_metrics(service, &items)
            }
            None => loop {
                let items = match host_points(batch, &ids) {
                    Ok(items) => items,
                    Err(e) => break Err(e),
                };
                match mackerel.post_host_metrics(&items) {
                    Ok(()) => break Ok(()),
                    Err(Refused {
                        status: 400 | 404, ..
                    }) if !resolved_again => {
                        resolved_again = true;
                        match resolve() {
                            Ok(new) => ids = new,
                            Err(e) => break Err(e),
                        }
                    }
                    Err(r) => break Err(r.error),
                }
            },
        };
        if let Err(e) = result {
            out.unposted = points.split_off(start);
            out.error = Some(e);
            break;
        }
        out.posted += batch.len();
        start = end;
    }
    out
}

/// The service a point goes to; `None` for host metrics.
fn service_of(p: &Point) -> Option<&str> {
    match &*p.dest {
        Dest::Service(s) => Some(s),
        Dest::Host(_) => None,
    }
}

fn host_points<'a>(
    batch: &'a [Point],
    ids: &'a HashMap<String, String>,
) -> Result<Vec<HostPoint<'a>>> {
    batch
        .iter()
        .map(|p| {
            let cid = match &*p.dest {
                Dest::Host(cid) => cid.as_str(),
                Dest::Service(_) => "",
            };
            let host_id = ids
                .get(cid)
                .ok_or_else(|| Error::runtime(format!("no Mackerel host for {cid:?}")))?;
            Ok(HostPoint {
                host_id,
                name: &p.name,
                time: p.time,
                value: p.value,
            })
        })
        .collect()
}

/// Points a daemon or a warm Lambda could not post yet, kept for the next cycle. Bounded:
/// past [`Backlog::CAP`] the oldest are dropped, and so are points older than 24 hours,
/// which Mackerel would drop anyway; `dropped` counts both.
#[derive(Debug, Default)]
pub struct Backlog {
    points: Vec<Point>,
    pub dropped: u64,
}

impl Backlog {
    /// About 10 MB of points: hours of a few hundred distributions.
    pub const CAP: usize = 100_000;
    const MAX_AGE: i64 = 24 * 3600;

    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// This cycle's points plus the kept ones, oldest first, each (target, name, time) once: a
    /// fresh value wins over a kept one, since CloudWatch may have revised it.
    pub fn merge(&mut self, fresh: Vec<Point>, now: i64) -> Vec<Point> {
        let mut all = fresh;
        let kept = std::mem::take(&mut self.points);
        if !kept.is_empty() {
            let fresh_keys: std::collections::HashSet<(&Dest, &str, i64)> =
                all.iter().map(|p| (&*p.dest, &*p.name, p.time)).collect();
            let older: Vec<Point> = kept
                .into_iter()
                .filter(|p| !fresh_keys.contains(&(&*p.dest, &*p.name, p.time)))
                .collect();
            all.extend(older);
        }
        let before = all.len();
        all.retain(|p| p.time > now - Self::MAX_AGE);
        self.dropped += (before - all.len()) as u64;
        all.sort_by_key(|p| p.time);
        all
    }

    /// Keeps points that were not posted, dropping the oldest beyond the cap.
    pub fn keep(&mut self, mut unposted: Vec<Point>) {
        unposted.sort_by_key(|p| p.time);
        if unposted.len() > Self::CAP {
            let excess = unposted.len() - Self::CAP;
            unposted.drain(..excess);
            self.dropped += excess as u64;
        }
        self.points = unposted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, time: i64, value: f64) -> Point {
        Point {
            dest: std::rc::Rc::new(Dest::Service("s".into())),
            name: name.into(),
            time,
            value,
        }
    }

    #[test]
    fn backlog_merges_fresh_over_kept_and_drops_the_oldest() {
        let now = 1_800_000_000;
        let mut b = Backlog::default();
        b.keep(vec![
            p("a", now - 120, 1.0),
            p("a", now - 60, 1.0),
            p("a", now - 90_000, 1.0),
        ]);
        let merged = b.merge(vec![p("a", now - 60, 2.0), p("b", now - 60, 3.0)], now);
        assert_eq!(
            merged,
            vec![
                p("a", now - 120, 1.0),
                p("a", now - 60, 2.0),
                p("b", now - 60, 3.0)
            ]
        );
        assert_eq!((b.len(), b.dropped), (0, 1), "older than 24h is dropped");

        b.keep(
            (0..Backlog::CAP as i64 + 5)
                .map(|t| p("c", now - 1_000_000 + t, 0.0))
                .collect(),
        );
        assert_eq!((b.len(), b.dropped), (Backlog::CAP, 6));
        assert_eq!(
            b.points[0].time,
            now - 1_000_000 + 5,
            "the oldest went first"
        );
    }
}
