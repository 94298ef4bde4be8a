//! Hosts for host mode: one Mackerel host per resource, found by its customIdentifier among
//! every live (non-retired) host and created only when there is none. cw2mackerel never
//! registers a host for itself.
//!
//! Mackerel is not relied on to keep a customIdentifier unique, so every resolution heals:
//! when two runs create a host for the same identifier at once, both then see two live hosts,
//! keep the same one (the oldest; ties broken by id) and retire the other. A crash between
//! creating and posting leaves a host the next run finds; a retired host is never live, so it
//! is neither reused nor counted.

use crate::error::{Error, Result};
use crate::log;
use crate::mackerel::{Host, HostSpec, Mackerel};
use serde_json::json;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct Resolved {
    /// customIdentifier → host id.
    pub ids: HashMap<String, String>,
    pub created: usize,
    pub updated: usize,
    /// Duplicates, and gone hosts when asked to retire those.
    pub retired: usize,
    /// Hosts of ours whose resource left the selection (named by `meta.<owner>.id` or their
    /// customIdentifier).
    pub gone: Vec<String>,
}

/// Whether cw2mackerel made `host` for `owner` (and, when roles are configured, it carries the
/// first one: deployments that split one account between them tell their hosts apart so).
fn ours(host: &Host, owner: &str, role: Option<&str>) -> bool {
    host.meta["cw2mackerel"]["owner"] == owner && role.is_none_or(|r| host.has_role(r))
}

/// Finds or creates the host of every spec, heals duplicates, brings changed names or meta up
/// to date, and reports (and with `retire_gone` retires) hosts of ours nobody wants any more.
pub fn ensure(
    mackerel: &Mackerel,
    specs: &[HostSpec],
    owner: &str,
    role: Option<&str>,
    retire_gone: bool,
) -> Result<Resolved> {
    let all = mackerel.hosts(None)?;
    let mut known: HashMap<&str, Vec<&Host>> = HashMap::new();
    for h in &all {
        if let Some(cid) = h.custom_identifier.as_deref() {
            known.entry(cid).or_default().push(h);
        }
    }
    let mut out = Resolved::default();
    for spec in specs {
        let cid = spec.custom_identifier.as_str();
        let mut live: Vec<Host> = known
            .get(cid)
            .map(|v| v.iter().map(|h| (*h).clone()).collect())
            .unwrap_or_default();
        if live.is_empty() {
            // Ask by identifier before creating: a host may have appeared since the listing.
            live = mackerel.hosts(Some(cid))?;
        }
        if live.is_empty() {
            let created = mackerel.create_host(spec);
            // Whether or not the create went through (a Mackerel that keeps identifiers unique
            // refuses a second one), look again: another run may have created one meanwhile.
            live = mackerel.hosts(Some(cid))?;
            match created {
                Ok(_) => out.created += 1,
                Err(e) if live.is_empty() => return Err(e),
                Err(e) => log::debug(
                    "host creation refused; using the existing one",
                    &[("error", json!(e.message()))],
                ),
            }
        }
        let Some((keep, extra)) = live.split_first() else {
            return Err(Error::runtime(format!(
                "Mackerel lists no host with customIdentifier {cid:?} right after creating it"
            )));
        };
        for dup in extra {
            if mackerel.retire_host(&dup.id)? {
                out.retired += 1;
            }
        }
        if !spec.matches(keep) {
            mackerel.update_host(&keep.id, spec)?;
            out.updated += 1;
        }
        out.ids.insert(cid.to_string(), keep.id.clone());
    }

    let wanted: HashSet<&str> = specs.iter().map(|s| s.custom_identifier.as_str()).collect();
    for h in all.iter().filter(|h| ours(h, owner, role)) {
        let cid = h.custom_identifier.as_deref().unwrap_or_default();
        if wanted.contains(cid) {
            continue;
        }
        out.gone
            .push(h.meta[owner]["id"].as_str().unwrap_or(cid).to_string());
        if retire_gone && mackerel.retire_host(&h.id)? {
            out.retired += 1;
        }
    }
    Ok(out)
}

/// The live host of each customIdentifier that has one (the one [`ensure`] would keep),
/// without creating or changing anything.
pub fn lookup(mackerel: &Mackerel) -> Result<HashMap<String, String>> {
    let mut ids = HashMap::new();
    // Oldest first: the first host seen for an identifier is the one kept.
    for h in mackerel.hosts(None)? {
        if let Some(cid) = h.custom_identifier {
            ids.entry(cid).or_insert(h.id);
        }
    }
    Ok(ids)
}
