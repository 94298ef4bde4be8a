//! Hosts for host mode: one Mackerel host per resource, found by its customIdentifier and
//! created only when there is none. cw2mackerel never registers a host for itself, and it
//! touches only hosts it made: a host counts when its customIdentifier is one asked for *and*
//! its `meta.cw2mackerel.owner` names a host job of this configuration (the mark is the name
//! of the job that made it, so hosts marked by earlier versions stay ours). Ownership belongs
//! to the configuration, not the job: several jobs may feed one host, and the first of them
//! in the configuration's order says what the host is (name, display name, meta, roles).
//! Anything else in Mackerel's answer is left alone (and logged once).
//!
//! Every resolution heals duplicates: when two runs create a host for one identifier at once,
//! both then see two hosts of theirs, keep the same one (the oldest; ties broken by id) and
//! retire the other. A create is not repeated while an earlier one for the same identifier is
//! younger than Mackerel's listing lag (created IDs are remembered, and `run` keeps them in
//! the state file); such a host that Mackerel does not list yet is asked for by its ID, so
//! one retired in the meantime is replaced at once. If Mackerel refuses an identifier (one
//! held by a retired host, where it keeps identifiers unique), the host is created under the
//! stable fallback `<id>#2`, which later resolutions look for too. A host that cannot be
//! created costs that resource alone. A host found retired is never used again.
//!
//! [`Hosts`] is the one owner of the customIdentifier → host map: which host takes each
//! identifier's points, and which took them last (what the record of accepted points is
//! about). A resolution that gives an identifier another host says so ([`Resolved::moved`]),
//! so what the old host took is posted again to the new one. A session keeps the map and
//! lists the organization's hosts again only when the hosts wanted change, `discovery_ttl`
//! passes, or (once a cycle) a post is refused for a host. The list is read as it streams,
//! keeping only the hosts that matter. `settle` finds or makes each host.

mod settle;

use crate::error::{Error, Result};
use crate::jobs::{Job, Target};
use crate::mackerel::{Host, Mackerel};
use crate::presets::HostJob;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Appended to a customIdentifier that Mackerel refuses.
pub const FALLBACK: &str = "#2";
/// How long a host just created may be missing from Mackerel's listings.
const LISTING_LAG: i64 = 10 * 60;
/// Hosts a cycle may ask for one by one (`GET /api/v0/hosts/<id>`).
const LOOKUPS: usize = 16;

/// The names of the configuration's host jobs that make hosts: a host whose mark names one
/// is ours.
pub fn owners(jobs: &[Job]) -> Vec<String> {
    jobs.iter()
        .filter(|j| matches!(j.target(), Target::Host(h) if h.host_id.is_none()))
        .map(|j| j.name().to_string())
        .collect()
}

#[derive(Debug, Default)]
pub struct Resolved {
    pub live: usize,
    pub created: usize,
    pub updated: usize,
    /// Duplicates, and gone hosts when asked to retire those.
    pub retired: usize,
    /// Resources of ours that left the selection, as their job names them (a distribution's
    /// ID; else the identifier).
    pub gone: Vec<String>,
    /// Resources whose host could not be found or made: (customIdentifier, why).
    pub failed: Vec<(String, Error)>,
    /// customIdentifiers whose points go to another host now than the one that took them
    /// last: what that one took is news to this one.
    pub moved: Vec<String>,
}

impl Resolved {
    /// Adds what a later resolution of the same cycle did.
    pub fn absorb(&mut self, later: Resolved) {
        self.live = later.live;
        self.created += later.created;
        self.updated += later.updated;
        self.retired += later.retired;
        self.moved.extend(later.moved);
    }
}

/// A host made lately, kept (in the state file too) while Mackerel may not list it yet. The
/// file holds it as `[customIdentifier, host ID, Unix seconds]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "(String, String, i64)", into = "(String, String, i64)")]
pub struct Created {
    /// The customIdentifier it was made for (without the fallback suffix).
    pub cid: String,
    pub id: String,
    /// Unix seconds.
    pub at: i64,
}

impl From<(String, String, i64)> for Created {
    fn from((cid, id, at): (String, String, i64)) -> Self {
        Created { cid, id, at }
    }
}

impl From<Created> for (String, String, i64) {
    fn from(c: Created) -> Self {
        (c.cid, c.id, c.at)
    }
}

/// The host of one customIdentifier: the one that takes its points, or took them last.
#[derive(Debug)]
struct Place {
    id: String,
    /// Whether points go there now: found live (or read back from the state file) by the
    /// last resolution, and not found retired since.
    open: bool,
}

/// The customIdentifier → host map of a session, and the hosts it created lately.
#[derive(Debug, Default)]
pub struct Hosts {
    /// Every host job of the configuration, discovered this cycle or not.
    owners: Vec<String>,
    places: HashMap<String, Place>,
    /// Existing hosts (`target.host.id`) found live by the last resolution: their points
    /// name them by ID.
    existing: HashSet<String>,
    /// When the hosts were last listed; `None`: list again at the next resolution.
    listed: Option<Instant>,
    /// The host jobs last resolved: the next resolution with other specs lists again, and a
    /// look again while posting resolves these.
    jobs: Vec<HostJob>,
    created: Vec<Created>,
    /// Whether hosts not of ours were met (and said so) already.
    warned: bool,
    /// Hosts found retired or gone: never used again.
    dead: HashSet<String>,
    /// Hosts this process retired (duplicates, gone ones).
    retired: HashSet<String>,
    /// Hosts the cycle may still ask for one by one, and those found live this cycle.
    lookups: usize,
    confirmed: HashSet<String>,
    /// Whether the cycle listed again after a refused post.
    rechecked: bool,
}

impl Hosts {
    /// A map for a configuration whose host jobs are named `owners`.
    pub fn new(owners: Vec<String>) -> Self {
        Hosts {
            owners,
            ..Hosts::default()
        }
    }

    /// The host that takes the points of a customIdentifier (or of an existing host's ID),
    /// if it has one now.
    pub fn id(&self, cid: &str) -> Option<&str> {
        match self.places.get(cid) {
            Some(p) if p.open => Some(&p.id),
            _ => self.existing.get(cid).map(String::as_str),
        }
    }

    /// What an earlier run left (from the state file): the host that took each
    /// customIdentifier's points, so that one retired by someone else is told apart from one
    /// never made, and the hosts it made lately.
    pub fn restore(&mut self, took: Vec<(String, String)>, created: Vec<Created>) {
        self.places.extend(
            took.into_iter()
                .map(|(cid, id)| (cid, Place { id, open: true })),
        );
        self.created = created;
    }

    /// Each customIdentifier with the host that takes (or last took) its points.
    pub fn took(&self) -> impl Iterator<Item = (&str, &str)> {
        self.places.iter().map(|(c, p)| (c.as_str(), p.id.as_str()))
    }

    /// The hosts made lately.
    pub fn created(&self) -> &[Created] {
        &self.created
    }

    /// Finds or makes the host of every spec, unless the map is fresh (listed within `ttl`,
    /// the same specs). `Err` only when the hosts cannot be listed at all.
    pub fn resolve(
        &mut self,
        mackerel: &Mackerel,
        jobs: &[HostJob],
        ttl: Duration,
        now: i64,
    ) -> Result<Resolved> {
        (self.lookups, self.rechecked) = (LOOKUPS, false);
        self.confirmed.clear();
        // The specs themselves are the key: compared, never hashed or formatted.
        let same = self.jobs.len() == jobs.len()
            && self
                .jobs
                .iter()
                .zip(jobs)
                .all(|(a, b)| a.specs == b.specs && a.existing == b.existing);
        if same && self.listed.is_some_and(|at| at.elapsed() < ttl) {
            return Ok(Resolved {
                live: self.live(),
                ..Resolved::default()
            });
        }
        self.jobs = jobs.to_vec();
        self.relist(mackerel, now)
    }

    /// Hosts taking points now.
    fn live(&self) -> usize {
        self.places.values().filter(|p| p.open).count() + self.existing.len()
    }

    /// Whether [`Hosts::recheck`] may still run this cycle.
    pub fn may_recheck(&self) -> bool {
        !self.rechecked
    }

    /// Lists and resolves again after Mackerel refused a post for a host (retired under us,
    /// say): once a cycle, as [`Hosts::may_recheck`] says.
    pub fn recheck(&mut self, mackerel: &Mackerel) -> Result<Resolved> {
        self.rechecked = true;
        self.relist(mackerel, crate::clock::now())
    }

    fn relist(&mut self, mackerel: &Mackerel, now: i64) -> Result<Resolved> {
        let jobs = std::mem::take(&mut self.jobs);
        let result = self.resolve_all(mackerel, &jobs, now);
        self.jobs = jobs;
        if !result.as_ref().is_ok_and(|r| r.failed.is_empty()) {
            // Try again next cycle.
            self.listed = None;
        }
        result
    }

    /// Whether the host of `cid` still takes points, when Mackerel refused a point for it
    /// alone: `Some(false)` if Mackerel says it is retired or gone (it is then never used
    /// again, and the next cycle lists afresh); `None` if that cannot be told this cycle.
    pub fn confirm(&mut self, mackerel: &Mackerel, cid: &str) -> Option<bool> {
        let id = self.id(cid)?.to_string();
        if self.confirmed.contains(&id) {
            return Some(true);
        }
        if self.lookups == 0 {
            return None;
        }
        self.lookups -= 1;
        let live = mackerel.host_is_live(&id).ok()?;
        if live {
            self.confirmed.insert(id);
        } else {
            self.bury(&id);
            if let Some(p) = self.places.get_mut(cid) {
                p.open = false;
            }
            self.existing.remove(cid);
            self.listed = None;
        }
        Some(live)
    }
}

/// Whether cw2mackerel made `host` for the job named `owner`.
fn owned_by(host: &Host, owner: &str) -> bool {
    host.meta["cw2mackerel"]["owner"] == owner
}

/// Whether `host` is ours: its mark names one of `owners`.
fn ours(host: &Host, owners: &[String]) -> bool {
    owners.iter().any(|o| owned_by(host, o))
}

/// A host's customIdentifier without the fallback suffix.
fn base_cid(host: &Host) -> &str {
    let cid = host.custom_identifier.as_deref().unwrap_or_default();
    cid.strip_suffix(FALLBACK).unwrap_or(cid)
}

/// The live host of each customIdentifier that has one (the one [`Hosts::resolve`] would keep),
/// without creating or changing anything; only hosts of `owners`.
pub fn lookup(mackerel: &Mackerel, owners: &[String]) -> Result<HashMap<String, String>> {
    let mut ids = HashMap::new();
    // Oldest first: the first host seen for an identifier is the one kept.
    for h in mackerel.hosts(None, &|h| ours(h, owners))? {
        if h.custom_identifier.is_some() {
            ids.entry(base_cid(&h).to_string()).or_insert(h.id);
        }
    }
    Ok(ids)
}
