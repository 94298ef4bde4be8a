//! Where requests may go, checked before any is made: plain http only to this machine unless
//! `CW2MACKEREL_ALLOW_HTTP` says otherwise, the proxy, and the AWS settings with an endpoint
//! for every service the configuration calls, in every region it calls it in.

use super::lookup::{self, Given, Lookup};
use super::settings;
use crate::aws::{self, credentials::Source};
use crate::config::SsmRegion;
use crate::error::{Error, Mistakes, Result};
use crate::jobs::Job;
use crate::{transport, url};
use std::time::Duration;

/// `CW2MACKEREL_ALLOW_HTTP`: whether plain http may go to other machines; `None` when it
/// cannot be read, and then the checks of plain-http URLs wait for a readable one.
pub struct PlainHttp(Option<bool>);

impl PlainHttp {
    pub fn read(lookup: &Lookup, m: &mut Mistakes) -> PlainHttp {
        PlainHttp(m.take({
            let g = lookup.or_default(&settings::ALLOW_HTTP);
            lookup::parse_bool(&g.value)
                .ok_or_else(|| g.error(format!("{:?} is not true or false", g.value)))
        }))
    }

    /// Whether `url`, given as `name`, may be used.
    pub fn check(&self, name: &str, url: &str) -> Result<()> {
        match self.0 != Some(false) || !plain_http_elsewhere(url) {
            true => Ok(()),
            false => Err(Error::config(format!(
                "{name}: {:?} is plain http to another machine, which would carry the {} in clear; use https, or set CW2MACKEREL_ALLOW_HTTP=true if the network is yours",
                url::shown(url),
                match name.starts_with("AWS") {
                    true => "request signatures",
                    false => "API key",
                }
            ))),
        }
    }
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
pub fn proxy(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<transport::Proxy>> {
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

/// The AWS settings, read as one (of their own mistakes, the first is named), then checked
/// against what the configuration calls: `jobs`, and `ssm`, the key's parameter when it is
/// read (or checked as it would be). `credentials`: the command needs some found here.
pub fn aws(
    env: &dyn Fn(&str) -> Option<String>,
    plain: &PlainHttp,
    jobs: &[Job],
    ssm: Option<&Given>,
    credentials: bool,
    m: &mut Mistakes,
) -> Option<aws::Settings> {
    let aws = m.take(aws::Settings::from_env(env))?;
    for (name, url) in aws.endpoints.configured() {
        m.take(plain.check(&name, url));
    }
    let parameter = ssm.map(|g| g.value.trim());
    m.take(check_endpoints(&aws, jobs, parameter));
    if credentials && matches!(aws.credentials, Source::Missing) {
        m.push(Error::config(aws::credentials::MISSING));
    }
    if let Some(g) = ssm
        // An ARN names its region; one that does not was named with the key.
        && !g.value.trim().starts_with("arn:")
        && aws.region.is_none()
    {
        m.push(Error::config(format!(
            "{} is a parameter name, so AWS_REGION (or AWS_DEFAULT_REGION, or the profile's region) must say which region holds it; or give the parameter's ARN",
            g.from
        )));
    }
    Some(aws)
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
    let ssm = apikey_ssm.and_then(|name| SsmRegion::of(name, aws));
    if let Some(region) = &ssm {
        uses.push((Service::Ssm, &region.name));
    }
    // STS is asked in the configured region, else in the global region of the role's
    // partition, which always has an endpoint.
    if let Some(region) = aws.region.as_deref().filter(|_| assumes) {
        uses.push((Service::Sts, region));
    }
    aws.check_endpoints(&uses)
}
