//! The one shape every preset gives: an [`Expansion`] of one job.

use crate::jobs::{Series, Target};
use crate::mackerel::{GraphDef, Host, HostSpec};

/// What one job becomes this cycle.
pub struct Expansion {
    pub series: Vec<Series>,
    /// With a host target: the hosts the job wants, and how it tells its own.
    pub host_job: Option<HostJob>,
    /// Host graph definitions (a CloudFront host target's).
    pub graph_defs: Vec<GraphDef>,
    /// What was found, kept for [`Expansion::resources`].
    pub(super) listing: Box<dyn Listing>,
}

/// The hosts one job wants, and how it tells its own from others'.
#[derive(Clone, Debug)]
pub struct HostJob {
    pub specs: Vec<HostSpec>,
    /// `meta.cw2mackerel.owner` of the hosts it makes: the job's name.
    pub owner: String,
    /// With roles configured, hosts of ours carry the first (for `gone`).
    pub role: Option<String>,
    pub retire_gone: bool,
    /// An existing host that takes every point of the job: only checked, once per resolution,
    /// never created, changed or retired (`specs` is then empty).
    pub existing: Option<String>,
    /// What a host of this job is called where it is named as gone (`gone_ids`), read from
    /// the `meta` the preset wrote; `None`: its customIdentifier.
    pub shown: fn(&Host) -> Option<&str>,
}

impl HostJob {
    /// The host job of the job named `name`, with `specs`, if its target is hosts.
    pub(super) fn of(
        name: &str,
        target: &Target,
        specs: Vec<HostSpec>,
        shown: fn(&Host) -> Option<&str>,
    ) -> Option<Self> {
        let Target::Host(h) = target else {
            return None;
        };
        Some(HostJob {
            specs,
            owner: name.to_string(),
            role: h.roles.first().cloned(),
            retire_gone: h.retire_gone,
            existing: h.host_id.clone(),
            shown,
        })
    }
}

/// The tables of `list`, in the order it prints them: one per kind of job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Distributions,
    Metrics,
}

impl Table {
    /// The headings of the table's columns (`list` adds `HOST` with a host target).
    pub fn headings(self) -> &'static [&'static str] {
        match self {
            Table::Distributions => &["ID", "LABEL", "STATUS", "ALIASES"],
            Table::Metrics => &["JOB", "REGION", "METRIC", "DIMENSIONS"],
        }
    }
}

/// One resource a job reads, as `list` shows it.
pub struct Resource {
    /// Under the headings of its [`Table`].
    pub cells: Vec<String>,
    /// The customIdentifier its host has, or would have, in host mode.
    pub custom_identifier: Option<String>,
}

/// What a preset found, as `list` shows it.
pub(super) trait Listing {
    fn table(&self) -> Table;
    /// Each resource found.
    fn resources(&self) -> Vec<Resource>;
    /// How many CloudFront distributions were found.
    fn distributions(&self) -> usize {
        0
    }
}

impl Expansion {
    /// The table `list` shows this job's resources in.
    pub fn table(&self) -> Table {
        self.listing.table()
    }

    /// Each resource found, for `list`.
    pub fn resources(&self) -> Vec<Resource> {
        self.listing.resources()
    }

    /// How many CloudFront distributions the job reads (the summary's `distributions`).
    pub fn distributions(&self) -> usize {
        self.listing.distributions()
    }
}

/// `s`, or `-` when it is empty: a blank cell would shift the columns after it.
pub fn or_dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}
