//! The job model: what to read and where it goes. The environment alone describes one
//! CloudFront job; a config file (`file`) any number, for CloudFront or any CloudWatch
//! namespace. A job expands into [`Series`] (a preset does that), which the pipeline reads and
//! posts. `check` holds the checks both sources share, `template` the name templates and
//! globs, `names` the rule of one name per series, `cloudfront` the CloudFront catalogue.

pub mod check;
pub mod cloudfront;
pub mod file;
pub mod names;
pub mod template;

use crate::aws::Role;
use cloudfront::{Group, Label, Naming};
use std::rc::Rc;
use std::time::Duration;
use template::{Pattern, Template};

/// Where a job's points go in Mackerel.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum Target {
    /// Service metrics of this service (empty only for a dry run without a service).
    Service(String),
    Host(HostTarget),
}

/// One Mackerel host per resource, found by a customIdentifier made from a template.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HostTarget {
    /// Required for namespace jobs; the CloudFront preset uses the distribution ARN.
    pub custom_identifier: Option<Template>,
    /// Host name; defaults to the customIdentifier (CloudFront: the domain name).
    pub name: Option<Template>,
    /// Defaults to the name (CloudFront: the label's text).
    pub display_name: Option<Template>,
    pub roles: Vec<String>,
    pub retire_gone: bool,
    /// An existing host (CloudFront jobs): every point goes to it, and no host is created,
    /// updated or retired.
    pub host_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CloudFrontJob {
    pub name: String,
    pub distributions: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub groups: Vec<Group>,
    pub label: Label,
    /// cw2mackerel's names or the plugin's.
    pub names: Naming,
    /// The first part of host metric names (after `custom.`), and of service metric names
    /// with plugin names: `{id}` and `{label}` (or `{DistributionId}`) filled per distribution.
    pub prefix: Template,
    pub target: Target,
    pub role: Option<Role>,
}

/// A metric of a namespace job, with one statistic.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MetricSpec {
    pub name: String,
    pub stat: String,
    /// Post 0 for a settled period without data (counts and sums only, as a rule).
    pub nil_to_zero: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MetricsJob {
    pub name: String,
    pub regions: Vec<String>,
    pub namespace: String,
    pub period: u32,
    /// A metric matches when its dimension names are exactly these and every value matches.
    pub dimensions: Vec<(String, Pattern)>,
    pub tags: Vec<(String, String)>,
    pub metrics: Vec<MetricSpec>,
    pub target: Target,
    pub name_template: Template,
    pub role: Option<Role>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum Job {
    CloudFront(CloudFrontJob),
    Metrics(MetricsJob),
}

impl Job {
    pub fn name(&self) -> &str {
        match self {
            Job::CloudFront(j) => &j.name,
            Job::Metrics(j) => &j.name,
        }
    }

    pub fn target(&self) -> &Target {
        match self {
            Job::CloudFront(j) => &j.target,
            Job::Metrics(j) => &j.target,
        }
    }

    /// The period of its series, in seconds.
    pub fn period(&self) -> u32 {
        match self {
            Job::CloudFront(_) => cloudfront::PERIOD,
            Job::Metrics(j) => j.period,
        }
    }
}

/// How long a daemon reuses discovery answers unless a config file says otherwise.
pub const DEFAULT_DISCOVERY_TTL: Duration = Duration::from_secs(600);

/// Where a series' points go in Mackerel.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dest {
    /// Service metrics of this service.
    Service(String),
    /// Host metrics of the host with this customIdentifier.
    Host(String),
}

/// A metric's dimensions, shared by the series that read them with other statistics.
pub type Dimensions = Rc<[(Rc<str>, Rc<str>)]>;

/// One CloudWatch series a job reads (a region, a namespace, a metric, its dimensions and a
/// statistic) and the Mackerel name and place its points go to. Its strings are shared with
/// the other series of its job: tens of thousands of series take few allocations each cycle.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub region: Rc<str>,
    pub namespace: Rc<str>,
    pub metric: Rc<str>,
    pub dimensions: Dimensions,
    pub stat: Rc<str>,
    /// Seconds; also the step between points.
    pub period: u32,
    /// The Mackerel metric name the points get.
    pub name: Rc<str>,
    /// Shared by the series (and points) that go to one place.
    pub dest: Rc<Dest>,
    /// Read with this role's credentials (another account); `None`: the chain's.
    pub role: Option<Role>,
    /// A missing point in a settled period means nothing happened: post 0. Only right for
    /// counts and sums, never for rates or latencies.
    pub fill_zero: bool,
}

/// One datapoint of a series, as Mackerel takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Shared with the series: a point costs 40 bytes, whatever the names.
    pub dest: Rc<Dest>,
    pub name: Rc<str>,
    pub time: i64,
    pub value: f64,
}
