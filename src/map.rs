//! Map: CloudWatch points to Mackerel datapoints under each series' name, keeping CloudWatch's
//! timestamps, and posting 0 for settled periods of sums where CloudWatch has nothing (no
//! traffic), never for rates or latencies, and never where CloudWatch did say something: a
//! value that is not a finite number (NaN, Infinity, 1e309) or a timestamp off the period is
//! dropped, and its period left empty.

use crate::fetch::Got;
use crate::jobs::Point;
use crate::log;
use crate::plan::Plan;
use crate::record::Record;
use serde_json::json;
use std::rc::Rc;

#[derive(Debug, Default)]
pub struct Mapped {
    /// The points to post.
    pub points: Vec<Point>,
    /// How many points the window holds in all: these, and those left out as held.
    pub datapoints: usize,
    /// How many of them are zeros for periods without data.
    pub zero_filled: usize,
    /// How many were left out because Mackerel holds them already, with the same value.
    pub skipped: usize,
}

/// `read[i]` holds what was read of `plan.series[i]` (an unread series gives no points, and
/// one read in part no zeros). Points outside the window are dropped; a time given twice
/// keeps the last value. A point the `record` holds (Mackerel has it already) is counted and
/// left out, so a steady cycle's points take little room.
pub fn map(plan: &Plan, mut read: Vec<Option<Got>>, record: &Record) -> Mapped {
    let mut out = Mapped::default();
    for batch in &plan.batches {
        let w = batch.window;
        for &i in &batch.series {
            // Taken, not copied: what CloudWatch said is freed as it is mapped.
            let (mut points, whole) = match read[i].take() {
                None => continue,
                Some(Got::Points(p)) => (p, false),
                Some(Got::Whole(p)) => (p, true),
            };
            let s = &plan.series[i];
            let period = i64::from(s.period.max(1));
            // Periods CloudWatch gave something unusable for: no zero may stand in for it.
            let mut spoiled: Vec<i64> = Vec::new();
            let (mut off_period, mut not_finite) = (0, 0);
            points.retain(|&(t, v)| {
                if !(w.start..w.end).contains(&t) {
                    return false;
                }
                let into = (t - w.start).rem_euclid(period);
                if into == 0 && v.is_finite() {
                    return true;
                }
                match into {
                    0 => not_finite += 1,
                    _ => off_period += 1,
                }
                spoiled.push(t - into);
                false
            });
            if off_period + not_finite > 0 {
                log::debug(
                    "dropped points off the series' period or not finite numbers; their periods stay empty",
                    &[
                        ("name", json!(&*s.name)),
                        ("period_s", json!(s.period)),
                        ("off_period", json!(off_period)),
                        ("not_finite", json!(not_finite)),
                    ],
                );
            }
            // Stable: of two values for one time, the later one stays.
            points.sort_by_key(|(t, _)| *t);
            points.reverse();
            points.dedup_by_key(|(t, _)| *t);
            points.reverse();
            if s.fill_zero && whole {
                let missing: Vec<i64> = w
                    .steps(s.period)
                    .filter(|t| {
                        points.binary_search_by_key(t, |(pt, _)| *pt).is_err()
                            && !spoiled.contains(t)
                    })
                    .collect();
                out.zero_filled += missing.len();
                points.extend(missing.into_iter().map(|t| (t, 0.0)));
                points.sort_by_key(|(t, _)| *t);
            }
            out.datapoints += points.len();
            for (time, value) in points {
                if record.holds(&s.dest, &s.name, time, value) {
                    out.skipped += 1;
                    continue;
                }
                out.points.push(Point {
                    dest: Rc::clone(&s.dest),
                    name: Rc::clone(&s.name),
                    time,
                    value,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{Dest, Series};
    use crate::plan;
    use std::time::Duration;

    fn series(name: &str, fill_zero: bool) -> Series {
        Series {
            region: "us-east-1".into(),
            namespace: "AWS/CloudFront".into(),
            metric: "Requests".into(),
            dimensions: Rc::from([]),
            stat: "Sum".into(),
            period: 60,
            name: name.into(),
            dest: Rc::new(Dest::Service("cdn".into())),
            role: None,
            fill_zero,
        }
    }

    #[test]
    fn zeros_only_for_sums_and_only_inside_the_window() {
        let now = 1_800_000_000;
        let p = plan::plan(
            vec![series("sum", true), series("rate", false)],
            now,
            Duration::from_secs(300),
            Duration::from_secs(180),
        );
        let w = p.batches[0].window;
        let data = vec![
            vec![(w.start + 60, 5.0), (w.end, 99.0), (w.start - 60, 99.0)],
            vec![(w.start, 1.5), (w.start, 2.5), (w.start + 120, f64::NAN)],
        ];
        let whole = |data: &[Vec<(i64, f64)>]| -> Vec<Option<Got>> {
            data.iter().map(|d| Some(Got::Whole(d.clone()))).collect()
        };
        let none = Record::default();
        let m = map(&p, whole(&data), &none);
        assert_eq!(
            map(&p, vec![None, Some(Got::Whole(data[1].clone()))], &none)
                .points
                .len(),
            1,
            "only the rate"
        );
        // Points Mackerel holds are counted, not kept.
        let mut record = Record::default();
        let zeros: Vec<Point> = m
            .points
            .iter()
            .filter(|p| &*p.name == "sum" && p.value == 0.0)
            .cloned()
            .collect();
        record.remember(&zeros);
        let held = map(&p, whole(&data), &record);
        assert_eq!(
            (held.points.len(), held.skipped, held.datapoints),
            (2, 4, 6)
        );
        let sum: Vec<(i64, f64)> = m
            .points
            .iter()
            .filter(|p| &*p.name == "sum")
            .map(|p| (p.time, p.value))
            .collect();
        assert_eq!(
            sum,
            (0..5)
                .map(|k| (w.start + 60 * k, if k == 1 { 5.0 } else { 0.0 }))
                .collect::<Vec<_>>()
        );
        assert_eq!(m.zero_filled, 4);
        let rate: Vec<(i64, f64)> = m
            .points
            .iter()
            .filter(|p| &*p.name == "rate")
            .map(|p| (p.time, p.value))
            .collect();
        assert_eq!(rate, vec![(w.start, 2.5)]);
        assert!(
            m.points
                .iter()
                .all(|p| p.time % 60 == 0 && p.time < now - 180)
        );
    }

    #[test]
    fn what_cloudwatch_said_but_cannot_be_used_is_never_zero_filled() {
        let p = plan::plan(
            vec![series("sum", true)],
            1_800_000_000,
            Duration::from_secs(300),
            Duration::ZERO,
        );
        let w = p.batches[0].window;
        let data = vec![
            (w.start, 3.0),
            (w.start + 90, 4.0),
            (w.start + 180, f64::INFINITY),
        ];
        let times = |got: fn(Vec<(i64, f64)>) -> Option<Got>| -> Vec<(i64, f64)> {
            map(&p, vec![got(data.clone())], &Record::default())
                .points
                .iter()
                .map(|p| (p.time - w.start, p.value))
                .collect()
        };
        assert_eq!(
            times(|p| Some(Got::Whole(p))),
            [(0, 3.0), (120, 0.0), (240, 0.0)]
        );
        assert_eq!(times(|p| Some(Got::Points(p))), [(0, 3.0)]);
        assert!(times(|_| None).is_empty());
    }
}
