//! One AWS request: how it is described ([`Call`]), signed with credentials, sent, retried as
//! the SDKs' standard retry mode does (with one renewal of an expired session token and one
//! correction of a skewed clock), and how an error answer becomes a message that names the
//! missing permission.

use super::endpoint::{Endpoints, Service};
use super::error::{self, ApiError};
use super::keys::{Credentials, Role};
use super::{retries, sign};
use crate::error::{Error, Result};
use crate::retry::{self, Attempt};
use crate::transport::{self, Http, Reply, Unanswered};
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
    let (mut renewed, mut corrected) = (false, false);
    retry::send(
        http,
        retries::attempts(),
        || signed(call, &url, &credentials()?),
        |req| http.send_with(call.service.name(), req, None, call.body_limit),
        |attempt, answer| {
            let (api, r) = match Answer::of(answer) {
                Answer::Body(body) => return Attempt::Done(body),
                Answer::Unanswered(e) => {
                    let e = Error::runtime(format!("{} failed: {e}", call.action));
                    return retries::wait(http, attempt, None, e);
                }
                Answer::Refused(mut api, r) => {
                    api.skew = retries::skew(&api, &r);
                    (api, r)
                }
            };
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
                _ if api.retryable() => retries::wait(http, attempt, Some((&api, &r)), e),
                _ => Attempt::Fail(e),
            }
        },
    )
}

/// What one try of an AWS request came to: the body of a 2xx, no answer, or an error AWS gave.
pub(super) enum Answer {
    Body(Vec<u8>),
    Unanswered(Unanswered),
    Refused(ApiError, Reply),
}

impl Answer {
    pub(super) fn of(sent: Result<Reply, Unanswered>) -> Answer {
        match sent {
            Err(e) => Answer::Unanswered(e),
            Ok(r) if r.ok() => Answer::Body(r.body),
            Ok(r) => Answer::Refused(error::parse(&r), r),
        }
    }
}

/// `call` as a request to `url`, signed with `creds` at AWS's time.
fn signed(call: &Call, url: &str, creds: &Credentials) -> Result<http::Request<Vec<u8>>> {
    let mut req = http::Request::builder().method(call.method).uri(url);
    for (k, v) in &call.headers {
        req = req.header(*k, *v);
    }
    let mut req = req
        .body(call.body.clone())
        .map_err(|e| Error::runtime(format!("{}: bad request to {url}: {e}", call.action)))?;
    sign::sign(
        &mut req,
        creds,
        call.service.signing_region(call.region),
        call.service.signing_name(),
        retries::signing_time(),
    )
    .map_err(|e| Error::runtime(format!("{}: {e}", call.action)))?;
    Ok(req)
}
