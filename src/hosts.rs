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
//! A session keeps the customIdentifier → host map and lists the organization's hosts again
//! only when the hosts wanted change, `discovery_ttl` passes, or (once a cycle) a post is
//! refused for a host. The list is read as it streams, keeping only the hosts that matter.

use crate::error::{Error, Result};
use crate::jobs::{Job, Target};
use crate::log;
use crate::mackerel::{Failure, Host, HostSpec, Mackerel};
use crate::record::Record;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Appended to a customIdentifier that Mackerel refuses.
pub const FALLBACK: &str = "#2";
/// How long a host just created may be missing from Mackerel's listings.
const LISTING_LAG: i64 = 10 * 60;
/// Hosts a cycle may ask for one by one (`GET /api/v0/hosts/<id>`).
const LOOKUPS: usize = 16;

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
}

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
    /// Resources of ours that left the selection: a distribution's ID, else the identifier.
    pub gone: Vec<String>,
    /// Resources whose host could not be found or made: (customIdentifier, why).
    pub failed: Vec<(String, Error)>,
}

impl Resolved {
    /// Adds what a later resolution of the same cycle did.
    pub fn absorb(&mut self, later: Resolved) {
        self.live = later.live;
        self.created += later.created;
        self.updated += later.updated;
        self.retired += later.retired;
    }
}

/// The customIdentifier → host ID map of a session, and the hosts it created lately.
#[derive(Debug, Default)]
pub struct Hosts {
    /// Every host job of the configuration, discovered this cycle or not.
    owners: Vec<String>,
    ids: HashMap<String, String>,
    listed: Option<Instant>,
    /// A digest of the specs last resolved: another means a host job changed.
    wanted: String,
    /// The host jobs last resolved, for a look again while posting.
    jobs: Vec<HostJob>,
    /// (customIdentifier, host ID, Unix seconds) of recent creates.
    pub created: Vec<(String, String, i64)>,
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

    /// The host ID of a customIdentifier, if it has one.
    pub fn id(&self, cid: &str) -> Option<&str> {
        self.ids.get(cid).map(String::as_str)
    }

    /// The hosts that took each customIdentifier's points before (from the state file), so
    /// that one retired by someone else is told apart from one never made.
    pub fn seed<'a>(&mut self, used: impl Iterator<Item = (&'a str, &'a str)>) {
        self.ids
            .extend(used.map(|(cid, id)| (cid.to_string(), id.to_string())));
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
        let wanted = format!(
            "{:?}",
            jobs.iter()
                .map(|j| (&j.specs, &j.existing))
                .collect::<Vec<_>>()
        );
        if self.wanted == wanted && self.listed.is_some_and(|at| at.elapsed() < ttl) {
            return Ok(Resolved {
                live: self.ids.len(),
                ..Resolved::default()
            });
        }
        self.jobs = jobs.to_vec();
        self.wanted = wanted;
        self.relist(mackerel, now)
    }

    /// Lists and resolves again after Mackerel refused a post for a host (retired under us,
    /// say), at most once a cycle: `None` when done already.
    pub fn recheck(&mut self, mackerel: &Mackerel) -> Option<Result<Resolved>> {
        if std::mem::replace(&mut self.rechecked, true) {
            return None;
        }
        Some(self.relist(mackerel, crate::clock::now()))
    }

    fn relist(&mut self, mackerel: &Mackerel, now: i64) -> Result<Resolved> {
        let jobs = std::mem::take(&mut self.jobs);
        let result = self.resolve_all(mackerel, &jobs, now);
        self.jobs = jobs;
        if !result.as_ref().is_ok_and(|r| r.failed.is_empty()) {
            // Try again next cycle.
            self.wanted.clear();
        }
        result
    }

    fn resolve_all(&mut self, mackerel: &Mackerel, jobs: &[HostJob], now: i64) -> Result<Resolved> {
        // One spec per customIdentifier for the whole configuration: the first job's.
        let mut specs: Vec<&HostSpec> = Vec::new();
        let mut wanted: HashSet<&str> = HashSet::new();
        for spec in jobs.iter().flat_map(|j| &j.specs) {
            if wanted.insert(&spec.custom_identifier) {
                specs.push(spec);
            }
        }
        let (owners, dead) = (&self.owners, &self.dead);
        // Only existing hosts: nothing to list, and nothing of ours to find gone.
        let all = match jobs.iter().any(|j| j.existing.is_none()) {
            true => mackerel.hosts(None, &|h| {
                !dead.contains(&h.id) && (ours(h, owners) || wanted.contains(base_cid(h)))
            })?,
            false => Vec::new(),
        };
        self.listed = Some(Instant::now());
        // A time ahead of now (a stepped clock, an edited state file) is not trusted either.
        self.created
            .retain(|(_, _, at)| *at <= now && now.saturating_sub(*at) < LISTING_LAG);
        let before = std::mem::take(&mut self.ids);
        let mut out = Resolved::default();
        let mut checked: HashSet<&str> = HashSet::new();
        for id in jobs.iter().filter_map(|j| j.existing.as_deref()) {
            if !checked.insert(id) {
                continue;
            }
            match mackerel.host_is_live(id) {
                Ok(true) => {
                    self.ids.insert(id.to_string(), id.to_string());
                }
                Ok(false) => out.failed.push((
                    id.to_string(),
                    Error::runtime(
                        "Mackerel has no live host with this ID (retired, or never made); its points are kept. Give CW2MACKEREL_HOST_ID (or target.host.id) the ID of a live host",
                    ),
                )),
                Err(f) => out.failed.push((id.to_string(), f.into())),
            }
        }
        let (mut strangers, mut replaced) = (0, Vec::new());
        for spec in specs {
            let cid = spec.custom_identifier.as_str();
            let named: Vec<&Host> = all.iter().filter(|h| base_cid(h) == cid).collect();
            let live: Vec<Host> = named
                .iter()
                .filter(|h| ours(h, &self.owners))
                .map(|h| (*h).clone())
                .collect();
            strangers += named.len() - live.len();
            let created = out.created;
            match self.settle(mackerel, spec, live, &mut out) {
                Ok(id) => {
                    // A new host where one of ours took the points: someone retired that one.
                    if let Some(old) = before.get(cid)
                        && out.created > created
                        && !self.retired.contains(old)
                    {
                        replaced.push((cid.to_string(), old.clone()));
                    }
                    self.ids.insert(cid.to_string(), id);
                }
                Err(e) => out.failed.push((cid.to_string(), e)),
            }
        }
        self.gone(mackerel, jobs, &all, &wanted, &mut out);
        if strangers > 0 && !self.warned {
            self.warned = true;
            log::warn(
                "hosts with a wanted customIdentifier but not made by cw2mackerel were left alone",
                &[("hosts", json!(strangers))],
            );
        }
        if !replaced.is_empty() {
            let (cids, ids): (Vec<String>, Vec<String>) = replaced.into_iter().unzip();
            log::warn(
                "hosts of ours were retired, not by this cw2mackerel: made new ones for their resources. If another cw2mackerel with the same job names retires them as gone (CW2MACKEREL_RETIRE_GONE or retire_gone), give each deployment its own CW2MACKEREL_ROLES (or roles)",
                &[("hosts", json!(ids)), ("custom_identifiers", json!(cids))],
            );
        }
        out.live = self.ids.len();
        Ok(out)
    }

    /// The one host of `spec` among `live` (ours, with its identifier), made if there is none;
    /// duplicates retired, a changed name or meta written back.
    fn settle(
        &mut self,
        mackerel: &Mackerel,
        spec: &HostSpec,
        mut live: Vec<Host>,
        out: &mut Resolved,
    ) -> Result<String> {
        let cid = spec.custom_identifier.as_str();
        if live.is_empty() {
            let made = self.created.iter().find(|(c, _, _)| c == cid);
            if let Some(id) = made.map(|(_, id, _)| id.clone()) {
                // Made a moment ago: Mackerel may not list it yet, or someone retired it since.
                if self.still_live(mackerel, &id) {
                    return Ok(id);
                }
                self.bury(&id);
            }
            match self.create(mackerel, spec)? {
                Made::New(id, made_as) => {
                    out.created += 1;
                    // Another run may have made one at the same moment: look, keep the oldest.
                    let (owners, dead) = (&self.owners, &self.dead);
                    live = mackerel.hosts(Some(&made_as), &|h| {
                        ours(h, owners) && !dead.contains(&h.id)
                    })?;
                    if live.is_empty() {
                        return Ok(id);
                    }
                }
                Made::Existing(hosts) => live = hosts,
            }
        }
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let Some((keep, extra)) = live.split_first() else {
            return Err(Error::runtime(format!("no host holds {cid}")));
        };
        for dup in extra {
            if mackerel.retire_host(&dup.id)? {
                self.retired.insert(dup.id.clone());
                out.retired += 1;
            }
        }
        let mut spec = spec.clone();
        spec.custom_identifier = keep.custom_identifier.clone().unwrap_or_default();
        if !spec.matches(keep) {
            mackerel.update_host(&keep.id, &spec)?;
            out.updated += 1;
        }
        Ok(keep.id.clone())
    }

    /// `POST /api/v0/hosts`. When Mackerel refuses the identifier, it is either taken by a
    /// host of ours another run just made (then that one is used) or held by a host that is
    /// not live (retired): then the host is made under the fallback identifier.
    fn create(&mut self, mackerel: &Mackerel, spec: &HostSpec) -> Result<Made> {
        let cid = spec.custom_identifier.clone();
        if let Ok(made) = self.attempt(mackerel, spec, &cid)? {
            return Ok(made);
        }
        let mut fallback = spec.clone();
        fallback.custom_identifier = format!("{cid}{FALLBACK}");
        log::info(
            "Mackerel refused a customIdentifier that no live host of ours has; creating the host under its fallback",
            &[
                ("custom_identifier", json!(cid)),
                ("fallback", json!(fallback.custom_identifier)),
            ],
        );
        self.attempt(mackerel, &fallback, &cid)?
    }

    /// One create: the host made (remembered under `cid`) or found; `Ok(Err(..))` when
    /// Mackerel refuses the identifier and no live host of ours has it.
    fn attempt(&mut self, mackerel: &Mackerel, spec: &HostSpec, cid: &str) -> Result<Result<Made>> {
        match mackerel.create_host(spec) {
            Ok(id) => {
                let made_as = spec.custom_identifier.clone();
                self.created
                    .push((cid.to_string(), id.clone(), crate::clock::now()));
                Ok(Ok(Made::New(id, made_as)))
            }
            Err(Failure::Refused(status, e))
                if (400..500).contains(&status) && ![401, 403, 429].contains(&status) =>
            {
                let (owners, dead) = (&self.owners, &self.dead);
                let live = mackerel.hosts(Some(&spec.custom_identifier), &|h| {
                    ours(h, owners) && !dead.contains(&h.id)
                })?;
                match live.is_empty() {
                    true => Ok(Err(e)),
                    false => Ok(Ok(Made::Existing(live))),
                }
            }
            Err(f) => Err(f.into()),
        }
    }

    /// Hosts of ours that no job of the configuration wants: reported, and retired when the
    /// job that made them says so. A host whose job was not discovered this cycle is left
    /// alone: that job may still want it.
    fn gone(
        &mut self,
        mackerel: &Mackerel,
        jobs: &[HostJob],
        all: &[Host],
        wanted: &HashSet<&str>,
        out: &mut Resolved,
    ) {
        for h in all.iter().filter(|h| !wanted.contains(base_cid(h))) {
            let Some(job) = jobs
                .iter()
                .find(|j| j.existing.is_none() && owned_by(h, &j.owner))
            else {
                continue;
            };
            if job.role.as_deref().is_some_and(|r| !h.has_role(r)) {
                continue;
            }
            let cid = h.custom_identifier.as_deref().unwrap_or_default();
            let name = h.meta["cloudfront"]["id"].as_str().unwrap_or(cid);
            out.gone.push(name.to_string());
            if job.retire_gone {
                match mackerel.retire_host(&h.id) {
                    Ok(true) => {
                        self.retired.insert(h.id.clone());
                        out.retired += 1;
                    }
                    Ok(false) => {}
                    Err(f) => out.failed.push((cid.to_string(), f.into())),
                }
            }
        }
    }

    /// Whether the host of `cid` still takes points, when Mackerel refused a point for it
    /// alone: `Some(false)` if Mackerel says it is retired or gone (it is then never used
    /// again, and the next cycle lists afresh); `None` if that cannot be told this cycle.
    pub fn confirm(&mut self, mackerel: &Mackerel, cid: &str) -> Option<bool> {
        let id = self.ids.get(cid)?.clone();
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
            self.ids.remove(cid);
            self.wanted.clear();
        }
        Some(live)
    }

    /// Whether host `id` (made lately, not listed) is live; when that cannot be told (no
    /// lookups left, no answer), it is trusted: it was made moments ago.
    fn still_live(&mut self, mackerel: &Mackerel, id: &str) -> bool {
        if self.lookups == 0 {
            return true;
        }
        self.lookups -= 1;
        mackerel.host_is_live(id).unwrap_or(true)
    }

    /// Tells `record` which host each wanted customIdentifier posts to now: one replaced
    /// (retired by hand, say) takes the whole window afresh.
    pub fn note(&self, record: &mut Record) {
        for spec in self.jobs.iter().flat_map(|j| &j.specs) {
            if let Some(id) = self.ids.get(&spec.custom_identifier) {
                record.host_is(&spec.custom_identifier, id);
            }
        }
    }

    /// Never uses host `id` again.
    fn bury(&mut self, id: &str) {
        self.dead.insert(id.to_string());
        self.created.retain(|(_, i, _)| i != id);
    }
}

/// What a create came to.
enum Made {
    /// A new host: its ID and the identifier it got.
    New(String, String),
    /// Hosts of ours that hold the identifier already.
    Existing(Vec<Host>),
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
