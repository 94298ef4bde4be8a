//! Mackerel's REST API: authenticated JSON requests with retries on 429 and 5xx (honouring
//! `Retry-After`), and Mackerel's `{"error":{"message":…}}` turned into advice.

use crate::error::{Error, Result, Secret};
use crate::http::{self, Attempt, Http};
use crate::map::Point;

pub struct Mackerel<'a> {
    http: &'a Http,
    base: String,
    key: Secret,
}

/// Attempts per request; 429 storms and 5xx get three more tries.
const TRIES: u32 = 4;

impl<'a> Mackerel<'a> {
    pub fn new(http: &'a Http, base: &str, key: Secret) -> Self {
        Mackerel {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        }
    }

    /// `POST /api/v0/services/<service>/tsdb`: one request, so at most a batch of points.
    pub fn post_service_metrics(&self, service: &str, points: &[Point]) -> Result<()> {
        let body = serde_json::to_vec(points)
            .map_err(|e| Error::runtime(format!("encoding datapoints: {e}")))?;
        let not_found = format!(
            "Mackerel has no service {service:?}; create it in Mackerel or fix CW2MACKEREL_SERVICE"
        );
        self.request(
            "POST",
            &format!("/api/v0/services/{service}/tsdb"),
            body,
            "posting service metrics",
            &not_found,
        )
        .map(drop)
    }

    /// Sends one request and returns the body of a 2xx answer. `action` names it in errors;
    /// `not_found` is the advice for a 404.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        action: &str,
        not_found: &str,
    ) -> Result<Vec<u8>> {
        let url = format!("{}{}", self.base, path);
        http::retry(self.http, TRIES, || {
            let req = ::http::Request::builder()
                .method(method)
                .uri(&url)
                .header("x-api-key", self.key.expose())
                .header("content-type", "application/json")
                .body(body.clone());
            let req = match req {
                Ok(r) => r,
                Err(e) => {
                    return Attempt::Fail(Error::runtime(format!(
                        "{action}: bad request to {url}: {e}"
                    )));
                }
            };
            match self.http.send("mackerel", req) {
                Err(e) => Attempt::Retry(
                    Error::runtime(format!("Mackerel {action} failed: {e}")),
                    None,
                ),
                Ok(r) if r.ok() => Attempt::Done(r.body),
                Ok(r) => {
                    let said = self.redact(&message(&r.body));
                    let said = if said.is_empty() {
                        format!("HTTP {}", r.status)
                    } else {
                        format!("HTTP {}: {said}", r.status)
                    };
                    let advice = match r.status {
                        401 | 403 => "Mackerel rejected the API key; check MACKEREL_APIKEY (it needs write permission)".to_string(),
                        404 => not_found.to_string(),
                        429 => "Mackerel kept answering 429 Too Many Requests; post less often".to_string(),
                        s if s >= 500 => "Mackerel kept failing".to_string(),
                        _ => "Mackerel refused the request".to_string(),
                    };
                    let e = Error::runtime(format!("Mackerel {action} failed ({said}): {advice}"));
                    if r.status == 429 || r.status >= 500 {
                        Attempt::Retry(e, r.retry_after())
                    } else {
                        Attempt::Fail(e)
                    }
                }
            }
        })
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

/// The message of `{"error":{"message":"…"}}` or `{"error":"…"}`; else a short raw excerpt.
fn message(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v["error"]["message"]
            .as_str()
            .or(v["error"].as_str())
            .unwrap_or_default()
            .to_string(),
        Err(_) => String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        assert_eq!(
            message(br#"{"error":{"message":"Service not found"}}"#),
            "Service not found"
        );
        assert_eq!(message(br#"{"error":"bad"}"#), "bad");
        assert_eq!(message(b"<html>oops"), "<html>oops");
        assert_eq!(message(b""), "");
    }
}
