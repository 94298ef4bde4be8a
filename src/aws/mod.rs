//! AWS: where each service's endpoint is (with the SDKs' `AWS_ENDPOINT_URL*` overrides), and
//! one way to call it: sign with the current credentials, send, retry throttling and server
//! errors, and turn error documents into messages that name the missing permission.

pub mod cloudfront;
pub mod cloudwatch;
pub mod credentials;
mod error;
pub mod sign;
pub mod ssm;
pub mod sts;
pub mod tagging;

use crate::clock;
use crate::error::{Error, Result};
use crate::http::{self, Attempt, Http};
use crate::jobs::Role;
use credentials::{Credentials, Provider, Source};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    CloudWatch,
    CloudFront,
    Ssm,
    Sts,
    Tagging,
}

impl Service {
    const ALL: [Service; 5] = [
        Service::CloudWatch,
        Service::CloudFront,
        Service::Ssm,
        Service::Sts,
        Service::Tagging,
    ];

    /// The service's name in call counts.
    pub fn name(self) -> &'static str {
        match self {
            Service::CloudWatch => "cloudwatch",
            Service::CloudFront => "cloudfront",
            Service::Ssm => "ssm",
            Service::Sts => "sts",
            Service::Tagging => "tagging",
        }
    }

    /// `AWS_ENDPOINT_URL_<this>`: the SDKs' service id, upper-cased, spaces as underscores.
    fn env_suffix(self) -> &'static str {
        match self {
            Service::CloudWatch => "CLOUDWATCH",
            Service::CloudFront => "CLOUDFRONT",
            Service::Ssm => "SSM",
            Service::Sts => "STS",
            Service::Tagging => "RESOURCE_GROUPS_TAGGING_API",
        }
    }

    fn signing_name(self) -> &'static str {
        match self {
            Service::CloudWatch => "monitoring",
            other => other.name(),
        }
    }

    fn default_endpoint(self, region: &str) -> String {
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        match self {
            Service::CloudWatch => format!("https://monitoring.{region}.{suffix}"),
            Service::CloudFront => "https://cloudfront.amazonaws.com".into(),
            Service::Ssm => format!("https://ssm.{region}.{suffix}"),
            Service::Sts => format!("https://sts.{region}.{suffix}"),
            Service::Tagging => format!("https://tagging.{region}.{suffix}"),
        }
    }
}

/// AWS settings from the environment, all checked before the first call.
#[derive(Debug)]
pub struct Settings {
    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, or the profile's region.
    pub region: Option<String>,
    endpoints: Vec<(Service, String)>,
    global_endpoint: Option<String>,
    pub credentials: Source,
}

impl Settings {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
        let var = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let ignore = var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let endpoint = |name: &str| -> Result<Option<String>> {
            match var(name).filter(|_| !ignore) {
                Some(url) => {
                    check_url(&url).map_err(|e| Error::config(format!("{name}: {e}")))?;
                    Ok(Some(url.trim_end_matches('/').to_string()))
                }
                None => Ok(None),
            }
        };
        let mut endpoints = Vec::new();
        for s in Service::ALL {
            if let Some(url) = endpoint(&format!("AWS_ENDPOINT_URL_{}", s.env_suffix()))? {
                endpoints.push((s, url));
            }
        }
        let global_endpoint = endpoint("AWS_ENDPOINT_URL")?;
        let (credentials, profile_region) = credentials::detect(env)?;
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .or(profile_region);
        Ok(Settings {
            region,
            endpoints,
            global_endpoint,
            credentials,
        })
    }

    /// The base URL (no trailing slash) for `service` in `region`.
    pub fn endpoint(&self, service: Service, region: &str) -> String {
        self.endpoints
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, u)| u.clone())
            .or_else(|| self.global_endpoint.clone())
            .unwrap_or_else(|| service.default_endpoint(region))
    }
}

/// An `http://` or `https://` URL with a host and no query.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: ::http::Uri = url.parse().map_err(|_| format!("{url:?} is not a URL"))?;
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
}

impl<'a> Call<'a> {
    /// A query-protocol request (CloudWatch, STS): the parameters as a form posted to `/`.
    pub fn query(
        service: Service,
        region: &'a str,
        role: Option<&'a Role>,
        params: &[(String, String)],
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
            body: http::form(params).into_bytes(),
            action,
            permission,
            role,
        }
    }
}

pub struct Aws<'a> {
    pub http: &'a Http,
    pub settings: &'a Settings,
    creds: Provider<'a>,
    /// Credentials of assumed roles, kept until five minutes before they expire.
    roles: RefCell<HashMap<Role, Credentials>>,
}

/// Attempts per call, as the SDKs' standard retry mode does (plus one).
const TRIES: u32 = 4;

impl<'a> Aws<'a> {
    pub fn new(http: &'a Http, settings: &'a Settings) -> Self {
        Aws {
            http,
            settings,
            creds: Provider::new(http, settings),
            roles: RefCell::new(HashMap::new()),
        }
    }

    /// The credentials to sign with: the chain's, or the role's (assumed with the chain's).
    fn credentials(&self, role: Option<&Role>) -> Result<Credentials> {
        let Some(role) = role else {
            return self.creds.get();
        };
        if let Some(c) = self.roles.borrow().get(role)
            && c.expires
                .is_none_or(|e| e - clock::now() > credentials::REFRESH_BEFORE)
        {
            return Ok(c.clone());
        }
        let region = self.settings.region.as_deref().unwrap_or("us-east-1");
        let c = sts::assume_role(self, role, region)?;
        self.roles.borrow_mut().insert(role.clone(), c.clone());
        Ok(c)
    }

    fn invalidate(&self, role: Option<&Role>) {
        match role {
            Some(r) => drop(self.roles.borrow_mut().remove(r)),
            None => self.creds.invalidate(),
        }
    }

    /// Signs and sends `call`, retrying throttling, 5xx and transport failures with backoff,
    /// and once with fresh credentials if the session token expired. Returns the body.
    pub fn call(&self, call: &Call) -> Result<Vec<u8>> {
        let url = format!(
            "{}{}",
            self.settings.endpoint(call.service, call.region),
            call.path
        );
        let mut renewed = false;
        http::retry(self.http, TRIES, || {
            let creds = match self.credentials(call.role) {
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
            // CloudFront is global and signs as us-east-1.
            let region = if call.service == Service::CloudFront {
                "us-east-1"
            } else {
                call.region
            };
            if let Err(e) = sign::sign(
                &mut req,
                &creds,
                region,
                call.service.signing_name(),
                SystemTime::now(),
            ) {
                return Attempt::Fail(Error::runtime(format!("{}: {e}", call.action)));
            }
            match self.http.send(call.service.name(), req) {
                Err(e) => {
                    Attempt::Retry(Error::runtime(format!("{} failed: {e}", call.action)), None)
                }
                Ok(r) if r.ok() => Attempt::Done(r.body),
                Ok(r) => {
                    let api = error::parse(&r);
                    let e = Error::runtime(api.explain(call.action, call.permission));
                    if api.expired_token() && !renewed {
                        renewed = true;
                        self.invalidate(call.role);
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

    /// Parses an XML answer, saying which operation sent something unreadable.
    pub fn xml(&self, call: &Call, body: &[u8]) -> Result<crate::xml::Element> {
        crate::xml::parse(body).map_err(|e| {
            Error::runtime(format!(
                "{} returned an unreadable answer: {e}",
                call.action
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings> {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("AWS_ACCESS_KEY_ID".into(), "A".into());
        map.insert("AWS_SECRET_ACCESS_KEY".into(), "S".into());
        Settings::from_env(&move |k| map.get(k).cloned())
    }

    #[test]
    fn endpoints_follow_the_sdk_variables() {
        let s = settings(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/"),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:6000"),
        ])
        .unwrap();
        assert_eq!(
            s.endpoint(Service::CloudWatch, "us-east-1"),
            "http://127.0.0.1:6000"
        );
        assert_eq!(
            s.endpoint(Service::Ssm, "us-east-1"),
            "http://127.0.0.1:5000"
        );
        let s = settings(&[("AWS_REGION", "cn-north-1")]).unwrap();
        assert_eq!(
            s.endpoint(Service::CloudWatch, "us-east-1"),
            "https://monitoring.us-east-1.amazonaws.com"
        );
        assert_eq!(
            s.endpoint(Service::Sts, "cn-north-1"),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            s.endpoint(Service::CloudFront, "eu-west-1"),
            "https://cloudfront.amazonaws.com"
        );
        assert_eq!(s.region.as_deref(), Some("cn-north-1"));
        let s = settings(&[
            ("AWS_ENDPOINT_URL", "http://x:1"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ])
        .unwrap();
        assert_eq!(
            s.endpoint(Service::Ssm, "us-east-1"),
            "https://ssm.us-east-1.amazonaws.com"
        );
        let e = settings(&[("AWS_ENDPOINT_URL_SSM", "localhost:5000")]).unwrap_err();
        assert!(
            matches!(e, Error::Config(ref m) if m.starts_with("AWS_ENDPOINT_URL_SSM")),
            "{e}"
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
}
