//! AWS credentials, found in the order of the AWS SDKs' default chain: environment keys, web
//! identity, the shared credentials/config files, the ECS container endpoint, EC2 IMDSv2.
//! Which source applies is decided from the environment and files alone, before any network
//! call; temporary credentials are fetched when first needed and refreshed before they expire.

use super::{Service, Settings, sts};
use crate::clock;
use crate::error::{Error, Result, Secret};
use crate::http::{self, Http};
use crate::log;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: Secret,
    pub token: Option<Secret>,
    /// Unix seconds; `None` for long-term keys.
    pub expires: Option<i64>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Where credentials come from.
#[derive(Debug)]
pub enum Source {
    Static {
        creds: Credentials,
        origin: String,
    },
    WebIdentity {
        token_file: PathBuf,
        role_arn: String,
        session_name: String,
    },
    Container {
        url: String,
        token: Option<Secret>,
        token_file: Option<PathBuf>,
    },
    Imds {
        endpoint: String,
    },
}

impl Source {
    /// Where the credentials come from, for debug logs (never the keys themselves).
    pub fn describe(&self) -> String {
        match self {
            Source::Static { origin, .. } => origin.clone(),
            Source::WebIdentity { role_arn, .. } => format!("web identity for {role_arn}"),
            Source::Container { url, .. } => format!("container endpoint {url}"),
            Source::Imds { endpoint } => format!("EC2 instance metadata at {endpoint}"),
        }
    }
}

/// Temporary credentials are renewed this long before they expire.
pub const REFRESH_BEFORE: i64 = 5 * 60;
/// ECS task role endpoint for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_HOST: &str = "http://169.254.170.2";
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// Off EC2, nothing answers the metadata address: do not wait long for it.
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);

/// Picks the source and reads the profile's region, from the environment and files only.
pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Result<(Source, Option<String>)> {
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };

    let profile_name = var("AWS_PROFILE");
    let profile = load_profile(env, profile_name.as_deref().unwrap_or("default"))?;
    if let (Some(name), None) = (&profile_name, &profile) {
        return Err(Error::config(format!(
            "AWS_PROFILE is {name:?}, but no such profile is in the shared credentials or config file"
        )));
    }
    let region = profile.as_ref().and_then(|p| p.get("region").cloned());

    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => {
            let creds = Credentials {
                access_key_id: id,
                secret: Secret::new(secret),
                token: var("AWS_SESSION_TOKEN").map(Secret::new),
                expires: None,
            };
            return Ok((
                Source::Static {
                    creds,
                    origin: "environment".into(),
                },
                region,
            ));
        }
        (Some(_), None) => {
            return Err(Error::config(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::config(
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
            ));
        }
        (None, None) => {}
    }

    if let (Some(file), Some(role)) = (var("AWS_WEB_IDENTITY_TOKEN_FILE"), var("AWS_ROLE_ARN")) {
        let session_name =
            var("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| format!("cw2mackerel-{}", clock::now()));
        return Ok((
            Source::WebIdentity {
                token_file: file.into(),
                role_arn: role,
                session_name,
            },
            region,
        ));
    }

    if let Some(p) = &profile {
        let name = profile_name.as_deref().unwrap_or("default");
        if let (Some(id), Some(secret)) =
            (p.get("aws_access_key_id"), p.get("aws_secret_access_key"))
        {
            let creds = Credentials {
                access_key_id: id.clone(),
                secret: Secret::new(secret.clone()),
                token: p.get("aws_session_token").map(|t| Secret::new(t.clone())),
                expires: None,
            };
            return Ok((
                Source::Static {
                    creds,
                    origin: format!("profile {name}"),
                },
                region,
            ));
        }
        if let (Some(file), Some(role)) = (p.get("web_identity_token_file"), p.get("role_arn")) {
            let session_name = p
                .get("role_session_name")
                .cloned()
                .unwrap_or_else(|| format!("cw2mackerel-{}", clock::now()));
            return Ok((
                Source::WebIdentity {
                    token_file: file.into(),
                    role_arn: role.clone(),
                    session_name,
                },
                region,
            ));
        }
        if profile_name.is_some() {
            return Err(Error::config(format!(
                "profile {name:?} has no aws_access_key_id/aws_secret_access_key or web_identity_token_file; cw2mackerel reads only those (for SSO or credential_process, export the keys into the environment)"
            )));
        }
    }

    if let Some(rel) = var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        return Ok((
            Source::Container {
                url: format!("{ECS_HOST}{rel}"),
                token: None,
                token_file: None,
            },
            region,
        ));
    }
    if let Some(full) = var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        check_container_url(&full)
            .map_err(|e| Error::config(format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {e}")))?;
        let token_file = var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from);
        let token = var("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Secret::new);
        return Ok((
            Source::Container {
                url: full,
                token,
                token_file,
            },
            region,
        ));
    }

    if var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(Error::config(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or AWS_PROFILE (EC2 instance metadata is disabled by AWS_EC2_METADATA_DISABLED)",
        ));
    }
    let endpoint = var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| IMDS_ENDPOINT.into());
    super::check_url(&endpoint)
        .map_err(|e| Error::config(format!("AWS_EC2_METADATA_SERVICE_ENDPOINT: {e}")))?;
    Ok((
        Source::Imds {
            endpoint: endpoint.trim_end_matches('/').into(),
        },
        region,
    ))
}

/// The SDKs' rule for `AWS_CONTAINER_CREDENTIALS_FULL_URI`: any https URL; plain http only to
/// loopback or the ECS and EKS Pod Identity agent addresses. Host names are checked when
/// resolved, at fetch time.
fn check_container_url(url: &str) -> Result<(), String> {
    super::check_url(url)?;
    let uri: ::http::Uri = url.parse().map_err(|_| "not a URL".to_string())?;
    if uri.scheme_str() == Some("https") {
        return Ok(());
    }
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    match host.parse::<IpAddr>() {
        Ok(ip) if !allowed_container_ip(ip) => Err(format!(
            "plain http is allowed only to loopback, 169.254.170.2 or 169.254.170.23, not {host}"
        )),
        _ => Ok(()),
    }
}

fn allowed_container_ip(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip == IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2))
        || ip == IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23))
        || ip == IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23))
}

/// The named profile's settings, merged from the config file (`[profile name]`, or
/// `[default]`) and the credentials file (`[name]`), which wins. `None` if neither has it.
fn load_profile(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<HashMap<String, String>>> {
    let home = env("HOME").filter(|h| !h.is_empty());
    let path = |var: &str, default: &str| -> Option<PathBuf> {
        env(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                home.as_ref()
                    .map(|h| PathBuf::from(h).join(".aws").join(default))
            })
    };
    let read = |p: Option<PathBuf>| -> Result<Option<String>> {
        let Some(p) = p else { return Ok(None) };
        match std::fs::read_to_string(&p) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::config(format!("reading {}: {e}", p.display()))),
        }
    };
    let config_section = if name == "default" {
        "default".to_string()
    } else {
        format!("profile {name}")
    };
    let mut found = None;
    if let Some(text) = read(path("AWS_CONFIG_FILE", "config"))? {
        found = ini_section(&text, &config_section);
    }
    if let Some(text) = read(path("AWS_SHARED_CREDENTIALS_FILE", "credentials"))?
        && let Some(creds) = ini_section(&text, name)
    {
        found.get_or_insert_with(HashMap::new).extend(creds);
    }
    Ok(found)
}

/// One `[section]` of an AWS ini file: `key = value` lines, `#`/`;` comments.
fn ini_section(text: &str, wanted: &str) -> Option<HashMap<String, String>> {
    let mut current: Option<bool> = None;
    let mut out: Option<HashMap<String, String>> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let is = section.split_whitespace().collect::<Vec<_>>().join(" ") == wanted;
            current = Some(is);
            if is {
                out.get_or_insert_with(HashMap::new);
            }
            continue;
        }
        if current == Some(true)
            && let Some((k, v)) = line.split_once('=')
        {
            out.get_or_insert_with(HashMap::new)
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

/// Hands out credentials, fetching and refreshing temporary ones as needed.
pub struct Provider<'a> {
    http: &'a Http,
    settings: &'a Settings,
    cache: RefCell<Option<Credentials>>,
}

impl<'a> Provider<'a> {
    pub fn new(http: &'a Http, settings: &'a Settings) -> Self {
        Provider {
            http,
            settings,
            cache: RefCell::new(None),
        }
    }

    /// Valid credentials, renewed when they expire within five minutes. If renewal fails
    /// while the old ones still hold, they are used and the failure is logged.
    pub fn get(&self) -> Result<Credentials> {
        let now = clock::now();
        if let Some(c) = self.cache.borrow().as_ref()
            && c.expires.is_none_or(|e| e - now > REFRESH_BEFORE)
        {
            return Ok(c.clone());
        }
        match self.fetch() {
            Ok(c) => {
                log::debug(
                    "aws credentials",
                    &[
                        ("source", json!(self.settings.credentials.describe())),
                        ("expires", json!(c.expires.map(clock::iso8601))),
                    ],
                );
                *self.cache.borrow_mut() = Some(c.clone());
                Ok(c)
            }
            Err(e) => match self.cache.borrow().as_ref() {
                Some(old) if old.expires.is_some_and(|x| x > now + 10) => {
                    log::warn(
                        "could not renew AWS credentials; using the current ones",
                        &[("error", json!(e.message()))],
                    );
                    Ok(old.clone())
                }
                _ => Err(e),
            },
        }
    }

    /// Forgets cached credentials, so the next [`Provider::get`] fetches new ones.
    pub fn invalidate(&self) {
        if !matches!(self.settings.credentials, Source::Static { .. }) {
            self.cache.borrow_mut().take();
        }
    }

    fn fetch(&self) -> Result<Credentials> {
        match &self.settings.credentials {
            Source::Static { creds, .. } => Ok(creds.clone()),
            Source::WebIdentity { token_file, role_arn, session_name } => {
                let token = std::fs::read_to_string(token_file).map_err(|e| {
                    Error::runtime(format!("reading the web identity token {}: {e}", token_file.display()))
                })?;
                let region = self.settings.region.as_deref().unwrap_or("us-east-1");
                let endpoint = self.settings.endpoint(Service::Sts, region);
                sts::assume_role_with_web_identity(self.http, &endpoint, role_arn, session_name, token.trim())
            }
            Source::Container { url, token, token_file } => self.container(url, token.as_ref(), token_file.as_ref()),
            Source::Imds { endpoint } => self.imds(endpoint).map_err(|e| {
                Error::runtime(format!(
                    "no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID), no web identity, no profile in the shared files, no container endpoint, and EC2 instance metadata failed: {e}"
                ))
            }),
        }
    }

    fn container(
        &self,
        url: &str,
        token: Option<&Secret>,
        token_file: Option<&PathBuf>,
    ) -> Result<Credentials> {
        let what = "the container credentials endpoint";
        let uri: ::http::Uri = url
            .parse()
            .map_err(|_| Error::runtime(format!("{what}: {url:?} is not a URL")))?;
        if uri.scheme_str() == Some("http") {
            // A host name must resolve to allowed addresses only, as the SDKs require.
            let host = uri.host().unwrap_or_default();
            let port = uri.port_u16().unwrap_or(80);
            let addrs: Vec<IpAddr> = (host, port)
                .to_socket_addrs()
                .map_err(|e| Error::runtime(format!("{what}: resolving {host}: {e}")))?
                .map(|a| a.ip())
                .collect();
            if addrs.is_empty() || !addrs.iter().all(|ip| allowed_container_ip(*ip)) {
                return Err(Error::runtime(format!(
                    "{what}: {host} resolves to addresses other than loopback or the ECS/EKS agent; use https"
                )));
            }
        }
        let auth = match token_file {
            Some(f) => Some(Secret::new(
                std::fs::read_to_string(f)
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
        let body = http::retry(self.http, 3, || {
            let mut req = ::http::Request::get(url);
            if let Some(t) = &auth {
                req = req.header("authorization", t.expose());
            }
            let req = match req.body(Vec::new()) {
                Ok(r) => r,
                Err(e) => return http::Attempt::Fail(Error::runtime(format!("{what}: {e}"))),
            };
            match self.http.send("credentials", req) {
                Err(e) => http::Attempt::Retry(Error::runtime(format!("{what}: {e}")), None),
                Ok(r) if r.ok() => http::Attempt::Done(r.body),
                Ok(r) => {
                    let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                    let msg = v["message"]
                        .as_str()
                        .or(v["Message"].as_str())
                        .unwrap_or_default();
                    let e = Error::runtime(format!("{what} answered HTTP {}: {msg}", r.status));
                    if r.status >= 500 || r.status == 429 {
                        http::Attempt::Retry(e, None)
                    } else {
                        http::Attempt::Fail(e)
                    }
                }
            }
        })?;
        parse_json_credentials(&body).map_err(|e| Error::runtime(format!("{what}: {e}")))
    }

    fn imds(&self, endpoint: &str) -> Result<Credentials, String> {
        let send = |req: ::http::Request<Vec<u8>>| -> Result<Vec<u8>, String> {
            let r = self
                .http
                .send_with_timeout("credentials", req, Some(IMDS_TIMEOUT))?;
            if r.ok() {
                Ok(r.body)
            } else {
                Err(format!("HTTP {} from {}", r.status, endpoint))
            }
        };
        let token = send(
            ::http::Request::put(format!("{endpoint}/latest/api/token"))
                .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
                .body(Vec::new())
                .map_err(|e| e.to_string())?,
        )?;
        let token = String::from_utf8_lossy(&token).trim().to_string();
        let get = |path: &str| -> Result<Vec<u8>, String> {
            send(
                ::http::Request::get(format!("{endpoint}{path}"))
                    .header("x-aws-ec2-metadata-token", &token)
                    .body(Vec::new())
                    .map_err(|e| e.to_string())?,
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
            return Err("the instance has no IAM role attached".into());
        }
        let body = get(&format!(
            "/latest/meta-data/iam/security-credentials/{role}"
        ))?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("unreadable answer: {e}"))?;
        if let Some(code) = v["Code"].as_str().filter(|c| *c != "Success") {
            return Err(format!("instance role credentials not available ({code})"));
        }
        parse_json_credentials(&body)
    }
}

/// The JSON that ECS, EKS and IMDS serve: `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`.
fn parse_json_credentials(body: &[u8]) -> Result<Credentials, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("unreadable credentials ({e})"))?;
    let field = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err("the answer lacks AccessKeyId or SecretAccessKey".into());
    };
    let expires = match field("Expiration") {
        Some(e) => Some(
            clock::parse_iso8601(&e)
                .ok_or_else(|| format!("Expiration {e:?} is not a timestamp"))?,
        ),
        None => None,
    };
    Ok(Credentials {
        access_key_id: id,
        secret: Secret::new(secret),
        token: field("Token").map(Secret::new),
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_with(vars: &[(&str, &str)]) -> Result<(Source, Option<String>)> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect(&move |k| map.get(k).cloned())
    }

    #[test]
    fn environment_keys_come_first() {
        let (s, _) = detect_with(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "t"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/f"),
            ("AWS_ROLE_ARN", "arn:r"),
        ])
        .unwrap();
        let Source::Static { creds, origin } = s else {
            panic!("{s:?}")
        };
        assert_eq!(
            (creds.access_key_id.as_str(), origin.as_str()),
            ("AKID", "environment")
        );
        assert_eq!(creds.token.unwrap().expose(), "t");
        assert!(detect_with(&[("AWS_ACCESS_KEY_ID", "AKID")]).is_err());
    }

    #[test]
    fn then_web_identity_then_container_then_imds() {
        let (s, _) = detect_with(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/f"),
            ("AWS_ROLE_ARN", "arn:r"),
        ])
        .unwrap();
        assert!(matches!(s, Source::WebIdentity { .. }));
        let (s, _) =
            detect_with(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds")]).unwrap();
        assert!(
            matches!(s, Source::Container { ref url, .. } if url == "http://169.254.170.2/v2/creds")
        );
        let (s, _) = detect_with(&[]).unwrap();
        assert!(matches!(s, Source::Imds { ref endpoint } if endpoint == IMDS_ENDPOINT));
        assert!(detect_with(&[("AWS_EC2_METADATA_DISABLED", "true")]).is_err());
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
        assert!(
            detect_with(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.1.1/")]).is_err()
        );
    }

    #[test]
    fn profiles_from_files() {
        let dir = std::env::temp_dir().join(format!("cw2m-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let creds = dir.join("credentials");
        let config = dir.join("config");
        std::fs::write(&creds, "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = sdef\n\n[work]\n# comment\naws_access_key_id=AKWORK\naws_secret_access_key = swork\n").unwrap();
        std::fs::write(&config, "[default]\nregion = eu-west-1\n[profile work]\nregion = ap-northeast-1\n[profile sso]\nsso_start_url = https://x\n").unwrap();
        let files = [
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ];
        let (s, region) = detect_with(&files).unwrap();
        assert!(matches!(s, Source::Static { ref creds, .. } if creds.access_key_id == "AKDEF"));
        assert_eq!(region.as_deref(), Some("eu-west-1"));
        let mut with = files.to_vec();
        with.push(("AWS_PROFILE", "work"));
        let (s, region) = detect_with(&with).unwrap();
        assert!(matches!(s, Source::Static { ref origin, .. } if origin == "profile work"));
        assert_eq!(region.as_deref(), Some("ap-northeast-1"));
        with.pop();
        with.push(("AWS_PROFILE", "missing"));
        assert!(
            detect_with(&with)
                .unwrap_err()
                .to_string()
                .contains("no such profile")
        );
        with.pop();
        with.push(("AWS_PROFILE", "sso"));
        assert!(
            detect_with(&with)
                .unwrap_err()
                .to_string()
                .contains("credential_process")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn json_credentials() {
        let c = parse_json_credentials(br#"{"AccessKeyId":"A","SecretAccessKey":"SECRETVALUE","Token":"T","Expiration":"2026-11-25T01:02:00Z"}"#).unwrap();
        assert_eq!(c.expires, Some(1795568520));
        assert!(parse_json_credentials(br#"{"AccessKeyId":"A"}"#).is_err());
        assert!(parse_json_credentials(b"{\"AccessKeyId\":").is_err());
        assert!(!format!("{c:?}").contains("SECRETVALUE"));
    }
}
