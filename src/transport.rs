//! HTTP for every peer, over ureq (rustls with built-in webpki roots, so a scratch image needs
//! no CA file): a count of calls per service for the summary line, the cycle's deadline that
//! bounds every request and every wait (the retry loop is [`crate::retry`]), and the randomness
//! its backoff draws from. AWS and Mackerel requests go through `HTTPS_PROXY` when one is set
//! (except hosts in `NO_PROXY`); the credential endpoints and the Lambda runtime API never do,
//! as with the AWS SDKs. `tls` adds a CA bundle's certificates to the roots: AWS's to the AWS
//! agent and the direct one (an https container credentials endpoint), Mackerel's to
//! Mackerel's. Named `transport`, not `http`, so that `http::Request` is always the crate's.

use crate::error::Result;
use crate::fault::Invalid;
use crate::log;
use crate::url;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub mod tls;

/// Largest response body read unless a request says otherwise.
pub const BODY_LIMIT: u64 = 8 << 20;

/// Why a request brought no answer (ureq's error, narrowed to what callers tell apart and
/// said plainly, without any URL query or header).
#[derive(Debug, Clone, PartialEq)]
pub enum Unanswered {
    /// Not sent: the cycle's deadline had passed.
    Deadline,
    /// Sent, or tried, but no whole answer came: no connection, a timeout, a refused TLS
    /// certificate, a body cut short or over its limit. `proxied`: it went through
    /// `HTTPS_PROXY`, which may be what failed.
    Transport { said: String, proxied: bool },
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unanswered::Deadline => f.write_str("not sent: the cycle's deadline has passed"),
            // A proxy that is down looks like the peer being down; say which it may be.
            Unanswered::Transport {
                said,
                proxied: true,
            } => {
                write!(f, "{said} (HTTPS_PROXY is set)")
            }
            Unanswered::Transport { said, .. } => f.write_str(said),
        }
    }
}

impl Unanswered {
    fn transport(said: impl Into<String>) -> Self {
        Unanswered::Transport {
            said: said.into(),
            proxied: false,
        }
    }
}

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

/// A proxy for AWS and Mackerel requests: `HTTPS_PROXY` and `NO_PROXY`.
#[derive(Clone, PartialEq)]
pub struct Proxy {
    /// `http://[user:password@]host[:port]` (or `https://`).
    pub url: String,
    /// Hosts reached directly: `NO_PROXY`'s comma list (`example.com`, `.example.com`, `*`).
    pub no_proxy: Vec<String>,
}

/// Without the password the URL may hold.
impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &url::shown(&self.url))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Proxy {
    fn agent_proxy(&self) -> Result<ureq::Proxy, Invalid> {
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|_| Invalid::new(format!("{:?} is not a proxy URL", url::shown(&self.url))))?;
        let protocol = match uri.scheme_str() {
            Some("http") => ureq::ProxyProtocol::Http,
            Some("https") => ureq::ProxyProtocol::Https,
            _ => return Err(Invalid::new("a proxy URL starts with http:// or https://")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| Invalid::new("the proxy URL has no host"))?;
        let mut b = ureq::Proxy::builder(protocol).host(uri.host().unwrap_or_default());
        if let Some(port) = authority.port_u16() {
            b = b.port(port);
        }
        if let Some((userinfo, _)) = authority.as_str().rsplit_once('@') {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            b = b.username(&url::decode(user));
            if !password.is_empty() {
                b = b.password(&url::decode(password));
            }
        }
        for host in &self.no_proxy {
            b = b.no_proxy(host);
        }
        b.build().map_err(|e| Invalid::new(e.to_string()))
    }
}

pub struct Http {
    /// AWS: through the proxy, if any.
    agent: ureq::Agent,
    /// Mackerel: through the proxy too; the AWS agent itself unless the bundles differ.
    mackerel: ureq::Agent,
    proxied: bool,
    /// Credential endpoints and the Lambda runtime API: never through a proxy.
    direct: ureq::Agent,
    timeout: Duration,
    calls: RefCell<BTreeMap<&'static str, u32>>,
    seed: Cell<u64>,
    /// No request or wait begins after this; requests end by it.
    deadline: Cell<Option<Instant>>,
}

/// The peer name of the credential endpoints (ECS, EKS, IMDS), which are never proxied.
pub const CREDENTIALS: &str = "credentials";

/// The peer name of Mackerel, which has a CA bundle of its own.
pub const MACKEREL: &str = "mackerel";

impl Http {
    /// `timeout` bounds each request from connect to the last body byte.
    pub fn new(timeout: Duration) -> Http {
        Http::build(timeout, None, &tls::Trust::default())
    }

    /// As [`Http::new`], sending AWS and Mackerel requests through `proxy`.
    pub fn with_proxy(timeout: Duration, proxy: Option<&Proxy>) -> Result<Http, Invalid> {
        Http::with_trust(timeout, proxy, &tls::Trust::default())
    }

    /// As [`Http::with_proxy`], trusting the CA bundles of `trust` too.
    pub fn with_trust(
        timeout: Duration,
        proxy: Option<&Proxy>,
        trust: &tls::Trust,
    ) -> Result<Http, Invalid> {
        let proxied = proxy.map(Proxy::agent_proxy).transpose()?;
        Ok(Http::build(timeout, proxied, trust))
    }

    fn build(timeout: Duration, proxied: Option<ureq::Proxy>, trust: &tls::Trust) -> Http {
        let agent = |proxy: Option<ureq::Proxy>, bundle: Option<&tls::Bundle>| {
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(tls::roots(bundle))
                .build();
            ureq::Agent::config_builder()
                .tls_config(tls)
                .http_status_as_error(false)
                .timeout_global(Some(timeout))
                .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
                .user_agent(concat!("cw2mackerel/", env!("CARGO_PKG_VERSION")))
                .max_redirects(0)
                // Only what the configuration says: ureq would read ALL_PROXY and HTTP_PROXY too.
                .proxy(proxy)
                .build()
                .new_agent()
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        let aws = agent(proxied.clone(), trust.aws.as_ref());
        let mackerel = match trust.mackerel == trust.aws {
            true => aws.clone(),
            false => agent(proxied.clone(), trust.mackerel.as_ref()),
        };
        Http {
            proxied: proxied.is_some(),
            agent: aws,
            mackerel,
            direct: agent(None, trust.aws.as_ref()),
            timeout,
            calls: RefCell::new(BTreeMap::new()),
            seed: Cell::new(seed | 1),
            deadline: Cell::new(None),
        }
    }

    /// From now until `at`, requests and waits go on; after it, none begins, and a request in
    /// flight ends by it. `None` lifts the deadline.
    pub fn set_deadline(&self, at: Option<Instant>) {
        self.deadline.set(at);
    }

    /// How long one more step may take: the request timeout, or less if the deadline is
    /// nearer.
    pub fn step_limit(&self) -> Duration {
        self.time_left()
            .map_or(self.timeout, |left| left.min(self.timeout))
    }

    /// Time until the deadline; `None` without one.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .get()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Sends one request and reads the whole answer. `peer` names the service for the call
    /// count; an error here is a transport failure (refused, timed out, truncated body).
    pub fn send(
        &self,
        peer: &'static str,
        req: http::Request<Vec<u8>>,
    ) -> Result<Reply, Unanswered> {
        self.send_with(peer, req, None, BODY_LIMIT)
    }

    /// As [`Http::send`], with a tighter time limit (metadata endpoints that may not exist)
    /// or another limit on the body read.
    pub fn send_with(
        &self,
        peer: &'static str,
        req: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
        body_limit: u64,
    ) -> Result<Reply, Unanswered> {
        let mut reply = None;
        self.dispatch(peer, req, timeout, &mut |resp| {
            reply = Some(read_whole(resp, body_limit)?);
            Ok(())
        })?;
        reply.ok_or_else(|| Unanswered::transport("no answer"))
    }

    /// Sends one request; the body of a 2xx answer is not read here but handed to `read` as
    /// a stream (of any length: the request's time limit bounds it), so an answer of tens of
    /// MB costs no more memory than `read` keeps. Any other answer is read whole, as
    /// [`Http::send`] does, and returned.
    pub fn send_streamed(
        &self,
        peer: &'static str,
        req: http::Request<Vec<u8>>,
        read: &mut dyn FnMut(&http::HeaderMap, &mut dyn std::io::Read),
    ) -> Result<Option<Reply>, Unanswered> {
        let mut other = None;
        self.dispatch(peer, req, None, &mut |resp| {
            if !resp.status().is_success() {
                other = Some(read_whole(resp, BODY_LIMIT)?);
                return Ok(());
            }
            let (parts, body) = resp.into_parts();
            read(&parts.headers, &mut body.into_with_config().reader());
            Ok(())
        })?;
        Ok(other)
    }

    /// Counts, limits in time, proxies and logs one request; `take` reads its answer.
    fn dispatch(
        &self,
        peer: &'static str,
        req: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
        take: &mut dyn FnMut(http::Response<ureq::Body>) -> Result<(), Unanswered>,
    ) -> Result<(), Unanswered> {
        let limit = timeout.unwrap_or(self.timeout);
        let limit = match self.time_left() {
            Some(left) if left.is_zero() => return Err(Unanswered::Deadline),
            Some(left) => limit.min(left),
            None => limit,
        };
        *self.calls.borrow_mut().entry(peer).or_default() += 1;
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let agent = self.agent_for(peer);
        let req = agent
            .configure_request(req)
            .timeout_global(Some(limit))
            .timeout_connect(Some(limit.min(Duration::from_secs(10))))
            .build();
        let mut status = None;
        let mut result = agent.run(req).map_err(describe).and_then(|resp| {
            status = Some(resp.status().as_u16());
            take(resp)
        });
        if let Err(Unanswered::Transport { proxied, .. }) = &mut result {
            *proxied = self.proxied && peer != CREDENTIALS;
        }
        if log::enabled(log::Level::Debug) {
            let status = match (&result, status) {
                (Err(e), _) => e.to_string(),
                (Ok(_), s) => s.unwrap_or_default().to_string(),
            };
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

    /// The agent that reaches `peer`: direct for the credential endpoints, through the proxy
    /// (if any) for the rest, with the roots of the peer's CA bundle.
    fn agent_for(&self, peer: &str) -> &ureq::Agent {
        match peer {
            CREDENTIALS => &self.direct,
            MACKEREL => &self.mackerel,
            _ => &self.agent,
        }
    }

    /// Calls made since the last time this was asked, by peer.
    pub fn take_calls(&self) -> BTreeMap<&'static str, u32> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }

    /// Sends a request to a local control endpoint (the Lambda runtime API): no time limit,
    /// since the poll for the next invocation waits as long as it takes, and not counted
    /// among the API calls of a cycle.
    pub fn send_local(&self, req: http::Request<Vec<u8>>) -> Result<Reply, Unanswered> {
        let (mut reply, body) = self.send_local_parts(req, BODY_LIMIT)?;
        reply.body = body?;
        Ok(reply)
    }

    /// As [`Http::send_local`], but an answer whose body cannot be read (over `limit`, cut
    /// short) still gives its status and headers: the body, or why it could not be read, comes
    /// beside them (the reply's own body is left empty).
    pub fn send_local_parts(
        &self,
        req: http::Request<Vec<u8>>,
        limit: u64,
    ) -> Result<(Reply, Result<Vec<u8>, Unanswered>), Unanswered> {
        let req = self
            .direct
            .configure_request(req)
            .timeout_global(None)
            .timeout_recv_response(None)
            .timeout_recv_body(None)
            .build();
        Ok(parts(self.direct.run(req).map_err(describe)?, limit))
    }

    /// A random fraction in `[0, 1)` for jitter (xorshift is plenty to spread clients apart).
    pub fn random(&self) -> f64 {
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        // The top 53 bits, the precision of an f64.
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// An answer's status and headers, and its body (up to `limit` bytes) or why it could not be
/// read.
fn parts(resp: http::Response<ureq::Body>, limit: u64) -> (Reply, Result<Vec<u8>, Unanswered>) {
    let (parts, mut body) = resp.into_parts();
    let body = body
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| Unanswered::transport(format!("reading the response: {}", said(e))));
    let reply = Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: Vec::new(),
    };
    (reply, body)
}

/// Reads a whole answer, up to `limit` bytes of body.
fn read_whole(resp: http::Response<ureq::Body>, limit: u64) -> Result<Reply, Unanswered> {
    let (mut reply, body) = parts(resp, limit);
    reply.body = body?;
    Ok(reply)
}

/// ureq's errors, said plainly and without any URL query or header.
fn describe(e: ureq::Error) -> Unanswered {
    Unanswered::transport(said(e))
}

fn said(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::BodyExceedsLimit(limit) => format!("the body is over the {limit}-byte limit"),
        // rustls's refusal, as ureq passes it on: say what would make the certificate trusted.
        ureq::Error::Io(io) if io.to_string().starts_with("invalid peer certificate") => format!(
            "the server's TLS certificate was refused ({io}); if a TLS-inspecting proxy or a private CA signs it, give that CA's certificate in AWS_CA_BUNDLE (for AWS) or CW2MACKEREL_CA_BUNDLE (for Mackerel)"
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "Retry-After",
            &[b"120", b"Wed, 21 Oct 2026 07:28:00 GMT"],
            |b| {
                let mut headers = http::HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_bytes(b) {
                    headers.insert("retry-after", v);
                }
                let reply = Reply {
                    status: 429,
                    headers,
                    body: Vec::new(),
                };
                reply.retry_after().map_or(0, |_| 1)
            },
        );
    }

    /// The random fractions stay in [0, 1) and spread over it: every tenth of the range gets
    /// its share, whatever the seed.
    #[test]
    fn random_fractions_spread_over_the_unit_interval() {
        let http = Http::new(Duration::from_secs(1));
        for seed in [1u64, 0x9E37_79B9_7F4A_7C15, u64::MAX, 12345] {
            http.seed.set(seed);
            let mut tenths = [0u32; 10];
            let mut sum = 0.0;
            for _ in 0..10_000 {
                let r = http.random();
                assert!((0.0..1.0).contains(&r), "{r}");
                tenths[(r * 10.0) as usize] += 1;
                sum += r;
            }
            for (i, n) in tenths.iter().enumerate() {
                assert!(
                    (800..1200).contains(n),
                    "seed {seed}: tenth {i} got {n} of 10000"
                );
            }
            assert!(
                (sum / 10_000.0 - 0.5).abs() < 0.02,
                "seed {seed}: mean {}",
                sum / 10_000.0
            );
        }
    }
}
