//! cw2mackerel: posts Amazon CloudWatch metrics (CloudFront first) to Mackerel. One static
//! binary, synchronous and single-threaded; every run flows discover → plan → fetch → map → post.

// print! and its kin panic when stdout or stderr is closed or full; output goes through
// `log` or a write whose error is ignored.
#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]

mod aws;
mod cli;
mod clock;
mod config;
mod daemon;
mod discover;
mod dry_run;
mod error;
mod fault;
mod fetch;
mod files;
#[cfg(test)]
mod fuzz_tests;
mod hosts;
mod jobs;
mod lambda;
mod list;
mod log;
mod mackerel;
mod map;
mod plan;
mod post;
mod presets;
mod record;
mod retry;
mod session;
mod signals;
mod state;
mod transport;
mod url;
mod xml;

use cli::{Action, Command};
use std::io::Write;
use std::process::ExitCode;

/// Writes `text` to stdout; a closed or full stdout is not worth a panic.
fn say(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn main() -> ExitCode {
    // Not `args()`, which panics on an argument that is not UTF-8: the tokenizer names it.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let env = |k: &str| std::env::var(k).ok();
    let result = match cli::load(&args, &env) {
        Ok(Action::Help) => {
            say(&cli::settings::help());
            Ok(())
        }
        Ok(Action::Version) => {
            say(&format!(
                "cw2mackerel {} ({}, {})\n",
                env!("CARGO_PKG_VERSION"),
                env!("CW2MACKEREL_COMMIT"),
                env!("CW2MACKEREL_TARGET")
            ));
            Ok(())
        }
        Ok(Action::Healthcheck(state_file)) => daemon::healthcheck(&state_file).inspect_err(|e| {
            let _ = writeln!(std::io::stderr(), "{}", log::redact(&e.to_string()));
        }),
        Ok(Action::Run(command, cfg)) => {
            log::init(cfg.log_level, cfg.log_format);
            match command {
                Command::Run => {
                    // systemd stopping its unit, ECS its task, Ctrl-C: the run ends promptly
                    // with its summary line and state write; its status still says whether
                    // everything was posted.
                    signals::install(cfg.log_format, "run", 1);
                    session::run(&cfg)
                }
                Command::List => list::list(&cfg),
                Command::Daemon => daemon::run(&cfg),
                Command::Check => {
                    say(&format!(
                        "configuration OK: {} job(s): {}\n",
                        cfg.jobs.len(),
                        cfg.jobs
                            .iter()
                            .map(|j| j.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    for note in cli::check_notes(&cfg) {
                        log::info(note, &[]);
                    }
                    Ok(())
                }
                Command::Lambda => {
                    lambda::serve(&cfg, &env("AWS_LAMBDA_RUNTIME_API").unwrap_or_default())
                }
            }
        }
        Err(cli::Refusal {
            error: e,
            log_format,
        }) => {
            log::init(log::Level::Error, log_format);
            // One line per mistake: a configuration may have several.
            for mistake in e.lines() {
                log::error(&format!("configuration: {mistake}"), &[]);
            }
            // As a Lambda bootstrap, tell Lambda why the function cannot start.
            if let Some(api) =
                env("AWS_LAMBDA_RUNTIME_API").filter(|a| !a.is_empty() && args.is_empty())
            {
                lambda::init_error(&api, &e);
            }
            Err(e)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(e.exit_code()),
    }
}
