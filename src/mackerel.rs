//! Mackerel's REST API: authenticated JSON requests with retries on 429 and 5xx (honouring
//! `Retry-After`), Mackerel's `{"error":{"message":…}}` turned into advice, path segments
//! percent-encoded, and metric bodies cut to [`MAX_BODY`].

use crate::error::{Error, Result, Secret};
use crate::http::{self, Attempt, Http};
use crate::url::encode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Range;

/// The largest metric body sent: Mackerel's front end refuses large bodies, and its own
/// fluentd plugin caps its chunks at 100 KB for that reason (mackerelio/fluent-plugin-mackerel
/// pull request 6, by a Mackerel engineer).
pub const MAX_BODY: usize = 102_400;

/// How old a point Mackerel still accepts: it drops older ones.
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Cuts `items` into runs whose JSON arrays are at most `max` bytes, each filled as far as
/// the next item allows (an item larger than `max` alone is a run of its own).
pub fn runs<T: Serialize>(items: &[T], max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 2);
    for (i, item) in items.iter().enumerate() {
        let len = serde_json::to_vec(item).map_or(0, |v| v.len()) + usize::from(i > start);
        if i > start && size + len > max {
            out.push(start..i);
            (start, size) = (i, 2 + len - 1);
        } else {
            size += len;
        }
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

/// A Mackerel API key goes into a header: visible ASCII only.
pub fn check_key(key: &str) -> Result<(), String> {
    match !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic()) {
        true => Ok(()),
        false => Err(
            "the API key holds a space, a line break or another character an HTTP header cannot carry"
                .into(),
        ),
    }
}

/// A host as Mackerel lists it (the fields cw2mackerel reads).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub custom_identifier: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub meta: Value,
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub created_at: i64,
}

impl Host {
    pub fn has_role(&self, full_name: &str) -> bool {
        full_name.split_once(':').is_some_and(|(svc, role)| {
            self.roles
                .get(svc)
                .is_some_and(|r| r.iter().any(|x| x == role))
        })
    }
}

/// What a host should be: the body of `POST /api/v0/hosts` and `PUT /api/v0/hosts/<id>`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HostSpec {
    pub name: String,
    pub display_name: String,
    pub custom_identifier: String,
    pub meta: Value,
    pub role_fullnames: Vec<String>,
}

impl HostSpec {
    /// Whether `host` already is what this spec says (roles may be more: Mackerel keeps those).
    pub fn matches(&self, host: &Host) -> bool {
        host.name == self.name
            && host.display_name.as_deref().unwrap_or_default() == self.display_name
            && host.meta == self.meta
            && self.role_fullnames.iter().all(|r| host.has_role(r))
    }
}

/// A service metric point: the body items of `POST /api/v0/services/<name>/tsdb`.
#[derive(Debug, Serialize)]
pub struct ServicePoint<'a> {
    pub name: &'a str,
    pub time: i64,
    pub value: f64,
}

/// A host metric point: the body items of `POST /api/v0/tsdb`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPoint<'a> {
    pub host_id: &'a str,
    pub name: &'a str,
    pub time: i64,
    pub value: f64,
}

/// Every status but retired: Mackerel lists only working and standby hosts unless asked.
const LIVE: &str = "status=working&status=standby&status=maintenance&status=poweroff";

pub struct Mackerel<'a> {
    http: &'a Http,
    base: String,
    key: Secret,
}

/// A request that failed for good; `status` is Mackerel's last answer, 0 if none came.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub error: Error,
}

/// Whether an answer with `status` may be different if asked again: 408 Request Timeout
/// (a proxy's, say), 429 and 5xx.
pub fn transient(status: u16) -> bool {
    matches!(status, 408 | 429) || status >= 500
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
    pub fn post_service_metrics(
        &self,
        service: &str,
        points: &[ServicePoint],
    ) -> Result<(), Refused> {
        let body = to_json(points).map_err(|error| Refused { status: 0, error })?;
        let not_found = format!(
            "Mackerel has no service {service:?}; create it in Mackerel or fix CW2MACKEREL_SERVICE"
        );
        self.call(
            "POST",
            &format!("/api/v0/services/{}/tsdb", encode(service)),
            body,
            "posting service metrics",
            &not_found,
        )
        .map(drop)
    }

    /// Live hosts, all of them or those whose customIdentifier is exactly `custom_identifier`
    /// (whatever else the answer holds), oldest first.
    pub fn hosts(&self, custom_identifier: Option<&str>) -> Result<Vec<Host>> {
        let mut path = format!("/api/v0/hosts?{LIVE}");
        if let Some(cid) = custom_identifier {
            path += &format!("&customIdentifier={}", encode(cid));
        }
        let body = self.request(
            "GET",
            &path,
            Vec::new(),
            "listing hosts",
            "the hosts API is missing at MACKEREL_APIBASE",
        )?;
        let mut hosts = parse_hosts(&body).map_err(|e| {
            Error::runtime(format!(
                "Mackerel listing hosts returned an unreadable answer: {e}"
            ))
        })?;
        if let Some(cid) = custom_identifier {
            hosts.retain(|h| h.custom_identifier.as_deref() == Some(cid));
        }
        hosts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(hosts)
    }

    /// `POST /api/v0/hosts`: the new host's ID. A refusal keeps its status: a 4xx may mean
    /// the customIdentifier is taken.
    pub fn create_host(&self, spec: &HostSpec) -> Result<String, Refused> {
        let body = to_json(spec).map_err(|error| Refused { status: 0, error })?;
        let answer = self.call(
            "POST",
            "/api/v0/hosts",
            body,
            "creating a host",
            "the hosts API is missing at MACKEREL_APIBASE",
        )?;
        serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Refused {
                status: 0,
                error: Error::runtime("Mackerel creating a host returned no host id"),
            })
    }

    pub fn update_host(&self, id: &str, spec: &HostSpec) -> Result<()> {
        self.request(
            "PUT",
            &format!("/api/v0/hosts/{}", encode(id)),
            to_json(spec)?,
            "updating a host",
            &format!("host {id} is gone"),
        )
        .map(drop)
    }

    /// Retires a host; `false` if it was not there to retire (already retired, say).
    pub fn retire_host(&self, id: &str) -> Result<bool> {
        match self.call(
            "POST",
            &format!("/api/v0/hosts/{}/retire", encode(id)),
            b"{}".to_vec(),
            "retiring a host",
            "no such host",
        ) {
            Ok(_) => Ok(true),
            Err(Refused { status: 404, .. }) => Ok(false),
            Err(r) => Err(r.error),
        }
    }

    /// `POST /api/v0/tsdb`: one request, so at most a batch of points. A refusal keeps its
    /// status: a 4xx may mean a host was retired under us.
    pub fn post_host_metrics(&self, points: &[HostPoint]) -> Result<(), Refused> {
        let body = to_json(points).map_err(|error| Refused { status: 0, error })?;
        self.call(
            "POST",
            "/api/v0/tsdb",
            body,
            "posting host metrics",
            "a host is gone",
        )
        .map(drop)
    }

    /// `POST /api/v0/graph-defs/create`.
    pub fn create_graph_defs(&self, defs: &[Value]) -> Result<()> {
        self.request(
            "POST",
            "/api/v0/graph-defs/create",
            to_json(defs)?,
            "creating graph definitions",
            "the graph-defs API is missing at MACKEREL_APIBASE",
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
        self.call(method, path, body, action, not_found)
            .map_err(|f| f.error)
    }

    /// As [`Mackerel::request`], keeping the status of a refusal for callers that act on it.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        action: &str,
        not_found: &str,
    ) -> Result<Vec<u8>, Refused> {
        let url = format!("{}{}", self.base, path);
        let mut refused = 0;
        http::retry(self.http, TRIES, || {
            let req = ::http::Request::builder()
                .method(method)
                .uri(&url)
                .header("x-api-key", self.key.expose())
                .header("content-type", "application/json")
                .body(body.clone());
            let req = match req {
                Ok(r) => r,
                Err(e) => return Attempt::Fail(Error::runtime(format!("{action}: bad request to {url}: {e}"))),
            };
            // An organization's host list can be large; every other answer is small.
            let limit = match path.starts_with("/api/v0/hosts?") {
                true => 64 << 20,
                false => http::BODY_LIMIT,
            };
            match self.http.send_with(http::MACKEREL, req, None, limit) {
                Err(e) => Attempt::Retry(Error::runtime(format!("Mackerel {action} failed: {e}")), None),
                Ok(r) if r.ok() => Attempt::Done(r.body),
                Ok(r) => {
                    refused = r.status;
                    let said = self.redact(&message(&r.body));
                    let said = if said.is_empty() { format!("HTTP {}", r.status) } else { format!("HTTP {}: {said}", r.status) };
                    let advice = match r.status {
                        401 | 403 => "Mackerel rejected the API key; check MACKEREL_APIKEY (it needs write permission)",
                        404 => not_found,
                        429 => "Mackerel kept answering 429 Too Many Requests; post less often",
                        s if s >= 500 => "Mackerel kept failing",
                        _ => "Mackerel refused the request",
                    };
                    let e = Error::runtime(format!("Mackerel {action} failed ({said}): {advice}"));
                    if transient(r.status) { Attempt::Retry(e, r.retry_after()) } else { Attempt::Fail(e) }
                }
            }
        })
        .map_err(|error| Refused { status: refused, error })
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

fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::runtime(format!("encoding a Mackerel request: {e}")))
}

/// The hosts of a `GET /api/v0/hosts` answer.
fn parse_hosts(body: &[u8]) -> Result<Vec<Host>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Hosts {
        hosts: Vec<Host>,
    }
    serde_json::from_slice::<Hosts>(body).map(|h| h.hosts)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_fill_toward_the_limit() {
        let items: Vec<ServicePoint> = (0..100)
            .map(|i| ServicePoint {
                name: "cloudfront.E1.requests.request",
                time: 1_795_568_460 + i,
                value: 1.5,
            })
            .collect();
        let one = serde_json::to_vec(&items[0]).unwrap().len();
        let limit = 10 * (one + 1) + 1;
        let runs = runs(&items, limit);
        assert_eq!(runs.len(), 10);
        for r in &runs {
            let body = serde_json::to_vec(&items[r.clone()]).unwrap();
            assert!(body.len() <= limit, "{} > {limit}", body.len());
            assert_eq!(r.len(), 10, "filled");
        }
        assert_eq!(
            super::runs(&items, 1),
            (0..100).map(|i| i..i + 1).collect::<Vec<_>>()
        );
        assert!(super::runs::<ServicePoint>(&[], 100).is_empty());
    }

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "Mackerel answers",
            &[
                br#"{"hosts":[{"id":"h1","name":"n","displayName":"d","customIdentifier":"c","status":"working","meta":{"cw2mackerel":{"owner":"cloudfront"}},"roles":{"cdn":["edge"]},"createdAt":5}]}"#,
                br#"{"error":{"message":"Service not found"}}"#,
            ],
            |b| parse_hosts(b).map_or(0, |h| h.len()) + message(b).len(),
        );
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
    }
}
