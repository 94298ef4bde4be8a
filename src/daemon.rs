//! `daemon`: a cycle at every tick of the clock until a stop signal, a state file for
//! `healthcheck`, and giving up after too many failed cycles in a row so that the
//! orchestrator starts a fresh process.
//!
//! Ticks are multiples of the interval since the epoch plus a small fixed offset (a tenth of
//! the interval, at most 5 s): with 60s every run starts 5 s past the minute, however long
//! the previous one took. The first cycle starts at once and reads the back-fill window, so
//! a replacement closes the gap its predecessor left.
//!
//! A stop signal (SIGTERM, SIGINT, SIGHUP: see [`signals`]) cuts any wait short, lets the
//! cycle in flight end with its summary line and state write, and ends the daemon with 0.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::session::{Keep, Session};
use crate::{clock, log, signals, state};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn run(cfg: &Config) -> Result<()> {
    signals::install(cfg.log_format, "cycle", 0);
    let http = cfg.http()?;
    let mut session = Session::new(cfg, &http, Keep::Health);
    let mut failures = 0;
    let mut lookback = cfg.backfill.max(cfg.lookback);
    loop {
        let deadline = std::time::Instant::now() + cfg.cycle_timeout;
        let (result, _) = session.cycle("cycle", lookback, deadline);
        lookback = cfg.lookback;
        if result.is_ok() {
            failures = 0;
        } else {
            failures += 1;
            if failures >= cfg.max_failures && !signals::stopping() {
                return Err(Error::runtime(format!(
                    "{failures} cycles in a row failed (CW2MACKEREL_MAX_FAILURES); exiting so a fresh process takes over"
                )))
                .inspect_err(|e| log::error(e.message(), &[]));
            }
        }
        if !sleep_until(next_tick(now_ms(), cfg.interval)) {
            let signal = signals::stopped_by().unwrap_or_default();
            let mut fields = vec![("signal", json!(signal))];
            if signal == "SIGHUP" {
                fields.push((
                    "note",
                    json!(
                        "there is no configuration to reload: SIGHUP stops the daemon like \
                         SIGTERM; start it again to apply a change"
                    ),
                ));
            }
            log::info("stopped", &fields);
            return Ok(());
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The next tick after `now` (epoch milliseconds).
fn next_tick(now: u64, interval: Duration) -> u64 {
    let every = interval.as_millis().max(1) as u64;
    let offset = (every / 10).min(5_000);
    ((now.saturating_sub(offset)) / every + 1) * every + offset
}

/// Sleeps until `tick` (epoch milliseconds); `false` if a stop signal came, which ends the
/// sleep at once.
fn sleep_until(tick: u64) -> bool {
    let left = Duration::from_millis(tick.saturating_sub(now_ms()));
    signals::sleep_until(std::time::Instant::now() + left)
}

/// `healthcheck`: healthy when the daemon completed a cycle (failed or not: it is alive)
/// within three of its intervals. A completion in the future (a clock stepped back, or a
/// forged file) or an interval no daemon can have is unhealthy.
pub fn healthcheck(path: &Path) -> Result<()> {
    let state = state::load_any(path).map_err(|e| Error::runtime(format!("unhealthy: {e}")))?;
    let unhealthy = |why: String| Err(Error::runtime(format!("unhealthy: {why}")));
    let now = clock::now();
    if state.completed > now {
        return unhealthy(format!(
            "the last cycle completed {}s in the future; is the clock right?",
            state.completed.saturating_sub(now)
        ));
    }
    if !(1..=3600).contains(&state.interval_s) {
        return unhealthy(format!(
            "the state file says the interval is {}s, which no daemon has",
            state.interval_s
        ));
    }
    let age = now.saturating_sub(state.completed);
    let limit = 3 * state.interval_s as i64;
    if age > limit {
        return unhealthy(format!(
            "the last cycle completed {age}s ago, more than 3 intervals of {}s",
            state.interval_s
        ));
    }
    let _ = writeln!(
        std::io::stdout(),
        "healthy: the last cycle completed {age}s ago"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_aligned_with_a_small_offset() {
        let minute = Duration::from_secs(60);
        let t0 = 1_800_000_000_000; // on a minute
        assert_eq!(next_tick(t0, minute), t0 + 5_000);
        assert_eq!(next_tick(t0 + 5_000, minute), t0 + 65_000);
        assert_eq!(next_tick(t0 + 4_999, minute), t0 + 5_000);
        assert_eq!(next_tick(t0 + 59_000, minute), t0 + 65_000);
        let two = Duration::from_secs(2);
        assert_eq!(next_tick(t0 + 100, two), t0 + 200);
        assert_eq!(next_tick(t0 + 300, two), t0 + 2_200);
    }

    #[test]
    fn health_follows_the_state_file() {
        let path = std::env::temp_dir().join(format!("cw2m-health-{}", std::process::id()));
        assert!(healthcheck(&path).is_err());
        let write = |completed: i64, interval: i64| {
            let state = json!({"version": 2, "completed": completed, "interval_s": interval});
            std::fs::write(&path, state.to_string()).unwrap();
        };
        let now = clock::now();
        write(now - 10, 60);
        assert!(healthcheck(&path).is_ok());
        write(now - 181, 60);
        let e = healthcheck(&path).unwrap_err().to_string();
        assert!(e.contains("181s ago"), "{e}");
        for (completed, interval, why) in [
            (now + 3600, 60, "in the future"),
            (i64::MAX, 60, "in the future"),
            (i64::MIN, 60, "ago"),
            (now - 10, 0, "no daemon has"),
            (now - 10, i64::MAX, "no daemon has"),
            (now - 10, -60, "unreadable"),
        ] {
            write(completed, interval);
            let e = healthcheck(&path).unwrap_err().to_string();
            assert!(e.contains(why), "{completed} {interval}: {e}");
        }
        std::fs::write(&path, "{").unwrap();
        assert!(healthcheck(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
