//! AWS Lambda custom runtime: installed as `bootstrap` on `provided.al2023`, the binary asks
//! the runtime API for the next invocation, runs one cycle, and answers with the summary or
//! an error. A warm environment keeps credentials, hosts, the record of what Mackerel took
//! and unposted points between invocations; the first one reads the back-fill window.
//!
//! Each cycle ends before the invocation's deadline (`Lambda-Runtime-Deadline-Ms`) less a
//! margin for the answer, so no retry runs past the function's timeout; what was not posted
//! by then stays for the next invocation, and the answer says how much (`backlog`).
//!
//! The event itself is not used (the schedule is the trigger), but it is read whole: one that
//! cannot be (over Lambda's own 6 MB payload limit, or cut short) is answered as that
//! invocation's error, `Cw2mackerel.InvalidEvent`, without a cycle, and the loop goes on. An
//! invocation without a request ID cannot be answered at all, since the ID names it in every
//! path of the runtime API: the runtime logs why and exits, and Lambda fails the invocation
//! (`Runtime.ExitError`) and starts a fresh environment.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::log;
use crate::session::{Keep, Session};
use crate::transport::{Http, Reply, Unanswered};
use crate::url::encode;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `Lambda-Runtime-Function-Error-Type` of a failed cycle and of a bad configuration.
const CYCLE_FAILED: &str = "Cw2mackerel.CycleFailed";
const CONFIG_ERROR: &str = "Cw2mackerel.ConfigError";
/// `Lambda-Runtime-Function-Error-Type` of an invocation whose event could not be read.
const INVALID_EVENT: &str = "Cw2mackerel.InvalidEvent";
/// The largest event read: Lambda's own limit for an invocation payload (6 MB, synchronous
/// invocations; asynchronous ones are limited to 1 MB), so a real event always fits.
const EVENT_LIMIT: u64 = 6 << 20;
/// Time kept back from the invocation's deadline to answer the runtime API.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

fn base(api: &str) -> String {
    format!("http://{api}/2018-06-01/runtime")
}

/// Serves invocations until the runtime API fails (Lambda then restarts the environment).
pub fn serve(cfg: &Config, api: &str) -> Result<()> {
    let http = cfg.http()?;
    let mut session = Session::new(cfg, &http, Keep::Nothing);
    let base = base(api);
    let mut lookback = cfg.backfill.max(cfg.lookback);
    loop {
        let (next, event) = next_invocation(&http, &base)
            .map_err(|e| said(e.context("waiting for the next invocation")))?;
        let id = next
            .header("lambda-runtime-aws-request-id")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                said(Error::runtime(
                    "the Lambda runtime API sent an invocation without a request id",
                ))
            })?
            .to_string();
        // The request ID goes into the path: percent-encoded, so it cannot walk elsewhere.
        let answer = |path: &str, error_type: Option<&str>, body: Value| {
            let url = format!("{base}/invocation/{}/{path}", encode(&id));
            send(
                &http,
                "POST",
                &url,
                error_type,
                log::redact(&body.to_string()).into_bytes(),
            )
            .map_err(|e| said(e.context("answering the invocation")))
        };
        if let Err(why) = event {
            let message =
                format!("the invocation's event could not be read ({why}); nothing was run for it");
            log::error(
                "invocation failed",
                &[("error", json!(message)), ("request_id", json!(id))],
            );
            answer(
                "error",
                Some(INVALID_EVENT),
                json!({"errorMessage": message, "errorType": INVALID_EVENT}),
            )?;
            continue;
        }
        let deadline = invocation_deadline(next.header("lambda-runtime-deadline-ms"))
            .map_or(Instant::now() + cfg.cycle_timeout, |d| {
                d.min(Instant::now() + cfg.cycle_timeout)
            });
        let (result, fields) = session.cycle("invocation", lookback, deadline);
        lookback = cfg.lookback;
        let (path, error_type, body) = match result {
            Ok(()) => {
                let mut body: Map<String, Value> = fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                body.insert("status".into(), json!("ok"));
                ("response", None, Value::Object(body))
            }
            Err(e) => {
                let mut body = json!({"errorMessage": e.message(), "errorType": CYCLE_FAILED});
                for (k, v) in fields {
                    body[k] = v;
                }
                ("error", Some(CYCLE_FAILED), body)
            }
        };
        answer(path, error_type, body)?;
    }
}

/// Asks for the next invocation: its answer's status and headers, and the event or why it
/// could not be read.
fn next_invocation(http: &Http, base: &str) -> Result<(Reply, Result<(), Unanswered>)> {
    let url = format!("{base}/invocation/next");
    let (reply, event) = http
        .send_local_parts(request("GET", &url, None, Vec::new())?, EVENT_LIMIT)
        .map_err(|e| Error::runtime(format!("Lambda runtime API {url}: {e}")))?;
    if !reply.ok() {
        return Err(refused(&url, &reply, &event.unwrap_or_default()));
    }
    Ok((reply, event.map(drop)))
}

/// The instant before which an invocation must be answered: its `Lambda-Runtime-Deadline-Ms`
/// (Unix milliseconds) less [`ANSWER_MARGIN`].
fn invocation_deadline(header: Option<&str>) -> Option<Instant> {
    let at = Duration::from_millis(header?.trim().parse().ok()?);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    let left = at.checked_sub(now).unwrap_or_default();
    Some(Instant::now() + left.saturating_sub(ANSWER_MARGIN))
}

/// Logs a runtime API failure before the process ends with it.
fn said(e: Error) -> Error {
    log::error(
        "Lambda runtime API failed; exiting",
        &[("error", json!(e.message()))],
    );
    e
}

/// Reports a configuration that cannot start to `/runtime/init/error`.
pub fn init_error(api: &str, e: &Error) {
    let body = json!({"errorMessage": e.message(), "errorType": CONFIG_ERROR}).to_string();
    let http = Http::new(Duration::from_secs(5));
    if let Err(report) = send(
        &http,
        "POST",
        &format!("{}/init/error", base(api)),
        Some(CONFIG_ERROR),
        log::redact(&body).into_bytes(),
    ) {
        log::error(
            "could not report the init error to Lambda",
            &[("error", json!(report.message()))],
        );
    }
}

fn send(
    http: &Http,
    method: &str,
    url: &str,
    error_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Reply> {
    let reply = http
        .send_local(request(method, url, error_type, body)?)
        .map_err(|e| Error::runtime(format!("Lambda runtime API {url}: {e}")))?;
    if !reply.ok() {
        return Err(refused(url, &reply, &reply.body));
    }
    Ok(reply)
}

fn request(
    method: &str,
    url: &str,
    error_type: Option<&str>,
    body: Vec<u8>,
) -> Result<http::Request<Vec<u8>>> {
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some(t) = error_type {
        req = req.header("lambda-runtime-function-error-type", t);
    }
    req.body(body)
        .map_err(|e| Error::runtime(format!("Lambda runtime API: {e}")))
}

/// A runtime API answer that is not a 2xx, with what it said.
fn refused(url: &str, reply: &Reply, body: &[u8]) -> Error {
    Error::runtime(format!(
        "Lambda runtime API {url} answered HTTP {}: {}",
        reply.status,
        crate::log::excerpt(body)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz("Lambda deadline header", &[b"1795568520000"], |b| {
            invocation_deadline(Some(&String::from_utf8_lossy(b))).map_or(0, |_| 1)
        });
    }

    #[test]
    fn the_deadline_keeps_a_margin() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let d = invocation_deadline(Some(&(now_ms + 10_000).to_string())).unwrap();
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_secs(8) && left > Duration::from_secs(7),
            "{left:?}"
        );
        let past = invocation_deadline(Some("1000")).unwrap();
        assert!(past <= Instant::now());
        assert!(invocation_deadline(Some("soon")).is_none());
        assert!(invocation_deadline(None).is_none());
    }
}
