//! HTTP for every peer: one ureq agent (rustls with built-in webpki roots, so a scratch image
//! needs no CA file), a count of calls per service for the summary line, and the retry loop
//! with jittered exponential backoff that honours `Retry-After`.

use crate::error::{Error, Result};
use crate::log;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Largest response body read: a GetMetricData page is a few MB at most.
const BODY_LIMIT: u64 = 64 << 20;

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After` in seconds (the form Mackerel and AWS send); an HTTP date is ignored.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")?
            .trim()
            .parse()
            .ok()
            .map(Duration::from_secs)
    }
}

pub struct Http {
    agent: ureq::Agent,
    calls: RefCell<BTreeMap<&'static str, u32>>,
    seed: Cell<u64>,
    /// Asked before every wait between retries: `true` ends the retrying.
    stop: fn() -> bool,
}

impl Http {
    /// `timeout` bounds each request from connect to the last body byte.
    pub fn new(timeout: Duration) -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .user_agent(concat!("cw2mackerel/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build()
            .new_agent();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        Http {
            agent,
            calls: RefCell::new(BTreeMap::new()),
            seed: Cell::new(seed | 1),
            stop: || false,
        }
    }

    /// Retries stop, and no wait begins, once `stop` says so (a daemon shutting down).
    pub fn stop_when(mut self, stop: fn() -> bool) -> Http {
        self.stop = stop;
        self
    }

    /// Sends one request and reads the whole answer. `peer` names the service for the call
    /// count; an error here is a transport failure (refused, timed out, truncated body).
    pub fn send(&self, peer: &'static str, req: http::Request<Vec<u8>>) -> Result<Reply, String> {
        self.send_with_timeout(peer, req, None)
    }

    /// As [`Http::send`], with a tighter time limit (metadata endpoints that may not exist).
    pub fn send_with_timeout(
        &self,
        peer: &'static str,
        req: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<Reply, String> {
        *self.calls.borrow_mut().entry(peer).or_default() += 1;
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let req = match timeout {
            Some(t) => self
                .agent
                .configure_request(req)
                .timeout_global(Some(t))
                .timeout_connect(Some(t))
                .build(),
            None => req,
        };
        let result = self.exchange(req);
        if log::enabled(log::Level::Debug) {
            let status = result
                .as_ref()
                .map_or_else(|e| e.clone(), |r| r.status.to_string());
            log::debug(
                "http",
                &[
                    ("peer", json!(peer)),
                    ("method", json!(method.as_str())),
                    ("path", json!(path)),
                    ("status", json!(status)),
                    ("ms", json!(started.elapsed().as_millis() as u64)),
                ],
            );
        }
        result
    }

    /// Calls made since the last time this was asked, by peer.
    pub fn take_calls(&self) -> BTreeMap<&'static str, u32> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    /// Sends a request to a local control endpoint (the Lambda runtime API): no time limit,
    /// since the poll for the next invocation waits as long as it takes, and not counted
    /// among the API calls of a cycle.
    pub fn send_local(&self, req: http::Request<Vec<u8>>) -> Result<Reply, String> {
        let req = self
            .agent
            .configure_request(req)
            .timeout_global(None)
            .timeout_recv_response(None)
            .timeout_recv_body(None)
            .build();
        self.exchange(req)
    }

    /// Runs the request and reads the whole answer.
    fn exchange(&self, req: http::Request<Vec<u8>>) -> Result<Reply, String> {
        let resp = self.agent.run(req).map_err(describe)?;
        let (parts, mut body) = resp.into_parts();
        let body = body
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| format!("reading the response: {}", describe(e)))?;
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// Full jitter: a random wait up to `base * 2^attempt`, capped at 20 s (xorshift is
    /// plenty to spread clients apart).
    fn jitter(&self, attempt: u32) -> Duration {
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        let ceiling = (300u64 << attempt.min(6)).min(20_000);
        Duration::from_millis(x % (ceiling + 1))
    }
}

/// What one attempt of a retried operation came to.
pub enum Attempt<T> {
    Done(T),
    /// Worth another try (throttling, 5xx, transport failure), after `after` if the peer said.
    Retry(Error, Option<Duration>),
    Fail(Error),
}

/// Longest `Retry-After` we wait for; a peer that asks for more gets the error instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Runs `attempt` up to `tries` times, sleeping between tries with jittered backoff, or for
/// the `Retry-After` the peer sent when that is longer.
pub fn retry<T>(http: &Http, tries: u32, mut attempt: impl FnMut() -> Attempt<T>) -> Result<T> {
    let mut n = 0;
    loop {
        n += 1;
        match attempt() {
            Attempt::Done(v) => return Ok(v),
            Attempt::Fail(e) => return Err(e),
            Attempt::Retry(e, _) if n >= tries => {
                return Err(Error::runtime(format!("{e} (gave up after {n} attempts)")));
            }
            // Shutting down: no more waiting on a peer.
            Attempt::Retry(e, _) if (http.stop)() => return Err(e),
            Attempt::Retry(e, Some(after)) if after > MAX_RETRY_AFTER => {
                return Err(Error::runtime(format!(
                    "{e} (asked to retry after {}s)",
                    after.as_secs()
                )));
            }
            Attempt::Retry(e, after) => {
                let wait = after.unwrap_or_default().max(http.jitter(n - 1));
                log::debug(
                    "retrying",
                    &[
                        ("error", json!(e.message())),
                        ("wait_ms", json!(wait.as_millis() as u64)),
                    ],
                );
                std::thread::sleep(wait);
            }
        }
    }
}

/// ureq's errors, said plainly and without any URL query or header.
fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            std::io::ErrorKind::UnexpectedEof => {
                "connection closed before the answer was complete".into()
            }
            _ => format!("i/o error: {io}"),
        },
        other => other.to_string(),
    }
}

/// An `http://` or `https://` base URL: a host, and no query.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("{url:?} must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) || uri.query().is_some() {
        return Err(format!(
            "{url:?} must be a base URL like https://host[:port]"
        ));
    }
    Ok(())
}

/// Percent-encodes everything but AWS's unreserved characters (`A-Za-z0-9-_.~`), the encoding
/// both SigV4 and the query protocol expect.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

/// `k=v&k=v` with both sides encoded.
pub fn form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(
            encode("arn:aws:cloudfront::1:distribution/E1"),
            "arn%3Aaws%3Acloudfront%3A%3A1%3Adistribution%2FE1"
        );
        assert_eq!(encode("a b~"), "a%20b~");
        assert_eq!(
            form(&[("A".into(), "1 2".into()), ("B".into(), "é".into())]),
            "A=1%202&B=%C3%A9"
        );
    }

    #[test]
    fn urls() {
        assert!(check_url("https://api.mackerelio.com").is_ok());
        assert!(check_url("http://127.0.0.1:1234/base").is_ok());
        for bad in [
            "api.mackerelio.com",
            "ftp://x",
            "http://",
            "http://x/?a=b",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jitter_stays_under_its_ceiling() {
        let http = Http::new(Duration::from_secs(1));
        for attempt in 0..10 {
            assert!(
                http.jitter(attempt)
                    <= Duration::from_millis((300u64 << attempt.min(6)).min(20_000))
            );
        }
    }
}
