//! The state file (`CW2MACKEREL_STATE_FILE`). Every daemon cycle and every `run` writes when it
//! ended, for `healthcheck`. A `run` has no memory between invocations, so it also keeps there
//! the record of what Mackerel accepted (cron every minute then posts each point once) and the
//! hosts it created lately. The file is versioned and tied to the configuration that wrote it
//! (a fingerprint of the Mackerel API base and the jobs, and one of the API key beside it);
//! written atomically; and read back only when all of that matches. A dry run, which reads no
//! key, matches on the configuration alone. What goes in and comes out is the keeper's
//! (`session::keep`); this module is the file's form.
//!
//! The configuration's fingerprint ([`config_print`]) hashes a canonical serialization of the
//! jobs (serde's JSON of the job types, fields in their order) with [`VERSION`], never their
//! `Debug` form: a field renamed in the code would otherwise make every user's file "another
//! configuration" on upgrade. A golden fingerprint in the tests below catches such a change.

use crate::hosts::Created;
use crate::jobs::{Dest, Job};
use crate::record::Record;
use crate::{files, signals};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The format written; another number is another version's file. It is part of the
/// configuration's fingerprint too: bumping it is how the fingerprint's form is changed on
/// purpose (users then read "another version", once). 3: the key's fingerprint stands apart
/// from the configuration's, so a dry run without the key can read the file. 4: the
/// configuration's fingerprint hashes serde's JSON of the jobs, not their `Debug` form.
const VERSION: u32 = 4;
/// A state file larger than this is not read (5,000 distributions write about 8 MB).
const LIMIT: u64 = 256 << 20;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// [`fingerprint`] of the configuration that wrote it: the API base and the jobs.
    #[serde(default)]
    pub config: String,
    /// [`fingerprint`] of the Mackerel API key it posted with (empty: none known).
    #[serde(default)]
    pub key: String,
    /// Unix seconds at the end of the last cycle.
    pub completed: i64,
    pub interval_s: u64,
    #[serde(default)]
    pub ok: bool,
    #[serde(default)]
    pub pid: u32,
    /// `run` only: what Mackerel accepted, per series.
    #[serde(default)]
    pub posted: Vec<Posted>,
    /// Hosts created lately.
    #[serde(default)]
    pub hosts_created: Vec<Created>,
    /// The time of the oldest point Mackerel has not taken yet: the next process (or run)
    /// of this configuration reads back to it, so a Mackerel outage longer than the
    /// look-back, across restarts, loses nothing Mackerel still accepts.
    #[serde(default)]
    pub unposted_since: Option<i64>,
    /// `run` only: per customIdentifier of the record, the host that took its points.
    #[serde(default)]
    pub posted_hosts: Vec<(String, String)>,
}

/// One series of the record.
#[derive(Debug, Serialize, Deserialize)]
pub struct Posted {
    pub dest: DestKey,
    pub name: String,
    pub points: Vec<(i64, f64)>,
}

/// Where a series of the record went, as the file writes it: `service:<name>` or
/// `host:<customIdentifier>`. A key of another form (a later version's) reads as `None`, and
/// its series is left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct DestKey(pub Option<Dest>);

impl From<String> for DestKey {
    fn from(key: String) -> Self {
        DestKey(match key.split_once(':') {
            Some(("service", name)) => Some(Dest::Service(name.into())),
            Some(("host", cid)) => Some(Dest::Host(cid.into())),
            _ => None,
        })
    }
}

impl From<DestKey> for String {
    fn from(key: DestKey) -> String {
        match key.0 {
            Some(Dest::Service(name)) => format!("service:{name}"),
            Some(Dest::Host(cid)) => format!("host:{cid}"),
            None => String::new(),
        }
    }
}

impl State {
    /// The record this state holds.
    pub fn record(&self) -> Record {
        let mut record = Record::default();
        let mut dests: Vec<Rc<Dest>> = Vec::new();
        for s in &self.posted {
            let Some(dest) = &s.dest.0 else { continue };
            // Series share their destination, as the pipeline's do.
            let dest = match dests.iter().find(|d| ***d == *dest) {
                Some(d) => Rc::clone(d),
                None => {
                    let dest = Rc::new(dest.clone());
                    dests.push(Rc::clone(&dest));
                    dest
                }
            };
            let name: Rc<str> = s.name.as_str().into();
            for &(t, v) in &s.points {
                record.insert(&dest, &name, t, v);
            }
        }
        record
    }

    /// Puts `record` into the state, with the host that took each customIdentifier's points
    /// (of `took`, those the record holds points of).
    pub fn set_record<'a>(
        &mut self,
        record: &Record,
        took: impl Iterator<Item = (&'a str, &'a str)>,
    ) {
        self.posted = record
            .series()
            .map(|(dest, name, points)| Posted {
                dest: DestKey(Some(dest.clone())),
                name: name.to_string(),
                points: points.to_vec(),
            })
            .collect();
        let held: HashSet<&str> = record.host_cids();
        self.posted_hosts = took
            .filter(|(cid, _)| held.contains(cid))
            .map(|(cid, id)| (cid.to_string(), id.to_string()))
            .collect();
    }
}

/// The fingerprint of a configuration: the Mackerel API base and the jobs, as serde writes
/// them (see the module's documentation), with [`VERSION`].
pub fn config_print(apibase: &str, jobs: &[Job]) -> String {
    // Plain data in, so this cannot fail; were it to, no file would match, never a wrong one.
    let jobs = serde_json::to_string(jobs).unwrap_or_else(|e| format!("unserializable: {e}"));
    fingerprint(&[&VERSION.to_string(), apibase, &jobs])
}

/// What identifies a configuration for its state: where points go and what is read. A state
/// written for another API base, key or set of jobs says nothing about this one. The key is
/// fingerprinted apart ([`State::key`]), so that a dry run, which reads no key, still knows
/// the state of its configuration.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a state file was not read back.
#[derive(Debug)]
pub enum Unread {
    /// There is none yet: a first run, and every run of a fresh container (an ECS scheduled
    /// task) — nothing to warn about.
    Missing,
    /// There is one, but it says nothing about this configuration: unreadable, corrupt, of
    /// another version, or written for another configuration or key.
    Unusable(String),
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unread::Missing => f.write_str("there is no state file yet"),
            Unread::Unusable(why) => f.write_str(why),
        }
    }
}

/// Reads the state at `path`, if it is readable and was written by this version for this
/// configuration (and, when `key` is given, with this key); else says why not.
pub fn load(path: &Path, config: &str, key: Option<&str>) -> Result<State, Unread> {
    let bytes = files::read(path, LIMIT).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Unread::Missing,
        _ => Unread::Unusable(format!(
            "the state file {} is unreadable: {e}",
            path.display()
        )),
    })?;
    let unusable = |why: String| Err(Unread::Unusable(why));
    let state: State = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return unusable(format!("the state file {} is corrupt: {e}", path.display())),
    };
    if state.version != VERSION {
        return unusable(format!(
            "the state file {} is of another version ({})",
            path.display(),
            state.version
        ));
    }
    if state.config != config {
        return unusable(format!(
            "the state file {} was written for another configuration",
            path.display()
        ));
    }
    if key.is_some_and(|k| k != state.key) {
        return unusable(format!(
            "the state file {} was written with another Mackerel API key",
            path.display()
        ));
    }
    Ok(state)
}

/// Why a state file could not be read whole (for `healthcheck`), written, or locked: what was
/// being done, where, and what the system said.
#[derive(Debug)]
pub enum FileError {
    /// Missing, not a regular file, too large, or not readable.
    Unreadable(PathBuf, io::Error),
    /// Read, but not a state file.
    Undecodable(PathBuf, serde_json::Error),
    /// Not written whole (a missing or read-only directory, a full disk).
    Unwritable(PathBuf, io::Error),
    /// Its lock file could not be opened (`doing` says) or locked.
    Unlockable(&'static str, PathBuf, io::Error),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Unreadable(p, e) => write!(f, "no state at {} ({e})", p.display()),
            FileError::Undecodable(p, e) => write!(f, "unreadable state in {}: {e}", p.display()),
            FileError::Unwritable(p, e) => write!(f, "writing {}: {e}", p.display()),
            FileError::Unlockable(doing, p, e) => write!(f, "{doing} {}: {e}", p.display()),
        }
    }
}

/// Reads only what `healthcheck` needs, from a state file of any version.
pub fn load_any(path: &Path) -> Result<State, FileError> {
    let bytes = files::read(path, LIMIT).map_err(|e| FileError::Unreadable(path.into(), e))?;
    serde_json::from_slice(&bytes).map_err(|e| FileError::Undecodable(path.into(), e))
}

/// Writes `state` (with this version) to `path`, atomically.
pub fn save(path: &Path, state: &mut State) -> Result<(), FileError> {
    state.version = VERSION;
    let unwritable = |e: io::Error| FileError::Unwritable(path.into(), e);
    let bytes = serde_json::to_vec(state).map_err(|e| unwritable(io::Error::other(e)))?;
    files::write(path, &bytes).map_err(unwritable)
}

/// An exclusive hold on a state file, so that two `run`s at once do not each act on a record
/// the other is about to change. Released when dropped.
pub struct Lock(#[allow(dead_code)] File);

/// Takes the lock of `path` (the file `<path>.lock`), waiting up to `wait` for another run to
/// release it; `None` if it could not be had, or a stop signal cut the wait short.
pub fn lock(path: &Path, wait: Duration) -> Result<Option<Lock>, FileError> {
    let mut lock_path = PathBuf::from(path);
    lock_path.as_mut_os_string().push(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|e| FileError::Unlockable("opening", lock_path.clone(), e))?;
    let until = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(Lock(file))),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < until => {
                if !signals::sleep_until(Instant::now() + Duration::from_millis(100)) {
                    return Ok(None);
                }
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(FileError::Unlockable("locking", lock_path, e));
            }
        }
    }
}

#[cfg(test)]
mod tests;
