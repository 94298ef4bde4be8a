//! One AWS request: how it is described ([`Call`]), signed with credentials, sent, retried on
//! throttling, server errors and transport failures (with one renewal of an expired session
//! token), and how an error answer becomes a message that names the missing permission.

use super::endpoint::{Endpoints, Service};
use super::error;
use super::keys::{Credentials, Role};
use super::sign;
use crate::error::{Error, Result};
use crate::http::{self, Attempt, Http};
use std::time::SystemTime;

/// One API request, described for signing, retrying and explaining failures.
pub struct Call<'a> {
    pub service: Service,
    pub region: &'a str,
    pub method: &'static str,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: Vec<u8>,
    /// `CloudWatch GetMetricData`: how messages name the operation.
    pub action: &'static str,
    /// The IAM action it needs, named when AWS denies it.
    pub permission: &'static str,
    /// Sign with this role's credentials (assumed through STS) instead of the chain's.
    pub role: Option<&'a Role>,
    /// The largest answer read; [`http::BODY_LIMIT`] but for calls known to answer more.
    pub body_limit: u64,
}

impl<'a> Call<'a> {
    /// A query-protocol request (CloudWatch, STS): the parameters as a form posted to `/`.
    pub fn query(
        service: Service,
        region: &'a str,
        role: Option<&'a Role>,
        params: crate::url::Form,
        action: &'static str,
        permission: &'static str,
    ) -> Call<'a> {
        Call {
            service,
            region,
            method: "POST",
            path: "/".into(),
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            body: params.into_bytes(),
            action,
            permission,
            role,
            body_limit: http::BODY_LIMIT,
        }
    }

    /// A JSON-protocol request (SSM, Tagging): `target` is the `X-Amz-Target` operation.
    pub fn json(
        service: Service,
        region: &'a str,
        role: Option<&'a Role>,
        target: &'static str,
        body: &serde_json::Value,
        action: &'static str,
        permission: &'static str,
    ) -> Call<'a> {
        Call {
            headers: vec![
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", target),
            ],
            body: body.to_string().into_bytes(),
            ..Call::query(
                service,
                region,
                role,
                Default::default(),
                action,
                permission,
            )
        }
    }

    /// Parses an XML answer, saying which operation sent something unreadable.
    pub fn xml(&self, body: &[u8]) -> Result<crate::xml::Element> {
        crate::xml::parse(body).map_err(|e| {
            Error::runtime(format!(
                "{} returned an unreadable answer: {e}",
                self.action
            ))
        })
    }
}

/// Attempts per call, as the SDKs' standard retry mode does (plus one).
const TRIES: u32 = 4;

/// Signs `call` with what `credentials` hands out and sends it, retrying throttling, 5xx and
/// transport failures with backoff. An expired session token calls `renew` and is tried
/// again once. Returns the body of the 2xx answer.
pub fn send(
    http: &Http,
    endpoints: &Endpoints,
    call: &Call,
    credentials: &dyn Fn() -> Result<Credentials>,
    renew: &dyn Fn(),
) -> Result<Vec<u8>> {
    let url = format!("{}{}", endpoints.url(call.service, call.region)?, call.path);
    let mut renewed = false;
    http::retry(http, TRIES, || {
        let creds = match credentials() {
            Ok(c) => c,
            Err(e) => return Attempt::Fail(e),
        };
        let mut req = ::http::Request::builder().method(call.method).uri(&url);
        for (k, v) in &call.headers {
            req = req.header(*k, *v);
        }
        let mut req = match req.body(call.body.clone()) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Fail(Error::runtime(format!(
                    "{}: bad request to {url}: {e}",
                    call.action
                )));
            }
        };
        if let Err(e) = sign::sign(
            &mut req,
            &creds,
            call.service.signing_region(call.region),
            call.service.signing_name(),
            SystemTime::now(),
        ) {
            return Attempt::Fail(Error::runtime(format!("{}: {e}", call.action)));
        }
        match http.send_with(call.service.name(), req, None, call.body_limit) {
            Err(e) => Attempt::Retry(Error::runtime(format!("{} failed: {e}", call.action)), None),
            Ok(r) if r.ok() => Attempt::Done(r.body),
            Ok(r) => {
                let api = error::parse(&r);
                let e = Error::runtime(api.explain(call.action, call.permission));
                if api.expired_token() && !renewed {
                    renewed = true;
                    renew();
                    Attempt::Retry(e, None)
                } else if api.retryable() {
                    Attempt::Retry(e, r.retry_after())
                } else {
                    Attempt::Fail(e)
                }
            }
        }
    })
}
