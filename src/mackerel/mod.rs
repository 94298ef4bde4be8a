//! Mackerel's REST API: authenticated JSON requests with retries on 429 and 5xx (honouring
//! `Retry-After`), Mackerel's `{"error":{"message":…}}` turned into advice, path segments
//! percent-encoded, and metric bodies cut to [`MAX_BODY`]. A 2xx counts only when it holds
//! Mackerel's answer (`{"success":true}`, a host ID, a host list); anything else, and any
//! redirect, is a [`Failure::Foreign`], never a success. The host list is read as it streams.
//! `key` finds the API key (given, or in SSM Parameter Store).

mod host;
mod key;
mod request;

use crate::error::{Result, Secret};
use crate::transport::Http;
use crate::url::encode;
use request::{Client, Expect, to_json};
use serde::Serialize;
use std::io::Read;
use std::ops::Range;

pub use host::{Host, HostSpec};
pub use key::{KeySource, api_key, check_key};
pub use request::{Failure, transient};

/// The largest metric body sent: Mackerel's front end refuses large bodies, and its own
/// fluentd plugin caps its chunks at 100 KB for that reason (mackerelio/fluent-plugin-mackerel
/// pull request 6, by a Mackerel engineer).
pub const MAX_BODY: usize = 102_400;

/// How old a point Mackerel still accepts: it drops older ones.
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How old a point may be when a cycle posts it: [`MAX_AGE`] less five minutes, so that a
/// point read just inside Mackerel's horizon is not past it by the time it reaches Mackerel
/// (Mackerel would drop it and still answer 200).
pub const POSTABLE: std::time::Duration = std::time::Duration::from_secs(24 * 3600 - 5 * 60);

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

/// A graph definition, the body item of `POST /api/v0/graph-defs/create`: mackerel-client-go's
/// `GraphDefsParam`, its fields in its order, so that a graph is posted byte for byte as
/// mackerel-agent posts a plugin's.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphDef {
    pub name: String,
    pub display_name: String,
    pub unit: &'static str,
    pub metrics: Vec<GraphMetric>,
}

/// A metric of a graph definition (`GraphDefsMetric`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphMetric {
    pub name: String,
    pub display_name: String,
    pub is_stacked: bool,
}

/// Every status but retired: Mackerel lists only working and standby hosts unless asked.
const LIVE: &str = "status=working&status=standby&status=maintenance&status=poweroff";

/// The host list is read as it streams; past this many bytes it is not Mackerel's.
const LIST_LIMIT: u64 = 1 << 30;

pub struct Mackerel<'a> {
    client: Client<'a>,
}

impl<'a> Mackerel<'a> {
    pub fn new(http: &'a Http, base: &str, key: Secret) -> Self {
        Mackerel {
            client: Client::new(http, base, key),
        }
    }

    /// `POST /api/v0/services/<service>/tsdb`: one request, so at most a batch of points.
    pub fn post_service_metrics(
        &self,
        service: &str,
        points: &[ServicePoint],
    ) -> Result<(), Failure> {
        let not_found = format!(
            "Mackerel has no service {service:?}; create it in Mackerel or fix CW2MACKEREL_SERVICE"
        );
        self.client
            .call(
                "POST",
                &format!("/api/v0/services/{}/tsdb", encode(service)),
                to_json(points)?,
                "posting service metrics",
                &not_found,
                Expect::Success,
            )
            .map(drop)
    }

    /// Live hosts, all of them or those whose customIdentifier is exactly `custom_identifier`
    /// (whatever else the answer holds), that `keep` wants, oldest first. The answer is read
    /// as it streams and only the hosts kept stay in memory, so the size of the organization
    /// does not matter.
    pub fn hosts(
        &self,
        custom_identifier: Option<&str>,
        keep: &dyn Fn(&Host) -> bool,
    ) -> Result<Vec<Host>, Failure> {
        let mut path = format!("/api/v0/hosts?{LIVE}");
        if let Some(cid) = custom_identifier {
            path += &format!("&customIdentifier={}", encode(cid));
        }
        let keep = |h: &Host| {
            custom_identifier.is_none_or(|cid| h.custom_identifier.as_deref() == Some(cid))
                && keep(h)
        };
        let (action, not_found) = (
            "listing hosts",
            "the hosts API is missing at MACKEREL_APIBASE",
        );
        let mut hosts = Vec::new();
        self.client
            .exchange("GET", &path, Vec::new(), action, not_found, &mut |r| {
                hosts = host::read_hosts(r.take(LIST_LIMIT), &keep)?;
                Ok(())
            })?;
        hosts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(hosts)
    }

    /// Whether host `id` is live: `false` when Mackerel says it is retired or knows no such
    /// host.
    pub fn host_is_live(&self, id: &str) -> Result<bool, Failure> {
        match self.client.call(
            "GET",
            &format!("/api/v0/hosts/{}", encode(id)),
            Vec::new(),
            "looking a host up",
            "no such host",
            Expect::Host,
        ) {
            Ok(v) => Ok(v["host"]["isRetired"] != true),
            Err(Failure::Refused(404, _)) => Ok(false),
            Err(f) => Err(f),
        }
    }

    /// `POST /api/v0/hosts`: the new host's ID. A refusal keeps its status: a 4xx may mean
    /// the customIdentifier is taken.
    pub fn create_host(&self, spec: &HostSpec) -> Result<String, Failure> {
        let answer = self.client.call(
            "POST",
            "/api/v0/hosts",
            to_json(spec)?,
            "creating a host",
            "the hosts API is missing at MACKEREL_APIBASE",
            Expect::Id,
        )?;
        Ok(answer["id"].as_str().unwrap_or_default().to_string())
    }

    pub fn update_host(&self, id: &str, spec: &HostSpec) -> Result<(), Failure> {
        self.client
            .call(
                "PUT",
                &format!("/api/v0/hosts/{}", encode(id)),
                to_json(spec)?,
                "updating a host",
                &format!("host {id} is gone"),
                Expect::Id,
            )
            .map(drop)
    }

    /// Retires a host; `false` if it was not there to retire (already retired, say).
    pub fn retire_host(&self, id: &str) -> Result<bool, Failure> {
        match self.client.call(
            "POST",
            &format!("/api/v0/hosts/{}/retire", encode(id)),
            b"{}".to_vec(),
            "retiring a host",
            "no such host",
            Expect::Success,
        ) {
            Ok(_) => Ok(true),
            Err(Failure::Refused(404, _)) => Ok(false),
            Err(f) => Err(f),
        }
    }

    /// `POST /api/v0/tsdb`: one request, so at most a batch of points. A refusal keeps its
    /// status: a 4xx may mean a host was retired under us.
    pub fn post_host_metrics(&self, points: &[HostPoint]) -> Result<(), Failure> {
        self.client
            .call(
                "POST",
                "/api/v0/tsdb",
                to_json(points)?,
                "posting host metrics",
                "a host is gone",
                Expect::Success,
            )
            .map(drop)
    }

    /// `POST /api/v0/graph-defs/create`.
    pub fn create_graph_defs(&self, defs: &[GraphDef]) -> Result<(), Failure> {
        self.client
            .call(
                "POST",
                "/api/v0/graph-defs/create",
                to_json(defs)?,
                "creating graph definitions",
                "the graph-defs API is missing at MACKEREL_APIBASE",
                Expect::Success,
            )
            .map(drop)
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
}
