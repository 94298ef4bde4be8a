//! The CloudFront catalogue: the metric groups of Mackerel's AWS integration, the CloudWatch
//! metric and statistic behind each Mackerel name, the labels that can name a distribution,
//! and the host graphs. Plain data the job model checks against and the preset reads.

/// CloudFront's metrics, all in one region: the global region of the partition (us-east-1,
/// or cn-northwest-1 in China), which the preset is told.
pub const NAMESPACE: &str = "AWS/CloudFront";
pub const PERIOD: u32 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Requests,
    Transfer,
    ErrorRate,
    /// 401/403/404/502/503/504 error rates: additional (paid) metrics.
    StatusErrorRate,
    /// Additional metric.
    CacheHitRate,
    /// Additional metric.
    OriginLatency,
}

impl Group {
    /// The metrics every distribution has at no extra cost.
    pub const DEFAULT: [Group; 3] = [Group::Requests, Group::Transfer, Group::ErrorRate];
    pub const ALL: [Group; 6] = [
        Group::Requests,
        Group::Transfer,
        Group::ErrorRate,
        Group::StatusErrorRate,
        Group::CacheHitRate,
        Group::OriginLatency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Requests => "requests",
            Group::Transfer => "transfer",
            Group::ErrorRate => "error_rate",
            Group::StatusErrorRate => "status_error_rate",
            Group::CacheHitRate => "cache_hit_rate",
            Group::OriginLatency => "origin_latency",
        }
    }

    /// `default`, `all`, or a comma list of group names (which may include `default`).
    pub fn parse_list(list: &str) -> Result<Vec<Group>, String> {
        let mut wanted = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "default" => wanted.extend(Group::DEFAULT),
                "all" => wanted.extend(Group::ALL),
                w => match Group::ALL.into_iter().find(|g| g.name() == w) {
                    Some(g) => wanted.push(g),
                    None => {
                        let names: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
                        return Err(format!(
                            "unknown metric group {w:?}; use default, all, or some of {}",
                            names.join(", ")
                        ));
                    }
                },
            }
        }
        if wanted.is_empty() {
            return Err("no metric group given".into());
        }
        // Catalogue order, each once: the output does not depend on how the list was written.
        Ok(Group::ALL
            .into_iter()
            .filter(|g| wanted.contains(g))
            .collect())
    }
}

/// One CloudWatch metric and the Mackerel name it is posted as, after `cloudfront.<label>.`
/// (service mode) or `custom.cloudfront.` (host mode); `display` names it in host graphs.
pub struct Metric {
    pub group: Group,
    pub cloudwatch: &'static str,
    pub stat: &'static str,
    pub name: &'static str,
    pub display: &'static str,
}

impl Metric {
    /// Sums are zero when nothing happened; averages of nothing are not zero, they are absent.
    pub fn fill_zero(&self) -> bool {
        self.stat == "Sum"
    }
}

const fn metric(
    group: Group,
    cloudwatch: &'static str,
    stat: &'static str,
    name: &'static str,
    display: &'static str,
) -> Metric {
    Metric {
        group,
        cloudwatch,
        stat,
        name,
        display,
    }
}

#[rustfmt::skip]
pub const METRICS: &[Metric] = &[
    metric(Group::Requests, "Requests", "Sum", "requests.request", "Requests"),
    metric(Group::Transfer, "BytesDownloaded", "Sum", "transfer.download", "Download"),
    metric(Group::Transfer, "BytesUploaded", "Sum", "transfer.upload", "Upload"),
    metric(Group::ErrorRate, "TotalErrorRate", "Average", "error_rate.total_error_rate", "Total"),
    metric(Group::ErrorRate, "4xxErrorRate", "Average", "error_rate.4xx_error_rate", "4xx"),
    metric(Group::ErrorRate, "5xxErrorRate", "Average", "error_rate.5xx_error_rate", "5xx"),
    metric(Group::StatusErrorRate, "401ErrorRate", "Average", "error_rate.401_error_rate", "401"),
    metric(Group::StatusErrorRate, "403ErrorRate", "Average", "error_rate.403_error_rate", "403"),
    metric(Group::StatusErrorRate, "404ErrorRate", "Average", "error_rate.404_error_rate", "404"),
    metric(Group::StatusErrorRate, "502ErrorRate", "Average", "error_rate.502_error_rate", "502"),
    metric(Group::StatusErrorRate, "503ErrorRate", "Average", "error_rate.503_error_rate", "503"),
    metric(Group::StatusErrorRate, "504ErrorRate", "Average", "error_rate.504_error_rate", "504"),
    metric(Group::CacheHitRate, "CacheHitRate", "Average", "cache_hit_rate.hit", "Hit"),
    // The CloudFront developer guide lists Percentile as OriginLatency's one valid statistic.
    metric(Group::OriginLatency, "OriginLatency", "p50", "origin_latency.p50", "p50"),
    metric(Group::OriginLatency, "OriginLatency", "p90", "origin_latency.p90", "p90"),
    metric(Group::OriginLatency, "OriginLatency", "p99", "origin_latency.p99", "p99"),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Label {
    Id,
    /// The first alternate domain name (CNAME).
    Alias,
    Comment,
    Tag(String),
}

impl Label {
    pub fn parse(s: &str) -> Result<Label, String> {
        match s.trim() {
            "id" => Ok(Label::Id),
            "alias" => Ok(Label::Alias),
            "comment" => Ok(Label::Comment),
            t => match t.strip_prefix("tag:") {
                Some(key) if !key.is_empty() => Ok(Label::Tag(key.to_string())),
                _ => Err(format!(
                    "{t:?} is not a label; use id, alias, comment or tag:KEY"
                )),
            },
        }
    }

    /// Whether this label needs the distributions' tags (one ListTagsForResource each).
    pub fn needs_tags(&self) -> bool {
        matches!(self, Label::Tag(_))
    }
}

/// Host graph definitions, one per metric-name prefix: (prefix, display name, Mackerel unit).
pub const GRAPHS: [(&str, &str, &str); 5] = [
    ("requests", "CloudFront Requests", "integer"),
    ("transfer", "CloudFront Transfer", "bytes"),
    ("error_rate", "CloudFront Error Rate", "percentage"),
    ("cache_hit_rate", "CloudFront Cache Hit Rate", "percentage"),
    (
        "origin_latency",
        "CloudFront Origin Latency",
        "milliseconds",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        assert_eq!(
            Group::parse_list("default").unwrap(),
            Group::DEFAULT.to_vec()
        );
        assert_eq!(Group::parse_list("all").unwrap(), Group::ALL.to_vec());
        assert_eq!(
            Group::parse_list("cache_hit_rate, requests,requests").unwrap(),
            vec![Group::Requests, Group::CacheHitRate]
        );
        assert!(Group::parse_list("avg").unwrap_err().contains("avg"));
        assert!(Group::parse_list(" , ").is_err());
    }

    #[test]
    fn labels_parse() {
        assert!(Label::parse("tag:").is_err());
        assert_eq!(Label::parse("tag:Name").unwrap(), Label::Tag("Name".into()));
        assert!(Label::parse("name").is_err());
    }
}
