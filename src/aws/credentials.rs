//! AWS credentials, found in the order of the AWS SDKs' default chain: environment keys, web
//! identity, the shared credentials/config files, the ECS container endpoint, EC2 IMDSv2.
//! Which source applies is decided from the environment and files alone, before any network
//! call; temporary credentials are fetched when first needed and refreshed before they expire.
//! Roles that jobs assume are kept here too, each until it is due for renewal.

use super::endpoint::{Endpoints, Service};
use super::keys::{self, Credentials, Role};
use super::metadata::{self, ECS_HOST, IMDS_ENDPOINT};
use super::{profile, sts};
use crate::clock;
use crate::error::{Error, Result, Secret};
use crate::files;
use crate::http::{self, Http};
use crate::log;
use serde_json::json;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

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
    /// Nothing to find them with: EC2 instance metadata is disabled and nothing else is set.
    Missing,
}

/// What is wrong when the source is [`Source::Missing`].
pub const MISSING: &str = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or AWS_PROFILE (EC2 instance metadata is disabled by AWS_EC2_METADATA_DISABLED)";

impl Source {
    /// Where the credentials come from, for debug logs (never the keys themselves).
    pub fn describe(&self) -> String {
        match self {
            Source::Static { origin, .. } => origin.clone(),
            Source::WebIdentity { role_arn, .. } => format!("web identity for {role_arn}"),
            Source::Container { url, .. } => format!("container endpoint {url}"),
            Source::Imds { endpoint } => format!("EC2 instance metadata at {endpoint}"),
            Source::Missing => "nowhere".into(),
        }
    }
}

/// Picks the source and reads the profile's region, from the environment and files only.
pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Result<(Source, Option<String>)> {
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };

    let profile_name = var("AWS_PROFILE");
    let profile = profile::load(env, profile_name.as_deref().unwrap_or("default"))?;
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
        for key in ["aws_access_key_id", "aws_secret_access_key", "role_arn"] {
            if p.get(key).is_some_and(|v| v.is_empty()) {
                return Err(Error::config(format!(
                    "profile {name:?} has an empty {key}; give it a value or remove the line"
                )));
            }
        }
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
        metadata::check_container_url(&full)
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
        return Ok((Source::Missing, region));
    }
    let endpoint = var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| IMDS_ENDPOINT.into());
    http::check_url(&endpoint)
        .map_err(|e| Error::config(format!("AWS_EC2_METADATA_SERVICE_ENDPOINT: {e}")))?;
    Ok((
        Source::Imds {
            endpoint: endpoint.trim_end_matches('/').into(),
        },
        region,
    ))
}

/// Hands out credentials: the chain's, fetched and refreshed as needed, and those of roles,
/// assumed with the chain's.
pub struct Provider<'a> {
    http: &'a Http,
    source: &'a Source,
    endpoints: &'a Endpoints,
    /// Where STS is asked; us-east-1 when no region is configured.
    region: &'a str,
    chain: RefCell<Option<Credentials>>,
    roles: RefCell<HashMap<Role, Credentials>>,
}

impl<'a> Provider<'a> {
    pub fn new(
        http: &'a Http,
        source: &'a Source,
        endpoints: &'a Endpoints,
        region: Option<&'a str>,
    ) -> Self {
        Provider {
            http,
            source,
            endpoints,
            region: region.unwrap_or("us-east-1"),
            chain: RefCell::new(None),
            roles: RefCell::new(HashMap::new()),
        }
    }

    /// Credentials for `role` (assumed with the chain's), or the chain's own.
    pub fn get(&self, role: Option<&Role>) -> Result<Credentials> {
        let Some(role) = role else {
            return self.chain();
        };
        if let Some(c) = self.roles.borrow().get(role)
            && c.fresh(clock::now())
        {
            return Ok(c.clone());
        }
        let c = sts::assume_role(
            self.http,
            self.endpoints,
            self.region,
            &|| self.chain(),
            role,
        )?;
        self.roles.borrow_mut().insert(role.clone(), c.clone());
        Ok(c)
    }

    /// Forgets cached credentials, so the next [`Provider::get`] fetches new ones.
    pub fn invalidate(&self, role: Option<&Role>) {
        match role {
            Some(r) => drop(self.roles.borrow_mut().remove(r)),
            None if !matches!(self.source, Source::Static { .. }) => drop(self.chain.take()),
            None => {}
        }
    }

    /// Valid chain credentials, renewed when they expire within five minutes. If renewal
    /// fails while the old ones still hold, they are used and the failure is logged.
    fn chain(&self) -> Result<Credentials> {
        let now = clock::now();
        if let Some(c) = self.chain.borrow().as_ref()
            && c.fresh(now)
        {
            return Ok(c.clone());
        }
        match self.fetch() {
            Ok(c) => {
                log::debug(
                    "aws credentials",
                    &[
                        ("source", json!(self.source.describe())),
                        ("expires", json!(c.expires.map(clock::iso8601))),
                    ],
                );
                *self.chain.borrow_mut() = Some(c.clone());
                Ok(c)
            }
            Err(e) => match self.chain.borrow().as_ref() {
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

    fn fetch(&self) -> Result<Credentials> {
        match self.source {
            Source::Static { creds, .. } => Ok(creds.clone()),
            Source::WebIdentity { token_file, role_arn, session_name } => {
                let token = files::read_text(token_file, keys::TOKEN_LIMIT).map_err(|e| {
                    Error::runtime(format!("reading the web identity token {}: {e}", token_file.display()))
                })?;
                let endpoint = self.endpoints.url(Service::Sts, self.region);
                let token = Secret::new(token.trim());
                sts::assume_role_with_web_identity(self.http, &endpoint, role_arn, session_name, token.expose())
            }
            Source::Container { url, token, token_file } => {
                metadata::container(self.http, url, token.as_ref(), token_file.as_ref())
            }
            Source::Missing => Err(Error::config(MISSING)),
            Source::Imds { endpoint } => metadata::imds(self.http, endpoint).map_err(|e| {
                Error::runtime(format!(
                    "no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID), no web identity, no profile in the shared files, no container endpoint, and EC2 instance metadata failed: {e}"
                ))
            }),
        }
    }
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
        let (s, _) = detect_with(&[("AWS_EC2_METADATA_DISABLED", "true")]).unwrap();
        assert!(matches!(s, Source::Missing));
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
}
