//! The platform's credential endpoints: the ECS/EKS container endpoint (with the SDKs' host
//! rules for plain http) and EC2 instance metadata, IMDSv2 only.

use super::keys::{self, Credentials};
use crate::error::{Error, Result, Secret};
use crate::fault::Invalid;
use crate::files;
use crate::retry::{self, Attempt};
use crate::transport::{self, Http};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// ECS task role endpoint for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub const ECS_HOST: &str = "http://169.254.170.2";
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// EC2 instance metadata in the IPv6 endpoint mode.
pub const IMDS_ENDPOINT_V6: &str = "http://[fd00:ec2::254]";
/// Tries of a container credentials request: botocore's `ContainerMetadataFetcher`
/// (`RETRY_ATTEMPTS`).
const CONTAINER_TRIES: u32 = 3;
/// Tries of an IMDS request answered 5xx: the AWS SDK for Go v2's IMDS client (its standard
/// retryer's default).
const IMDS_TRIES: u32 = 3;
/// Off EC2, nothing answers the metadata address: do not wait long for it.
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);

/// The SDKs' rule for `AWS_CONTAINER_CREDENTIALS_FULL_URI`: any https URL; plain http only to
/// loopback or the ECS and EKS Pod Identity agent addresses. Host names are checked when
/// resolved, at fetch time. A query is allowed, as the SDKs allow it.
pub fn check_container_url(url: &str) -> Result<(), Invalid> {
    let shown = crate::url::shown(url);
    let uri: http::Uri = url
        .parse()
        .map_err(|_| Invalid::new(format!("{shown:?} is not a URL")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(Invalid::new(format!(
            "{shown:?} must start with http:// or https://"
        )));
    }
    if uri.host().is_none_or(str::is_empty) || url.chars().any(|c| c.is_whitespace()) {
        return Err(Invalid::new(format!("{shown:?} is not a URL with a host")));
    }
    if uri.scheme_str() == Some("https") {
        return Ok(());
    }
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    match host.parse::<IpAddr>() {
        Ok(ip) if !allowed_container_ip(ip) => Err(Invalid::new(format!(
            "plain http is allowed only to loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23, not {host}"
        ))),
        _ => Ok(()),
    }
}

fn allowed_container_ip(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip == IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2))
        || ip == IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23))
        || ip == IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23))
}

/// The addresses of a URL's host: an IP literal as it is (`[fd00:ec2::23]` without its
/// brackets, as EKS Pod Identity over IPv6 gives it), a name as it resolves.
fn addresses(host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    Ok((bare, port).to_socket_addrs()?.map(|a| a.ip()).collect())
}

/// Credentials from the container endpoint at `url`, with its authorization token if any.
pub fn container(
    http: &Http,
    url: &str,
    token: Option<&Secret>,
    token_file: Option<&PathBuf>,
) -> Result<Credentials> {
    let what = "the container credentials endpoint";
    let uri: http::Uri = url.parse().map_err(|_| {
        Error::runtime(format!("{what}: {:?} is not a URL", crate::url::shown(url)))
    })?;
    if uri.scheme_str() == Some("http") {
        // A host name must resolve to allowed addresses only, as the SDKs require.
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(80);
        let addrs = addresses(host, port)
            .map_err(|e| Error::runtime(format!("{what}: resolving {host}: {e}")))?;
        if addrs.is_empty() || !addrs.iter().all(|ip| allowed_container_ip(*ip)) {
            return Err(Error::runtime(format!(
                "{what}: {host} resolves to addresses other than loopback or the ECS/EKS agent; use https"
            )));
        }
    }
    let auth = match token_file {
        Some(f) => Some(Secret::new(
            files::read_text(f, keys::TOKEN_LIMIT)
                .map_err(|e| {
                    Error::runtime(format!(
                        "reading AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}",
                        f.display()
                    ))
                })?
                .trim(),
        )),
        None => token.cloned(),
    };
    if auth
        .as_ref()
        .is_some_and(|t| t.expose().contains(['\r', '\n']))
    {
        return Err(Error::runtime(
            "the container authorization token contains a line break",
        ));
    }
    // botocore's ContainerMetadataFetcher tries three times whatever went wrong: a refused
    // connection, any status but 200 (a 4xx too: the agent may not have the role's
    // credentials yet), an answer that is not JSON.
    let body = retry::send(
        http,
        CONTAINER_TRIES,
        || {
            let mut req = http::Request::get(url).header("accept", "application/json");
            if let Some(t) = &auth {
                req = req.header("authorization", t.expose());
            }
            req.body(Vec::new())
                .map_err(|e| Error::runtime(format!("{what}: {e}")))
        },
        |req| http.send(transport::CREDENTIALS, req),
        |_, answer| match answer {
            Err(e) => Attempt::Retry(Error::runtime(format!("{what}: {e}")), None),
            Ok(r) if r.ok() && serde_json::from_slice::<Value>(&r.body).is_ok() => {
                Attempt::Done(r.body)
            }
            Ok(r) if r.ok() => Attempt::Retry(
                Error::runtime(format!("{what}: its answer is not JSON")),
                None,
            ),
            Ok(r) => {
                let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                let msg = v["message"]
                    .as_str()
                    .or(v["Message"].as_str())
                    .unwrap_or_default();
                let e = Error::runtime(format!("{what} answered HTTP {}: {msg}", r.status));
                Attempt::Retry(e, None)
            }
        },
    )?;
    keys::from_json(&body).map_err(|e| Error::runtime(format!("{what}: {e}")))
}

/// The instance role's credentials, through an IMDSv2 session token. Each request is tried
/// three times when IMDS answers 5xx (it throttles that way), as the SDKs do; a connection
/// that fails is not retried, because off EC2 nothing answers at all.
pub fn imds(http: &Http, endpoint: &str) -> Result<Credentials> {
    let token = imds_request(
        http,
        endpoint,
        http::Method::PUT,
        "/latest/api/token",
        ("x-aws-ec2-metadata-token-ttl-seconds", "21600"),
    )?;
    let token = String::from_utf8_lossy(&token).trim().to_string();
    let get = |path: &str| {
        imds_request(
            http,
            endpoint,
            http::Method::GET,
            path,
            ("x-aws-ec2-metadata-token", &token),
        )
    };
    let roles = get("/latest/meta-data/iam/security-credentials/")?;
    let role = String::from_utf8_lossy(&roles)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if role.is_empty() {
        return Err(Error::runtime("the instance has no IAM role attached"));
    }
    let body = get(&format!(
        "/latest/meta-data/iam/security-credentials/{role}"
    ))?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::runtime(format!("unreadable answer: {e}")))?;
    if let Some(code) = v["Code"].as_str().filter(|c| *c != "Success") {
        return Err(Error::runtime(format!(
            "instance role credentials not available ({code})"
        )));
    }
    keys::from_json(&body).map_err(|e| Error::runtime(e.to_string()))
}

/// One IMDS request with its one header, tried again on a 5xx.
fn imds_request(
    http: &Http,
    endpoint: &str,
    method: http::Method,
    path: &str,
    (name, value): (&str, &str),
) -> Result<Vec<u8>> {
    let url = format!("{endpoint}{path}");
    let r = retry::send(
        http,
        IMDS_TRIES,
        || {
            http::Request::builder()
                .method(method.clone())
                .uri(&url)
                .header(name, value)
                .body(Vec::new())
                .map_err(|e| Error::runtime(e.to_string()))
        },
        |req| {
            http.send_with(
                transport::CREDENTIALS,
                req,
                Some(IMDS_TIMEOUT),
                transport::BODY_LIMIT,
            )
        },
        |_, answer| match answer {
            Err(e) => Attempt::Fail(Error::runtime(e.to_string())),
            Ok(r) if r.status >= 500 => Attempt::Retry(
                Error::runtime(format!("HTTP {} from {endpoint}", r.status)),
                None,
            ),
            Ok(r) => Attempt::Done(r),
        },
    )?;
    match r.status {
        200..=299 => Ok(r.body),
        403 if method == http::Method::PUT => Err(Error::runtime(format!(
            "HTTP 403 from {endpoint}: instance metadata is turned off on this instance"
        ))),
        404 if path.ends_with("/security-credentials/") => Err(Error::runtime(
            "the instance has no IAM role attached (HTTP 404)",
        )),
        s => Err(Error::runtime(format!("HTTP {s} from {endpoint}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_need_no_resolving() {
        let v6: IpAddr = "fd00:ec2::23".parse().unwrap();
        assert_eq!(addresses("[fd00:ec2::23]", 80).unwrap(), [v6]);
        assert!(allowed_container_ip(v6));
        assert_eq!(
            addresses("169.254.170.23", 80).unwrap(),
            ["169.254.170.23".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn container_full_uri_host_rules() {
        for ok in [
            "http://127.0.0.1:8080/c",
            "http://169.254.170.23/v1/credentials",
            "https://creds.example.com/x",
            "http://localhost/x",
            "http://[::1]:9/c",
        ] {
            assert!(check_container_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/c",
            "http://169.254.169.254/c",
            "ftp://127.0.0.1/",
        ] {
            assert!(check_container_url(bad).is_err(), "{bad}");
        }
    }
}
