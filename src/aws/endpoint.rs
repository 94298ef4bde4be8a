//! Where each AWS service is: the default endpoint of a region, and the SDKs'
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` overrides, checked before the first call.

use crate::error::{Error, Result};
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

    /// The endpoint of the service in `region`, by the SDKs' endpoint rules:
    /// `https://{service}.{region}.{dnsSuffix}`, and for CloudFront
    /// `https://cloudfront.amazonaws.com` in `aws` (and `aws-us-gov`) but
    /// `https://cloudfront.cn-northwest-1.amazonaws.com.cn` in `aws-cn`.
    fn default_endpoint(self, region: &str) -> String {
        let partition = Partition::of_region(region);
        let suffix = partition.dns_suffix();
        match self {
            Service::CloudWatch => format!("https://monitoring.{region}.{suffix}"),
            Service::CloudFront if partition == Partition::China => {
                format!("https://cloudfront.{}.{suffix}", partition.global_region())
            }
            Service::CloudFront => "https://cloudfront.amazonaws.com".into(),
            Service::Ssm => format!("https://ssm.{region}.{suffix}"),
            Service::Sts => format!("https://sts.{region}.{suffix}"),
            Service::Tagging => format!("https://tagging.{region}.{suffix}"),
        }
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

/// The endpoint overrides of the environment.
#[derive(Debug, Default)]
pub struct Endpoints {
    services: Vec<(Service, String)>,
    global: Option<String>,
}

impl Endpoints {
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Endpoints> {
        let ignore = var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let endpoint = |name: &str| -> Result<Option<String>> {
            match var(name).filter(|_| !ignore) {
                Some(url) => {
                    check_url(&url).map_err(|e| Error::config(format!("{name}: {e}")))?;
                    Ok(Some(url.trim_end_matches('/').to_string()))
                }
                None => Ok(None),
            }
        };
        let mut services = Vec::new();
        for s in Service::ALL {
            if let Some(url) = endpoint(&format!("AWS_ENDPOINT_URL_{}", s.env_suffix()))? {
                services.push((s, url));
            }
        }
        Ok(Endpoints {
            services,
            global: endpoint("AWS_ENDPOINT_URL")?,
        })
    }

    /// Every endpoint the environment sets, with the variable that set it.
    pub fn configured(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = self
            .services
            .iter()
            .map(|(s, u)| (format!("AWS_ENDPOINT_URL_{}", s.env_suffix()), u.as_str()))
            .collect();
        out.extend(
            self.global
                .as_deref()
                .map(|u| ("AWS_ENDPOINT_URL".into(), u)),
        );
        out
    }

    /// The base URL (no trailing slash) for `service` in `region`.
    pub fn url(&self, service: Service, region: &str) -> String {
        self.services
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, u)| u.clone())
            .or_else(|| self.global.clone())
            .unwrap_or_else(|| service.default_endpoint(region))
    }
}

/// AWS region names: lower-case words and digits joined by dashes, at least three parts
/// (`eu-west-1`, `us-gov-west-1`). A region goes into host names, so nothing else may pass.
pub fn check_region(r: &str) -> Result<(), String> {
    let ok = r.split('-').count() >= 3
        && r.split('-').all(|p| !p.is_empty())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match ok {
        true => Ok(()),
        false => Err(format!("{r:?} is not an AWS region like eu-west-1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn endpoints(vars: &[(&str, &str)]) -> Result<Endpoints> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Endpoints::from_env(&move |k| map.get(k).cloned())
    }

    /// botocore 1.44.8, `cloudfront/2020-05-31/endpoint-rule-set-1.json` and
    /// `sts/2011-06-15/endpoint-rule-set-1.json`, evaluated for these regions.
    #[test]
    fn endpoints_and_signing_regions_per_partition() {
        let e = Endpoints::default();
        for (region, url, signing) in [
            ("us-east-1", "https://cloudfront.amazonaws.com", "us-east-1"),
            (
                "cn-northwest-1",
                "https://cloudfront.cn-northwest-1.amazonaws.com.cn",
                "cn-northwest-1",
            ),
            (
                "us-gov-west-1",
                "https://cloudfront.amazonaws.com",
                "us-gov-west-1",
            ),
        ] {
            assert_eq!(e.url(Service::CloudFront, region), url);
            assert_eq!(Service::CloudFront.signing_region(region), signing);
        }
        assert_eq!(
            Partition::of_region("cn-north-1").global_region(),
            "cn-northwest-1"
        );
        assert_eq!(
            e.url(Service::Sts, "cn-northwest-1"),
            "https://sts.cn-northwest-1.amazonaws.com.cn"
        );
        assert_eq!(
            e.url(Service::Sts, "us-gov-west-1"),
            "https://sts.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            Partition::of_arn("arn:aws-cn:iam::1:role/r"),
            Partition::China
        );
        assert_eq!(Partition::of_arn("arn:aws:iam::1:role/r"), Partition::Aws);
    }

    #[test]
    fn endpoints_follow_the_sdk_variables() {
        let e = endpoints(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/"),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:6000"),
        ])
        .unwrap();
        assert_eq!(
            e.url(Service::CloudWatch, "us-east-1"),
            "http://127.0.0.1:6000"
        );
        assert_eq!(e.url(Service::Ssm, "us-east-1"), "http://127.0.0.1:5000");
        let e = endpoints(&[]).unwrap();
        assert_eq!(
            e.url(Service::CloudWatch, "us-east-1"),
            "https://monitoring.us-east-1.amazonaws.com"
        );
        assert_eq!(
            e.url(Service::Sts, "cn-north-1"),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            e.url(Service::CloudFront, "us-east-1"),
            "https://cloudfront.amazonaws.com"
        );
        let e = endpoints(&[
            ("AWS_ENDPOINT_URL", "http://x:1"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ])
        .unwrap();
        assert_eq!(
            e.url(Service::Ssm, "us-east-1"),
            "https://ssm.us-east-1.amazonaws.com"
        );
        let err = endpoints(&[("AWS_ENDPOINT_URL_SSM", "localhost:5000")]).unwrap_err();
        assert!(
            matches!(err, Error::Config(ref m) if m.starts_with("AWS_ENDPOINT_URL_SSM")),
            "{err}"
        );
    }
}
