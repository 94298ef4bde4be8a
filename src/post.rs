//! Post: datapoints to Mackerel, service metrics per service and host metrics to the host
//! tsdb, in bodies filled toward 100 KB ([`MAX_BODY`]). Re-posting a timestamp overwrites it,
//! so a retried or repeated body does no harm. A point counts as posted only when Mackerel
//! answered its body with `{"success":true}`. What becomes of a body Mackerel did not take:
//!
//! - Too large (413): split in two. A single point too large is not that point's fault (a
//!   proxy's limit, say): posting stops and every point is kept.
//! - A host body refused with 400 or 404: once a cycle, the hosts are listed again (a host
//!   retired under us is replaced) and the body is tried again.
//! - Another refusal costs that body alone: the others are still posted, and the refused one
//!   is split to find its bad points (a few splits a cycle). A point refused on its own for
//!   what it holds (400 or 422; for a host point, once Mackerel says its host is live) is
//!   counted as `refused` and not tried again this cycle; any other refusal keeps it.
//! - No answer, an answer that is not Mackerel's, a redirect, a refused API key, and 408, 429
//!   or 5xx after retries stop the posting; what was not posted is handed back to be tried
//!   again.

use crate::error::Error;
use crate::hosts::{Hosts, Resolved};
use crate::jobs::Dest;
use crate::jobs::Point;
use crate::mackerel::{
    Failure, HostPoint, MAX_BODY, Mackerel, POSTABLE, ServicePoint, runs, transient,
};
use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

/// Splits a cycle may make to find the bad points of refused bodies.
const SPLITS: usize = 16;

/// What became of a post.
#[derive(Debug, Default)]
pub struct Posted {
    /// Points Mackerel took.
    pub accepted: Vec<Point>,
    /// Points not posted, to be tried again.
    pub unposted: Vec<Point>,
    /// Points Mackerel refused on their own for what they hold: not kept.
    pub refused: usize,
    /// Why some points were not accepted: one line per place posted to, with what Mackerel
    /// said.
    pub errors: Vec<Error>,
    /// What listing the hosts again after a refused host body did.
    pub hosts: Option<Resolved>,
}

#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Pending,
    Accepted,
    Refused,
}

/// What a body Mackerel did not take means: judged by [`classify`] from the failure and the
/// body alone, then acted on by [`Poster::group`].
#[derive(Debug, PartialEq)]
enum Refusal {
    /// Too large (413), with more than one point: halved, at no cost.
    TooLarge,
    /// Nothing more would get through this cycle: posting stops, every point is kept.
    Stop,
    /// A host body refused with 400 or 404: a host may have been retired under us. The hosts
    /// are listed again (once a cycle) and the body posted again.
    HostGone,
    /// The service does not exist (404): nothing more of it is posted.
    NoService,
    /// A point refused on its own; with 400 or 422, for what it holds.
    Point { for_what_it_holds: bool },
    /// Some point of the body is at fault: halved to find it (one of the cycle's splits).
    Search,
    /// It costs this body alone.
    Lost,
}

/// What is known of a body Mackerel did not take.
struct Body {
    /// Host metrics (else one service's).
    host: bool,
    points: usize,
    /// Whether the hosts may still be listed again this cycle.
    recheck: bool,
    /// Whether the cycle has splits left.
    splits: bool,
}

/// What Mackerel's failure to take `body` means.
fn classify(failure: &Failure, body: &Body) -> Refusal {
    match failure {
        Failure::Refused(413, _) if body.points > 1 => Refusal::TooLarge,
        f if stops(f) || f.status() == Some(413) => Refusal::Stop,
        Failure::Refused(400 | 404, _) if body.host && body.recheck => Refusal::HostGone,
        Failure::Refused(404, _) if !body.host => Refusal::NoService,
        Failure::Refused(status, _) if body.points == 1 => Refusal::Point {
            for_what_it_holds: matches!(status, 400 | 422),
        },
        _ if body.splits => Refusal::Search,
        _ => Refusal::Lost,
    }
}

/// Whether a failure stops all posting: nothing more would get through this cycle.
fn stops(f: &Failure) -> bool {
    match f {
        Failure::Unanswered(_) | Failure::Foreign(_) => true,
        Failure::Refused(status, _) => matches!(status, 401 | 403) || transient(*status),
    }
}

/// Posts `points`: service points to their service, host points (whose destination is a
/// customIdentifier) to the host `hosts` maps them to; points of a customIdentifier without
/// a host wait.
pub fn post(mackerel: &Mackerel, points: Vec<Point>, hosts: &mut Hosts) -> Posted {
    // Each service's points, in name order, then every host point.
    let mut groups: BTreeMap<Option<String>, Vec<Point>> = BTreeMap::new();
    for p in points {
        let key = match &*p.dest {
            Dest::Service(s) => Some(s.clone()),
            Dest::Host(_) => None,
        };
        groups.entry(key).or_default().push(p);
    }
    let mut poster = Poster {
        mackerel,
        hosts,
        splits: SPLITS,
        out: Posted::default(),
    };
    let mut stopped: Option<Error> = None;
    for (service, mut points) in groups {
        match stopped {
            Some(_) => poster.out.unposted.append(&mut points),
            None => stopped = poster.group(service.as_deref(), points).err(),
        }
    }
    poster.out.errors.extend(stopped);
    poster.out
}

/// One post: what it may still spend, and what became of the points so far.
struct Poster<'p, 'm> {
    mackerel: &'p Mackerel<'m>,
    hosts: &'p mut Hosts,
    splits: usize,
    out: Posted,
}

impl Poster<'_, '_> {
    /// Posts one service's points (or, without a service, every host point) in bodies, and
    /// acts on each refusal as [`classify`] judges it. `Err`: posting stops, with why.
    fn group(&mut self, service: Option<&str>, mut points: Vec<Point>) -> Result<(), Error> {
        if service.is_none() {
            // Points of a resource without a host (it could not be made) wait.
            let hosts = &*self.hosts;
            let (with, without): (Vec<Point>, Vec<Point>) =
                points.into_iter().partition(|p| hosts.id(cid(p)).is_some());
            self.out.unposted.extend(without);
            points = with;
        }
        points.sort_by_key(|p| p.time);
        let mut fate = vec![Fate::Pending; points.len()];
        let mut queue: VecDeque<Range<usize>> = match service {
            Some(_) => runs(&service_points(&points), MAX_BODY).into(),
            None => runs(&host_points(&points, self.hosts).0, MAX_BODY).into(),
        };
        let mut error: Option<Error> = None;
        let stopped = loop {
            let Some(range) = queue.pop_front() else {
                break None;
            };
            let Some((sent, result)) = self.send(service, &points, range.clone()) else {
                continue;
            };
            let failure = match result {
                Ok(()) => {
                    sent.iter().for_each(|&i| fate[i] = Fate::Accepted);
                    continue;
                }
                Err(f) => f,
            };
            let body = Body {
                host: service.is_none(),
                points: sent.len(),
                recheck: self.hosts.may_recheck(),
                splits: self.splits > 0,
            };
            match classify(&failure, &body) {
                Refusal::TooLarge => split(&mut queue, range),
                Refusal::Search => {
                    self.splits -= 1;
                    split(&mut queue, range);
                }
                Refusal::Stop => break Some(failure.into()),
                Refusal::HostGone => match self.hosts.recheck(self.mackerel) {
                    Ok(resolved) => {
                        self.relisted(resolved);
                        queue.push_front(range);
                    }
                    Err(e) => break Some(e),
                },
                Refusal::NoService => {
                    error = Some(failure.into());
                    break None;
                }
                Refusal::Point { for_what_it_holds } => {
                    let (p, fate) = (&points[sent[0]], &mut fate[sent[0]]);
                    let e = self.refused_alone(p, fate, failure.into(), for_what_it_holds);
                    error.get_or_insert(e);
                }
                Refusal::Lost => {
                    error.get_or_insert(failure.into());
                }
            }
        };
        self.out.errors.extend(error);
        for (p, f) in points.into_iter().zip(fate) {
            match f {
                Fate::Accepted => self.out.accepted.push(p),
                Fate::Pending => self.out.unposted.push(p),
                Fate::Refused => {}
            }
        }
        stopped.map_or(Ok(()), Err)
    }

    /// Posts the body of `range`: the indexes of the points sent (all of them, or those with
    /// a host), and Mackerel's answer; `None` when none of them has a host.
    fn send(
        &self,
        service: Option<&str>,
        points: &[Point],
        range: Range<usize>,
    ) -> Option<(Vec<usize>, Result<(), Failure>)> {
        let batch = &points[range.clone()];
        match service {
            Some(s) => Some((
                range.collect(),
                self.mackerel
                    .post_service_metrics(s, &service_points(batch)),
            )),
            None => {
                let (items, with_host) = host_points(batch, self.hosts);
                if items.is_empty() {
                    return None;
                }
                let sent = with_host.into_iter().map(|i| range.start + i).collect();
                Some((sent, self.mackerel.post_host_metrics(&items)))
            }
        }
    }

    /// What listing the hosts again after a refused host body did.
    fn relisted(&mut self, resolved: Resolved) {
        self.out.errors.extend(
            resolved
                .failed
                .iter()
                .map(|(cid, e)| Error::runtime(format!("host {cid}: {e}"))),
        );
        match &mut self.out.hosts {
            Some(h) => h.absorb(resolved),
            None => self.out.hosts = Some(resolved),
        }
    }

    /// Why point `p`, posted alone, was refused with `e`. It is refused for good (its `fate`)
    /// for what it holds, where its place takes points (a service; a host Mackerel says is
    /// live). A host Mackerel says is retired is said so, and the point kept.
    fn refused_alone(
        &mut self,
        p: &Point,
        fate: &mut Fate,
        e: Error,
        for_what_it_holds: bool,
    ) -> Error {
        let live = match &*p.dest {
            Dest::Service(_) => Some(true),
            Dest::Host(cid) => self.hosts.confirm(self.mackerel, cid),
        };
        match live {
            Some(true) if for_what_it_holds => {
                *fate = Fate::Refused;
                self.out.refused += 1;
                e.context(format!("{} at {}", p.name, p.time))
            }
            Some(false) => e.context(format!(
                "host {}: Mackerel says its host is retired; a new one is made next cycle, its points are kept",
                cid(p)
            )),
            _ => e,
        }
    }
}

/// Puts the two halves of `range` at the front of the queue.
fn split(queue: &mut VecDeque<Range<usize>>, range: Range<usize>) {
    let mid = range.start + range.len() / 2;
    queue.push_front(mid..range.end);
    queue.push_front(range.start..mid);
}

fn cid(p: &Point) -> &str {
    match &*p.dest {
        Dest::Host(cid) => cid,
        Dest::Service(_) => "",
    }
}

fn service_points(points: &[Point]) -> Vec<ServicePoint<'_>> {
    points
        .iter()
        .map(|p| ServicePoint {
            name: &p.name,
            time: p.time,
            value: p.value,
        })
        .collect()
}

/// The host points of those of `points` whose customIdentifier has a host, with their
/// indexes in `points`.
fn host_points<'a>(points: &'a [Point], hosts: &'a Hosts) -> (Vec<HostPoint<'a>>, Vec<usize>) {
    points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let host_id = hosts.id(cid(p))?;
            Some((
                HostPoint {
                    host_id,
                    name: &p.name,
                    time: p.time,
                    value: p.value,
                },
                i,
            ))
        })
        .unzip()
}

/// Points a daemon or a warm Lambda could not post yet, kept for the next cycle (and, for
/// `run`, the oldest of them noted in the state file). Bounded: past [`Backlog::CAP`] the
/// oldest are dropped, and so are points past [`POSTABLE`], which Mackerel would drop anyway;
/// `dropped` counts both.
#[derive(Debug, Default)]
pub struct Backlog {
    points: Vec<Point>,
    dropped: u64,
}

impl Backlog {
    /// About 10 MB of points: hours of a few hundred distributions.
    pub const CAP: usize = 100_000;

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
        all.retain(|p| p.time > now - POSTABLE.as_secs() as i64);
        self.dropped += (before - all.len()) as u64;
        all.sort_by_key(|p| p.time);
        all
    }

    /// Points dropped since the last time this was asked.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// The time of the oldest point kept.
    pub fn oldest(&self) -> Option<i64> {
        self.points.first().map(|p| p.time)
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
mod tests;
