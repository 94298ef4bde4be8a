//! The validated configuration: what every command runs with, built by the CLI from options,
//! the environment and a config file, and checked completely before any network call.

use crate::aws;
use crate::error::{Error, Result, Secret};
use crate::jobs::Job;
use crate::log;
use crate::transport::{self, Http};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug)]
pub struct Config {
    pub dry_run: bool,
    /// A dry run prints the whole window, not only what the state file says a run would post.
    pub full_window: bool,
    pub apikey: ApiKey,
    pub apibase: String,
    /// `CW2MACKEREL_CA_BUNDLE`: CA certificates trusted for Mackerel beside the built-in roots.
    pub ca_bundle: Option<transport::tls::Bundle>,
    /// What to read and where it goes: the environment's one CloudFront job, or a file's.
    pub jobs: Vec<Job>,
    /// Daemon and warm Lambda: how long discovery answers are reused.
    pub discovery_ttl: Duration,
    pub lookback: Duration,
    pub delay: Duration,
    pub timeout: Duration,
    /// The longest a cycle may take, retries and waits included.
    pub cycle_timeout: Duration,
    /// `HTTPS_PROXY` and `NO_PROXY`, for AWS and Mackerel requests.
    pub proxy: Option<transport::Proxy>,
    /// Daemon: time between cycles.
    pub interval: Duration,
    /// Daemon: consecutive failed cycles before it gives up (exit 1).
    pub max_failures: u32,
    /// Daemon and Lambda: how far back the first cycle reads.
    pub backfill: Duration,
    /// Where the last completed cycle is recorded for `healthcheck`.
    pub state_file: PathBuf,
    pub log_level: log::Level,
    pub log_format: log::Format,
    pub aws: aws::Settings,
}

/// The Mackerel API key as the configuration gives it: one way or none, never two (the check
/// refuses a configuration that gives both, and one that gives none to a command needing it).
#[derive(Debug, Default)]
pub enum ApiKey {
    /// Not given: enough for `check`, a dry run, and `list` without host targets.
    #[default]
    None,
    /// `MACKEREL_APIKEY` (or `--apikey`), checked as a key.
    Direct(Secret),
    /// `MACKEREL_APIKEY_SSM`: the parameter's name or ARN, read when a command needs the key.
    Ssm {
        name: String,
        /// Where the parameter is looked for; `None` when neither its ARN nor the AWS
        /// settings name a region (refused for every command that reads the key).
        region: Option<SsmRegion>,
    },
}

/// The region an SSM parameter is read in, and what said so, for messages: the parameter's
/// ARN, else the configured region (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsmRegion {
    pub name: String,
    pub from: String,
}

impl SsmRegion {
    /// The region of parameter `name` under `aws`: its ARN's, else the configured one.
    pub fn of(name: &str, aws: &aws::Settings) -> Option<SsmRegion> {
        let arn = aws::ssm::arn_region(name).map(|r| (r, "the parameter's ARN"));
        let configured = aws.region.as_deref().zip(aws.region_from.as_deref());
        arn.or(configured).map(|(name, from)| SsmRegion {
            name: name.to_string(),
            from: from.to_string(),
        })
    }
}

impl Config {
    /// The HTTP client every command uses: the request timeout, the proxy and the CA bundles.
    pub fn http(&self) -> Result<Http> {
        let trust = transport::tls::Trust {
            aws: self.aws.ca_bundle.clone(),
            mackerel: self.ca_bundle.clone(),
        };
        Http::with_trust(self.timeout, self.proxy.as_ref(), &trust)
            .map_err(|e| Error::config(format!("HTTPS_PROXY: {e}")))
    }
}
