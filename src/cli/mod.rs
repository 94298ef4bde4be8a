//! The command line: the arguments, the environment and a config file read into an [`Action`],
//! with everything checked that can be checked before any network call, so that a mistake
//! exits 2 with a message naming the option, variable or file field at fault. `settings` is
//! the table of settings and their help, `args` the tokenizer, `lookup` the option,
//! environment and default lookup, `env_job` the job an environment without a file describes.

mod args;
mod env_job;
mod lookup;
pub mod settings;
#[cfg(test)]
mod tests;
mod windows;

use crate::aws::{self, credentials::Source};
use crate::config::Config;
use crate::error::{Error, Mistakes, Result, Secret};
use crate::jobs::{self, Job, Target};
use crate::{files, log, mackerel, transport, url};
use lookup::Lookup;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// A config file larger than this is a mistake (a thousand jobs take about 300 KB).
const CONFIG_LIMIT: u64 = 4 << 20;

/// Reads the command line (without the program name) and the environment.
pub fn load(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Action> {
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
    let args = args::parse(args)?;
    if args.help {
        return Ok(Action::Help);
    }
    if args.version {
        return Ok(Action::Version);
    }
    let lookup = Lookup {
        options: args.options,
        env,
    };
    if let Some(g) = lookup.get(&settings::APIKEY) {
        log::secret(g.value.trim());
    }
    let command = match args.command.as_deref() {
        Some("run") => Command::Run,
        Some("list") => Command::List,
        Some("daemon") => Command::Daemon,
        Some("check") => Command::Check,
        Some("healthcheck") => {
            let path = lookup.or_default(&settings::STATE_FILE).value;
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
    if args.dry_run && command != Command::Run {
        return Err(Error::config("--dry-run goes with the run command"));
    }
    if args.full_window && !args.dry_run {
        return Err(Error::config(
            "--full-window goes with run --dry-run (a run posts only what Mackerel lacks)",
        ));
    }
    config(command, args.dry_run, &lookup).map(|mut c| {
        c.full_window = args.full_window;
        Action::Run(command, Box::new(c))
    })
}

/// The whole configuration of `command`, with every mistake found named (one a line), not
/// only the first: a value that cannot be read leaves only the checks that need it undone.
/// `check` is checked as `run` is, and as `daemon` is when `CW2MACKEREL_INTERVAL` is set,
/// except for what the environment rather than the configuration gives: it needs no AWS
/// credentials it could find (it makes no AWS call) and no API key, and says when either is
/// missing.
fn config(command: Command, dry_run: bool, lookup: &Lookup) -> Result<Config> {
    let mut m = Mistakes::default();
    let log_level = m.take({
        let g = lookup.or_default(&settings::LOG);
        log::Level::parse(&g.value).ok_or_else(|| {
            g.error(format!(
                "{:?} is not a log level; use error, warn, info or debug",
                g.value
            ))
        })
    });
    let log_format = m.take({
        let g = lookup.or_default(&settings::LOG_FORMAT);
        log::Format::parse(&g.value).ok_or_else(|| {
            g.error(format!(
                "{:?} is not a log format; use text or json",
                g.value
            ))
        })
    });

    let posts = command != Command::List && !dry_run;
    let file = match lookup.get(&settings::CONFIG) {
        Some(g) => m.take(file_jobs(lookup, &g)),
        None => m
            .take(env_job::env_job(lookup, posts))
            .map(|job| (vec![job], jobs::DEFAULT_DISCOVERY_TTL)),
    };
    let jobs: &[Job] = file.as_ref().map_or(&[], |(jobs, _)| jobs);
    // `list` shows each resource's host, which takes the API key; `check` reads no key.
    let has_hosts = jobs.iter().any(|j| matches!(j.target(), Target::Host(_)));
    let needs_key = (posts && command != Command::Check) || (command == Command::List && has_hosts);

    let key_given = lookup.get(&settings::APIKEY);
    let apikey = key_given.as_ref().and_then(|g| {
        m.take(mackerel::check_key(g.value.trim()).map_err(|e| g.error(e)))
            .map(|()| Secret::new(g.value.trim()))
    });
    let ssm_given = lookup.get(&settings::APIKEY_SSM);
    let apikey_ssm = ssm_given.as_ref().map(|g| g.value.trim().to_string());
    if let (Some(g), Some(arn)) = (&ssm_given, apikey_ssm.as_deref())
        && arn.starts_with("arn:")
        && aws::ssm::arn_region(arn).is_none()
    {
        m.push(g.error(format!(
            "{arn:?} is not an SSM parameter ARN like arn:aws:ssm:REGION:ACCOUNT:parameter/NAME"
        )));
    }
    match (&key_given, &ssm_given) {
        (Some(key), Some(ssm)) => m.push(Error::config(format!(
            "both an API key ({}) and {} are set; keep one of them",
            key.from, ssm.from
        ))),
        (None, None) if needs_key => m.push(Error::config(NO_KEY)),
        _ => {}
    }

    let apibase = m.take({
        let g = lookup.or_default(&settings::APIBASE);
        let v = g.value.trim().trim_end_matches('/').to_string();
        url::check_url(&v).map(|()| v).map_err(|e| g.error(e))
    });
    let ca_bundle = lookup
        .get(&settings::CA_BUNDLE)
        .and_then(|g| m.take(transport::tls::Bundle::read(g.value.trim()).map_err(|e| g.error(e))));
    // `check` applies the daemon's rules when CW2MACKEREL_INTERVAL is set: an interval is
    // what only a daemon uses, so the configuration is a daemon's.
    let daemon = command == Command::Daemon
        || (command == Command::Check && lookup.get(&settings::INTERVAL).is_some());
    let windows = windows::check(daemon, lookup, jobs, &mut m);
    let max_failures = m.take({
        let g = lookup.or_default(&settings::MAX_FAILURES);
        g.value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| g.error(format!("{:?} is not a positive whole number", g.value)))
    });
    let state_file = PathBuf::from(lookup.or_default(&settings::STATE_FILE).value);
    let allow_http = m.take({
        let g = lookup.or_default(&settings::ALLOW_HTTP);
        lookup::parse_bool(&g.value)
            .ok_or_else(|| g.error(format!("{:?} is not true or false", g.value)))
    });
    // Unknown whether allowed: the plain-http checks wait for a readable ALLOW_HTTP.
    let plain = |name: &str, url: &str| match allow_http != Some(false)
        || !plain_http_elsewhere(url)
    {
        true => Ok(()),
        false => Err(Error::config(format!(
            "{name}: {:?} is plain http to another machine, which would carry the {} in clear; use https, or set CW2MACKEREL_ALLOW_HTTP=true if the network is yours",
            crate::url::shown(url),
            match name.starts_with("AWS") {
                true => "request signatures",
                false => "API key",
            }
        ))),
    };
    if let Some(apibase) = &apibase {
        m.take(plain(&lookup.or_default(&settings::APIBASE).from, apibase));
    }
    let proxy = m.take(proxy(lookup.env));

    // The AWS settings are read as one: of their mistakes, the first is named.
    let aws = m.take(aws::Settings::from_env(lookup.env));
    if let Some(aws) = &aws {
        for (name, url) in aws.endpoints.configured() {
            m.take(plain(&name, url));
        }
        // `check` checks a key's parameter too, as the run that reads it would.
        let reads_ssm = needs_key || command == Command::Check;
        m.take(check_endpoints(
            aws,
            jobs,
            apikey_ssm.as_deref().filter(|_| reads_ssm),
        ));
        if command != Command::Check && matches!(aws.credentials, Source::Missing) {
            m.push(Error::config(aws::credentials::MISSING));
        }
        if let Some(g) = ssm_given
            .as_ref()
            .filter(|_| needs_key || command == Command::Check)
            // An ARN names its region; one that does not was named above.
            && !g.value.trim().starts_with("arn:")
            && aws.region.is_none()
        {
            m.push(Error::config(format!(
                "{} is a parameter name, so AWS_REGION (or AWS_DEFAULT_REGION, or the profile's region) must say which region holds it; or give the parameter's ARN",
                g.from
            )));
        }
    }

    let parts = (|| {
        Some((
            log_level?,
            log_format?,
            file?,
            apibase?,
            windows?,
            max_failures?,
            proxy?,
            aws?,
        ))
    })();
    let (log_level, log_format, (jobs, discovery_ttl), apibase, w, max_failures, proxy, aws) =
        m.or(parts)?;
    Ok(Config {
        dry_run,
        full_window: false,
        apikey,
        apikey_ssm,
        apibase,
        ca_bundle,
        jobs,
        discovery_ttl,
        lookback: w.lookback,
        delay: w.delay,
        timeout: w.timeout,
        cycle_timeout: w.cycle_timeout,
        proxy,
        interval: w.interval,
        max_failures,
        backfill: w.backfill,
        state_file,
        log_level,
        log_format,
        aws,
    })
}

/// What a command that posts says without a key.
const NO_KEY: &str = "no Mackerel API key: set MACKEREL_APIKEY, or MACKEREL_APIKEY_SSM to the name or ARN of an SSM parameter holding it (run --dry-run needs none)";

/// What `check` says beside a good configuration: what this environment lacks to run it,
/// which is no mistake of the configuration (the key and the credentials are often given only
/// where it runs: an ECS task's secrets, a Lambda function's role).
pub fn check_notes(cfg: &Config) -> Vec<&'static str> {
    let mut notes = Vec::new();
    if cfg.apikey.is_none() && cfg.apikey_ssm.is_none() {
        notes.push("no Mackerel API key is set here: run, daemon and the Lambda runtime need MACKEREL_APIKEY or MACKEREL_APIKEY_SSM (run --dry-run and check need none)");
    }
    if matches!(cfg.aws.credentials, Source::Missing) {
        notes.push("no AWS credentials are found here: every command but check needs them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role from the container or instance)");
    }
    notes
}

/// Jobs from the config file `g` names; the job settings of the environment must then stay
/// unset. A file that cannot be read is named first, and so are stray job settings beside it;
/// of a file's own mistakes, every job's is named (see [`jobs::file::parse`]).
fn file_jobs(lookup: &Lookup, g: &lookup::Given) -> Result<(Vec<Job>, Duration)> {
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
                .flat_map(|m| m.as_str().lines())
                .map(|l| format!("{path}: {l}"))
                .collect();
            Error::config(each.join("\n"))
        }))
    });
    m.or(file.map(|f| (f.jobs, f.discovery_ttl)))
}

/// Every service the configuration will call, in each region it will call it in, has an
/// endpoint: FIPS and dual-stack have one in every partition cw2mackerel knows, but a region
/// of another partition needs its endpoint set.
fn check_endpoints(aws: &aws::Settings, jobs: &[Job], apikey_ssm: Option<&str>) -> Result<()> {
    use aws::endpoint::Service;
    // CloudFront and its metrics live in the global region of the configured region's
    // partition; a partition cw2mackerel does not know shows in the configured region.
    let home = aws.region.as_deref().unwrap_or(aws.global_region());
    let mut uses: Vec<(Service, &str)> = Vec::new();
    let mut assumes = matches!(
        aws.credentials,
        Source::WebIdentity { .. } | Source::AssumeRole { .. }
    );
    for job in jobs {
        match job {
            Job::CloudFront(j) => {
                uses.extend([(Service::CloudFront, home), (Service::CloudWatch, home)]);
                assumes |= j.role.is_some();
            }
            Job::Metrics(j) => {
                for region in &j.regions {
                    uses.push((Service::CloudWatch, region));
                    if !j.tags.is_empty() {
                        uses.push((Service::Tagging, region));
                    }
                }
                assumes |= j.role.is_some();
            }
        }
    }
    if let Some(region) = apikey_ssm.and_then(|n| aws::ssm::arn_region(n).or(aws.region.as_deref()))
    {
        uses.push((Service::Ssm, region));
    }
    // STS is asked in the configured region, else in the global region of the role's
    // partition, which always has an endpoint.
    if let Some(region) = aws.region.as_deref().filter(|_| assumes) {
        uses.push((Service::Sts, region));
    }
    aws.check_endpoints(&uses)
}

/// Whether `url` is plain http to a host other than this machine.
fn plain_http_elsewhere(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    uri.scheme_str() == Some("http") && !loopback
}

/// `HTTPS_PROXY` (or `https_proxy`) with `NO_PROXY` (or `no_proxy`), checked.
fn proxy(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<transport::Proxy>> {
    let var = |names: [&str; 2]| {
        names.iter().find_map(|n| {
            env(n)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (n.to_string(), v))
        })
    };
    let Some((name, url)) = var(["HTTPS_PROXY", "https_proxy"]) else {
        return Ok(None);
    };
    let no_proxy = var(["NO_PROXY", "no_proxy"])
        .map(|(_, v)| {
            v.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let proxy = transport::Proxy {
        url: url.trim().to_string(),
        no_proxy,
    };
    url::check_url(&proxy.url).map_err(|e| Error::config(format!("{name}: {e}")))?;
    transport::Http::with_proxy(Duration::from_secs(1), Some(&proxy))
        .map_err(|e| Error::config(format!("{name}: {e}")))?;
    Ok(Some(proxy))
}
