//! The retry loop every peer's requests go through: jittered exponential backoff, a peer's
//! `Retry-After`, or the caller's own wait; bounded by the attempts allowed and by the cycle's
//! deadline, and cut short by a stop signal. [`send`] is that loop around one request, as every
//! client sends one: built afresh each try, sent, and its answer classified by the client.

use crate::error::{Error, Result};
use crate::transport::{Http, Unanswered};
use crate::{log, signals};
use serde_json::json;
use std::time::{Duration, Instant};

/// The longest jittered wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Full jitter for the `Retry` of `attempt` (0 for the wait after the first try): `random`
/// (in `[0, 1)`) times 300 ms · 2^attempt, that ceiling held at 20 s.
fn backoff(random: f64, attempt: u32) -> Duration {
    let ceiling = (Duration::from_millis(300) * 2u32.pow(attempt.min(7))).min(MAX_BACKOFF);
    ceiling.mul_f64(if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    })
}

/// What one attempt of a retried operation came to.
pub enum Attempt<T> {
    Done(T),
    /// Worth another try (throttling, 5xx, transport failure), after `after` if the peer said.
    Retry(Error, Option<Duration>),
    /// Worth another try after exactly this wait: the caller's own backoff (AWS standard
    /// retry mode), or none for a cause fixed on this side (a corrected clock).
    Wait(Error, Duration),
    Fail(Error),
}

/// Longest `Retry-After` we wait for; a peer that asks for more gets the error instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Runs `attempt` up to `tries` times, sleeping between tries: for `Retry`, with jittered
/// backoff, or for the `Retry-After` the peer sent when that is longer; for `Wait`, as long as
/// it says. No wait begins that the cycle's deadline would cut.
fn retry<T>(http: &Http, tries: u32, attempt: &mut dyn FnMut() -> Attempt<T>) -> Result<T> {
    let mut n = 0;
    loop {
        n += 1;
        let (e, wait) = match attempt() {
            Attempt::Done(v) => return Ok(v),
            Attempt::Fail(e) => return Err(e),
            // With one attempt allowed, there was nothing to give up.
            Attempt::Retry(e, _) | Attempt::Wait(e, _) if n >= tries && n == 1 => return Err(e),
            Attempt::Retry(e, _) | Attempt::Wait(e, _) if n >= tries => {
                return Err(Error::runtime(format!("{e} (gave up after {n} attempts)")));
            }
            Attempt::Retry(e, Some(after)) if after > MAX_RETRY_AFTER => {
                return Err(Error::runtime(format!(
                    "{e} (asked to retry after {}s)",
                    after.as_secs()
                )));
            }
            Attempt::Retry(e, after) => {
                let wait = after.unwrap_or_default().max(backoff(http.random(), n - 1));
                (e, wait)
            }
            Attempt::Wait(e, wait) => (e, wait),
        };
        if http.time_left().is_some_and(|left| left <= wait) {
            return Err(Error::runtime(format!(
                "{e} (no time left to retry before the cycle's deadline)"
            )));
        }
        log::debug(
            "retrying",
            &[
                ("error", json!(e.message())),
                ("wait_ms", json!(wait.as_millis() as u64)),
            ],
        );
        // A stop signal cuts the wait short: no more waiting on a peer.
        if !signals::sleep_until(Instant::now() + wait) {
            return Err(Error::runtime(format!("{e} (not retried: stopping)")));
        }
    }
}

/// Sends one request up to `tries` times. Each try, `request` builds it afresh (sending
/// consumes it, and an AWS request is signed anew each time; a request that cannot be built
/// ends the retrying), `send` sends it (whole, streamed, to which peer), and `classify` says
/// what the answer, or the lack of one, came to on try `n` (1 for the first).
pub fn send<R, T>(
    http: &Http,
    tries: u32,
    mut request: impl FnMut() -> Result<http::Request<Vec<u8>>>,
    mut send: impl FnMut(http::Request<Vec<u8>>) -> Result<R, Unanswered>,
    mut classify: impl FnMut(u32, Result<R, Unanswered>) -> Attempt<T>,
) -> Result<T> {
    let mut n = 0;
    // The loop is shared by every request with answers of one type: only the closure differs.
    retry(http, tries, &mut || {
        n += 1;
        match request() {
            Ok(req) => classify(n, send(req)),
            Err(e) => Attempt::Fail(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ceiling of each wait is the documented one: 300 ms doubling to 19.2 s, then 20 s.
    #[test]
    fn backoff_is_full_jitter_under_a_doubling_ceiling() {
        let ceilings = [
            300, 600, 1200, 2400, 4800, 9600, 19_200, 20_000, 20_000, 20_000,
        ];
        for (attempt, ms) in ceilings.into_iter().enumerate() {
            let attempt = attempt as u32;
            assert_eq!(backoff(0.0, attempt), Duration::ZERO, "{attempt}");
            assert_eq!(
                backoff(0.5, attempt),
                Duration::from_millis(ms / 2),
                "{attempt}"
            );
            let top = backoff(1.0 - f64::EPSILON, attempt);
            assert!(
                top <= Duration::from_millis(ms) && top > Duration::from_millis(ms - 1),
                "{attempt}: {top:?}"
            );
        }
        assert_eq!(backoff(1.0, 40), MAX_BACKOFF);
    }
}
