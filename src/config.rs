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
    pub apikey: Option<Secret>,
    pub apikey_ssm: Option<String>,
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
