//! cw2mackerel: posts Amazon CloudWatch metrics (CloudFront first) to Mackerel. One static
//! binary, synchronous and single-threaded; every run flows discover → plan → fetch → map → post.

mod aws;
mod clock;
mod cloudfront;
mod config;
mod daemon;
mod discover;
mod error;
mod fetch;
mod hosts;
mod http;
mod jobs;
mod lambda;
mod log;
mod mackerel;
mod map;
mod namespace;
mod plan;
mod post;
mod run;
mod signals;
mod xml;

use config::{Action, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |k: &str| std::env::var(k).ok();
    let result = match config::load(&args, &env) {
        Ok(Action::Help) => {
            print!("{}", config::help());
            Ok(())
        }
        Ok(Action::Version) => {
            println!("cw2mackerel {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Ok(Action::Healthcheck(state_file)) => {
            daemon::healthcheck(&state_file).inspect_err(|e| eprintln!("{e}"))
        }
        Ok(Action::Run(cfg)) => {
            log::init(cfg.log_level, cfg.log_format);
            match cfg.command {
                Command::Run => run::run(&cfg),
                Command::List => run::list(&cfg),
                Command::Daemon => daemon::run(&cfg),
                Command::Check => {
                    println!(
                        "configuration OK: {} job(s): {}",
                        cfg.jobs.len(),
                        cfg.jobs
                            .iter()
                            .map(|j| j.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    Ok(())
                }
                Command::Lambda => {
                    lambda::serve(&cfg, &env("AWS_LAMBDA_RUNTIME_API").unwrap_or_default())
                }
            }
        }
        Err(e) => {
            // The configuration is bad, maybe its log format too: use it only if it reads.
            let format = env("CW2MACKEREL_LOG_FORMAT")
                .and_then(|f| log::Format::parse(&f))
                .unwrap_or(log::Format::Text);
            log::init(log::Level::Error, format);
            log::error(&format!("configuration: {e}"), &[]);
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
