//! The documents a config file is read into: shaped like the file, so serde refuses unknown
//! fields, wrong types and keys given twice, and reports where. Checking what the values mean
//! is the parent module's job.

use crate::clock::parse_duration;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with \"jobs\"")]
pub struct FileDoc {
    pub jobs: Vec<JobDoc>,
    pub discovery_ttl: Option<String>,
}

/// The fields of both kinds of job; which may be given depends on `preset`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a job object")]
pub struct JobDoc {
    pub name: Option<String>,
    pub preset: Option<String>,
    pub distributions: Option<Vec<String>>,
    pub label: Option<String>,
    pub names: Option<String>,
    pub metric_key_prefix: Option<String>,
    pub regions: Option<Vec<String>>,
    pub namespace: Option<String>,
    pub period: Option<Period>,
    pub dimensions: Option<Pairs>,
    pub tags: Option<Pairs>,
    pub metrics: Option<Metrics>,
    pub target: Option<TargetDoc>,
    pub name_template: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "{\"service\": NAME} or {\"host\": {...}}"
)]
pub struct TargetDoc {
    pub service: Option<String>,
    pub host: Option<HostDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a host object")]
pub struct HostDoc {
    pub id: Option<String>,
    pub custom_identifier: Option<String>,
    pub name: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub retire_gone: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a {\"name\", \"stat\"} object")]
pub struct MetricDoc {
    pub name: String,
    pub stat: String,
    #[serde(default)]
    pub nil_to_zero: bool,
}

/// An object of names to strings, in the file's order; a name given twice is refused (JSON
/// parsers disagree on which one wins).
pub struct Pairs(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of names to strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut out: Vec<(String, String)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(de::Error::custom(format!("{k:?} is given twice")));
                    }
                    let v = map.next_value::<String>()?;
                    out.push((k, v));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `period`: whole seconds (`60`) or a duration (`"5m"`).
pub struct Period(pub u32);

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Period;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("seconds (60) or a duration (\"5m\")")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Period, E> {
                u32::try_from(n)
                    .map(Period)
                    .map_err(|_| E::custom("is too long"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Period, E> {
                let d = parse_duration(s).map_err(E::custom)?;
                u32::try_from(d.as_secs())
                    .map(Period)
                    .map_err(|_| E::custom("is too long"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `metrics`: a CloudFront group set (`"default"`, `"all"`, `["requests", …]`) or the
/// namespace job's `[{"name", "stat", "nil_to_zero"}]`; which one fits is the job's to say.
pub enum Metrics {
    Set(String),
    Items(Vec<MetricItem>),
}

pub enum MetricItem {
    Group(String),
    Spec(MetricDoc),
}

impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metrics;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Metrics, E> {
                Ok(Metrics::Set(s.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Metrics, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Metrics::Items(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for MetricItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MetricItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a group name or a {\"name\", \"stat\"} object")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MetricItem, E> {
                Ok(MetricItem::Group(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MetricItem, A::Error> {
                MetricDoc::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(MetricItem::Spec)
            }
        }
        d.deserialize_any(V)
    }
}
