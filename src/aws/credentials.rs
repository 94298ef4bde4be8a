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
use crate::log;
use crate::transport::Http;
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

/// botocore's refresh windows (`RefreshableCredentials`): from 15 minutes before expiry a
/// renewal is tried and, if it fails, the current credentials are still used; from 10
/// minutes before, renewal must succeed. Credentials that come with less life than that (a
/// 15-minute role session, an endpoint serving nearly expired ones) get windows scaled to
/// half and a third of their life, so that they are used, not fetched again for every call.
const ADVISORY: i64 = 15 * 60;
const MANDATORY: i64 = 10 * 60;
/// After a failed fetch, the failure stands this long for every call (not one fetch a call).
const FAILURE_HOLDS: i64 = 30;

/// Credentials in hand, with when to renew them.
struct Held {
    creds: Credentials,
    /// Renew from here on; keep using these if renewal fails.
    advisory: i64,
    /// Renew from here on; fail if renewal fails.
    mandatory: i64,
    /// A failed renewal is not tried again before this.
    retry_at: i64,
}

impl Held {
    fn new(creds: Credentials, now: i64) -> Held {
        let (advisory, mandatory) = match creds.expires {
            None => (i64::MAX, i64::MAX),
            Some(x) => {
                let life = x - now;
                (x - ADVISORY.min(life / 2), x - MANDATORY.min(life / 3))
            }
        };
        Held {
            creds,
            advisory,
            mandatory,
            retry_at: 0,
        }
    }
}

/// Keeps one set of credentials: fetched when first needed and renewed in the windows above.
#[derive(Default)]
struct Slot {
    held: Option<Held>,
    /// The last failure with no credentials to fall back on, and until when it stands.
    failed: Option<(i64, bool, String)>,
}

impl Slot {
    fn get(
        &mut self,
        now: i64,
        what: &dyn Fn() -> String,
        fetch: &dyn Fn() -> Result<Credentials>,
    ) -> Result<Credentials> {
        if let Some(h) = &self.held
            && (now < h.advisory || (now < h.mandatory && now < h.retry_at))
        {
            return Ok(h.creds.clone());
        }
        if let Some((until, config, msg)) = &self.failed
            && now < *until
        {
            return Err(match config {
                true => Error::config(msg.clone()),
                false => Error::runtime(msg.clone()),
            });
        }
        let fetched = fetch().and_then(|c| match c.expires {
            Some(x) if x <= now => Err(Error::runtime(format!(
                "{} are already expired when fetched (Expiration {}, this machine's clock says {}); check the clock here and at the source",
                what(),
                clock::iso8601(x),
                clock::iso8601(now)
            ))),
            _ => Ok(c),
        });
        match fetched {
            Ok(c) => {
                let h = Held::new(c, now);
                if let Some(x) = h.creds.expires.filter(|x| x - now < MANDATORY) {
                    log::warn(
                        "AWS credentials expire sooner than the SDKs renew them ahead (10 minutes); using them, and renewing them halfway",
                        &[
                            ("source", json!(what())),
                            ("expires_in_s", json!(x - now)),
                            ("renew_in_s", json!(h.advisory - now)),
                        ],
                    );
                }
                self.failed = None;
                Ok(self.held.insert(h).creds.clone())
            }
            Err(e) => match &mut self.held {
                Some(h) if now < h.mandatory => {
                    log::warn(
                        "could not renew AWS credentials; using the current ones",
                        &[("error", json!(e.message()))],
                    );
                    h.retry_at = now + 60;
                    Ok(h.creds.clone())
                }
                _ => {
                    self.held = None;
                    let config = matches!(e, Error::Config(_));
                    self.failed = Some((now + FAILURE_HOLDS, config, e.message().to_string()));
                    Err(e)
                }
            },
        }
    }
}

/// What the chain found before it asked EC2 instance metadata, the last place it looks.
const NOTHING_ELSE: &str = concat!(
    "no AWS credentials found: none in the environment (AWS_ACCESS_KEY_ID), no web identity, ",
    "none in the profile, no container endpoint"
);

/// Hands out credentials: the chain's, fetched and refreshed as needed, and those of roles,
/// assumed with the chain's.
pub struct Provider<'a> {
    http: &'a Http,
    source: &'a Source,
    endpoints: &'a Endpoints,
    /// Where STS is asked; without a region, the global region of the role's partition.
    region: Option<&'a str>,
    chain: RefCell<Slot>,
    roles: RefCell<HashMap<Role, Slot>>,
    now: Box<dyn Fn() -> i64 + 'a>,
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
            chain: RefCell::new(Slot::default()),
            roles: RefCell::new(HashMap::new()),
            now: Box::new(clock::now),
        }
    }

    /// The same, on another clock (the recorded time of a conformance case).
    #[cfg(test)]
    pub fn with_clock(mut self, now: impl Fn() -> i64 + 'a) -> Self {
        self.now = Box::new(now);
        self
    }

    /// Credentials for `role` (assumed with the chain's), or the chain's own.
    pub fn get(&self, role: Option<&Role>) -> Result<Credentials> {
        let Some(role) = role else {
            return self.chain();
        };
        let mut roles = self.roles.borrow_mut();
        let slot = roles.entry(role.clone()).or_default();
        slot.get(
            (self.now)(),
            &|| format!("the credentials of {}", role.arn),
            &|| {
                sts::assume_role(
                    self.http,
                    self.endpoints,
                    self.sts_region(&role.arn),
                    &|| self.chain(),
                    role,
                    &format!("cw2mackerel-{}", clock::now()),
                    3600,
                )
            },
        )
    }

    /// The region STS is asked in about `role_arn`: the configured one, else the global
    /// region of the role's partition (us-east-1, cn-northwest-1, us-gov-west-1).
    pub(super) fn sts_region(&self, role_arn: &str) -> &'a str {
        self.region
            .unwrap_or_else(|| Partition::of_arn(role_arn).global_region())
    }

    /// Forgets cached credentials (and a remembered failure), so the next
    /// [`Provider::get`] fetches new ones.
    pub fn invalidate(&self, role: Option<&Role>) {
        match role {
            Some(r) => drop(self.roles.borrow_mut().remove(r)),
            None if !matches!(self.source, Source::Static { .. }) => {
                *self.chain.borrow_mut() = Slot::default();
            }
            None => {}
        }
    }

    /// The chain's credentials, renewed in the windows above.
    fn chain(&self) -> Result<Credentials> {
        let now = (self.now)();
        let what = || format!("AWS credentials from {}", self.source.describe());
        self.chain.borrow_mut().get(now, &what, &|| {
            let c = self.fetch()?;
            log::debug(
                "aws credentials",
                &[
                    ("source", json!(self.source.describe())),
                    ("expires", json!(c.expires.map(clock::iso8601))),
                ],
            );
            Ok(c)
        })
    }

    fn fetch(&self) -> Result<Credentials> {
        self.fetch_from(self.source)
    }

    fn fetch_from(&self, source: &Source) -> Result<Credentials> {
        match source {
            Source::Static { creds, .. } => Ok(creds.clone()),
            Source::WebIdentity {
                token_file,
                role_arn,
                session_name,
            } => {
                let token = files::read_text(token_file, keys::TOKEN_LIMIT).map_err(|e| {
                    Error::runtime(format!(
                        "reading the web identity token {}: {e}",
                        token_file.display()
                    ))
                })?;
                let endpoint = self
                    .endpoints
                    .url(Service::Sts, self.sts_region(role_arn))?;
                let token = Secret::new(token.trim());
                sts::assume_role_with_web_identity(
                    self.http,
                    &endpoint,
                    role_arn,
                    session_name,
                    token.expose(),
                )
            }
            Source::Container {
                url,
                token,
                token_file,
            } => metadata::container(self.http, url, token.as_ref(), token_file.as_ref()),
            Source::AssumeRole {
                base,
                role,
                session_name,
                duration,
                profile,
            } => {
                let creds = self.fetch_from(base)?;
                sts::assume_role(
                    self.http,
                    self.endpoints,
                    self.sts_region(&role.arn),
                    &|| Ok(creds.clone()),
                    role,
                    session_name,
                    *duration,
                )
                .map_err(|e| e.context(format!("profile {profile:?}")))
            }
            Source::Process { command, profile } => {
                process::run(command, profile, self.http.step_limit())
            }
            Source::Missing => Err(Error::config(MISSING)),
            Source::Imds { endpoint } => metadata::imds(self.http, endpoint).map_err(|e| {
                Error::runtime(format!(
                    "{NOTHING_ELSE}, and EC2 instance metadata failed: {e}"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn creds(expires: i64) -> Credentials {
        Credentials::new("ASIA", "secret", Some("token"), Some(expires)).unwrap()
    }

    /// One slot asked at `times`, its source serving credentials that expire `life` seconds
    /// after each fetch (or failing when `fails` says so): how many fetches it made.
    fn fetches(life: i64, times: &[i64], fails: &dyn Fn(i64) -> bool) -> (u32, Vec<bool>) {
        let mut slot = Slot::default();
        let n = Cell::new(0);
        let oks = times
            .iter()
            .map(|&now| {
                let fetch = || {
                    n.set(n.get() + 1);
                    match fails(now) {
                        true => Err(Error::runtime("down")),
                        false => Ok(creds(now + life)),
                    }
                };
                slot.get(now, &|| "test credentials".into(), &fetch).is_ok()
            })
            .collect();
        (n.get(), oks)
    }

    #[test]
    fn botocores_advisory_and_mandatory_windows() {
        // An hour's credentials: kept for 45 minutes, renewed after.
        assert_eq!(fetches(3600, &[0, 60, 2699], &|_| false).0, 1);
        assert_eq!(fetches(3600, &[0, 2700], &|_| false).0, 2);
        // Renewal failing in the advisory window: the current ones serve, and the next try
        // waits a minute; in the mandatory window the failure is the answer.
        let down = |now| now > 0;
        let (n, oks) = fetches(3600, &[0, 2700, 2710, 2760, 3000], &down);
        assert_eq!((n, oks), (4, vec![true, true, true, true, false]));
    }

    #[test]
    fn short_lived_credentials_are_used_not_fetched_per_call() {
        // Eight minutes left, inside the mandatory window: used for half of that.
        assert_eq!(fetches(480, &[0, 1, 2, 100, 239], &|_| false).0, 1);
        assert_eq!(fetches(480, &[0, 240], &|_| false).0, 2);
    }

    #[test]
    fn a_failure_stands_a_while_and_expired_credentials_are_refused() {
        let (n, oks) = fetches(3600, &[0, 10, 29, 30], &|now| now < 30);
        assert_eq!((n, oks), (2, vec![false, false, false, true]));
        let mut slot = Slot::default();
        let e = slot
            .get(1000, &|| "AWS credentials from X".into(), &|| {
                Ok(creds(999))
            })
            .unwrap_err();
        assert!(
            e.message().starts_with(concat!(
                "AWS credentials from X are already expired when fetched ",
                "(Expiration 1970-01-01T00:16:39Z"
            )),
            "{e}"
        );
    }
}
