//! The durations of a configuration, checked together: the look-back and back-fill (within
//! what Mackerel accepts and CloudWatch keeps at each job's period), the delay, the daemon's
//! interval, and the request and cycle timeouts. Each mistake is noted; a duration that cannot
//! be read leaves only the checks that need it undone.

use super::lookup::{Given, Lookup};
use super::settings;
use crate::clock::format_duration;
use crate::error::{Error, Mistakes, Result};
use crate::jobs::{self, Job};
use crate::mackerel;
use std::time::Duration;

/// The checked durations.
pub struct Windows {
    pub lookback: Duration,
    pub delay: Duration,
    pub backfill: Duration,
    pub interval: Duration,
    pub timeout: Duration,
    pub cycle_timeout: Duration,
}

/// Mackerel drops points older than 24 hours, so no window may reach further back.
const MAX_REACH: Duration = mackerel::MAX_AGE;

/// Reads and checks the durations over `jobs` (empty when they could not be read); with
/// `daemon`, also the daemon's rule, that the look-back covers the interval.
pub fn check(daemon: bool, lookup: &Lookup, jobs: &[Job], m: &mut Mistakes) -> Option<Windows> {
    let lookback = m.take(lookup.duration(&settings::LOOKBACK));
    let delay = m.take(lookup.duration(&settings::DELAY));
    if let Some((lookback, from)) = &lookback
        && *lookback < Duration::from_secs(60)
    {
        m.push(from.error(format!(
            "{} is too short; it must be at least 1m, CloudFront's period",
            format_duration(*lookback)
        )));
    }
    let reaches = |m: &mut Mistakes, len: &Option<(Duration, Given)>| {
        if let (Some((len, from)), Some(delay)) = (len, &delay) {
            m.take(reach(*len, from, delay));
            m.take(kept(*len, from, delay, jobs));
        }
    };
    reaches(m, &lookback);
    let backfill = match lookup.get(&settings::BACKFILL) {
        Some(_) => {
            let backfill = m.take(lookup.duration(&settings::BACKFILL));
            reaches(m, &backfill);
            backfill.map(|(d, _)| d)
        }
        None => lookback.as_ref().map(|(d, _)| *d),
    };
    let interval = m.take(lookup.duration(&settings::INTERVAL).and_then(|(d, from)| {
        match d < Duration::from_secs(1) || d > Duration::from_secs(3600) {
            true => Err(from.error("must be between 1s and 1h")),
            false => Ok((d, from)),
        }
    }));
    if daemon
        && let (Some((lookback, lookback_from)), Some((interval, from))) = (&lookback, &interval)
        && lookback < interval
    {
        m.push(Error::config(format!(
            "{} ({}) is shorter than {} ({}): the minutes between two cycles would never be read; make the look-back at least the interval",
            lookback_from.from,
            format_duration(*lookback),
            from.from,
            format_duration(*interval)
        )));
    }
    let timeout = m.take(lookup.duration(&settings::TIMEOUT).and_then(|(d, from)| {
        match d < Duration::from_secs(1) || d > Duration::from_secs(600) {
            true => Err(from.error("must be between 1s and 10m")),
            false => Ok(d),
        }
    }));
    // By default a cycle ends before the next one is due: a tenth of the interval, at most
    // 5s, is left over.
    let cycle_timeout =
        match lookup.get(&settings::CYCLE_TIMEOUT) {
            Some(_) => m.take(lookup.duration(&settings::CYCLE_TIMEOUT).and_then(
                |(d, from)| match d < Duration::from_secs(1) || d > MAX_REACH {
                    true => Err(from.error("must be between 1s and 24h")),
                    false => Ok(d),
                },
            )),
            None => interval
                .as_ref()
                .map(|(i, _)| *i - (*i / 10).min(Duration::from_secs(5))),
        };
    Some(Windows {
        lookback: lookback?.0,
        delay: delay?.0,
        backfill: backfill?,
        interval: interval?.0,
        timeout: timeout?,
        cycle_timeout: cycle_timeout?,
    })
}

/// `len` plus the delay must stay within what Mackerel accepts.
fn reach(len: Duration, from: &Given, (delay, delay_from): &(Duration, Given)) -> Result<()> {
    match len.checked_add(*delay).is_some_and(|r| r <= MAX_REACH) {
        true => Ok(()),
        false => Err(Error::config(format!(
            "{} ({}) plus {} ({}) reaches back more than 24h, and Mackerel drops points older than that",
            from.from,
            format_duration(len),
            delay_from.from,
            format_duration(*delay)
        ))),
    }
}

/// Nor past what CloudWatch keeps at a job's period: that part would come back empty.
fn kept(
    len: Duration,
    from: &Given,
    (delay, delay_from): &(Duration, Given),
    jobs: &[Job],
) -> Result<()> {
    for (i, job) in jobs.iter().enumerate() {
        let (kept, said) = jobs::check::retention(job.period());
        if len.saturating_add(*delay) > kept {
            return Err(Error::config(format!(
                "{} ({}) plus {} ({}) reaches back more than {said}, and CloudWatch keeps data at the {}s period of jobs[{}] ({:?}) only {said}; shorten it, or give that job a longer period",
                from.from,
                format_duration(len),
                delay_from.from,
                format_duration(*delay),
                job.period(),
                i,
                job.name()
            )));
        }
    }
    Ok(())
}
