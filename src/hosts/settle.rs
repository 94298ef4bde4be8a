//! Settling each wanted host: found among the hosts listed, or made (under the fallback
//! identifier when Mackerel refuses the first), duplicates retired, changes written back;
//! and the hosts of ours no job wants any more, reported as gone (and retired if asked).

use super::{Created, FALLBACK, Hosts, LISTING_LAG, Place, Resolved, base_cid, ours, owned_by};
use crate::clock;
use crate::error::{Error, Result};
use crate::log;
use crate::mackerel::{Failure, Host, HostSpec, Mackerel};
use crate::presets::HostJob;
use serde_json::json;
use std::collections::HashSet;
use std::time::Instant;

impl Hosts {
    /// Lists the hosts and settles every spec of `jobs` (one per customIdentifier: the first
    /// job's says what the host is), checks each existing host, and finds the hosts of ours
    /// gone. `Err` only when the hosts cannot be listed.
    pub(super) fn resolve_all(
        &mut self,
        mackerel: &Mackerel,
        jobs: &[HostJob],
        now: i64,
    ) -> Result<Resolved> {
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
            .retain(|c| c.at <= now && now.saturating_sub(c.at) < LISTING_LAG);
        let mut out = Resolved::default();
        self.existing.clear();
        let mut checked: HashSet<&str> = HashSet::new();
        for id in jobs.iter().filter_map(|j| j.existing.as_deref()) {
            if !checked.insert(id) {
                continue;
            }
            match mackerel.host_is_live(id) {
                Ok(true) => {
                    self.existing.insert(id.to_string());
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
        let mut settled: HashSet<&str> = HashSet::new();
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
                    let before = self.places.get(cid);
                    // A new host where one of ours took the points: someone retired that one.
                    if let Some(old) = before.filter(|p| p.open)
                        && out.created > created
                        && !self.retired.contains(&old.id)
                    {
                        replaced.push((cid.to_string(), old.id.clone()));
                    }
                    if before.is_some_and(|p| p.id != id) {
                        out.moved.push(cid.to_string());
                    }
                    self.places
                        .insert(cid.to_string(), Place { id, open: true });
                    settled.insert(cid);
                }
                Err(e) => out.failed.push((cid.to_string(), e)),
            }
        }
        // The others take no points until a resolution finds their host again.
        for (cid, place) in &mut self.places {
            place.open &= settled.contains(cid.as_str());
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
        out.live = self.live();
        Ok(out)
    }

    fn settle(
        &mut self,
        mackerel: &Mackerel,
        spec: &HostSpec,
        mut live: Vec<Host>,
        out: &mut Resolved,
    ) -> Result<String> {
        let cid = spec.custom_identifier.as_str();
        if live.is_empty() {
            let made = self.created.iter().find(|c| c.cid == cid);
            if let Some(id) = made.map(|c| c.id.clone()) {
                // Made a moment ago: Mackerel may not list it yet, or someone retired it since.
                if self.still_live(mackerel, &id) {
                    return Ok(id);
                }
                self.bury(&id);
            }
            match self.create(mackerel, spec)? {
                Made::Refused(e) => return Err(e),
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
        match self.attempt(mackerel, spec, &cid)? {
            Made::Refused(_) => {}
            made => return Ok(made),
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
        self.attempt(mackerel, &fallback, &cid)
    }

    /// One create: the host made (remembered under `cid`), hosts of ours found holding the
    /// identifier, or the identifier refused with none of ours holding it.
    fn attempt(&mut self, mackerel: &Mackerel, spec: &HostSpec, cid: &str) -> Result<Made> {
        match mackerel.create_host(spec) {
            Ok(id) => {
                self.created.push(Created {
                    cid: cid.to_string(),
                    id: id.clone(),
                    at: clock::now(),
                });
                Ok(Made::New(id, spec.custom_identifier.clone()))
            }
            Err(Failure::Refused(status, e))
                if (400..500).contains(&status) && ![401, 403, 429].contains(&status) =>
            {
                let (owners, dead) = (&self.owners, &self.dead);
                let live = mackerel.hosts(Some(&spec.custom_identifier), &|h| {
                    ours(h, owners) && !dead.contains(&h.id)
                })?;
                Ok(match live.is_empty() {
                    true => Made::Refused(e),
                    false => Made::Existing(live),
                })
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
            let name = (job.shown)(h).unwrap_or(cid);
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

    /// Whether host `id` (made lately, not listed) is live; when that cannot be told (no
    /// lookups left, no answer), it is trusted: it was made moments ago.
    fn still_live(&mut self, mackerel: &Mackerel, id: &str) -> bool {
        if self.lookups == 0 {
            return true;
        }
        self.lookups -= 1;
        mackerel.host_is_live(id).unwrap_or(true)
    }

    /// Never uses host `id` again.
    pub(super) fn bury(&mut self, id: &str) {
        self.dead.insert(id.to_string());
        self.created.retain(|c| c.id != id);
    }
}

/// What a create came to.
enum Made {
    /// A new host: its ID and the identifier it got.
    New(String, String),
    /// Hosts of ours that hold the identifier already.
    Existing(Vec<Host>),
    /// Mackerel refused the identifier (held by a host that is not live), and no host of ours
    /// holds it.
    Refused(Error),
}
