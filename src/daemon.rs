//! `daemon`: a cycle at every tick of the clock until a stop signal, a state file for
//! `healthcheck`, and giving up after too many failed cycles in a row so that the
//! orchestrator starts a fresh process.
//!
//! Ticks are multiples of the interval since the epoch plus a small fixed offset (a tenth of
//! the interval, at most 5 s): with 60s every run starts 5 s past the minute, however long
//! the previous one took. The first cycle starts at once and reads the back-fill window, so
//! a replacement closes the gap its predecessor left.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::Http;
use crate::session::Session;
use crate::{clock, log, signals};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn run(cfg: &Config) -> Result<()> {
    signals::install(log::render(
        cfg.log_format,
        None,
        log::Level::Warn,
        "stop deadline passed; exiting with the cycle unfinished",
        &[("grace_s", json!(signals::GRACE_SECS))],
    ));
    let http = Http::new(cfg.timeout).stop_when(signals::stopping);
    let mut session = Session::new(cfg, &http);
    let mut failures = 0;
    let mut lookback = cfg.backfill.max(cfg.lookback);
    loop {
        let (result, _) = session.cycle("cycle", lookback);
        lookback = cfg.lookback;
        write_state(&cfg.state_file, cfg.interval, result.is_ok());
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
            log::info("stopped", &[]);
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

/// Sleeps until `tick`, in short steps to notice a stop signal; `false` if one came.
fn sleep_until(tick: u64) -> bool {
    loop {
        if signals::stopping() {
            return false;
        }
        let now = now_ms();
        if now >= tick {
            return true;
        }
        std::thread::sleep(Duration::from_millis((tick - now).min(100)));
    }
}

/// Records the end of a cycle, atomically (write, then rename). A failure to write is logged
/// and otherwise ignored: the metrics matter more than the health check.
fn write_state(path: &Path, interval: Duration, ok: bool) {
    let state = json!({"completed": clock::now(), "interval_s": interval.as_secs(), "ok": ok, "pid": std::process::id()});
    let tmp = path.with_extension("tmp");
    let written =
        std::fs::write(&tmp, state.to_string()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        log::warn(
            "could not write the state file",
            &[
                ("path", json!(path.display().to_string())),
                ("error", json!(e.to_string())),
            ],
        );
    }
}

/// `healthcheck`: healthy when the daemon completed a cycle (failed or not: it is alive)
/// within three of its intervals.
pub fn healthcheck(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::runtime(format!(
            "unhealthy: no daemon state at {} ({e})",
            path.display()
        ))
    })?;
    let state: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::runtime(format!(
            "unhealthy: unreadable state in {}: {e}",
            path.display()
        ))
    })?;
    let (Some(completed), Some(interval)) =
        (state["completed"].as_i64(), state["interval_s"].as_i64())
    else {
        return Err(Error::runtime(format!(
            "unhealthy: incomplete state in {}",
            path.display()
        )));
    };
    let age = clock::now() - completed;
    if age > 3 * interval {
        return Err(Error::runtime(format!(
            "unhealthy: the last cycle completed {age}s ago, more than 3 intervals of {interval}s"
        )));
    }
    println!("healthy: the last cycle completed {age}s ago");
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
        write_state(&path, Duration::from_secs(60), false);
        assert!(healthcheck(&path).is_ok());
        std::fs::write(
            &path,
            json!({"completed": clock::now() - 181, "interval_s": 60}).to_string(),
        )
        .unwrap();
        assert!(
            healthcheck(&path)
                .unwrap_err()
                .to_string()
                .contains("181s ago")
        );
        std::fs::write(&path, "{").unwrap();
        assert!(healthcheck(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
