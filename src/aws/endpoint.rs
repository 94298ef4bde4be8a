//! Where each AWS service is: the default endpoint of a region (FIPS and dual-stack included,
//! by the services' endpoint rule sets), and the SDKs' `AWS_ENDPOINT_URL` /
//! `AWS_ENDPOINT_URL_<SERVICE>` overrides, checked before the first call.

use super::profile::{Selected, sub_properties};
use crate::error::{Error, Result};
use crate::fault::Invalid;
use crate::url::check_url;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    CloudWatch,
    CloudFront,
    Ssm,
    Sts,
    Tagging,
}

impl Service {
    const ALL: [Service; 5] = [
        Service::CloudWatch,
        Service::CloudFront,
        Service::Ssm,
        Service::Sts,
        Service::Tagging,
    ];

    /// The service's name in call counts.
    pub fn name(self) -> &'static str {
        match self {
            Service::CloudWatch => "cloudwatch",
            Service::CloudFront => "cloudfront",
            Service::Ssm => "ssm",
            Service::Sts => "sts",
            Service::Tagging => "tagging",
        }
    }

    /// `AWS_ENDPOINT_URL_<this>`: the SDKs' service id, upper-cased, spaces as underscores.
    fn env_suffix(self) -> &'static str {
        match self {
            Service::CloudWatch => "CLOUDWATCH",
            Service::CloudFront => "CLOUDFRONT",
            Service::Ssm => "SSM",
            Service::Sts => "STS",
            Service::Tagging => "RESOURCE_GROUPS_TAGGING_API",
        }
    }

    pub fn signing_name(self) -> &'static str {
        match self {
            Service::CloudWatch => "monitoring",
            other => other.name(),
        }
    }

    /// The region requests are signed for. CloudFront is global in its partition: it signs for
    /// the partition's global region (CloudFront's endpoint rule set, `authSchemes`).
    pub fn signing_region(self, region: &str) -> &str {
        match self {
            Service::CloudFront => Partition::of_region(region).global_region(),
            _ => region,
        }
    }

    /// How messages name the service.
    fn title(self) -> &'static str {
        match self {
            Service::CloudWatch => "CloudWatch",
            Service::CloudFront => "CloudFront",
            Service::Ssm => "SSM",
            Service::Sts => "STS",
            Service::Tagging => "the Resource Groups Tagging API",
        }
    }

    /// The endpoint of the service in `region`, as botocore 1.44.8's endpoint rule set of each
    /// service gives it (`data/<service>/<version>/endpoint-rule-set-1.json`): mostly
    /// `https://{service}[-fips].{region}.{amazonaws.com | api.aws}` (China:
    /// `amazonaws.com.cn`, `api.amazonwebservices.com.cn`), with the exceptions below. Each
    /// of the three partitions has every variant; a region of another partition (the ISO
    /// and EU sovereign ones) has no endpoint here at all: it must be given.
    fn default_endpoint(self, region: &str, variant: &Variant) -> Result<String> {
        if let Some(other) = foreign_partition(region) {
            return Err(Error::config(format!(
                "{} in {region}: {region} is in the {other} partition, whose endpoints cw2mackerel does not know (it knows aws, aws-cn and aws-us-gov); set AWS_ENDPOINT_URL_{} (or AWS_ENDPOINT_URL) to the endpoint{}",
                self.title(),
                self.env_suffix(),
                variant.named()
            )));
        }
        let partition = Partition::of_region(region);
        let (fips, dual) = (variant.fips.is_some(), variant.dual_stack.is_some());
        let suffix = match dual {
            true => partition.dual_stack_suffix(),
            false => partition.dns_suffix(),
        };
        let dash_fips = if fips { "-fips" } else { "" };
        let gov = partition == Partition::GovCloud;
        Ok(match self {
            // Global in its partition: no region in the name, but special names in two.
            Service::CloudFront => match (partition, dual) {
                (Partition::Aws, true) => format!("https://cloudfront{dash_fips}.global.api.aws"),
                (Partition::China, false) => {
                    format!("https://cloudfront{dash_fips}.cn-northwest-1.{suffix}")
                }
                _ => format!("https://cloudfront{dash_fips}.{suffix}"),
            },
            // GovCloud's regional endpoints are FIPS endpoints already: no `-fips` name.
            Service::CloudWatch if gov => format!("https://monitoring.{region}.{suffix}"),
            Service::Ssm | Service::Sts if gov && fips && !dual => {
                format!("https://{}.{region}.amazonaws.com", self.name())
            }
            _ => format!(
                "https://{}{dash_fips}.{region}.{suffix}",
                self.signing_name()
            ),
        })
    }
}

/// An AWS partition, told by region (botocore's `partitions.json` region patterns) or ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    Aws,
    China,
    GovCloud,
}

impl Partition {
    /// `^cn-\w+-\d+$` is `aws-cn`, `^us-gov-\w+-\d+$` is `aws-us-gov`; anything else `aws`.
    pub fn of_region(region: &str) -> Partition {
        match region {
            r if r.starts_with("cn-") => Partition::China,
            r if r.starts_with("us-gov-") => Partition::GovCloud,
            _ => Partition::Aws,
        }
    }

    /// The partition of `arn:PARTITION:…`; `aws` for anything else.
    pub fn of_arn(arn: &str) -> Partition {
        match arn.split(':').nth(1) {
            Some("aws-cn") => Partition::China,
            Some("aws-us-gov") => Partition::GovCloud,
            _ => Partition::Aws,
        }
    }

    fn dns_suffix(self) -> &'static str {
        match self {
            Partition::China => "amazonaws.com.cn",
            Partition::Aws | Partition::GovCloud => "amazonaws.com",
        }
    }

    /// `dualStackDnsSuffix` in botocore's `partitions.json`.
    fn dual_stack_suffix(self) -> &'static str {
        match self {
            Partition::China => "api.amazonwebservices.com.cn",
            Partition::Aws | Partition::GovCloud => "api.aws",
        }
    }

    /// The partition's `implicitGlobalRegion`: where its global services (CloudFront, the
    /// global STS) live, and CloudFront's metrics with them.
    pub fn global_region(self) -> &'static str {
        match self {
            Partition::Aws => "us-east-1",
            Partition::China => "cn-northwest-1",
            Partition::GovCloud => "us-gov-west-1",
        }
    }
}

/// The partition of a region that matches one of the other partitions' patterns in
/// botocore's `partitions.json` (`aws-iso`, `aws-iso-b`, `aws-iso-e`, `aws-iso-f`,
/// `aws-eusc`), whose endpoints cw2mackerel does not know.
fn foreign_partition(region: &str) -> Option<&'static str> {
    let parts: Vec<&str> = region.split('-').collect();
    let [first, second, _, last] = parts[..] else {
        return None;
    };
    if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match (first, second) {
        ("us", "iso") => Some("aws-iso"),
        ("us", "isob") => Some("aws-iso-b"),
        ("eu", "isoe") => Some("aws-iso-e"),
        ("us", "isof") => Some("aws-iso-f"),
        ("eusc", "de") => Some("aws-eusc"),
        _ => None,
    }
}

/// The endpoint variant `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT` (or the
/// profile's `use_fips_endpoint` and `use_dualstack_endpoint`) ask for. Each flag that is on
/// keeps the setting that turned it on, for messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    pub fips: Option<String>,
    pub dual_stack: Option<String>,
}

impl Variant {
    /// Reads the two flags: the variable, else the profile's key. `profile` gives a profile
    /// setting's value and what to call it in a message. Only `true` and `false` (in any
    /// case) are values: botocore takes anything else for false, which would quietly leave a
    /// FIPS account on its standard endpoints.
    pub fn read(
        var: &dyn Fn(&str) -> Option<String>,
        profile: &dyn Fn(&str) -> Option<(String, String)>,
    ) -> Result<Variant> {
        let flag = |name: &str, key: &str| -> Result<Option<String>> {
            let Some((value, from)) = var(name)
                .map(|v| (v, name.to_string()))
                .or_else(|| profile(key))
            else {
                return Ok(None);
            };
            match value.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(from)),
                "false" => Ok(None),
                _ => Err(Error::config(format!(
                    "{from}: {value:?} is not true or false"
                ))),
            }
        };
        Ok(Variant {
            fips: flag("AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint")?,
            dual_stack: flag("AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint")?,
        })
    }

    /// ` (with AWS_USE_FIPS_ENDPOINT=true)`, or nothing when no variant is on.
    fn named(&self) -> String {
        let on: Vec<&str> = [&self.fips, &self.dual_stack]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        match on.is_empty() {
            true => String::new(),
            false => format!(" (with {} true)", on.join(" and ")),
        }
    }
}

/// Configured endpoint URLs, in botocore's order (`ConfiguredEndpointProvider`):
/// `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, then the shared config file's
/// `[services NAME]` entry for the service and the profile's own `endpoint_url`.
#[derive(Debug, Default)]
pub struct Endpoints {
    /// Highest precedence first: the service it applies to (`None`: every service), where it
    /// was set, the URL.
    entries: Vec<(Option<Service>, String, String)>,
    /// The variant of the default endpoints (FIPS, dual-stack).
    variant: Variant,
}

impl Endpoints {
    /// The environment's endpoints alone.
    #[cfg(test)]
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Endpoints> {
        Endpoints::resolve(var, None)
    }

    /// The environment's endpoints, then the selected profile's; none of them if
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (or else the profile's
    /// `ignore_configured_endpoint_urls`) is true.
    pub fn resolve(
        var: &dyn Fn(&str) -> Option<String>,
        profile: Option<&Selected>,
    ) -> Result<Endpoints> {
        let ignore = var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .or_else(|| {
                profile?
                    .setting("ignore_configured_endpoint_urls")
                    .map(|(v, _)| v)
            })
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let mut entries = Vec::new();
        if ignore {
            return Ok(Endpoints {
                entries,
                variant: Variant::default(),
            });
        }
        for s in Service::ALL {
            let name = format!("AWS_ENDPOINT_URL_{}", s.env_suffix());
            if let Some(url) = var(&name) {
                entries.push((Some(s), name, url));
            }
        }
        if let Some(url) = var("AWS_ENDPOINT_URL") {
            entries.push((None, "AWS_ENDPOINT_URL".into(), url));
        }
        if let Some(p) = profile {
            entries.extend(profile_entries(p)?);
        }
        for (_, from, url) in &mut entries {
            check_url(url).map_err(|e| Error::config(format!("{from}: {e}")))?;
            *url = url.trim_end_matches('/').to_string();
        }
        Ok(Endpoints {
            entries,
            variant: Variant::default(),
        })
    }

    /// The default endpoints become `variant`'s (FIPS, dual-stack). An endpoint URL that is
    /// set still wins over them, as in botocore, which then leaves both flags off.
    pub fn with_variant(self, variant: Variant) -> Endpoints {
        Endpoints { variant, ..self }
    }

    /// Every endpoint configured, with where it was set.
    pub fn configured(&self) -> Vec<(String, &str)> {
        self.entries
            .iter()
            .map(|(_, from, url)| (from.clone(), url.as_str()))
            .collect()
    }

    /// The base URL (no trailing slash) for `service` in `region`; an error if the region
    /// has no default endpoint cw2mackerel knows and none is set (the configuration checks
    /// every region it names before the first call, so a run never meets it).
    pub fn url(&self, service: Service, region: &str) -> Result<String> {
        match self
            .entries
            .iter()
            .find(|(s, _, _)| s.is_none_or(|s| s == service))
        {
            Some((_, _, url)) => Ok(url.clone()),
            None => service.default_endpoint(region, &self.variant),
        }
    }
}

/// A profile's endpoints: `services = NAME` names a `[services NAME]` section, whose entry
/// for a service (its botocore service ID in snake case) holds an indented `endpoint_url`;
/// then the profile's own `endpoint_url`, for every service.
fn profile_entries(p: &Selected) -> Result<Vec<(Option<Service>, String, String)>> {
    let mut out = Vec::new();
    if let Some((name, section)) = &p.services {
        let fail = |what: String| Error::config(format!("profile {:?}: {what}", p.name));
        let section = section.as_ref().ok_or_else(|| {
            fail(format!(
                "services = {name}, but the config file has no [services {name}] section"
            ))
        })?;
        for s in Service::ALL {
            let key = s.env_suffix().to_ascii_lowercase();
            let Some(value) = section.get(&key) else {
                continue;
            };
            let sub = sub_properties(value).ok_or_else(|| {
                fail(format!(
                    "[services {name}] {key} must be `{key} =` with indented `endpoint_url = …` lines under it"
                ))
            })?;
            let Some(url) = sub.get("endpoint_url").cloned() else {
                continue;
            };
            let from = format!("AWS config [services {name}] {key} endpoint_url");
            out.push((Some(s), from, url));
        }
    }
    if let Some((url, _)) = p.setting("endpoint_url") {
        out.push((
            None,
            format!("AWS config profile {:?} endpoint_url", p.name),
            url,
        ));
    }
    Ok(out)
}

/// AWS region names: lower-case words and digits joined by dashes, at least three parts
/// (`eu-west-1`, `us-gov-west-1`). A region goes into host names, so nothing else may pass.
pub fn check_region(r: &str) -> Result<(), Invalid> {
    let ok = r.split('-').count() >= 3
        && r.split('-').all(|p| !p.is_empty())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match ok {
        true => Ok(()),
        false => Err(Invalid::new(format!(
            "{r:?} is not an AWS region like eu-west-1"
        ))),
    }
}

#[cfg(test)]
mod rule_tests;

#[cfg(test)]
mod tests;
