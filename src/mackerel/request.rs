//! How one request to Mackerel goes: sent with retries, a 2xx read as a stream and counted
//! only when it holds Mackerel's answer, a redirect never followed, a refusal kept with its
//! status, and every failure said with what came back (escaped, secrets masked).

use crate::error::{Error, Secret};
use crate::retry::{self, Attempt};
use crate::transport::{self, Http, MACKEREL, Reply, Unanswered};
use serde::Serialize;
use serde_json::Value;
use std::io::Read;

/// Why a request to Mackerel came to nothing. Each kind asks for something else of a caller:
/// points kept and posting stopped, or the refusal weighed by its status.
#[derive(Debug)]
pub enum Failure {
    /// No answer: not sent (the cycle's deadline), no connection, a timeout, a body cut short.
    Unanswered(Error),
    /// An answer that is not Mackerel's: a 2xx without Mackerel's JSON (a maintenance page, a
    /// captive proxy, a base URL serving something else) or a redirect, which is never
    /// followed.
    Foreign(Error),
    /// Mackerel refused the request with this HTTP status.
    Refused(u16, Error),
}

impl Failure {
    /// The status Mackerel refused with, if it did.
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Refused(status, _) => Some(*status),
            Failure::Unanswered(_) | Failure::Foreign(_) => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unanswered(e) | Failure::Foreign(e) | Failure::Refused(_, e) => e.fmt(f),
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::Unanswered(e) | Failure::Foreign(e) | Failure::Refused(_, e) => e,
        }
    }
}

/// What the last attempt of a request came to, kept across retries.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Unanswered,
    Foreign,
    Refused(u16),
}

impl Kind {
    fn with(self, e: Error) -> Failure {
        match self {
            Kind::Unanswered => Failure::Unanswered(e),
            Kind::Foreign => Failure::Foreign(e),
            Kind::Refused(status) => Failure::Refused(status, e),
        }
    }
}

/// What a 2xx must hold to be Mackerel's answer (as its API documents it, and as
/// mackerel-client-go decodes it).
#[derive(Clone, Copy)]
pub(super) enum Expect {
    /// `{"success": true}`: metric posts, graph definitions, a retirement.
    Success,
    /// `{"id": "<host ID>"}`: a host created or updated.
    Id,
    /// `{"host": {…}}`: one host.
    Host,
}

impl Expect {
    fn holds(self, v: &Value) -> bool {
        match self {
            Expect::Success => v["success"] == true,
            Expect::Id => v["id"].as_str().is_some_and(|id| !id.is_empty()),
            Expect::Host => v["host"].is_object(),
        }
    }
}

/// Whether an answer with `status` may be different if asked again: 408 Request Timeout
/// (a proxy's, say), 429 and 5xx.
pub fn transient(status: u16) -> bool {
    matches!(status, 408 | 429) || status >= 500
}

/// Attempts per request, cw2mackerel's own policy (the README's "Mackerel requests keep their
/// own policy"): 429 storms, 5xx and answers that are not Mackerel's get three more tries.
const TRIES: u32 = 4;

/// What a 403 means, as Mackerel's API documents it: the key (unknown, or without the
/// permission), or a request from outside the organization's allowed IP ranges.
const FORBIDDEN: &str = concat!(
    "Mackerel rejected the API key or the address the request came from: check that ",
    "MACKEREL_APIKEY is a key of the organization with write permission, and, if the ",
    "organization allows API access only from some IP ranges (its API access restriction), ",
    "that this machine's public address is in one of them"
);

/// What a redirect means: MACKEREL_APIBASE is not Mackerel's API itself.
const REDIRECT: &str = concat!(
    "redirects are not followed and nothing was posted there: ",
    "set MACKEREL_APIBASE to Mackerel's API itself"
);

/// A 400 or 422 without Mackerel's error: something in front of Mackerel refused.
const NOT_MACKERELS: &str = concat!(
    "the refusal holds no Mackerel error, so something in front of Mackerel made it; ",
    "nothing counts as refused: check MACKEREL_APIBASE and any proxy"
);

const UNAUTHORIZED: &str =
    "Mackerel rejected the API key; check MACKEREL_APIKEY (it needs write permission)";

/// One try's answer: a 2xx read as a stream by the caller's reader (what it came to, the
/// headers, and the first bytes, for a message), or any other answer, read whole.
enum Answer {
    Streamed(Option<(Result<(), Kind>, http::HeaderMap, Vec<u8>)>),
    Other(Reply),
}

/// Authenticated requests to one Mackerel API base.
pub(super) struct Client<'a> {
    http: &'a Http,
    base: String,
    key: Secret,
}

impl<'a> Client<'a> {
    pub(super) fn new(http: &'a Http, base: &str, key: Secret) -> Self {
        Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    /// Sends one request and returns Mackerel's answer to it, a small JSON document that must
    /// hold what `expect` says. `action` names it in errors; `not_found` is the advice for a
    /// 404.
    pub(super) fn call(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        action: &str,
        not_found: &str,
        expect: Expect,
    ) -> Result<Value, Failure> {
        let mut answer = Value::Null;
        self.exchange(method, path, body, action, not_found, &mut |r| {
            let mut bytes = Vec::new();
            r.take(transport::BODY_LIMIT)
                .read_to_end(&mut bytes)
                .map_err(|_| Kind::Unanswered)?;
            answer = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .filter(|v| expect.holds(v))
                .ok_or(Kind::Foreign)?;
            Ok(())
        })?;
        Ok(answer)
    }

    /// Sends one request, with retries, and reads the body of a 2xx with `read`, which says
    /// what went wrong when it cannot (`Kind::Foreign`: the body is not Mackerel's answer,
    /// retried like a 5xx; `Kind::Unanswered`: the body was cut short).
    pub(super) fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        action: &str,
        not_found: &str,
        read: &mut dyn FnMut(&mut dyn Read) -> Result<(), Kind>,
    ) -> Result<(), Failure> {
        let url = format!("{}{}", self.base, path);
        let mut kind = Kind::Unanswered;
        retry::send(
            self.http,
            TRIES,
            || {
                http::Request::builder()
                    .method(method)
                    .uri(&url)
                    .header("x-api-key", self.key.expose())
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .map_err(|e| Error::runtime(format!("{action}: bad request to {url}: {e}")))
            },
            |req| {
                let mut streamed = None;
                let other = self
                    .http
                    .send_streamed(MACKEREL, req, &mut |headers, body| {
                        let mut body = Head::new(body);
                        let read = read(&mut body);
                        streamed = Some((read, headers.clone(), body.head));
                    })?;
                Ok(match other {
                    Some(reply) => Answer::Other(reply),
                    None => Answer::Streamed(streamed),
                })
            },
            |_, answer| {
                let attempt;
                (attempt, kind) = self.classify(action, not_found, answer);
                attempt
            },
        )
        .map_err(|e| kind.with(e))
    }

    /// What one try came to, and the kind of failure it would be if it were the last.
    fn classify(
        &self,
        action: &str,
        not_found: &str,
        answer: Result<Answer, Unanswered>,
    ) -> (Attempt<()>, Kind) {
        let failed = |said: String| Error::runtime(format!("Mackerel {action} failed{said}"));
        match answer {
            Err(e) => (
                Attempt::Retry(failed(format!(": {e}")), None),
                Kind::Unanswered,
            ),
            Ok(Answer::Streamed(Some((Ok(()), _, _)))) => (Attempt::Done(()), Kind::Unanswered),
            Ok(Answer::Streamed(Some((Err(Kind::Foreign), headers, head)))) => (
                Attempt::Retry(self.foreign(action, &headers, &head), None),
                Kind::Foreign,
            ),
            Ok(Answer::Streamed(_)) => (
                Attempt::Retry(failed(": the answer was cut short".into()), None),
                Kind::Unanswered,
            ),
            Ok(Answer::Other(r)) if (300..400).contains(&r.status) => {
                let to = r.header("location").map_or("nowhere".into(), |l| {
                    format!("{:?}", self.shown(l.as_bytes()))
                });
                let e = failed(format!(
                    ": MACKEREL_APIBASE redirects (HTTP {} to {to}); {REDIRECT}",
                    r.status
                ));
                (Attempt::Fail(e), Kind::Foreign)
            }
            Ok(Answer::Other(r)) => {
                // A refusal of what was sent is Mackerel's only when it says why its way.
                let theirs = matches!(r.status, 400 | 422) && !mackerels_error(&r.body);
                let said = match self.redact(&message(&r.body)) {
                    m if m.is_empty() => format!("HTTP {}", r.status),
                    m => format!("HTTP {}: {m}", r.status),
                };
                let advice = match r.status {
                    _ if theirs => NOT_MACKERELS,
                    401 => UNAUTHORIZED,
                    403 => FORBIDDEN,
                    404 => not_found,
                    413 => "the body is too large for Mackerel or for something in front of it",
                    429 => "Mackerel kept answering 429 Too Many Requests; post less often",
                    s if s >= 500 => "Mackerel kept failing",
                    _ => "Mackerel refused the request",
                };
                let e = failed(format!(" ({said}): {advice}"));
                let kind = match theirs {
                    true => Kind::Foreign,
                    false => Kind::Refused(r.status),
                };
                match transient(r.status) {
                    true => (Attempt::Retry(e, r.retry_after()), kind),
                    false => (Attempt::Fail(e), kind),
                }
            }
        }
    }

    /// An error for a 2xx that is not Mackerel's answer: what came back, escaped and masked.
    fn foreign(&self, action: &str, headers: &http::HeaderMap, head: &[u8]) -> Error {
        let ctype = headers
            .get("content-type")
            .map_or("no content type".into(), |v| self.shown(v.as_bytes()));
        let body = match head.is_empty() {
            true => "an empty body".to_string(),
            false => format!("{:?}", self.shown(head)),
        };
        Error::runtime(format!(
            "Mackerel {action} failed: a 2xx answer that is not Mackerel's ({ctype}: {body}); nothing counts as posted. Check MACKEREL_APIBASE: a maintenance page or a proxy may answer in Mackerel's place"
        ))
    }

    /// The start of what a peer sent, fit for a message: secrets and URL passwords masked.
    fn shown(&self, bytes: &[u8]) -> String {
        self.redact(&crate::log::excerpt(bytes))
    }

    /// Mackerel's messages should never echo the key, but make sure.
    fn redact(&self, s: &str) -> String {
        if self.key.expose().is_empty() {
            s.to_string()
        } else {
            s.replace(self.key.expose(), "***")
        }
    }
}

/// A body being read, with its first bytes kept for an error message.
struct Head<'r> {
    body: &'r mut dyn Read,
    head: Vec<u8>,
}

impl<'r> Head<'r> {
    /// Bytes kept: enough for [`crate::log::excerpt`] to mask a secret at the cut.
    const KEPT: usize = 1024;

    fn new(body: &'r mut dyn Read) -> Self {
        Head {
            body,
            head: Vec::new(),
        }
    }
}

impl Read for Head<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.body.read(buf)?;
        let room = Self::KEPT.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}

pub(super) fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(v).map_err(|e| {
        Failure::Unanswered(Error::runtime(format!("encoding a Mackerel request: {e}")))
    })
}

/// The message of `{"error":{"message":"…"}}` or `{"error":"…"}`; else a short raw excerpt.
fn message(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v["error"]["message"]
            .as_str()
            .or(v["error"].as_str())
            .unwrap_or_default()
            .to_string(),
        Err(_) => crate::log::excerpt(body),
    }
}

/// Whether `body` is Mackerel's error: `{"error":{"message":"…"}}` or `{"error":"…"}`.
fn mackerels_error(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v["error"]["message"].is_string() || v["error"].is_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "Mackerel errors",
            &[
                br#"{"error":{"message":"Service not found"}}"#,
                br#"{"error":"bad"}"#,
            ],
            |b| message(b).len(),
        );
    }

    #[test]
    fn only_mackerels_answers_count() {
        use serde_json::json;
        assert!(Expect::Success.holds(&json!({"success": true})));
        for other in [
            json!({"success": false}),
            json!({"success": "true"}),
            json!({}),
            json!([]),
        ] {
            assert!(!Expect::Success.holds(&other), "{other}");
        }
        assert!(Expect::Id.holds(&json!({"id": "3yAYEDLXKL5"})));
        assert!(!Expect::Id.holds(&json!({"id": ""})) && !Expect::Id.holds(&json!({"id": 5})));
        assert!(Expect::Host.holds(&json!({"host": {"id": "h"}})));
        assert!(!Expect::Host.holds(&json!({"success": true})));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            message(br#"{"error":{"message":"Service not found"}}"#),
            "Service not found"
        );
        assert_eq!(message(br#"{"error":"bad"}"#), "bad");
        assert_eq!(message(b"<html>oops"), "<html>oops");
        assert_eq!(message(b""), "");
        assert!(mackerels_error(
            br#"{"error":{"message":"invalid metric name"}}"#
        ));
        assert!(!mackerels_error(b"<html>400 Bad Request</html>") && !mackerels_error(b"{}"));
    }
}
