//! What Mackerel accepted: per series (where its points go and their name) the value of each
//! recent minute. A cycle re-reads its whole look-back (that is how revisions, restarts and
//! outages are caught) but posts only the points this record does not hold with the same
//! value. Only minutes still inside the look-back are kept, so the record stays bounded.

use crate::jobs::Dest;
use crate::map::Point;
use std::collections::HashMap;
use std::rc::Rc;

type Key = (Rc<Dest>, Rc<str>);

#[derive(Debug, Default)]
pub struct Record {
    /// Per series, (time, value) sorted by time.
    series: HashMap<Key, Vec<(i64, f64)>>,
}

impl Record {
    /// The points to post: those new to the record or with another value than it holds; and
    /// how many were left out as already posted.
    pub fn unposted(&self, points: Vec<Point>) -> (Vec<Point>, usize) {
        let before = points.len();
        let out: Vec<Point> = points
            .into_iter()
            .filter(|p| self.value(p) != Some(p.value))
            .collect();
        let skipped = before - out.len();
        (out, skipped)
    }

    fn value(&self, p: &Point) -> Option<f64> {
        let held = self.series.get(&(Rc::clone(&p.dest), Rc::clone(&p.name)))?;
        let i = held.binary_search_by_key(&p.time, |(t, _)| *t).ok()?;
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
    fn posts_only_new_or_changed_points_and_forgets_old_minutes() {
        let mut r = Record::default();
        r.remember(&[p("a", 60, 1.0), p("a", 120, 2.0), p("b", 60, 0.0)]);
        let (todo, skipped) = r.unposted(vec![
            p("a", 60, 1.0),
            p("a", 120, 2.5),
            p("a", 180, 3.0),
            p("b", 60, 0.0),
            p("c", 60, 0.0),
        ]);
        let left: Vec<(&str, i64)> = todo.iter().map(|p| (&*p.name, p.time)).collect();
        assert_eq!(left, [("a", 120), ("a", 180), ("c", 60)]);
        assert_eq!(skipped, 2);
        // The same name on another target is another series.
        let host = Point {
            dest: Rc::new(Dest::Host("cid".into())),
            ..p("a", 60, 1.0)
        };
        assert_eq!(r.unposted(vec![host]).1, 0);

        r.remember(&todo);
        assert_eq!(r.len(), 5, "a at 60, 120 and 180; b and c at 60");
        r.forget_before(120);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.unposted(vec![p("a", 120, 2.5)]).1,
            1,
            "the newer value is held"
        );
        assert_eq!(r.series().count(), 1, "b and c had only old minutes");
    }
}
