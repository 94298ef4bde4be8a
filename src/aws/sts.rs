//! STS: AssumeRole (signed with the credentials it is given) for roles, and
//! AssumeRoleWithWebIdentity (unsigned: the web identity token is the proof) for the chain.

use super::endpoint::{Endpoints, Service};
use super::keys::{Credentials, Role};
use super::request::{self, Answer, Call};
use super::retries;
use crate::clock;
use crate::error::{Error, Result};
use crate::fault::Undecodable;
use crate::retry::{self, Attempt};
use crate::transport::Http;
use crate::url::Form;

/// AssumeRole, signed with `creds`, for a session of `duration` seconds.
pub fn assume_role(
    http: &Http,
    endpoints: &Endpoints,
    region: &str,
    creds: &dyn Fn() -> Result<Credentials>,
    role: &Role,
    session_name: &str,
    duration: u32,
) -> Result<Credentials> {
    let mut form = Form::default();
    form.add(format_args!("Action"), "AssumeRole")
        .add(format_args!("Version"), "2011-06-15")
        .add(format_args!("RoleArn"), &role.arn)
        .add(format_args!("RoleSessionName"), session_name)
        .add(format_args!("DurationSeconds"), &duration.to_string());
    if let Some(id) = &role.external_id {
        form.add(format_args!("ExternalId"), id);
    }
    let call = Call::query(
        Service::Sts,
        region,
        None,
        form,
        "STS AssumeRole",
        "sts:AssumeRole (and the role's trust policy must name these credentials)",
    );
    let body = request::send(http, endpoints, &call, creds, &|| {})
        .map_err(|e| e.context(format!("assuming {}", role.arn)))?;
    parse_credentials(&body, "AssumeRoleResult")
        .map_err(|e| Error::runtime(format!("STS AssumeRole: {e}")))
}

pub fn assume_role_with_web_identity(
    http: &Http,
    endpoint: &str,
    role_arn: &str,
    session_name: &str,
    token: &str,
) -> Result<Credentials> {
    let action = "STS AssumeRoleWithWebIdentity";
    let mut form = Form::default();
    form.add(format_args!("Action"), "AssumeRoleWithWebIdentity")
        .add(format_args!("Version"), "2011-06-15")
        .add(format_args!("RoleArn"), role_arn)
        .add(format_args!("RoleSessionName"), session_name)
        .add(format_args!("WebIdentityToken"), token);
    let body = form.into_bytes();
    // Unsigned, so no clock to correct; otherwise retried as every AWS call.
    let answer = retry::send(
        http,
        retries::attempts(),
        || {
            http::Request::post(format!("{endpoint}/"))
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(body.clone())
                .map_err(|e| Error::runtime(format!("{action}: {e}")))
        },
        |req| http.send("sts", req),
        |attempt, answer| match Answer::of(answer) {
            Answer::Body(body) => Attempt::Done(body),
            Answer::Unanswered(e) => {
                let e = Error::runtime(format!("{action} failed: {e}"));
                retries::wait(http, attempt, None, e)
            }
            Answer::Refused(api, r) => {
                let e = Error::runtime(api.explain(
                    action,
                    "sts:AssumeRoleWithWebIdentity (in the role's trust policy)",
                ));
                // botocore's `RetryIDPCommunicationError` (retries/special.py) adds STS's
                // IDPCommunicationError to what standard mode retries.
                if api.retryable() || api.code == "IDPCommunicationError" {
                    retries::wait(http, attempt, Some((&api, &r)), e)
                } else {
                    Attempt::Fail(e)
                }
            }
        },
    )?;
    parse_credentials(&answer, "AssumeRoleWithWebIdentityResult")
        .map_err(|e| Error::runtime(format!("{action}: {e}")))
}

/// Reads `<…Response><{result}><Credentials>…` as every STS AssumeRole* answer has it.
fn parse_credentials(body: &[u8], result: &str) -> Result<Credentials, Undecodable> {
    let doc = crate::xml::parse(body)?;
    let c = doc
        .at(&format!("{result}/Credentials"))
        .ok_or_else(|| Undecodable::new(format!("the answer has no {result}/Credentials")))?;
    let field = |k: &str| c.text_at(k).filter(|v| !v.is_empty()).map(str::to_string);
    let (Some(id), Some(secret), Some(token)) = (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    ) else {
        return Err(Undecodable::new(
            "the answer lacks AccessKeyId, SecretAccessKey or SessionToken",
        ));
    };
    let expires = field("Expiration").and_then(|e| clock::parse_iso8601(&e));
    Credentials::new(&id, &secret, Some(&token), expires).map_err(Undecodable::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "STS credentials",
            &[b"<AssumeRoleResponse><AssumeRoleResult><Credentials><SessionToken>T</SessionToken><SecretAccessKey>S</SecretAccessKey><Expiration>2026-11-25T01:02:00Z</Expiration><AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleResult></AssumeRoleResponse>"],
            |b| parse_credentials(b, "AssumeRoleResult").map_or(0, |c| c.access_key_id.len()),
        );
    }

    #[test]
    fn reads_sts_credentials() {
        let body = br#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <AssumeRoleWithWebIdentityResult><Credentials><SessionToken>TOK</SessionToken>
          <SecretAccessKey>SEC</SecretAccessKey><Expiration>2026-11-25T01:02:00Z</Expiration>
          <AccessKeyId>ASIA</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>
        </AssumeRoleWithWebIdentityResponse>"#;
        let c = parse_credentials(body, "AssumeRoleWithWebIdentityResult").unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.expires),
            ("ASIA", Some(1795568520))
        );
        assert!(parse_credentials(b"<A><B/></A>", "AssumeRoleWithWebIdentityResult").is_err());
    }
}
