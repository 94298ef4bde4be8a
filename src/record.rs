//! What Mackerel accepted: per series (where its points go and their name) the value of each
//! recent minute. A cycle re-reads its whole look-back (that is how revisions, restarts and
//! outages are caught) but posts only the points this record does not hold with the same
//! value ([`Record::holds`]). Only minutes still inside the look-back are kept, so the record
//! stays bounded. Which host took a customIdentifier's points is the host map's to know
//! (`hosts`): when it gives an identifier another host, the record forgets what the old one
//! took ([`Record::forget_hosts`]), and the new one gets the whole window.

use crate::jobs::Dest;
use crate::jobs::Point;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

type Key = (Rc<Dest>, Rc<str>);

#[derive(Debug, Default)]
pub struct Record {
    /// Per series, (time, value) sorted by time.
    series: HashMap<Key, Vec<(i64, f64)>>,
}

impl Record {
    /// Whether Mackerel has the point of `dest`, `name` and `time` with this `value`.
    pub fn holds(&self, dest: &Rc<Dest>, name: &Rc<str>, time: i64, value: f64) -> bool {
        self.held(dest, name, time) == Some(value)
    }

    fn held(&self, dest: &Rc<Dest>, name: &Rc<str>, time: i64) -> Option<f64> {
        let held = self.series.get(&(Rc::clone(dest), Rc::clone(name)))?;
        let i = held.binary_search_by_key(&time, |(t, _)| *t).ok()?;
        Some(held[i].1)
    }

    /// Notes that Mackerel accepted `points`.
    pub fn remember(&mut self, points: &[Point]) {
        for p in points {
            self.insert(&p.dest, &p.name, p.time, p.value);
        }
    }

    pub fn insert(&mut self, dest: &Rc<Dest>, name: &Rc<str>, time: i64, value: f64) {
        let held = self
            .series
            .entry((Rc::clone(dest), Rc::clone(name)))
            .or_default();
        match held.binary_search_by_key(&time, |(t, _)| *t) {
            Ok(i) => held[i].1 = value,
            Err(i) => held.insert(i, (time, value)),
        }
    }

    /// Forgets what the hosts of `cids` took: their points go to other hosts now.
    pub fn forget_hosts(&mut self, cids: &[String]) {
        if cids.is_empty() {
            return;
        }
        let cids: HashSet<&str> = cids.iter().map(String::as_str).collect();
        self.series
            .retain(|(dest, _), _| !matches!(&**dest, Dest::Host(c) if cids.contains(c.as_str())));
    }

    /// The customIdentifiers the record holds points of.
    pub fn host_cids(&self) -> HashSet<&str> {
        self.series
            .keys()
            .filter_map(|(dest, _)| match &**dest {
                Dest::Host(cid) => Some(cid.as_str()),
                Dest::Service(_) => None,
            })
            .collect()
    }

    /// Forgets minutes before `time`: no cycle reads them again.
    pub fn forget_before(&mut self, time: i64) {
        self.series.retain(|_, held| {
            held.retain(|(t, _)| *t >= time);
            !held.is_empty()
        });
    }

    /// Every series with its held (time, value) pairs.
    pub fn series(&self) -> impl Iterator<Item = (&Dest, &str, &[(i64, f64)])> {
        self.series
            .iter()
            .map(|((dest, name), held)| (&**dest, &**name, held.as_slice()))
    }

    /// How many points the record holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.series.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, time: i64, value: f64) -> Point {
        Point {
            dest: Rc::new(Dest::Service("cdn".into())),
            name: name.into(),
            time,
            value,
        }
    }

    #[test]
    fn holds_what_was_accepted_and_forgets_old_minutes() {
        let mut r = Record::default();
        r.remember(&[p("a", 60, 1.0), p("a", 120, 2.0), p("b", 60, 0.0)]);
        let holds = |q: &Point| r.holds(&q.dest, &q.name, q.time, q.value);
        assert!(holds(&p("a", 60, 1.0)) && holds(&p("b", 60, 0.0)));
        assert!(!holds(&p("a", 120, 2.5)), "a revised value is posted again");
        assert!(!holds(&p("a", 180, 3.0)) && !holds(&p("c", 60, 0.0)), "new");
        // The same name on another target is another series.
        let host = Point {
            dest: Rc::new(Dest::Host("cid".into())),
            ..p("a", 60, 1.0)
        };
        assert!(!holds(&host));

        r.remember(&[p("a", 120, 2.5), p("a", 180, 3.0), p("c", 60, 0.0)]);
        assert_eq!(r.len(), 5, "a at 60, 120 and 180; b and c at 60");
        r.forget_before(120);
        assert_eq!(r.len(), 2);
        assert!(r.holds(&p("a", 120, 2.5).dest, &p("a", 120, 2.5).name, 120, 2.5));
        assert_eq!(r.series().count(), 1, "b and c had only old minutes");
    }

    #[test]
    fn a_new_host_for_a_custom_identifier_starts_afresh() {
        let mut r = Record::default();
        let on = |cid: &str, q: Point| Point {
            dest: Rc::new(Dest::Host(cid.into())),
            ..q
        };
        r.remember(&[on("cid", p("a", 60, 1.0)), on("other", p("a", 60, 1.0))]);
        r.forget_hosts(&[]);
        assert_eq!(r.len(), 2, "the same host keeps its record");
        r.forget_hosts(&["cid".into()]);
        assert_eq!(r.len(), 1, "only the other host's point is left");
        assert_eq!(r.host_cids().len(), 1);
        r.forget_before(120);
        assert_eq!(r.host_cids().len(), 0, "no points, no hosts");
    }
}
