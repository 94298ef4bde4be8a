//! The keeper of the state file: what a session keeps between processes, read back when a
//! run (or a daemon) starts and written when a cycle ends, as [`Keep`] says. It alone takes
//! the file's lock and knows what the file holds; the session hands it the record and the
//! host map, and asks it how far back an earlier process left points unposted.

use crate::config::Config;
use crate::error::Secret;
use crate::hosts::Hosts;
use crate::record::Record;
use crate::{clock, log, signals, state};
use serde_json::json;

/// Where a session keeps what outlives it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing (a Lambda environment lives in memory only).
    Nothing,
    /// When each cycle ended, for `healthcheck` (a daemon).
    Health,
    /// That, and the record and recent hosts, read back by the next run (`run`).
    Everything,
}

pub struct Keeper<'a> {
    cfg: &'a Config,
    keep: Keep,
    /// The state file's fingerprint of this configuration (the API base and the jobs).
    config: String,
    /// And of the API key, once it is known (a dry run knows none).
    key: Option<String>,
    /// Whether the file was read (or found missing) yet; `Everything`: the lock held.
    loaded: bool,
    lock: Option<state::Lock>,
    /// From the file: the oldest point an earlier process or run left unposted.
    unposted_since: Option<i64>,
}

impl<'a> Keeper<'a> {
    pub fn new(cfg: &'a Config, keep: Keep) -> Self {
        Keeper {
            cfg,
            keep,
            config: state::config_print(&cfg.apibase, &cfg.jobs),
            key: None,
            loaded: false,
            lock: None,
            unposted_since: None,
        }
    }

    pub fn keep(&self) -> Keep {
        self.keep
    }

    /// The API key posted with: a file written with another is not read back.
    pub fn know_key(&mut self, key: &Secret) {
        self.key = Some(state::fingerprint(&[key.expose()]));
    }

    /// The oldest point an earlier process or run left unposted, once: the cycle that reads
    /// back to it takes the debt over.
    pub fn take_owed(&mut self) -> Option<i64> {
        self.unposted_since.take()
    }

    /// Reads what the state file holds for this process, once: a daemon, the oldest point
    /// its predecessor left unposted (quietly: a first start has no file). `run` also takes
    /// the file's lock and reads the record and the hosts; a dry run reads them without the
    /// lock (a run replaces the file whole, by a rename), to print only what a run would
    /// post, unless asked for the full window. No file yet is said at `info` (every run of a
    /// fresh container has none); any other trouble means one warning. Either way the whole
    /// window is posted.
    pub fn load(&mut self, record: &mut Record, hosts: &mut Hosts) {
        if self.keep == Keep::Nothing || std::mem::replace(&mut self.loaded, true) {
            return;
        }
        let cfg = self.cfg;
        let path = &cfg.state_file;
        let key = self.key.as_deref();
        if self.keep == Keep::Health {
            self.unposted_since = state::load(path, &self.config, key)
                .ok()
                .and_then(|s| s.unposted_since);
            return;
        }
        let doing = match cfg.dry_run {
            true if cfg.full_window => return,
            true => "printing",
            false => "posting",
        };
        // Another run may be posting: wait for it, but not past half an interval. A dry run
        // writes nothing, so it takes no lock.
        let locked = match cfg.dry_run {
            true => Ok(None),
            false => state::lock(path, cfg.interval / 2),
        };
        match locked {
            Ok(Some(lock)) => self.lock = Some(lock),
            Ok(None) if cfg.dry_run => {}
            Ok(None) if signals::stopping() => return, // the cycle ends without the file
            Ok(None) => {
                return log::warn(
                    "another run holds the state file; posting the whole window without it",
                    &[("path", json!(path.display().to_string()))],
                );
            }
            Err(e) => {
                return log::warn(
                    "the state file cannot be used; posting the whole window",
                    &[("error", json!(e.to_string()))],
                );
            }
        }
        match state::load(path, &self.config, key) {
            Ok(s) => {
                *record = s.record();
                hosts.restore(s.posted_hosts, s.hosts_created);
                self.unposted_since = s.unposted_since;
            }
            Err(state::Unread::Missing) => log::info(
                &format!("no state file yet; {doing} the whole window"),
                &[("path", json!(path.display().to_string()))],
            ),
            Err(why) => log::warn(
                &format!("no record of earlier posts; {doing} the whole window"),
                &[("reason", json!(why.to_string()))],
            ),
        }
    }

    /// Writes the state file as [`Keep`] says, `ok` telling whether the cycle went well and
    /// `unposted` the oldest point it left unposted. A failure is a warning: the metrics
    /// matter more.
    pub fn save(&mut self, ok: bool, record: &Record, hosts: &Hosts, unposted: Option<i64>) {
        let cfg = self.cfg;
        if self.keep == Keep::Nothing
            || cfg.dry_run
            || (self.keep == Keep::Everything && self.lock.is_none())
        {
            return;
        }
        // What an earlier process left unposted and a stopped cycle did not read stays owed.
        let owed = [unposted, self.unposted_since];
        let mut s = state::State {
            config: self.config.clone(),
            key: self.key.clone().unwrap_or_default(),
            completed: clock::now(),
            interval_s: cfg.interval.as_secs(),
            ok,
            pid: std::process::id(),
            hosts_created: hosts.created().to_vec(),
            unposted_since: owed.into_iter().flatten().min(),
            ..state::State::default()
        };
        if self.keep == Keep::Everything {
            s.set_record(record, hosts.took());
        }
        if let Err(e) = state::save(&cfg.state_file, &mut s) {
            log::warn(
                "could not write the state file; the next run posts its whole window",
                &[("error", json!(e.to_string()))],
            );
        }
    }
}
