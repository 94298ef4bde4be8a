//! The CloudFront catalogue: the metric groups, the CloudWatch metric and statistic behind
//! each Mackerel name under both namings (cw2mackerel's, and mackerel-plugin-aws-cloudfront's
//! for users coming from it), the labels that can name a distribution, and the host graphs
//! with their titles. Plain data the job model checks against and the preset reads.

use crate::fault::Invalid;

/// CloudFront's metrics, all in one region: the global region of the partition (us-east-1,
/// or cn-northwest-1 in China), which the preset is told.
pub const NAMESPACE: &str = "AWS/CloudFront";
pub const PERIOD: u32 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
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
    pub fn parse_list(list: &str) -> Result<Vec<Group>, Invalid> {
        let mut wanted = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "default" => wanted.extend(Group::DEFAULT),
                "all" => wanted.extend(Group::ALL),
                w => match Group::ALL.into_iter().find(|g| g.name() == w) {
                    Some(g) => wanted.push(g),
                    None => {
                        let names: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
                        return Err(Invalid::new(format!(
                            "unknown metric group {w:?}; use default, all, or some of {}",
                            names.join(", ")
                        )));
                    }
                },
            }
        }
        if wanted.is_empty() {
            return Err(Invalid::new("no metric group given"));
        }
        // Catalogue order, each once: the output does not depend on how the list was written.
        Ok(Group::ALL
            .into_iter()
            .filter(|g| wanted.contains(g))
            .collect())
    }
}

/// One CloudWatch metric and the Mackerel name it is posted as, after `cloudfront.<label>.`
/// (service mode) or `custom.<prefix>.` (host mode; plugin names: `<prefix>.` in service
/// mode); `display` names it in host graphs.
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

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Label {
    Id,
    /// The first alternate domain name (CNAME).
    Alias,
    Comment,
    Tag(String),
}

impl Label {
    pub fn parse(s: &str) -> Result<Label, Invalid> {
        match s.trim() {
            "id" => Ok(Label::Id),
            "alias" => Ok(Label::Alias),
            "comment" => Ok(Label::Comment),
            t => match t.strip_prefix("tag:") {
                Some(key) if !key.is_empty() => Ok(Label::Tag(key.to_string())),
                _ => Err(Invalid::new(format!(
                    "{t:?} is not a label; use id, alias, comment or tag:KEY"
                ))),
            },
        }
    }

    /// Whether this label needs the distributions' tags (one ListTagsForResource each).
    pub fn needs_tags(&self) -> bool {
        matches!(self, Label::Tag(_))
    }
}

/// The first part of metric names unless `metric_key_prefix` says otherwise (the plugin's
/// default too).
pub const DEFAULT_PREFIX: &str = "cloudfront";

/// How a CloudFront job names its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Naming {
    /// `cloudfront.<label>.requests.request` (service), `custom.<prefix>.requests.request`
    /// (host).
    Cw2mackerel,
    /// mackerel-plugin-aws-cloudfront's five names and three graphs:
    /// `<prefix>.Requests.Requests` (service), `custom.<prefix>.Requests.Requests` (host).
    Plugin,
}

impl Naming {
    pub fn parse(s: &str) -> Result<Naming, Invalid> {
        match s.trim() {
            "cw2mackerel" => Ok(Naming::Cw2mackerel),
            "plugin" => Ok(Naming::Plugin),
            other => Err(Invalid::new(format!(
                "{other:?} is not a naming; use cw2mackerel or plugin (mackerel-plugin-aws-cloudfront's names)"
            ))),
        }
    }

    /// The metrics this naming has names for.
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Naming::Cw2mackerel => METRICS,
            Naming::Plugin => PLUGIN_METRICS,
        }
    }

    /// Its host graphs.
    pub fn graphs(self) -> &'static [Graph] {
        match self {
            Naming::Cw2mackerel => &GRAPHS,
            Naming::Plugin => &PLUGIN_GRAPHS,
        }
    }
}

/// mackerel-plugin-aws-cloudfront's metrics (`lib/aws-cloudfront.go`: its `FetchMetrics` and
/// `GraphDefinition`): the graph key, then the CloudWatch metric name, read with its statistic.
#[rustfmt::skip]
pub const PLUGIN_METRICS: &[Metric] = &[
    metric(Group::Requests, "Requests", "Sum", "Requests.Requests", "Requests"),
    metric(Group::Transfer, "BytesDownloaded", "Sum", "Transfer.BytesDownloaded", "Download"),
    metric(Group::Transfer, "BytesUploaded", "Sum", "Transfer.BytesUploaded", "Upload"),
    metric(Group::ErrorRate, "4xxErrorRate", "Average", "ErrorRate.4xxErrorRate", "4xx"),
    metric(Group::ErrorRate, "5xxErrorRate", "Average", "ErrorRate.5xxErrorRate", "5xx"),
];

/// A host graph: the metrics whose name begins with `key` (after the prefix), shown as
/// `<Prefix> <title>` in `unit`, stacked or not.
pub struct Graph {
    pub key: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub stacked: bool,
}

const fn graph(key: &'static str, title: &'static str, unit: &'static str, stacked: bool) -> Graph {
    Graph {
        key,
        title,
        unit,
        stacked,
    }
}

const GRAPHS: [Graph; 5] = [
    graph("requests", "Requests", "integer", false),
    graph("transfer", "Transfer", "bytes", false),
    graph("error_rate", "Error Rate", "percentage", false),
    graph("cache_hit_rate", "Cache Hit Rate", "percentage", false),
    graph("origin_latency", "Origin Latency", "milliseconds", false),
];

const PLUGIN_GRAPHS: [Graph; 3] = [
    graph("Requests", "Requests", "integer", false),
    graph("Transfer", "Transfer", "bytes", true),
    graph("ErrorRate", "ErrorRate", "percentage", true),
];

/// The graph titles' prefix for a metric-name prefix, as the plugin makes it: Go's
/// `cases.Title(language.Und, cases.NoLower)`, then `-` → ` `, `Aws` → `AWS`, `Cloudfront` →
/// `CloudFront` (so `cloudfront` gives `CloudFront`, and `CloudFront Requests`).
///
/// Title casing follows golang.org/x/text/cases (`map.go`'s titleCaser, `info.go`'s word
/// breaks) for the characters a prefix can hold, ASCII: the first cased letter after a word
/// break is upper-cased and the rest are kept (NoLower). Letters, digits and `_` (Word_Break
/// ALetter, Numeric, ExtendNumLet) continue a word, digits without starting one (`49ers` →
/// `49Ers`); `.`, `:` and `'` (MidNumLet, MidLetter, Single_Quote) continue it too unless two
/// come in a row (`a.b` → `A.b`, `a..b` → `A..B`); anything else (`-`) breaks it.
pub fn title_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    let (mut in_word, mut was_mid) = (false, false);
    for c in prefix.chars() {
        let mid = matches!(c, '.' | ':' | '\'');
        if was_mid && mid {
            in_word = false;
        }
        if c.is_ascii_alphabetic() {
            out.push(if in_word { c } else { c.to_ascii_uppercase() });
            in_word = true;
        } else {
            // The plugin's `-` → ` ` comes after the casing, where `-` has broken the word.
            out.push(if c == '-' { ' ' } else { c });
            if !(mid || c.is_ascii_digit() || c == '_') {
                in_word = false;
            }
        }
        was_mid = mid;
    }
    out.replace("Aws", "AWS")
        .replace("Cloudfront", "CloudFront")
}

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
        assert!(
            Group::parse_list("avg")
                .unwrap_err()
                .as_str()
                .contains("avg")
        );
        assert!(Group::parse_list(" , ").is_err());
    }

    #[test]
    fn titles_as_the_plugin_makes_them() {
        // x/text's own cases (cases/map_test.go: title breaking, NoLower, the midword
        // handover), restricted to what a prefix can hold; then the plugin's replacements.
        for (prefix, title) in [
            ("with-hyphens", "With Hyphens"),
            ("49ers", "49Ers"),
            ("_u", "_U"),
            ("a_u", "A_u"),
            ("a.a", "A.a"),
            ("a..a", "A..A"),
            ("aBc", "ABc"),
            ("abC", "AbC"),
            ("ABC", "ABC"),
            ("0X", "0X"),
            ("cloudfront", "CloudFront"),
            ("aws-cloudfront", "AWS CloudFront"),
            ("my-cdn.prod", "My Cdn.prod"),
            ("E2QWRUHAPOMQZL", "E2QWRUHAPOMQZL"),
            ("e2abc", "E2abc"),
            ("cdn_1-a", "Cdn_1 A"),
            ("-x", " X"),
            (".x", ".X"),
            ("awsome", "AWSome"),
        ] {
            assert_eq!(title_prefix(prefix), title, "{prefix}");
        }
    }

    #[test]
    fn plugin_metrics_have_graphs() {
        for naming in [Naming::Cw2mackerel, Naming::Plugin] {
            for m in naming.metrics() {
                let key = m.name.split('.').next().unwrap();
                assert!(naming.graphs().iter().any(|g| g.key == key), "{}", m.name);
            }
        }
        assert_eq!(Naming::parse("plugin"), Ok(Naming::Plugin));
        assert!(Naming::parse("integration").is_err());
    }

    #[test]
    fn labels_parse() {
        assert!(Label::parse("tag:").is_err());
        assert_eq!(Label::parse("tag:Name").unwrap(), Label::Tag("Name".into()));
        assert!(Label::parse("name").is_err());
    }
}
