//! One AWS request: how it is described ([`Call`]), signed with credentials, sent, retried as
//! the SDKs' standard retry mode does (with one renewal of an expired session token and one
//! correction of a skewed clock), and how an error answer becomes a message that names the
//! missing permission.

use super::endpoint::{Endpoints, Service};
use super::error;
use super::keys::{Credentials, Role};
use super::{retries, sign};
use crate::error::{Error, Result};
use crate::retry::{self, Attempt};
use crate::transport::{self, Http};
use std::time::Duration;

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
    /// The largest answer read; [`transport::BODY_LIMIT`] but for calls known to answer more.
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
            body_limit: transport::BODY_LIMIT,
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

/// Signs `call` with what `credentials` hands out and sends it, retrying as the SDKs'
/// standard mode does ([`retries`]). An expired session token calls `renew` and is tried again
/// at once; so is a request refused for a clock AWS's `Date` shows to be off, signed anew with
/// AWS's time. Each counts among the attempts. Returns the body of the 2xx answer.
pub fn send(
    http: &Http,
    endpoints: &Endpoints,
    call: &Call,
    credentials: &dyn Fn() -> Result<Credentials>,
    renew: &dyn Fn(),
) -> Result<Vec<u8>> {
    let url = format!("{}{}", endpoints.url(call.service, call.region)?, call.path);
    let (mut renewed, mut corrected, mut attempt) = (false, false, 0);
    retry::retry(http, retries::attempts(), || {
        attempt += 1;
        let creds = match credentials() {
            Ok(c) => c,
            Err(e) => return Attempt::Fail(e),
        };
        let mut req = http::Request::builder().method(call.method).uri(&url);
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
            retries::signing_time(),
        ) {
            return Attempt::Fail(Error::runtime(format!("{}: {e}", call.action)));
        }
        let r = match http.send_with(call.service.name(), req, None, call.body_limit) {
            Err(e) => {
                let e = Error::runtime(format!("{} failed: {e}", call.action));
                return Attempt::Wait(e, retries::delay(None, attempt, http.random(), None));
            }
            Ok(r) if r.ok() => return Attempt::Done(r.body),
            Ok(r) => r,
        };
        let mut api = error::parse(&r);
        api.skew = retries::skew(&api, &r);
        let e = Error::runtime(api.explain(call.action, call.permission));
        match api.skew {
            Some(skew) if !corrected => {
                corrected = true;
                retries::correct(skew);
                Attempt::Wait(e, Duration::ZERO)
            }
            _ if api.expired_token() && !renewed => {
                renewed = true;
                renew();
                Attempt::Wait(e, Duration::ZERO)
            }
            _ if api.retryable() => {
                let after = r.header("x-amz-retry-after");
                Attempt::Wait(e, retries::delay(Some(&api), attempt, http.random(), after))
            }
            _ => Attempt::Fail(e),
        }
    })
}
