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

use crate::aws::{self, credentials::Source};
use crate::clock::format_duration;
use crate::config::Config;
use crate::error::{Error, Result, Secret};
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

/// Mackerel drops points older than 24 hours, so no window may reach further back.
const MAX_REACH: Duration = mackerel::MAX_AGE;

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
    config(command, args.dry_run, &lookup).map(|c| Action::Run(command, Box::new(c)))
}

/// The whole configuration of `command`. `check` is checked exactly as `run` is, except that
/// it needs no AWS credentials it could find (it makes no AWS call).
fn config(command: Command, dry_run: bool, lookup: &Lookup) -> Result<Config> {
    let log_level = {
        let g = lookup.or_default(&settings::LOG);
        log::Level::parse(&g.value).ok_or_else(|| {
            g.error(format!(
                "{:?} is not a log level; use error, warn, info or debug",
                g.value
            ))
        })?
    };
    let log_format = {
        let g = lookup.or_default(&settings::LOG_FORMAT);
        log::Format::parse(&g.value).ok_or_else(|| {
            g.error(format!(
                "{:?} is not a log format; use text or json",
                g.value
            ))
        })?
    };

    let posts = command != Command::List && !dry_run;
    let (jobs, discovery_ttl) = match lookup.get(&settings::CONFIG) {
        Some(g) => file_jobs(lookup, &g.value)?,
        None => (
            vec![env_job::env_job(lookup, posts)?],
            jobs::DEFAULT_DISCOVERY_TTL,
        ),
    };
    // `list` shows each resource's host, which takes the API key.
    let has_hosts = jobs.iter().any(|j| matches!(j.target(), Target::Host(_)));
    let needs_key = posts || (command == Command::List && has_hosts);

    let apikey = match lookup.get(&settings::APIKEY) {
        Some(g) => {
            mackerel::check_key(g.value.trim()).map_err(|e| g.error(e))?;
            Some(Secret::new(g.value.trim()))
        }
        None => None,
    };
    let apikey_ssm = lookup
        .get(&settings::APIKEY_SSM)
        .map(|g| g.value.trim().to_string());
    if let Some(arn) = apikey_ssm.as_deref().filter(|n| n.starts_with("arn:"))
        && aws::ssm::arn_region(arn).is_none()
    {
        return Err(Error::config(format!(
            "MACKEREL_APIKEY_SSM: {arn:?} is not an SSM parameter ARN like arn:aws:ssm:REGION:ACCOUNT:parameter/NAME"
        )));
    }
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
        let g = lookup.or_default(&settings::APIBASE);
        let v = g.value.trim().trim_end_matches('/').to_string();
        url::check_url(&v).map_err(|e| g.error(e))?;
        v
    };
    let ca_bundle = match lookup.get(&settings::CA_BUNDLE) {
        Some(g) => Some(transport::tls::Bundle::read(g.value.trim()).map_err(|e| g.error(e))?),
        None => None,
    };

    let (lookback, lookback_from) = lookup.duration(&settings::LOOKBACK)?;
    let (delay, delay_from) = lookup.duration(&settings::DELAY)?;
    if lookback < Duration::from_secs(60) {
        return Err(lookback_from.error(format!(
            "{} is too short; it must be at least 1m, CloudFront's period",
            format_duration(lookback)
        )));
    }
    let reach = |len: Duration, len_from: &lookup::Given| -> Result<()> {
        match len.checked_add(delay).is_some_and(|r| r <= MAX_REACH) {
            true => Ok(()),
            false => Err(Error::config(format!(
                "{} ({}) plus {} ({}) reach back more than 24h, and Mackerel drops points older than that",
                len_from.from,
                format_duration(len),
                delay_from.from,
                format_duration(delay)
            ))),
        }
    };
    // Nor past what CloudWatch keeps at a job's period: that part would come back empty.
    let kept = |len: Duration, len_from: &lookup::Given| -> Result<()> {
        for (i, job) in jobs.iter().enumerate() {
            let (kept, said) = jobs::check::retention(job.period());
            if len.saturating_add(delay) > kept {
                return Err(Error::config(format!(
                    "{} ({}) plus {} ({}) reach back more than {said}, and CloudWatch keeps data at the {}s period of jobs[{}] ({:?}) only {said}; shorten it, or give that job a longer period",
                    len_from.from,
                    format_duration(len),
                    delay_from.from,
                    format_duration(delay),
                    job.period(),
                    i,
                    job.name()
                )));
            }
        }
        Ok(())
    };
    reach(lookback, &lookback_from)?;
    kept(lookback, &lookback_from)?;
    let backfill = match lookup.get(&settings::BACKFILL) {
        Some(_) => {
            let (backfill, from) = lookup.duration(&settings::BACKFILL)?;
            reach(backfill, &from)?;
            kept(backfill, &from)?;
            backfill
        }
        None => lookback,
    };
    let (interval, from) = lookup.duration(&settings::INTERVAL)?;
    if interval < Duration::from_secs(1) || interval > Duration::from_secs(3600) {
        return Err(from.error("must be between 1s and 1h"));
    }
    if command == Command::Daemon && lookback < interval {
        return Err(Error::config(format!(
            "{} ({}) is shorter than {} ({}): the minutes between two cycles would never be read; make the look-back at least the interval",
            lookback_from.from,
            format_duration(lookback),
            from.from,
            format_duration(interval)
        )));
    }
    let max_failures = {
        let g = lookup.or_default(&settings::MAX_FAILURES);
        g.value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| g.error(format!("{:?} is not a positive number", g.value)))?
    };
    let state_file = PathBuf::from(lookup.or_default(&settings::STATE_FILE).value);
    let (timeout, from) = lookup.duration(&settings::TIMEOUT)?;
    if timeout < Duration::from_secs(1) || timeout > Duration::from_secs(600) {
        return Err(from.error("must be between 1s and 10m"));
    }
    // By default a cycle ends before the next one is due: a tenth of the interval, at most 5s,
    // is left over.
    let cycle_timeout = match lookup.get(&settings::CYCLE_TIMEOUT) {
        Some(_) => {
            let (d, from) = lookup.duration(&settings::CYCLE_TIMEOUT)?;
            if d < Duration::from_secs(1) || d > MAX_REACH {
                return Err(from.error("must be between 1s and 24h"));
            }
            d
        }
        None => interval - (interval / 10).min(Duration::from_secs(5)),
    };
    let allow_http = {
        let g = lookup.or_default(&settings::ALLOW_HTTP);
        lookup::parse_bool(&g.value)
            .ok_or_else(|| g.error(format!("{:?} is not true or false", g.value)))?
    };
    let plain = |name: &str, url: &str| match allow_http || !plain_http_elsewhere(url) {
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
    plain(&lookup.or_default(&settings::APIBASE).from, &apibase)?;
    let proxy = proxy(lookup.env)?;

    let aws = aws::Settings::from_env(lookup.env)?;
    for (name, url) in aws.endpoints.configured() {
        plain(&name, url)?;
    }
    check_endpoints(&aws, &jobs, apikey_ssm.as_deref().filter(|_| needs_key))?;
    if command != Command::Check && matches!(aws.credentials, Source::Missing) {
        return Err(Error::config(aws::credentials::MISSING));
    }
    if let Some(name) = apikey_ssm.as_deref().filter(|_| needs_key)
        && aws::ssm::arn_region(name).is_none()
        && aws.region.is_none()
    {
        return Err(Error::config(
            "MACKEREL_APIKEY_SSM is a parameter name, so AWS_REGION must say which region holds it (or give the parameter's ARN)",
        ));
    }

    Ok(Config {
        dry_run,
        apikey,
        apikey_ssm,
        apibase,
        ca_bundle,
        jobs,
        discovery_ttl,
        lookback,
        delay,
        timeout,
        cycle_timeout,
        proxy,
        interval,
        max_failures,
        backfill,
        state_file,
        log_level,
        log_format,
        aws,
    })
}

/// Jobs from a config file; the job settings of the environment must then stay unset.
fn file_jobs(lookup: &Lookup, path: &str) -> Result<(Vec<Job>, Duration)> {
    let stray: Vec<String> = env_job::JOB_SETTINGS
        .iter()
        .filter_map(|s| lookup.get(s).map(|g| g.from))
        .collect();
    if !stray.is_empty() {
        return Err(Error::config(format!(
            "{} describe a job, and jobs come from {path} here; move them into the file or leave them unset",
            stray.join(", ")
        )));
    }
    let text = files::read_text(Path::new(path), CONFIG_LIMIT)
        .map_err(|e| Error::config(format!("reading {path}: {e}")))?;
    // Some editors begin UTF-8 with a byte order mark, which JSON does not allow.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let file = jobs::file::parse(text).map_err(|e| Error::config(format!("{path}: {e}")))?;
    Ok((file.jobs, file.discovery_ttl))
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
