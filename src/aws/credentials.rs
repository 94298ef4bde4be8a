//! AWS credentials: where they come from ([`Source`], picked by `detect` before any network
//! call) and the [`Provider`] that fetches them when first needed and renews temporary ones
//! before they expire. Roles that jobs assume are kept here too, each until it is due for
//! renewal.

use super::endpoint::{Endpoints, Partition, Service};
use super::keys::{self, Credentials, Role};
use super::metadata;
use super::{process, sts};
use crate::clock;
use crate::error::{Error, Result, Secret};
use crate::files;
use crate::http::Http;
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
    /// A profile's `role_arn`, assumed with the credentials of `base`.
    AssumeRole {
        base: Box<Source>,
        role: Role,
        session_name: String,
        duration: u32,
        profile: String,
    },
    /// A profile's `credential_process`.
    Process {
        command: String,
        profile: String,
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
            Source::AssumeRole {
                role,
                profile,
                base,
                ..
            } => {
                format!(
                    "{} of profile {profile}, with {}",
                    role.arn,
                    base.describe()
                )
            }
            Source::Process { profile, .. } => format!("credential_process of profile {profile}"),
            Source::Missing => "nowhere".into(),
        }
    }
}

/// Hands out credentials: the chain's, fetched and refreshed as needed, and those of roles,
/// assumed with the chain's.
pub struct Provider<'a> {
    http: &'a Http,
    source: &'a Source,
    endpoints: &'a Endpoints,
    /// Where STS is asked; without a region, the global region of the role's partition.
    region: Option<&'a str>,
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
            region,
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
            self.sts_region(&role.arn),
            &|| self.chain(),
            role,
            &format!("cw2mackerel-{}", clock::now()),
            3600,
        )?;
        self.roles.borrow_mut().insert(role.clone(), c.clone());
        Ok(c)
    }

    /// The region STS is asked in about `role_arn`: the configured one, else the global
    /// region of the role's partition (us-east-1, cn-northwest-1, us-gov-west-1).
    fn sts_region(&self, role_arn: &str) -> &'a str {
        self.region
            .unwrap_or_else(|| Partition::of_arn(role_arn).global_region())
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
        self.fetch_from(self.source)
    }

    fn fetch_from(&self, source: &Source) -> Result<Credentials> {
        match source {
            Source::Static { creds, .. } => Ok(creds.clone()),
            Source::WebIdentity { token_file, role_arn, session_name } => {
                let token = files::read_text(token_file, keys::TOKEN_LIMIT).map_err(|e| {
                    Error::runtime(format!("reading the web identity token {}: {e}", token_file.display()))
                })?;
                let endpoint = self.endpoints.url(Service::Sts, self.sts_region(role_arn))?;
                let token = Secret::new(token.trim());
                sts::assume_role_with_web_identity(self.http, &endpoint, role_arn, session_name, token.expose())
            }
            Source::Container { url, token, token_file } => {
                metadata::container(self.http, url, token.as_ref(), token_file.as_ref())
            }
            Source::AssumeRole { base, role, session_name, duration, profile } => {
                let creds = self.fetch_from(base)?;
                sts::assume_role(self.http, self.endpoints, self.sts_region(&role.arn), &|| Ok(creds.clone()), role, session_name, *duration)
                    .map_err(|e| e.context(format!("profile {profile:?}")))
            }
            Source::Process { command, profile } => process::run(command, profile, self.http.step_limit()),
            Source::Missing => Err(Error::config(MISSING)),
            Source::Imds { endpoint } => metadata::imds(self.http, endpoint).map_err(|e| {
                Error::runtime(format!(
                    "no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID), no web identity, no profile in the shared files, no container endpoint, and EC2 instance metadata failed: {e}"
                ))
            }),
        }
    }
}
