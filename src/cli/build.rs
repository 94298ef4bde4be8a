//! The [`Config`] of a command, built one part at a time, as ripgrep turns its low-level
//! arguments into high-level ones: each builder reads its settings into a part (the logging,
//! the jobs, the API key, the Mackerel endpoint, the durations, the network, the AWS
//! settings), noting its mistakes in one [`Mistakes`], so that every mistake is named at
//! once, in the order of the parts. A part that cannot be read leaves only the checks that
//! need it undone.

use super::action::Command;
use super::lookup::{self, Given, Lookup};
use super::network::{self, PlainHttp};
use super::{env_job, settings, windows};
use crate::config::{ApiKey, Config, SsmRegion};
use crate::error::{Error, Mistakes, Result, Secret};
use crate::jobs::{self, Job, Target};
use crate::{aws, files, log, mackerel, transport, url};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A config file larger than this is a mistake (a thousand jobs take about 300 KB).
const CONFIG_LIMIT: u64 = 4 << 20;

/// What a command that posts says without a key.
const NO_KEY: &str = "no Mackerel API key: set MACKEREL_APIKEY, or MACKEREL_APIKEY_SSM to the name or ARN of an SSM parameter holding it (run --dry-run needs none)";

/// The whole configuration of `command`, with every mistake found named (one a line), not
/// only the first. `check` is checked as `run` is, and as `daemon` is when
/// `CW2MACKEREL_INTERVAL` is set, except for what the environment rather than the
/// configuration gives: it needs no AWS credentials it could find (it makes no AWS call) and
/// no API key, and says when either is missing.
pub fn config(command: Command, dry_run: bool, lookup: &Lookup) -> Result<Config> {
    let mut m = Mistakes::default();
    let logging = logging(lookup, &mut m);
    let posts = command != Command::List && !dry_run;
    let jobs = jobs(lookup, posts, &mut m);
    let list: &[Job] = jobs.as_ref().map_or(&[], |j| &j.list);
    let needs = Needs::of(command, posts, lookup, list);
    let key = key(lookup, needs, &mut m);
    let api = mackerel(lookup, &mut m);
    let windows = windows::check(needs.daemon, lookup, list, &mut m);
    let max_failures = m.take(max_failures(lookup));
    // Plain http is judged once CW2MACKEREL_ALLOW_HTTP is read: the API base's here, the AWS
    // endpoints' with the AWS settings.
    let plain = PlainHttp::read(lookup, &mut m);
    if let Some(api) = &api {
        m.take(plain.check(&lookup.or_default(&settings::APIBASE).from, &api.apibase));
    }
    let proxy = m.take(network::proxy(lookup.env));
    let ssm = key.ssm.as_ref().filter(|_| needs.ssm);
    let aws = network::aws(lookup.env, &plain, list, ssm, needs.credentials, &mut m);

    let parts = (|| Some((logging?, jobs?, api?, windows?, max_failures?, proxy?, aws?)))();
    let (logging, jobs, api, w, max_failures, proxy, aws) = m.or(parts)?;
    Ok(Config {
        dry_run,
        full_window: false,
        apikey: key.into_api_key(&aws),
        apibase: api.apibase,
        ca_bundle: api.ca_bundle,
        jobs: jobs.list,
        discovery_ttl: jobs.discovery_ttl,
        lookback: w.lookback,
        delay: w.delay,
        timeout: w.timeout,
        cycle_timeout: w.cycle_timeout,
        proxy,
        interval: w.interval,
        max_failures,
        backfill: w.backfill,
        state_file: state_file(lookup),
        log_level: logging.level,
        log_format: logging.format,
        aws,
    })
}

/// What a command needs of its configuration, known from the command and its jobs.
#[derive(Clone, Copy)]
struct Needs {
    /// The API key: to post (but `check` reads none), or for `list` to show hosts.
    key: bool,
    /// The key's SSM parameter is checked as the run that reads it would check it.
    ssm: bool,
    /// AWS credentials found here (`check` makes no AWS call).
    credentials: bool,
    /// The daemon's rules: for `daemon`, and for `check` when `CW2MACKEREL_INTERVAL` is set
    /// (an interval is what only a daemon uses, so the configuration is a daemon's).
    daemon: bool,
}

impl Needs {
    fn of(command: Command, posts: bool, lookup: &Lookup, jobs: &[Job]) -> Needs {
        let has_hosts = jobs.iter().any(|j| matches!(j.target(), Target::Host(_)));
        let key = (posts && command != Command::Check) || (command == Command::List && has_hosts);
        Needs {
            key,
            ssm: key || command == Command::Check,
            credentials: command != Command::Check,
            daemon: command == Command::Daemon
                || (command == Command::Check && lookup.get(&settings::INTERVAL).is_some()),
        }
    }
}

struct Logging {
    level: log::Level,
    format: log::Format,
}

fn logging(lookup: &Lookup, m: &mut Mistakes) -> Option<Logging> {
    let level = m.take({
        let g = lookup.or_default(&settings::LOG);
        log::Level::parse(&g.value).ok_or_else(|| {
            g.error(format!(
                "{:?} is not a log level; use error, warn, info or debug",
                g.value
            ))
        })
    });
    let format = m.take(log_format(lookup));
    Some(Logging {
        level: level?,
        format: format?,
    })
}

/// The log format asked for; what names a configuration's mistakes too, when it reads.
pub fn log_format(lookup: &Lookup) -> Result<log::Format> {
    let g = lookup.or_default(&settings::LOG_FORMAT);
    log::Format::parse(&g.value).ok_or_else(|| {
        g.error(format!(
            "{:?} is not a log format; use text or json",
            g.value
        ))
    })
}

struct Jobs {
    list: Vec<Job>,
    /// Daemon and warm Lambda: how long discovery answers are reused.
    discovery_ttl: Duration,
}

/// A config file's jobs, or the one job the environment describes (for a command that
/// `posts`, a service is then required in service mode).
fn jobs(lookup: &Lookup, posts: bool, m: &mut Mistakes) -> Option<Jobs> {
    match lookup.get(&settings::CONFIG) {
        Some(g) => m.take(file_jobs(lookup, &g)),
        None => m.take(env_job::env_job(lookup, posts)).map(|job| Jobs {
            list: vec![job],
            discovery_ttl: jobs::DEFAULT_DISCOVERY_TTL,
        }),
    }
}

/// Jobs from the config file `g` names; the job settings of the environment must then stay
/// unset. A file that cannot be read is named first, and so are stray job settings beside it;
/// of a file's own mistakes, every job's is named (see [`jobs::file::parse`]).
fn file_jobs(lookup: &Lookup, g: &Given) -> Result<Jobs> {
    let mut m = Mistakes::default();
    let path = &g.value;
    let text = m.take(files::read_text(Path::new(path), CONFIG_LIMIT).map_err(
        |e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::config(format!("{}: there is no file {path}", g.from))
            }
            _ => Error::config(format!("reading {path}: {e}")),
        },
    ));
    let stray: Vec<String> = env_job::JOB_SETTINGS
        .iter()
        .filter_map(|s| lookup.get(s).map(|g| g.from))
        .collect();
    if !stray.is_empty() {
        let (them, describe) = match stray.len() {
            1 => ("it", "describes"),
            _ => ("them", "describe"),
        };
        m.push(Error::config(format!(
            "{} {describe} a job, and jobs come from {path} here; move {them} into the file or leave {them} unset",
            lookup::and_list(&stray)
        )));
    }
    // Some editors begin UTF-8 with a byte order mark, which JSON does not allow.
    let file = text.and_then(|text| {
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        m.take(jobs::file::parse(text).map_err(|e| {
            let each: Vec<String> = e
                .iter()
                .flat_map(|mistake| mistake.as_str().lines())
                .map(|l| format!("{path}: {l}"))
                .collect();
            Error::config(each.join("\n"))
        }))
    });
    m.or(file.map(|f| Jobs {
        list: f.jobs,
        discovery_ttl: f.discovery_ttl,
    }))
}

/// The API key as the settings give it: a key, checked as one, or an SSM parameter, whose
/// region the AWS settings tell. Giving both is a mistake, and so is giving neither to a
/// command that needs a key.
struct Key {
    direct: Option<Secret>,
    /// The parameter as given (so even beside a key, for the checks of the AWS settings).
    ssm: Option<Given>,
}

fn key(lookup: &Lookup, needs: Needs, m: &mut Mistakes) -> Key {
    let key_given = lookup.get(&settings::APIKEY);
    let direct = key_given.as_ref().and_then(|g| {
        m.take(mackerel::check_key(g.value.trim()).map_err(|e| g.error(e)))
            .map(|()| Secret::new(g.value.trim()))
    });
    let ssm = lookup.get(&settings::APIKEY_SSM);
    if let Some(g) = &ssm
        && g.value.trim().starts_with("arn:")
        && aws::ssm::arn_region(g.value.trim()).is_none()
    {
        m.push(g.error(format!(
            "{:?} is not an SSM parameter ARN like arn:aws:ssm:REGION:ACCOUNT:parameter/NAME",
            g.value.trim()
        )));
    }
    match (&key_given, &ssm) {
        (Some(key), Some(ssm)) => m.push(Error::config(format!(
            "both an API key ({}) and {} are set; keep one of them",
            key.from, ssm.from
        ))),
        (None, None) if needs.key => m.push(Error::config(NO_KEY)),
        _ => {}
    }
    Key { direct, ssm }
}

impl Key {
    /// The key of a configuration without mistakes, which gives one way at most.
    fn into_api_key(self, aws: &aws::Settings) -> ApiKey {
        match (self.direct, self.ssm) {
            (Some(key), _) => ApiKey::Direct(key),
            (None, Some(g)) => {
                let name = g.value.trim().to_string();
                ApiKey::Ssm {
                    region: SsmRegion::of(&name, aws),
                    name,
                }
            }
            (None, None) => ApiKey::None,
        }
    }
}

/// Where Mackerel is: the API base URL, and the CA certificates its certificate may chain to
/// beside the built-in roots.
struct MackerelApi {
    apibase: String,
    ca_bundle: Option<transport::tls::Bundle>,
}

fn mackerel(lookup: &Lookup, m: &mut Mistakes) -> Option<MackerelApi> {
    let apibase = m.take({
        let g = lookup.or_default(&settings::APIBASE);
        let v = g.value.trim().trim_end_matches('/').to_string();
        url::check_url(&v).map(|()| v).map_err(|e| g.error(e))
    });
    let ca_bundle = lookup
        .get(&settings::CA_BUNDLE)
        .and_then(|g| m.take(transport::tls::Bundle::read(g.value.trim()).map_err(|e| g.error(e))));
    Some(MackerelApi {
        apibase: apibase?,
        ca_bundle,
    })
}

/// Daemon: how many failed cycles in a row it takes to give up.
fn max_failures(lookup: &Lookup) -> Result<u32> {
    let g = lookup.or_default(&settings::MAX_FAILURES);
    g.value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| g.error(format!("{:?} is not a positive whole number", g.value)))
}

/// Where the last completed cycle is recorded (and, for `run`, what Mackerel accepted).
pub fn state_file(lookup: &Lookup) -> PathBuf {
    PathBuf::from(lookup.or_default(&settings::STATE_FILE).value)
}
