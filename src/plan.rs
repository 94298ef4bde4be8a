//! Plan: which CloudWatch series to read over which window, packed into GetMetricData calls.
//! It knows nothing of CloudFront: a [`Series`] is a region, a namespace, a metric, its
//! dimensions and a statistic, plus the Mackerel name its points will carry.

use crate::aws::Role;
use crate::jobs::Series;
use crate::jobs::check::retention;
use std::rc::Rc;
use std::time::Duration;

/// GetMetricData takes at most this many queries in one call.
const MAX_QUERIES: usize = 500;

/// The time read by one run: `[start, end)`, both on period boundaries so that every point
/// keeps the CloudWatch timestamp of its period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    /// `end` is `now - delay` rounded down to the period: periods after it may still be
    /// revised by CloudWatch and are left for a later run. `start` is `lookback` before `end`
    /// (rounded up to whole periods), so an outage shorter than `lookback` loses nothing, but
    /// never before what CloudWatch keeps at the period ([`retention`]): older periods would
    /// come back empty and sums be zero-filled. `check` refuses a look-back or back-fill that
    /// far; a read-back to the oldest unposted point is cut here.
    pub fn new(now: i64, lookback: Duration, delay: Duration, period: u32) -> Window {
        let p = i64::from(period.max(1));
        let end = (now - delay.as_secs() as i64).div_euclid(p) * p;
        let len = (lookback.as_secs() as i64 + p - 1) / p * p;
        let oldest = now - retention(period).0.as_secs() as i64;
        let oldest = (oldest + p - 1).div_euclid(p) * p;
        Window {
            start: (end - len).max(oldest).min(end),
            end,
        }
    }

    /// The period start times inside the window.
    pub fn steps(&self, period: u32) -> impl Iterator<Item = i64> + use<> {
        (self.start..self.end).step_by(period.max(1) as usize)
    }
}

/// One GetMetricData call's worth of series (indexes into [`Plan::series`]).
#[derive(Debug, PartialEq)]
pub struct Batch {
    pub region: Rc<str>,
    pub role: Option<Role>,
    pub period: u32,
    pub window: Window,
    pub series: Vec<usize>,
}

#[derive(Debug)]
pub struct Plan {
    pub series: Vec<Series>,
    pub batches: Vec<Batch>,
}

/// Groups the series by region, account (role) and period, since one GetMetricData call reads
/// one region with one set of credentials over one window, and cuts each group into batches of
/// [`MAX_QUERIES`]: ceil(n/500) calls per group, whichever jobs the series come from.
pub fn plan(series: Vec<Series>, now: i64, lookback: Duration, delay: Duration) -> Plan {
    type Key = (Rc<str>, Option<Role>, u32);
    let mut groups: Vec<(Key, Vec<usize>)> = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let key = (Rc::clone(&s.region), s.role.clone(), s.period);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    let mut batches = Vec::new();
    for ((region, role, period), members) in groups {
        let window = Window::new(now, lookback, delay, period);
        for chunk in members.chunks(MAX_QUERIES) {
            batches.push(Batch {
                region: Rc::clone(&region),
                role: role.clone(),
                period,
                window,
                series: chunk.to_vec(),
            });
        }
    }
    Plan { series, batches }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Dest;

    fn series(region: &str, period: u32) -> Series {
        Series {
            region: region.into(),
            namespace: "N".into(),
            metric: "M".into(),
            dimensions: Rc::from([]),
            stat: "Sum".into(),
            period,
            name: "n".into(),
            dest: Rc::new(Dest::Service("s".into())),
            role: None,
            fill_zero: false,
        }
    }

    #[test]
    fn window_is_aligned_and_held_back() {
        // 10:05:30 with a 3m delay ends at 10:02:00 and starts 10m earlier.
        let now = 1_795_600_000 - 1_795_600_000 % 3600 + 5 * 60 + 30;
        let w = Window::new(now, Duration::from_secs(600), Duration::from_secs(180), 60);
        assert_eq!(w.end % 60, 0);
        assert_eq!(now - w.end, 3 * 60 + 30);
        assert_eq!(w.end - w.start, 600);
        assert_eq!(w.steps(60).count(), 10);
        // A lookback that is not whole periods is rounded up, never down.
        let w = Window::new(now, Duration::from_secs(90), Duration::ZERO, 60);
        assert_eq!(w.end - w.start, 120);
        // Never before what CloudWatch keeps at the period: 3 hours below a minute.
        let day = Duration::from_secs(86_400);
        let w = Window::new(now, day, Duration::from_secs(180), 10);
        assert!(w.start >= now - 3 * 3600 && w.start < now - 3 * 3600 + 10);
        assert_eq!((w.start % 10, w.end % 10), (0, 0));
        let w = Window::new(now, day, Duration::ZERO, 60);
        assert_eq!(w.end - w.start, 86_400, "a minute period is kept 15 days");
    }

    #[test]
    fn batches_hold_at_most_500_and_never_mix_regions_or_periods() {
        let mut all: Vec<Series> = (0..1001).map(|_| series("us-east-1", 60)).collect();
        all.push(series("eu-west-1", 60));
        all.push(series("us-east-1", 300));
        let mut other_account = series("us-east-1", 60);
        other_account.role = Some(Role {
            arn: "arn:aws:iam::1:role/r".into(),
            external_id: None,
        });
        all.push(other_account);
        let p = plan(all, 1_800_000_000, Duration::from_secs(600), Duration::ZERO);
        let sizes: Vec<usize> = p.batches.iter().map(|b| b.series.len()).collect();
        assert_eq!(sizes, vec![500, 500, 1, 1, 1, 1]);
        assert_eq!(&*p.batches[3].region, "eu-west-1");
        assert_eq!(p.batches[4].period, 300);
        assert_eq!(p.batches[4].window.end % 300, 0);
        assert!(p.batches[5].role.is_some());
        let mut seen: Vec<usize> = p.batches.iter().flat_map(|b| b.series.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..1004).collect::<Vec<_>>());
    }

    #[test]
    fn nothing_to_read_means_no_batch() {
        assert!(
            plan(vec![], 0, Duration::from_secs(600), Duration::ZERO)
                .batches
                .is_empty()
        );
    }
}
