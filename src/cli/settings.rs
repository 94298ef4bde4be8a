//! Every setting: its option, the environment variables it is read from, its default and
//! its help line. Code names a setting by its static (`settings::LOOKBACK`), so a typo does not
//! compile; `--help` is built from [`ALL`], so it cannot drift from what is parsed.

/// One setting: its option, the environment variables it is read from, and its help line.
#[derive(Debug)]
pub struct Setting {
    pub flag: &'static str,
    pub envs: &'static [&'static str],
    pub value: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub static CONFIG: Setting = Setting {
    flag: "config",
    envs: &["CW2MACKEREL_CONFIG"],
    value: "FILE",
    default: "",
    help: "read jobs (CloudFront or any CloudWatch namespace) from this JSON file instead of the job variables",
};

pub static APIKEY: Setting = Setting {
    flag: "apikey",
    envs: &["MACKEREL_APIKEY", "apikey"],
    value: "KEY",
    default: "",
    help: "Mackerel API key with write permission (prefer the variable or SSM: options show in ps)",
};

pub static APIKEY_SSM: Setting = Setting {
    flag: "apikey-ssm",
    envs: &["MACKEREL_APIKEY_SSM"],
    value: "NAME|ARN",
    default: "",
    help: "read the API key from this SSM parameter; a SecureString is decrypted",
};

pub static APIBASE: Setting = Setting {
    flag: "apibase",
    envs: &["MACKEREL_APIBASE"],
    value: "URL",
    default: "https://api.mackerelio.com",
    help: "Mackerel API base URL",
};

pub static CA_BUNDLE: Setting = Setting {
    flag: "ca-bundle",
    envs: &["CW2MACKEREL_CA_BUNDLE"],
    value: "FILE",
    default: "",
    help: "PEM file of CA certificates Mackerel's certificate may chain to, besides the built-in roots (for a TLS-inspecting proxy; AWS calls take AWS_CA_BUNDLE)",
};

pub static SERVICE: Setting = Setting {
    flag: "service",
    envs: &["CW2MACKEREL_SERVICE"],
    value: "NAME",
    default: "",
    help: "Mackerel service that receives the metrics (required to post in service mode)",
};

pub static MODE: Setting = Setting {
    flag: "mode",
    envs: &["CW2MACKEREL_MODE"],
    value: "MODE",
    default: "service",
    help: "service: service metrics; host: one Mackerel host per distribution, with host metrics",
};

pub static ROLES: Setting = Setting {
    flag: "roles",
    envs: &["CW2MACKEREL_ROLES"],
    value: "SERVICE:ROLE,...",
    default: "",
    help: "host mode: roles given to the hosts it creates",
};

pub static RETIRE_GONE: Setting = Setting {
    flag: "retire-gone",
    envs: &["CW2MACKEREL_RETIRE_GONE"],
    value: "BOOL",
    default: "false",
    help: "host mode: retire the host of a distribution that is gone from the selection",
};

pub static DISTRIBUTIONS: Setting = Setting {
    flag: "distributions",
    envs: &["CW2MACKEREL_DISTRIBUTIONS"],
    value: "ID,...",
    default: "",
    help: "read only these distributions (one not in the account is warned about and not read; in service mode the CloudFront permission is optional)",
};

pub static TAG: Setting = Setting {
    flag: "tag",
    envs: &["CW2MACKEREL_TAG"],
    value: "KEY=VALUE,...",
    default: "",
    help: "read only distributions that carry all these tags (the option may be repeated)",
};

pub static METRICS: Setting = Setting {
    flag: "metrics",
    envs: &["CW2MACKEREL_METRICS"],
    value: "SET",
    default: "default",
    help: "default, all, or groups: requests,transfer,error_rate,status_error_rate,cache_hit_rate,origin_latency",
};

pub static LABEL: Setting = Setting {
    flag: "label",
    envs: &["CW2MACKEREL_LABEL"],
    value: "KIND",
    default: "id",
    help: "what names a distribution in metric names: id, alias, comment or tag:KEY",
};

pub static NAMES: Setting = Setting {
    flag: "names",
    envs: &["CW2MACKEREL_NAMES"],
    value: "NAMING",
    default: "cw2mackerel",
    help: "cw2mackerel, or plugin: mackerel-plugin-aws-cloudfront's five metric names and three graphs",
};

pub static METRIC_KEY_PREFIX: Setting = Setting {
    flag: "metric-key-prefix",
    envs: &["CW2MACKEREL_METRIC_KEY_PREFIX"],
    value: "TEMPLATE",
    default: crate::jobs::cloudfront::DEFAULT_PREFIX,
    help: "first part of host metric names (after custom.), and of service metric names with plugin names, as the plugin's -metric-key-prefix; {id} is the distribution ID, {label} its label",
};

pub static HOST_ID: Setting = Setting {
    flag: "host-id",
    envs: &["CW2MACKEREL_HOST_ID"],
    value: "ID",
    default: "",
    help: "host mode: post every distribution's metrics to this existing host, which is never created, changed or retired",
};

pub static LOOKBACK: Setting = Setting {
    flag: "lookback",
    envs: &["CW2MACKEREL_LOOKBACK"],
    value: "DURATION",
    default: "10m",
    help: "length of the window every run re-reads (posting only what Mackerel lacks of it)",
};

pub static DELAY: Setting = Setting {
    flag: "delay",
    envs: &["CW2MACKEREL_DELAY"],
    value: "DURATION",
    default: "3m",
    help: "newest time held back because CloudWatch may still revise it",
};

pub static TIMEOUT: Setting = Setting {
    flag: "timeout",
    envs: &["CW2MACKEREL_TIMEOUT"],
    value: "DURATION",
    default: "30s",
    help: "limit for each HTTP request",
};

pub static CYCLE_TIMEOUT: Setting = Setting {
    flag: "cycle-timeout",
    envs: &["CW2MACKEREL_CYCLE_TIMEOUT"],
    value: "DURATION",
    default: "",
    help: "limit for a whole cycle, retries and waits included (default: the interval less a tenth of it, at most 5s less; a Lambda invocation also ends 2s before its deadline)",
};

pub static ALLOW_HTTP: Setting = Setting {
    flag: "allow-http",
    envs: &["CW2MACKEREL_ALLOW_HTTP"],
    value: "BOOL",
    default: "false",
    help: "allow a plain-http MACKEREL_APIBASE or AWS_ENDPOINT_URL* to a host other than this machine (the key or signatures then travel in clear)",
};

pub static INTERVAL: Setting = Setting {
    flag: "interval",
    envs: &["CW2MACKEREL_INTERVAL"],
    value: "DURATION",
    default: "60s",
    help: "daemon: time between cycles, aligned to the clock",
};

pub static BACKFILL: Setting = Setting {
    flag: "backfill",
    envs: &["CW2MACKEREL_BACKFILL"],
    value: "DURATION",
    default: "",
    help: "daemon and Lambda: how far back the first cycle reads (default: the lookback; at most 24h minus the delay)",
};

pub static MAX_FAILURES: Setting = Setting {
    flag: "max-failures",
    envs: &["CW2MACKEREL_MAX_FAILURES"],
    value: "N",
    default: "10",
    help: "daemon: consecutive failed cycles before it exits 1 to be replaced",
};

pub static STATE_FILE: Setting = Setting {
    flag: "state-file",
    envs: &["CW2MACKEREL_STATE_FILE"],
    value: "PATH",
    default: "/tmp/cw2mackerel.state",
    help: "daemon and run: file recording the last completed cycle (read by healthcheck) and, for run, what Mackerel accepted",
};

pub static LOG: Setting = Setting {
    flag: "log",
    envs: &["CW2MACKEREL_LOG"],
    value: "LEVEL",
    default: "info",
    help: "error, warn, info or debug",
};

pub static LOG_FORMAT: Setting = Setting {
    flag: "log-format",
    envs: &["CW2MACKEREL_LOG_FORMAT"],
    value: "FORMAT",
    default: "text",
    help: "text or json",
};

/// Every setting, in the order `--help` shows them.
pub static ALL: &[&Setting] = &[
    &CONFIG,
    &APIKEY,
    &APIKEY_SSM,
    &APIBASE,
    &CA_BUNDLE,
    &SERVICE,
    &MODE,
    &ROLES,
    &RETIRE_GONE,
    &DISTRIBUTIONS,
    &TAG,
    &METRICS,
    &LABEL,
    &NAMES,
    &METRIC_KEY_PREFIX,
    &HOST_ID,
    &LOOKBACK,
    &DELAY,
    &TIMEOUT,
    &CYCLE_TIMEOUT,
    &INTERVAL,
    &BACKFILL,
    &MAX_FAILURES,
    &STATE_FILE,
    &LOG,
    &LOG_FORMAT,
    &ALLOW_HTTP,
];

/// The setting of `--flag`.
pub fn find(flag: &str) -> Option<&'static Setting> {
    ALL.iter().copied().find(|s| s.flag == flag)
}

/// The `--help` text, built from [`ALL`] so that it cannot drift from what is parsed.
pub fn help() -> String {
    let mut out = format!(
        "cw2mackerel {} - posts Amazon CloudWatch metrics (CloudFront, or any namespace with --config) to Mackerel

Usage: cw2mackerel <command> [options]

Commands:
  run             read CloudWatch once, post to Mackerel and exit
                  (exit 0: all posted; 1: AWS or Mackerel failed; 2: bad configuration)
  run --dry-run   print as JSON lines the datapoints a run would post now, leaving out what
                  the state file records as posted (reads it, writes nothing; no API key
                  needed); with --full-window, every datapoint of the window
  list            print what a run would read: distributions, metrics, hosts
  daemon          a cycle every interval until SIGTERM, SIGINT or SIGHUP (exit 0), or until
                  CW2MACKEREL_MAX_FAILURES cycles in a row failed (exit 1)
  healthcheck     exit 0 if the daemon completed a cycle within 3 intervals, else 1
  check           check the configuration as run would (and as daemon would, when
                  CW2MACKEREL_INTERVAL is set), with no network call, no AWS credentials
                  and no API key needed (their absence is noted); every mistake is named,
                  one a line: 0 good, 2 not
  (no command)    with AWS_LAMBDA_RUNTIME_API set: serve the Lambda runtime API

Options (each has an environment variable; the option wins):
",
        env!("CARGO_PKG_VERSION")
    );
    for s in ALL {
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
EC2 instance metadata; AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> redirect endpoints;
AWS_USE_FIPS_ENDPOINT=true and AWS_USE_DUALSTACK_ENDPOINT=true pick the FIPS and dual-stack
(IPv6) endpoints; AWS_CA_BUNDLE adds a PEM file's CA certificates to the roots AWS calls trust.
AWS calls retry as the SDKs' standard mode: AWS_MAX_ATTEMPTS (or the profile's max_attempts)
attempts, 3 by default.
HTTPS_PROXY (with NO_PROXY) sends AWS and Mackerel requests through a proxy.
";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_names_the_aws_variables_for_fips_dual_stack_and_ca_bundles() {
        let h = help();
        for v in [
            "AWS_USE_FIPS_ENDPOINT",
            "AWS_USE_DUALSTACK_ENDPOINT",
            "AWS_CA_BUNDLE",
            "CW2MACKEREL_CA_BUNDLE",
        ] {
            assert!(h.contains(v), "{v}");
        }
    }

    #[test]
    fn help_lists_every_setting() {
        let h = help();
        for s in ALL {
            assert!(h.contains(&format!("--{}", s.flag)));
            for e in s.envs {
                assert!(h.contains(e));
            }
        }
    }
}
