//! Configuration: every setting from its environment variable or its command-line option (the
//! option wins), parsed and checked completely before anything touches the network, so that a
//! mistake exits 2 with a message naming the variable or option at fault.

use crate::aws;
use crate::clock::{format_duration, parse_duration};
use crate::cloudfront::{Group, Label};
use crate::error::{Error, Result, Secret};
use crate::jobs::{self, CloudFrontJob, HostTarget, Job, Target};
use crate::log;
use std::path::PathBuf;
use std::time::Duration;

/// What the invocation asks for.
#[derive(Debug)]
pub enum Action {
    Help,
    Version,
    /// `healthcheck` needs nothing but the daemon's state file.
    Healthcheck(PathBuf),
    Run(Box<Config>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// One cycle: discover, plan, fetch, map, post; then exit.
    Run,
    /// Print the distributions a run would read.
    List,
    /// A cycle every interval until SIGTERM/SIGINT.
    Daemon,
    /// Serve the AWS Lambda runtime API: one cycle per invocation.
    Lambda,
    /// Check the configuration and exit.
    Check,
}

#[derive(Debug)]
pub struct Config {
    pub command: Command,
    pub dry_run: bool,
    pub apikey: Option<Secret>,
    pub apikey_ssm: Option<String>,
    pub apibase: String,
    /// What to read and where it goes: the environment's one CloudFront job, or a file's.
    pub jobs: Vec<Job>,
    /// Daemon: how long ListMetrics answers are reused.
    pub discovery_ttl: Duration,
    pub lookback: Duration,
    pub delay: Duration,
    pub timeout: Duration,
    /// Daemon: time between cycles.
    pub interval: Duration,
    /// Daemon: consecutive failed cycles before it gives up (exit 1).
    pub max_failures: u32,
    /// Daemon and Lambda: how far back the first cycle reads.
    pub backfill: Duration,
    /// Daemon: where the time of the last completed cycle is kept for `healthcheck`.
    pub state_file: PathBuf,
    pub log_level: log::Level,
    pub log_format: log::Format,
    pub aws: aws::Settings,
}

/// One setting: its option, the environment variables it is read from, and its help line.
pub struct Setting {
    pub flag: &'static str,
    pub envs: &'static [&'static str],
    pub value: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        flag: "config",
        envs: &["CW2MACKEREL_CONFIG"],
        value: "FILE",
        default: "",
        help: "read jobs (CloudFront or any CloudWatch namespace) from this JSON file instead of the job variables",
    },
    Setting {
        flag: "apikey",
        envs: &["MACKEREL_APIKEY", "apikey"],
        value: "KEY",
        default: "",
        help: "Mackerel API key with write permission (prefer the variable or SSM: options show in ps)",
    },
    Setting {
        flag: "apikey-ssm",
        envs: &["MACKEREL_APIKEY_SSM"],
        value: "NAME|ARN",
        default: "",
        help: "read the API key from this SSM parameter; a SecureString is decrypted",
    },
    Setting {
        flag: "apibase",
        envs: &["MACKEREL_APIBASE"],
        value: "URL",
        default: "https://api.mackerelio.com",
        help: "Mackerel API base URL",
    },
    Setting {
        flag: "service",
        envs: &["CW2MACKEREL_SERVICE"],
        value: "NAME",
        default: "",
        help: "Mackerel service that receives the metrics (required to post)",
    },
    Setting {
        flag: "mode",
        envs: &["CW2MACKEREL_MODE"],
        value: "MODE",
        default: "service",
        help: "service: service metrics; host: one Mackerel host per distribution, with host metrics",
    },
    Setting {
        flag: "roles",
        envs: &["CW2MACKEREL_ROLES"],
        value: "SERVICE:ROLE,...",
        default: "",
        help: "host mode: roles given to the hosts it creates",
    },
    Setting {
        flag: "retire-gone",
        envs: &["CW2MACKEREL_RETIRE_GONE"],
        value: "BOOL",
        default: "false",
        help: "host mode: retire the host of a distribution that is gone from the selection",
    },
    Setting {
        flag: "distributions",
        envs: &["CW2MACKEREL_DISTRIBUTIONS"],
        value: "ID,...",
        default: "",
        help: "read only these distributions; in service mode no CloudFront call or permission is then needed",
    },
    Setting {
        flag: "tag",
        envs: &["CW2MACKEREL_TAG"],
        value: "KEY=VALUE,...",
        default: "",
        help: "read only distributions that carry all these tags (the option may be repeated)",
    },
    Setting {
        flag: "metrics",
        envs: &["CW2MACKEREL_METRICS"],
        value: "SET",
        default: "default",
        help: "default, all, or groups: requests,transfer,error_rate,status_error_rate,cache_hit_rate,origin_latency",
    },
    Setting {
        flag: "label",
        envs: &["CW2MACKEREL_LABEL"],
        value: "KIND",
        default: "id",
        help: "what names a distribution in metric names: id, alias, comment or tag:KEY",
    },
    Setting {
        flag: "lookback",
        envs: &["CW2MACKEREL_LOOKBACK"],
        value: "DURATION",
        default: "10m",
        help: "length of the window every run re-reads and re-posts",
    },
    Setting {
        flag: "delay",
        envs: &["CW2MACKEREL_DELAY"],
        value: "DURATION",
        default: "3m",
        help: "newest time held back because CloudWatch may still revise it",
    },
    Setting {
        flag: "timeout",
        envs: &["CW2MACKEREL_TIMEOUT"],
        value: "DURATION",
        default: "30s",
        help: "limit for each HTTP request",
    },
    Setting {
        flag: "interval",
        envs: &["CW2MACKEREL_INTERVAL"],
        value: "DURATION",
        default: "60s",
        help: "daemon: time between cycles, aligned to the clock",
    },
    Setting {
        flag: "backfill",
        envs: &["CW2MACKEREL_BACKFILL"],
        value: "DURATION",
        default: "",
        help: "daemon and Lambda: how far back the first cycle reads (default: the lookback; at most 24h)",
    },
    Setting {
        flag: "max-failures",
        envs: &["CW2MACKEREL_MAX_FAILURES"],
        value: "N",
        default: "10",
        help: "daemon: consecutive failed cycles before it exits 1 to be replaced",
    },
    Setting {
        flag: "state-file",
        envs: &["CW2MACKEREL_STATE_FILE"],
        value: "PATH",
        default: "/tmp/cw2mackerel.state",
        help: "daemon: file recording the last completed cycle, read by healthcheck",
    },
    Setting {
        flag: "log",
        envs: &["CW2MACKEREL_LOG"],
        value: "LEVEL",
        default: "info",
        help: "error, warn, info or debug",
    },
    Setting {
        flag: "log-format",
        envs: &["CW2MACKEREL_LOG_FORMAT"],
        value: "FORMAT",
        default: "text",
        help: "text or json",
    },
];

/// Mackerel drops points older than 24 hours, so no window may reach further back.
const MAX_REACH: Duration = Duration::from_secs(24 * 3600);

/// The raw values of one invocation: options first, then environment, then defaults.
struct Raw<'e> {
    options: Vec<(&'static Setting, String)>,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl Raw<'_> {
    /// The value and where it came from (`--flag` or the variable), for error messages.
    fn get(&self, flag: &str) -> Option<(String, String)> {
        let given: Vec<&str> = self
            .options
            .iter()
            .filter(|(s, _)| s.flag == flag)
            .map(|(_, v)| v.as_str())
            .collect();
        if !given.is_empty() {
            // Repeating an option appends for lists (`--tag a=b --tag c=d`) and otherwise the
            // last one wins, as with most tools.
            let value = if flag == "tag" {
                given.join(",")
            } else {
                given[given.len() - 1].to_string()
            };
            return Some((value, format!("--{flag}")));
        }
        let setting = setting(flag);
        setting.envs.iter().find_map(|name| {
            (self.env)(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (v, (*name).to_string()))
        })
    }

    fn value_or_default(&self, flag: &str) -> (String, String) {
        self.get(flag)
            .unwrap_or_else(|| (setting(flag).default.to_string(), format!("--{flag}")))
    }

    fn duration(&self, flag: &str) -> Result<Duration> {
        let (v, src) = self.value_or_default(flag);
        parse_duration(&v).map_err(|e| Error::config(format!("{src}: {e}")))
    }
}

fn setting(flag: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.flag == flag)
        .expect("every flag looked up is in SETTINGS")
}

/// Reads the command line (without the program name) and the environment.
pub fn load(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Action> {
    let mut command = None;
    let mut dry_run = false;
    let mut options = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" | "help" => return Ok(Action::Help),
            "-V" | "--version" => return Ok(Action::Version),
            "--dry-run" => dry_run = true,
            a if a.starts_with("--") => {
                let (name, inline) = match a[2..].split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (&a[2..], None),
                };
                let Some(s) = SETTINGS.iter().find(|s| s.flag == name) else {
                    return Err(Error::config(format!(
                        "unknown option --{name} (see --help)"
                    )));
                };
                let value = match inline {
                    Some(v) => v,
                    None => args.next().cloned().ok_or_else(|| {
                        Error::config(format!("--{name} needs a value: --{name} {}", s.value))
                    })?,
                };
                options.push((s, value));
            }
            a if a.starts_with('-') && a.len() > 1 => {
                return Err(Error::config(format!("unknown option {a} (see --help)")));
            }
            a if command.is_none() => command = Some(a.to_string()),
            a => {
                return Err(Error::config(format!(
                    "unexpected argument {a:?} (see --help)"
                )));
            }
        }
    }
    let raw = Raw { options, env };
    let command = match command.as_deref() {
        Some("run") => Command::Run,
        Some("list") => Command::List,
        Some("daemon") => Command::Daemon,
        Some("check") => Command::Check,
        Some("healthcheck") => {
            let (path, _) = raw.value_or_default("state-file");
            return Ok(Action::Healthcheck(PathBuf::from(path)));
        }
        Some(other) => {
            return Err(Error::config(format!(
                "unknown command {other:?}; the commands are run, list, daemon, healthcheck and check (see --help)"
            )));
        }
        // Installed as `bootstrap` on a Lambda custom runtime.
        None if env("AWS_LAMBDA_RUNTIME_API").is_some_and(|v| !v.is_empty()) => Command::Lambda,
        None => {
            return Err(Error::config(
                "no command given; try `cw2mackerel run` or `cw2mackerel --help`",
            ));
        }
    };
    if dry_run && command != Command::Run {
        return Err(Error::config("--dry-run goes with the run command"));
    }
    Config::from_raw(command, dry_run, &raw).map(|c| Action::Run(Box::new(c)))
}

impl Config {
    fn from_raw(command: Command, dry_run: bool, raw: &Raw) -> Result<Config> {
        let log_level = {
            let (v, src) = raw.value_or_default("log");
            log::Level::parse(&v).ok_or_else(|| {
                Error::config(format!(
                    "{src}: {v:?} is not a log level; use error, warn, info or debug"
                ))
            })?
        };
        let log_format = {
            let (v, src) = raw.value_or_default("log-format");
            log::Format::parse(&v).ok_or_else(|| {
                Error::config(format!(
                    "{src}: {v:?} is not a log format; use text or json"
                ))
            })?
        };

        let posts = matches!(command, Command::Run | Command::Daemon | Command::Lambda) && !dry_run;
        let (jobs, discovery_ttl) = match raw.get("config") {
            Some((path, _)) => file_jobs(raw, &path)?,
            None => (vec![env_job(raw, posts)?], jobs::DEFAULT_DISCOVERY_TTL),
        };
        // `list` shows each resource's host, which takes the API key.
        let has_hosts = jobs.iter().any(|j| matches!(j.target(), Target::Host(_)));
        let needs_key = posts || (command == Command::List && has_hosts);

        let apikey = raw.get("apikey").map(|(v, _)| Secret::new(v.trim()));
        let apikey_ssm = raw.get("apikey-ssm").map(|(v, _)| v.trim().to_string());
        if apikey.is_some() && apikey_ssm.is_some() {
            return Err(Error::config(
                "both an API key (MACKEREL_APIKEY or --apikey) and MACKEREL_APIKEY_SSM are set; keep one of them",
            ));
        }
        if needs_key && apikey.is_none() && apikey_ssm.is_none() {
            return Err(Error::config(
                "no Mackerel API key: set MACKEREL_APIKEY, or MACKEREL_APIKEY_SSM to the name or ARN of an SSM parameter holding it (run --dry-run needs none)",
            ));
        }

        let apibase = {
            let (v, src) = raw.value_or_default("apibase");
            let v = v.trim().trim_end_matches('/').to_string();
            aws::check_url(&v).map_err(|e| Error::config(format!("{src}: {e}")))?;
            v
        };

        let lookback = raw.duration("lookback")?;
        let delay = raw.duration("delay")?;
        if lookback < Duration::from_secs(60) {
            return Err(Error::config(format!(
                "CW2MACKEREL_LOOKBACK is {}; it must be at least 1m, CloudFront's period",
                format_duration(lookback)
            )));
        }
        if lookback + delay > MAX_REACH {
            return Err(Error::config(format!(
                "CW2MACKEREL_LOOKBACK ({}) plus CW2MACKEREL_DELAY ({}) reach back more than 24h, and Mackerel drops points older than that",
                format_duration(lookback),
                format_duration(delay)
            )));
        }
        let backfill = match raw.get("backfill") {
            Some((v, src)) => {
                parse_duration(&v).map_err(|e| Error::config(format!("{src}: {e}")))?
            }
            None => lookback,
        };
        if backfill + delay > MAX_REACH {
            return Err(Error::config(format!(
                "CW2MACKEREL_BACKFILL ({}) plus CW2MACKEREL_DELAY ({}) reach back more than 24h, and Mackerel drops points older than that",
                format_duration(backfill),
                format_duration(delay)
            )));
        }
        let interval = raw.duration("interval")?;
        if interval < Duration::from_secs(1) || interval > Duration::from_secs(3600) {
            return Err(Error::config(
                "CW2MACKEREL_INTERVAL must be between 1s and 1h",
            ));
        }
        let max_failures = {
            let (v, src) = raw.value_or_default("max-failures");
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::config(format!("{src}: {v:?} is not a positive number")))?
        };
        let state_file = PathBuf::from(raw.value_or_default("state-file").0);
        let timeout = raw.duration("timeout")?;
        if timeout < Duration::from_secs(1) || timeout > Duration::from_secs(600) {
            return Err(Error::config(
                "CW2MACKEREL_TIMEOUT must be between 1s and 10m",
            ));
        }

        let aws = aws::Settings::from_env(raw.env)?;
        if let Some(name) = apikey_ssm.as_deref().filter(|_| needs_key)
            && aws::ssm::arn_region(name).is_none()
            && aws.region.is_none()
        {
            return Err(Error::config(
                "MACKEREL_APIKEY_SSM is a parameter name, so AWS_REGION must say which region holds it (or give the parameter's ARN)",
            ));
        }

        Ok(Config {
            command,
            dry_run,
            apikey,
            apikey_ssm,
            apibase,
            jobs,
            discovery_ttl,
            lookback,
            delay,
            timeout,
            interval,
            max_failures,
            backfill,
            state_file,
            log_level,
            log_format,
            aws,
        })
    }
}

/// The settings that describe the one CloudFront job of an environment-only configuration.
const JOB_SETTINGS: [&str; 8] = [
    "service",
    "mode",
    "roles",
    "retire-gone",
    "distributions",
    "tag",
    "metrics",
    "label",
];

/// Jobs from a config file; the job settings of the environment must then stay unset.
fn file_jobs(raw: &Raw, path: &str) -> Result<(Vec<Job>, Duration)> {
    let stray: Vec<String> = JOB_SETTINGS
        .iter()
        .filter_map(|f| raw.get(f).map(|(_, src)| src))
        .collect();
    if !stray.is_empty() {
        return Err(Error::config(format!(
            "{} describe a job, and jobs come from {path} here; move them into the file or leave them unset",
            stray.join(", ")
        )));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::config(format!("reading {path}: {e}")))?;
    let file = jobs::parse_file(&text).map_err(|e| Error::config(format!("{path}: {e}")))?;
    Ok((file.jobs, file.discovery_ttl))
}

/// The CloudFront job that the environment variables describe.
fn env_job(raw: &Raw, posts: bool) -> Result<Job> {
    let mode = raw.value_or_default("mode");
    let host = match mode.0.trim() {
        "service" => false,
        "host" => true,
        v => {
            return Err(Error::config(format!(
                "{}: {v:?} is not a mode; use service or host",
                mode.1
            )));
        }
    };
    let service = match raw.get("service") {
        Some((v, src)) => {
            check_service(v.trim()).map_err(|e| Error::config(format!("{src}: {e}")))?
        }
        None if posts && !host => {
            return Err(Error::config(
                "no Mackerel service: set CW2MACKEREL_SERVICE (or --service) to the service that receives the metrics",
            ));
        }
        None => String::new(),
    };
    let distributions = match raw.get("distributions") {
        Some((v, src)) => {
            parse_distributions(&v).map_err(|e| Error::config(format!("{src}: {e}")))?
        }
        None => Vec::new(),
    };
    let tags = match raw.get("tag") {
        Some((v, src)) => parse_tags(&v).map_err(|e| Error::config(format!("{src}: {e}")))?,
        None => Vec::new(),
    };
    let groups = {
        let (v, src) = raw.value_or_default("metrics");
        Group::parse_list(&v).map_err(|e| Error::config(format!("{src}: {e}")))?
    };
    let label = {
        let (v, src) = raw.value_or_default("label");
        Label::parse(&v).map_err(|e| Error::config(format!("{src}: {e}")))?
    };
    let roles = match raw.get("roles") {
        Some((v, src)) => parse_roles(&v).map_err(|e| Error::config(format!("{src}: {e}")))?,
        None => Vec::new(),
    };
    let retire_gone = {
        let (v, src) = raw.value_or_default("retire-gone");
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(Error::config(format!("{src}: {v:?} is not true or false"))),
        }
    };
    if !host && (!roles.is_empty() || retire_gone) {
        return Err(Error::config(
            "CW2MACKEREL_ROLES and CW2MACKEREL_RETIRE_GONE apply to hosts; set CW2MACKEREL_MODE=host or remove them",
        ));
    }
    // Host mode always lists distributions: a host needs the ARN and the domain name.
    if !host && !distributions.is_empty() && (!tags.is_empty() || label != Label::Id) {
        return Err(Error::config(
            "CW2MACKEREL_DISTRIBUTIONS skips the CloudFront API, so a tag filter or a label other than id cannot be applied; remove CW2MACKEREL_DISTRIBUTIONS to read the account's distributions, or use the id label without tags",
        ));
    }
    let target = if host {
        Target::Host(HostTarget {
            custom_identifier: None,
            name: None,
            display_name: None,
            roles,
            retire_gone,
        })
    } else {
        Target::Service(service)
    };
    Ok(Job::CloudFront(CloudFrontJob {
        name: "cloudfront".into(),
        distributions,
        tags,
        groups,
        label,
        target,
        role: None,
    }))
}

/// Mackerel service names: 2 to 63 of `[a-zA-Z0-9_-]`.
fn check_service(name: &str) -> Result<String, String> {
    let ok = (2..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{name:?} is not a Mackerel service name (2 to 63 letters, digits, '-' or '_')"
        ))
    }
}

/// `service:role` names as Mackerel allows them: `[A-Za-z0-9][A-Za-z0-9_-]+` on each side.
fn parse_roles(list: &str) -> Result<Vec<String>, String> {
    let name_ok = |s: &str| {
        s.len() >= 2
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| match r.split_once(':') {
            Some((svc, role)) if name_ok(svc) && name_ok(role) => Ok(r.to_string()),
            _ => Err(format!("{r:?} is not a role; write service:role")),
        })
        .collect()
}

fn parse_distributions(list: &str) -> Result<Vec<String>, String> {
    let mut ids: Vec<String> = Vec::new();
    for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(format!(
                "{id:?} is not a CloudFront distribution ID (capital letters and digits, like E2QWRUHAPOMQZL)"
            ));
        }
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    if ids.is_empty() {
        return Err("no distribution ID in the list".into());
    }
    Ok(ids)
}

fn parse_tags(list: &str) -> Result<Vec<(String, String)>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(format!("{pair:?} is not a tag filter; write key=value")),
        })
        .collect()
}

/// The `--help` text, built from [`SETTINGS`] so that it cannot drift from what is parsed.
pub fn help() -> String {
    let mut out = format!(
        "cw2mackerel {} - posts Amazon CloudWatch metrics (CloudFront, or any namespace with --config) to Mackerel

Usage: cw2mackerel <command> [options]

Commands:
  run             read CloudWatch once, post to Mackerel and exit
                  (exit 0: all posted; 1: AWS or Mackerel failed; 2: bad configuration)
  run --dry-run   print the datapoints as JSON lines instead of posting (no API key needed)
  list            print the distributions a run would read
  daemon          a cycle every interval until SIGTERM or SIGINT (exit 0), or until
                  CW2MACKEREL_MAX_FAILURES cycles in a row failed (exit 1)
  healthcheck     exit 0 if the daemon completed a cycle within 3 intervals, else 1
  check           check the configuration (and --config file) and exit: 0 good, 2 not
  (no command)    with AWS_LAMBDA_RUNTIME_API set: serve the Lambda runtime API

Options (each has an environment variable; the option wins):
",
        env!("CARGO_PKG_VERSION")
    );
    for s in SETTINGS {
        let left = format!("  --{} {}", s.flag, s.value);
        out += &format!("{left:<32}{}\n", s.envs.join(", "));
        out += &format!("{:<32}{}", "", s.help);
        if !s.default.is_empty() {
            out += &format!(" [default: {}]", s.default);
        }
        out += "\n";
    }
    out += "
AWS credentials, region and endpoints come from the standard AWS variables and files:
AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_PROFILE, the ECS container endpoint,
EC2 instance metadata; AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> redirect endpoints.
";
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_with(args: &[&str], env: &[(&str, &str)]) -> Result<Action> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        load(&args, &move |k| env.get(k).cloned())
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match load_with(args, env) {
            Ok(Action::Run(c)) => *c,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    fn config_error(args: &[&str], env: &[(&str, &str)]) -> String {
        match load_with(args, env) {
            Err(e @ Error::Config(_)) => e.to_string(),
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    const BASE: &[(&str, &str)] = &[("MACKEREL_APIKEY", "k"), ("CW2MACKEREL_SERVICE", "cdn")];

    /// The one CloudFront job of an environment-only configuration.
    fn job(c: &Config) -> &CloudFrontJob {
        match c.jobs.as_slice() {
            [Job::CloudFront(j)] => j,
            other => panic!("expected one CloudFront job, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = config(&["run"], BASE);
        assert_eq!(c.command, Command::Run);
        assert_eq!(c.apibase, "https://api.mackerelio.com");
        assert_eq!(job(&c).target, Target::Service("cdn".into()));
        assert_eq!(c.lookback, Duration::from_secs(600));
        assert_eq!(c.delay, Duration::from_secs(180));
        assert_eq!(job(&c).label, Label::Id);
        assert_eq!(job(&c).groups, Group::DEFAULT.to_vec());
    }

    #[test]
    fn option_wins_over_environment() {
        let c = config(
            &["run", "--lookback", "20m", "--service=web"],
            &[
                ("CW2MACKEREL_LOOKBACK", "5m"),
                ("MACKEREL_APIKEY", "k"),
                ("CW2MACKEREL_SERVICE", "cdn"),
            ],
        );
        assert_eq!(c.lookback, Duration::from_secs(1200));
        assert_eq!(job(&c).target, Target::Service("web".into()));
    }

    #[test]
    fn lowercase_apikey_of_the_agent_image_is_accepted() {
        let c = config(
            &["run"],
            &[("apikey", "abc"), ("CW2MACKEREL_SERVICE", "cdn")],
        );
        assert_eq!(c.apikey.unwrap().expose(), "abc");
    }

    #[test]
    fn tags_repeat_and_split() {
        let c = config(
            &["list", "--tag", "env=prod", "--tag", "team=web,tier="],
            &[],
        );
        assert_eq!(
            job(&c).tags,
            vec![
                ("env".into(), "prod".into()),
                ("team".into(), "web".into()),
                ("tier".into(), "".into())
            ]
        );
    }

    #[test]
    fn dry_run_and_list_need_no_key_or_service() {
        assert!(config(&["run", "--dry-run"], &[]).dry_run);
        assert_eq!(config(&["list"], &[]).command, Command::List);
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let c = config(
            &["run"],
            &[
                ("MACKEREL_APIKEY", "k"),
                ("CW2MACKEREL_SERVICE", "cdn"),
                ("CW2MACKEREL_TAG", " "),
            ],
        );
        assert!(job(&c).tags.is_empty());
    }

    #[test]
    fn mistakes_name_their_source() {
        for (args, env, needle) in [
            (
                &["run"][..],
                &[("CW2MACKEREL_SERVICE", "cdn")][..],
                "no Mackerel API key",
            ),
            (&["run"], &[("MACKEREL_APIKEY", "k")], "no Mackerel service"),
            (
                &["run"],
                &[
                    ("MACKEREL_APIKEY", "k"),
                    ("MACKEREL_APIKEY_SSM", "p"),
                    ("CW2MACKEREL_SERVICE", "cdn"),
                ],
                "keep one",
            ),
            (
                &["run", "--lookback", "10"],
                BASE,
                "--lookback: \"10\" is not a duration",
            ),
            (
                &["run"],
                &[
                    ("MACKEREL_APIKEY", "k"),
                    ("CW2MACKEREL_SERVICE", "cdn"),
                    ("CW2MACKEREL_DELAY", "soon"),
                ],
                "CW2MACKEREL_DELAY",
            ),
            (&["run", "--lookback", "30s"], BASE, "at least 1m"),
            (&["run", "--lookback", "24h"], BASE, "24h"),
            (
                &["run", "--service", "c d"],
                BASE,
                "not a Mackerel service name",
            ),
            (&["run", "--apibase", "ftp://x"], BASE, "--apibase"),
            (
                &["run", "--distributions", "e123"],
                BASE,
                "not a CloudFront distribution ID",
            ),
            (&["run", "--tag", "env"], BASE, "not a tag filter"),
            (&["run", "--metrics", "requests,bogus"], BASE, "bogus"),
            (&["run", "--label", "name"], BASE, "--label"),
            (
                &["run", "--distributions", "E1", "--label", "alias"],
                BASE,
                "skips the CloudFront API",
            ),
            (&["run", "--log", "loud"], BASE, "--log"),
            (&["run", "--log-format", "xml"], BASE, "--log-format"),
            (&["run", "--timeout", "0s"], BASE, "CW2MACKEREL_TIMEOUT"),
            (&["run", "--nope"], BASE, "unknown option --nope"),
            (&["run", "--service"], BASE, "--service needs a value"),
            (&["jump"], BASE, "unknown command"),
            (&[], BASE, "no command"),
            (
                &["list", "--dry-run"],
                BASE,
                "--dry-run goes with the run command",
            ),
            (
                &["run"],
                &[
                    ("MACKEREL_APIKEY_SSM", "/mackerel/key"),
                    ("CW2MACKEREL_SERVICE", "cdn"),
                ],
                "AWS_REGION",
            ),
            (
                &["run"],
                &[
                    ("MACKEREL_APIKEY", "k"),
                    ("CW2MACKEREL_SERVICE", "cdn"),
                    ("AWS_ENDPOINT_URL_CLOUDWATCH", "nope"),
                ],
                "AWS_ENDPOINT_URL_CLOUDWATCH",
            ),
        ] {
            let msg = config_error(args, env);
            assert!(msg.contains(needle), "{args:?}: {msg}");
        }
    }

    #[test]
    fn daemon_lambda_and_healthcheck() {
        let c = config(&["daemon", "--interval", "5m", "--backfill", "2h"], BASE);
        assert_eq!(
            (c.command, c.interval, c.backfill, c.max_failures),
            (
                Command::Daemon,
                Duration::from_secs(300),
                Duration::from_secs(7200),
                10
            )
        );
        assert_eq!(
            config(&["daemon"], BASE).backfill,
            Duration::from_secs(600),
            "the lookback by default"
        );
        let mut lambda = BASE.to_vec();
        lambda.push(("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"));
        assert_eq!(config(&[], &lambda).command, Command::Lambda);
        match load_with(&["healthcheck"], &[("CW2MACKEREL_STATE_FILE", "/run/x")]) {
            Ok(Action::Healthcheck(p)) => assert_eq!(p, PathBuf::from("/run/x")),
            other => panic!("{other:?}"),
        }
        for (args, needle) in [
            (&["daemon", "--backfill", "24h"][..], "CW2MACKEREL_BACKFILL"),
            (&["daemon", "--interval", "2h"], "CW2MACKEREL_INTERVAL"),
            (&["daemon", "--max-failures", "0"], "positive"),
            (&["daemon", "--dry-run"], "--dry-run"),
        ] {
            assert!(config_error(args, BASE).contains(needle), "{args:?}");
        }
        assert!(config_error(&["daemon"], &[("CW2MACKEREL_SERVICE", "cdn")]).contains("API key"));
    }

    #[test]
    fn host_mode() {
        let c = config(
            &["run", "--mode", "host", "--roles", "cdn:edge, web:cf"],
            &[("MACKEREL_APIKEY", "k")],
        );
        let Target::Host(h) = &job(&c).target else {
            panic!("not host mode")
        };
        assert_eq!(h.roles, ["cdn:edge", "web:cf"]);
        // Host mode reads the account's list, so IDs can go with labels and tags.
        let c = config(
            &[
                "run",
                "--mode=host",
                "--distributions",
                "E1",
                "--label",
                "alias",
                "--retire-gone",
                "true",
            ],
            &[("MACKEREL_APIKEY", "k")],
        );
        assert!(matches!(&job(&c).target, Target::Host(h) if h.retire_gone));
        for (args, needle) in [
            (&["run", "--mode", "hosts"][..], "not a mode"),
            (&["run", "--mode", "host", "--roles", "edge"], "not a role"),
            (&["run", "--mode", "host", "--roles", "c:-x"], "not a role"),
            (
                &["run", "--mode", "host", "--retire-gone", "maybe"],
                "not true or false",
            ),
            (&["run", "--roles", "cdn:edge"], "CW2MACKEREL_MODE=host"),
        ] {
            let msg = config_error(
                args,
                &[("MACKEREL_APIKEY", "k"), ("CW2MACKEREL_SERVICE", "cdn")],
            );
            assert!(msg.contains(needle), "{args:?}: {msg}");
        }
        assert!(config_error(&["list", "--mode", "host"], &[]).contains("no Mackerel API key"));
    }

    #[test]
    fn help_lists_every_setting() {
        let h = help();
        for s in SETTINGS {
            assert!(h.contains(&format!("--{}", s.flag)));
            for e in s.envs {
                assert!(h.contains(e));
            }
        }
    }
}
