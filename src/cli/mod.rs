//! The command line: the arguments, the environment and a config file read into an [`Action`],
//! with everything checked that can be checked before any network call, so that a mistake
//! exits 2 with a message naming the option, variable or file field at fault. `settings` is
//! the table of settings and their help, `args` the tokenizer, `lookup` the option,
//! environment and default lookup; `build` turns what they give into a [`Config`], one part
//! at a time: `env_job` the job an environment without a file describes, `windows` the
//! durations, `network` where requests may go and the AWS settings.

mod action;
mod args;
mod build;
mod env_job;
mod lookup;
mod network;
pub mod settings;
#[cfg(test)]
mod tests;
mod windows;

use crate::aws::credentials::Source;
use crate::config::{ApiKey, Config};
use crate::error::{Error, Result};
use crate::log;
pub use action::{Action, Command};
use lookup::Lookup;
use std::ffi::OsString;

/// An invocation that cannot run: its mistakes, and the log format to name them in (the one
/// the options or the environment ask for, if it reads as one; else text).
#[derive(Debug)]
pub struct Refusal {
    pub error: Error,
    pub log_format: log::Format,
}

/// Reads the command line (without the program name) and the environment.
pub fn load(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Action, Refusal> {
    // Masked before anything is checked: a value put in the wrong setting (the API key as
    // the service name, say) is echoed by that setting's error.
    let secret_vars = [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ];
    for name in settings::APIKEY.envs.iter().chain(&secret_vars) {
        if let Some(value) = env(name) {
            log::secret(value.trim());
        }
    }
    let args = args::parse(args).map_err(|unreadable| {
        let options: Vec<_> = unreadable
            .log_format
            .map(|v| (&settings::LOG_FORMAT, v))
            .into_iter()
            .collect();
        Refusal {
            error: unreadable.error,
            log_format: refusal_format(&Lookup {
                options: &options,
                env,
            }),
        }
    })?;
    let lookup = Lookup {
        options: &args.options,
        env,
    };
    action(&args, &lookup).map_err(|error| Refusal {
        error,
        log_format: refusal_format(&lookup),
    })
}

/// The format a refusal is logged in: the one asked for, if it reads as one; else text.
fn refusal_format(lookup: &Lookup) -> log::Format {
    build::log_format(lookup).unwrap_or(log::Format::Text)
}

/// The action `args` asks for, its settings read from `lookup`.
fn action(args: &args::Args, lookup: &Lookup) -> Result<Action> {
    if args.help {
        return Ok(Action::Help);
    }
    if args.version {
        return Ok(Action::Version);
    }
    if let Some(g) = lookup.get(&settings::APIKEY) {
        log::secret(g.value.trim());
    }
    let command = match args.command.as_deref() {
        Some("run") => Command::Run,
        Some("list") => Command::List,
        Some("daemon") => Command::Daemon,
        Some("check") => Command::Check,
        Some("healthcheck") => {
            return Ok(Action::Healthcheck(build::state_file(lookup)));
        }
        Some(other) => {
            return Err(Error::config(format!(
                "unknown command {other:?}; the commands are run, list, daemon, healthcheck and check (see --help)"
            )));
        }
        // Installed as `bootstrap` on a Lambda custom runtime.
        None if (lookup.env)("AWS_LAMBDA_RUNTIME_API").is_some_and(|v| !v.is_empty()) => {
            Command::Lambda
        }
        None => {
            return Err(Error::config(
                "no command given; try `cw2mackerel run` or `cw2mackerel --help`",
            ));
        }
    };
    if args.dry_run && command != Command::Run {
        return Err(Error::config("--dry-run goes with the run command"));
    }
    if args.full_window && !args.dry_run {
        return Err(Error::config(
            "--full-window goes with run --dry-run (a run posts only what Mackerel lacks)",
        ));
    }
    build::config(command, args.dry_run, lookup).map(|mut c| {
        c.full_window = args.full_window;
        Action::Run(command, Box::new(c))
    })
}

/// What `check` says beside a good configuration: what this environment lacks to run it,
/// which is no mistake of the configuration (the key and the credentials are often given only
/// where it runs: an ECS task's secrets, a Lambda function's role).
pub fn check_notes(cfg: &Config) -> Vec<&'static str> {
    let mut notes = Vec::new();
    if matches!(cfg.apikey, ApiKey::None) {
        notes.push("no Mackerel API key is set here: run, daemon and the Lambda runtime need MACKEREL_APIKEY or MACKEREL_APIKEY_SSM (run --dry-run and check need none)");
    }
    if matches!(cfg.aws.credentials, Source::Missing) {
        notes.push("no AWS credentials are found here: every command but check needs them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role from the container or instance)");
    }
    notes
}
