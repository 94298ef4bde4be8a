//! Hosts for host mode: one Mackerel host per resource, found by its customIdentifier and
//! created only when there is none. cw2mackerel never registers a host for itself, and it
//! touches only hosts it made: a host counts when its customIdentifier is exactly the one
//! asked for *and* its `meta.cw2mackerel.owner` names the job; anything else in Mackerel's
//! answer is left alone (and logged once).
//!
//! Every resolution heals duplicates: when two runs create a host for one identifier at once,
//! both then see two hosts of theirs, keep the same one (the oldest; ties broken by id) and
//! retire the other. A create is not repeated while an earlier one for the same identifier is
//! younger than Mackerel's listing lag (created IDs are remembered, and `run` keeps them in
//! the state file). If Mackerel refuses an identifier (one held by a retired host, where it
//! keeps identifiers unique), the host is created under the stable fallback `<id>#2`, which
//! later resolutions look for too. A host that cannot be created costs that resource alone.
//!
//! A session keeps the customIdentifier → host map and lists the organization's hosts again
//! only when the hosts wanted change, `discovery_ttl` passes, or a post is refused for a host.

use crate::error::{Error, Result};
use crate::log;
use crate::mackerel::{Host, HostSpec, Mackerel};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Appended to a customIdentifier that Mackerel refuses.
pub const FALLBACK: &str = "#2";
/// How long a host just created may be missing from Mackerel's listings.
const LISTING_LAG: i64 = 10 * 60;

/// The hosts one job wants, and how it tells its own from others'.
pub struct HostJob {
    pub specs: Vec<HostSpec>,
    /// `meta.cw2mackerel.owner` of the hosts it makes: the job's name.
    pub owner: String,
    /// With roles configured, hosts of ours carry the first (for `gone`).
    pub role: Option<String>,
    pub retire_gone: bool,
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

/// The customIdentifier → host ID map of a session, and the hosts it created lately.
#[derive(Debug, Default)]
pub struct Hosts {
    ids: HashMap<String, String>,
    listed: Option<Instant>,
    /// A digest of the specs last resolved: another means a host job changed.
    wanted: String,
    /// (customIdentifier, host ID, Unix seconds) of recent creates.
    pub created: Vec<(String, String, i64)>,
    /// Whether hosts not of ours were met (and said so) already.
    warned: bool,
}

impl Hosts {
    /// The host ID of a customIdentifier, if it has one.
    pub fn id(&self, cid: &str) -> Option<&str> {
        self.ids.get(cid).map(String::as_str)
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
        let wanted = format!("{:?}", jobs.iter().map(|j| &j.specs).collect::<Vec<_>>());
        if self.wanted == wanted && self.listed.is_some_and(|at| at.elapsed() < ttl) {
            return Ok(Resolved {
                live: self.ids.len(),
                ..Resolved::default()
            });
        }
        let all = mackerel.hosts(None)?;
        self.listed = Some(Instant::now());
        // A time ahead of now (a stepped clock, an edited state file) is not trusted either.
        self.created
            .retain(|(_, _, at)| *at <= now && now.saturating_sub(*at) < LISTING_LAG);
        self.ids.clear();
        let mut out = Resolved::default();
        let mut strangers = 0;
        for job in jobs {
            for spec in &job.specs {
                let cid = spec.custom_identifier.as_str();
                let fallback = format!("{cid}{FALLBACK}");
                let named = |h: &&Host| matches!(h.custom_identifier.as_deref(), Some(c) if c == cid || c == fallback);
                let named: Vec<&Host> = all.iter().filter(named).collect();
                let live: Vec<Host> = named
                    .iter()
                    .filter(|h| owned_by(h, &job.owner))
                    .map(|h| (*h).clone())
                    .collect();
                strangers += named.len() - live.len();
                match self.settle(mackerel, spec, &job.owner, live, &mut out) {
                    Ok(id) => {
                        self.ids.insert(cid.to_string(), id);
                    }
                    Err(e) => out.failed.push((cid.to_string(), e)),
                }
            }
            self.gone(mackerel, job, &all, &mut out);
        }
        if strangers > 0 && !self.warned {
            self.warned = true;
            log::warn(
                "hosts with a wanted customIdentifier but not made by cw2mackerel were left alone",
                &[("hosts", json!(strangers))],
            );
        }
        out.live = self.ids.len();
        self.wanted = match out.failed.is_empty() {
            true => wanted,
            // Try the failed ones again next cycle.
            false => String::new(),
        };
        Ok(out)
    }

    /// The one host of `spec` among `live` (ours, with its identifier), made if there is none;
    /// duplicates retired, a changed name or meta written back.
    fn settle(
        &mut self,
        mackerel: &Mackerel,
        spec: &HostSpec,
        owner: &str,
        mut live: Vec<Host>,
        out: &mut Resolved,
    ) -> Result<String> {
        let cid = spec.custom_identifier.as_str();
        if live.is_empty() {
            if let Some((_, id, _)) = self.created.iter().find(|(c, _, _)| c == cid) {
                // Made a moment ago; Mackerel does not list it yet.
                return Ok(id.clone());
            }
            match self.create(mackerel, spec, owner)? {
                Made::New(id, made_as) => {
                    out.created += 1;
                    // Another run may have made one at the same moment: look, keep the oldest.
                    live = mackerel.hosts(Some(&made_as))?;
                    live.retain(|h| owned_by(h, owner));
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
    fn create(&mut self, mackerel: &Mackerel, spec: &HostSpec, owner: &str) -> Result<Made> {
        let cid = spec.custom_identifier.clone();
        if let Ok(made) = self.attempt(mackerel, spec, owner, &cid)? {
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
        self.attempt(mackerel, &fallback, owner, &cid)?
    }

    /// One create: the host made (remembered under `cid`) or found; `Ok(Err(..))` when
    /// Mackerel refuses the identifier and no live host of ours has it.
    fn attempt(
        &mut self,
        mackerel: &Mackerel,
        spec: &HostSpec,
        owner: &str,
        cid: &str,
    ) -> Result<Result<Made>> {
        match mackerel.create_host(spec) {
            Ok(id) => {
                let made_as = spec.custom_identifier.clone();
                self.created
                    .push((cid.to_string(), id.clone(), crate::clock::now()));
                Ok(Ok(Made::New(id, made_as)))
            }
            Err(r) if (400..500).contains(&r.status) && ![401, 403, 429].contains(&r.status) => {
                let mut live = mackerel.hosts(Some(&spec.custom_identifier))?;
                live.retain(|h| owned_by(h, owner));
                match live.is_empty() {
                    true => Ok(Err(r.error)),
                    false => Ok(Ok(Made::Existing(live))),
                }
            }
            Err(r) => Err(r.error),
        }
    }

    /// Hosts of `job` whose resource left the selection: reported, and retired when asked.
    fn gone(&self, mackerel: &Mackerel, job: &HostJob, all: &[Host], out: &mut Resolved) {
        let wanted: HashSet<&str> = job
            .specs
            .iter()
            .map(|s| s.custom_identifier.as_str())
            .collect();
        let role = job.role.as_deref();
        for h in all
            .iter()
            .filter(|h| owned_by(h, &job.owner) && role.is_none_or(|r| h.has_role(r)))
        {
            let cid = h.custom_identifier.as_deref().unwrap_or_default();
            if wanted.contains(cid.strip_suffix(FALLBACK).unwrap_or(cid)) {
                continue;
            }
            let name = h.meta["cloudfront"]["id"].as_str().unwrap_or(cid);
            out.gone.push(name.to_string());
            if job.retire_gone {
                match mackerel.retire_host(&h.id) {
                    Ok(true) => out.retired += 1,
                    Ok(false) => {}
                    Err(e) => out.failed.push((cid.to_string(), e)),
                }
            }
        }
    }

    /// Looks the hosts of `cids` up again after Mackerel refused a post to them (retired under
    /// us, say), and lists everything again next cycle.
    pub fn refresh(
        &mut self,
        mackerel: &Mackerel,
        cids: &[&str],
        owner_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<()> {
        self.listed = None;
        for cid in cids {
            let Some(owner) = owner_of(cid) else { continue };
            let mut live: Vec<Host> = mackerel.hosts(Some(cid))?;
            live.extend(mackerel.hosts(Some(&format!("{cid}{FALLBACK}")))?);
            live.retain(|h| owned_by(h, &owner));
            live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            match live.first() {
                Some(h) => self.ids.insert(cid.to_string(), h.id.clone()),
                None => self.ids.remove(*cid),
            };
        }
        Ok(())
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

/// The live host of each customIdentifier that has one (the one [`Hosts::resolve`] would keep),
/// without creating or changing anything; only hosts of `owners`.
pub fn lookup(mackerel: &Mackerel, owners: &[&str]) -> Result<HashMap<String, String>> {
    let mut ids = HashMap::new();
    // Oldest first: the first host seen for an identifier is the one kept.
    for h in mackerel.hosts(None)? {
        if !owners.iter().any(|o| owned_by(&h, o)) {
            continue;
        }
        if let Some(cid) = h.custom_identifier {
            let cid = cid
                .strip_suffix(FALLBACK)
                .map(str::to_string)
                .unwrap_or(cid);
            ids.entry(cid).or_insert(h.id);
        }
    }
    Ok(ids)
}
