//! What an invocation asks for: an [`Action`], and for the actions that run a configuration,
//! the [`Command`] whose needs decide what the configuration must hold.

use crate::config::Config;
use std::path::PathBuf;

/// What the invocation asks for.
#[derive(Debug)]
pub enum Action {
    Help,
    Version,
    /// `healthcheck` needs nothing but the state file.
    Healthcheck(PathBuf),
    Run(Command, Box<Config>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// One cycle: discover, plan, fetch, map, post; then exit.
    Run,
    /// Print what a run would read.
    List,
    /// A cycle every interval until SIGTERM, SIGINT or SIGHUP.
    Daemon,
    /// Serve the AWS Lambda runtime API: one cycle per invocation.
    Lambda,
    /// Check the configuration as `run` would, without the network, and exit.
    Check,
}
