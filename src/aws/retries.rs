//! The AWS SDKs' standard retry mode, as botocore 1.44.8's `retries/standard.py` has it: how
//! many attempts a call gets (`AWS_MAX_ATTEMPTS`, the profile's `max_attempts`, else 3), how
//! long to wait before the next (full jitter under a doubling ceiling, `x-amz-retry-after`
//! honoured within bounds), and the clock correction the SDKs for Java, Go and JavaScript make
//! when AWS refuses the time a request was signed at. Which answers are retried is
//! [`super::error::ApiError::retryable`]. Attempts and the clock offset are the process's: it
//! has one AWS client, as an SDK client keeps both for all its calls.

use super::error::ApiError;
use crate::clock;
use crate::error::Error;
use crate::fault::Invalid;
use crate::log;
use crate::retry::Attempt;
use crate::transport::{Http, Reply};
use serde_json::json;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// botocore's `DEFAULT_MAX_ATTEMPTS`: the first try and two retries.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

static MAX_ATTEMPTS: AtomicU32 = AtomicU32::new(DEFAULT_MAX_ATTEMPTS);

/// Seconds added to this machine's clock to sign with AWS's time; 0 until AWS says otherwise.
static CLOCK_OFFSET: AtomicI64 = AtomicI64::new(0);

/// The attempts per call, first try included: `AWS_MAX_ATTEMPTS`, else the profile's
/// `max_attempts` (botocore's order), else 3. Each must be a whole number from 1 (botocore
/// refuses 0 and below); `from` names the setting in the error.
pub fn max_attempts(env: Option<&str>, profile: Option<&str>) -> Result<u32, Invalid> {
    let (from, value) = match (env, profile) {
        (Some(v), _) => ("AWS_MAX_ATTEMPTS", v),
        (None, Some(v)) => ("the profile's max_attempts", v),
        (None, None) => return Ok(DEFAULT_MAX_ATTEMPTS),
    };
    match value.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Invalid::new(format!(
            "{from}: {value:?} is not a number of attempts (a whole number from 1; 1 means no retries)"
        ))),
    }
}

/// Makes `n` the attempts of every AWS call from now on.
pub fn set_max_attempts(n: u32) {
    MAX_ATTEMPTS.store(n.max(1), Ordering::Relaxed);
}

pub fn attempts() -> u32 {
    MAX_ATTEMPTS.load(Ordering::Relaxed)
}

/// botocore's `ExponentialBackoff`: the longest backoff, and the most `x-amz-retry-after`
/// may add to it.
const MAX_BACKOFF: Duration = Duration::from_secs(20);
const RETRY_AFTER_MAX_ADDITIONAL: Duration = Duration::from_secs(5);

/// The wait after `attempt` (1 for the first try) failed with `error` (`None`: no answer, a
/// transport failure): `random` (in `[0, 1)`) times base · 2^(attempt-1), that ceiling held
/// at 20 s, where the base is 1 s for throttling and 50 ms otherwise. An `x-amz-retry-after`
/// (milliseconds) raises the wait to that, but to no more than 5 s past the jittered one.
pub fn delay(
    error: Option<&ApiError>,
    attempt: u32,
    random: f64,
    retry_after: Option<&str>,
) -> Duration {
    let base = match error {
        Some(e) if e.throttling() => Duration::from_secs(1),
        _ => Duration::from_millis(50),
    };
    let ceiling = base
        .checked_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .map_or(MAX_BACKOFF, |c| c.min(MAX_BACKOFF));
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let t = ceiling.mul_f64(random);
    // botocore ignores a value that is not a whole number of milliseconds, or negative.
    match retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(ms) => Duration::from_millis(ms)
            .min(t + RETRY_AFTER_MAX_ADDITIONAL)
            .max(t),
        None => t,
    }
}

/// Try `attempt` failed with `e`: wait the [`delay`] for `refused` (AWS's error and its
/// answer; `None` when there was no answer), then try again.
pub fn wait<T>(
    http: &Http,
    attempt: u32,
    refused: Option<(&ApiError, &Reply)>,
    e: Error,
) -> Attempt<T> {
    let after = refused.and_then(|(_, r)| r.header("x-amz-retry-after"));
    let api = refused.map(|(api, _)| api);
    Attempt::Wait(e, delay(api, attempt, http.random(), after))
}

/// The time to sign with: this machine's, corrected by what AWS has told us of its own.
pub fn signing_time() -> SystemTime {
    let offset = CLOCK_OFFSET.load(Ordering::Relaxed);
    let now = SystemTime::now();
    let shifted = match offset >= 0 {
        true => now.checked_add(Duration::from_secs(offset.unsigned_abs())),
        false => now.checked_sub(Duration::from_secs(offset.unsigned_abs())),
    };
    shifted.unwrap_or(now)
}

/// The SDK for Java's threshold: a clock within 4 minutes of AWS's is not corrected (AWS
/// accepts 5 minutes either way), so a refusal for another reason is never taken for skew.
const SKEW_THRESHOLD: i64 = 4 * 60;

/// How far AWS's clock was ahead of the time `error` was signed at, when `error` is one a
/// skewed clock causes and the answer's `Date` shows a skew of 4 minutes or more.
pub fn skew(error: &ApiError, reply: &Reply) -> Option<i64> {
    if !error.clock_skew_code() {
        return None;
    }
    let aws = clock::parse_http_date(reply.header("date")?)?;
    let ours = signing_time()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let skew = (aws as f64 - ours).round() as i64;
    (skew.abs() >= SKEW_THRESHOLD).then_some(skew)
}

/// Signs every later request `skew` seconds later than now (earlier when negative), and says
/// so once per correction: a clock that far off is worth fixing.
pub fn correct(skew: i64) {
    let offset = CLOCK_OFFSET.load(Ordering::Relaxed).saturating_add(skew);
    CLOCK_OFFSET.store(offset, Ordering::Relaxed);
    log::warn(
        concat!(
            "this machine's clock is off from AWS's; requests are now signed with AWS's time ",
            "(set the clock right: NTP, chrony or systemd-timesyncd)"
        ),
        &[("offset_s", json!(offset))],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, code: &str) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: String::new(),
            skew: None,
        }
    }

    #[test]
    fn attempts_come_from_the_environment_then_the_profile() {
        assert_eq!(max_attempts(None, None), Ok(3));
        assert_eq!(max_attempts(Some("5"), Some("2")), Ok(5));
        assert_eq!(max_attempts(None, Some(" 2 ")), Ok(2));
        assert_eq!(max_attempts(Some("1"), None), Ok(1));
        for bad in ["0", "-1", "three", "2.5", ""] {
            let e = max_attempts(Some(bad), None).unwrap_err();
            assert!(e.to_string().starts_with("AWS_MAX_ATTEMPTS: "), "{e}");
        }
        let e = max_attempts(None, Some("0")).unwrap_err();
        assert!(
            e.to_string().starts_with("the profile's max_attempts: "),
            "{e}"
        );
    }

    /// `t_i = rand(0, 1) * min(base * 2 ** i, 20)`, base 1 s for throttling and 50 ms
    /// otherwise: the documented ceiling of each attempt, reached but never passed.
    #[test]
    fn backoff_is_full_jitter_under_botocores_ceilings() {
        let throttled = error(400, "Throttling");
        let server = error(500, "InternalFailure");
        let cases: [(Option<&ApiError>, [u64; 7]); 4] = [
            (
                Some(&throttled),
                [1000, 2000, 4000, 8000, 16_000, 20_000, 20_000],
            ),
            (
                Some(&error(429, "")),
                [1000, 2000, 4000, 8000, 16_000, 20_000, 20_000],
            ),
            (Some(&server), [50, 100, 200, 400, 800, 1600, 3200]),
            (None, [50, 100, 200, 400, 800, 1600, 3200]),
        ];
        for (e, ceilings) in cases {
            for (i, ms) in ceilings.into_iter().enumerate() {
                let attempt = i as u32 + 1;
                let ceiling = Duration::from_millis(ms);
                assert_eq!(delay(e, attempt, 0.0, None), Duration::ZERO);
                assert_eq!(
                    delay(e, attempt, 0.25, None),
                    ceiling / 4,
                    "{e:?} {attempt}"
                );
                let top = delay(e, attempt, 1.0 - f64::EPSILON, None);
                assert!(top <= ceiling && top + Duration::from_millis(1) > ceiling);
            }
        }
        assert_eq!(delay(Some(&throttled), 64, 0.5, None), MAX_BACKOFF / 2);
        assert_eq!(delay(None, u32::MAX, 1.0, None), MAX_BACKOFF);
        assert_eq!(delay(None, 1, f64::NAN, None), Duration::ZERO);
    }

    /// `max(t_i, min(retry_after, t_i + 5))`, the header in milliseconds; a value that is not a
    /// whole non-negative number is ignored.
    #[test]
    fn x_amz_retry_after_raises_the_wait_by_at_most_five_seconds() {
        let e = error(503, "ServiceUnavailable");
        let t = delay(Some(&e), 2, 0.5, None);
        assert_eq!(t, Duration::from_millis(50));
        let with = |v: &str| delay(Some(&e), 2, 0.5, Some(v));
        assert_eq!(with("1500"), Duration::from_millis(1500));
        assert_eq!(with("10"), t, "never below the jittered wait");
        assert_eq!(with("60000"), t + Duration::from_secs(5));
        for ignored in ["-5", "1.5", "soon", ""] {
            assert_eq!(with(ignored), t, "{ignored:?}");
        }
    }

    #[test]
    fn skew_needs_a_clock_code_and_a_date_four_minutes_off() {
        let reply = |date: Option<i64>| {
            let mut headers = http::HeaderMap::new();
            if let Some(secs) = date {
                let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
                let fmt = time::macros::format_description!(
                    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
                );
                headers.insert("date", t.format(&fmt).unwrap().parse().unwrap());
            }
            Reply {
                status: 403,
                headers,
                body: Vec::new(),
            }
        };
        let now = clock::now() + CLOCK_OFFSET.load(Ordering::Relaxed);
        let signature = error(403, "SignatureDoesNotMatch");
        let s = skew(&signature, &reply(Some(now + 900))).unwrap();
        assert!((899..=901).contains(&s), "{s}");
        let s = skew(
            &error(400, "RequestTimeTooSkewed"),
            &reply(Some(now - 3600)),
        )
        .unwrap();
        assert!((-3601..=-3599).contains(&s), "{s}");
        assert_eq!(
            skew(&signature, &reply(Some(now + 200))),
            None,
            "within AWS's window"
        );
        assert_eq!(skew(&signature, &reply(None)), None);
        assert_eq!(
            skew(&error(403, "AccessDenied"), &reply(Some(now + 900))),
            None
        );
    }
}
