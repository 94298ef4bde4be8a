//! What a session keeps in the state file between processes: read back when a run (or a
//! daemon) starts, written when a cycle ends, as [`Keep`] says.

use super::{Keep, Session};
use crate::{clock, log, signals, state};
use serde_json::json;

impl Session<'_> {
    /// Reads what the state file holds for this process: a daemon, the oldest point its
    /// predecessor left unposted (quietly: a first start has no file). `run` also takes the
    /// file's lock and reads the record and recent hosts; a dry run reads them without the
    /// lock (a run replaces the file whole, by a rename), to print only what a run would
    /// post, unless asked for the full window. No file yet is said at `info` (every run of a
    /// fresh container has none); any other trouble means one warning. Either way the whole
    /// window is posted.
    pub(super) fn load(&mut self) {
        self.loaded = true;
        let cfg = self.cfg;
        let path = &cfg.state_file;
        let key = self.key_print.as_deref();
        if self.keep == Keep::Health {
            self.unposted_since = state::load(path, &self.fingerprint, key)
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
                    &[("error", json!(e))],
                );
            }
        }
        match state::load(path, &self.fingerprint, key) {
            Ok(s) => {
                self.record = s.record();
                self.hosts.seed(self.record.hosts());
                self.unposted_since = s.unposted_since;
                self.hosts.created = s.hosts_created;
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

    /// Writes the state file as `keep` says. A failure is a warning: the metrics matter more.
    pub(super) fn save(&mut self, ok: bool) {
        if self.keep == Keep::Nothing
            || self.cfg.dry_run
            || (self.keep == Keep::Everything && self.lock.is_none())
        {
            return;
        }
        // What an earlier process left unposted and a stopped cycle did not read stays owed.
        let owed = [self.backlog.oldest(), self.unposted_since];
        let mut s = state::State {
            config: self.fingerprint.clone(),
            key: self.key_print.clone().unwrap_or_default(),
            completed: clock::now(),
            interval_s: self.cfg.interval.as_secs(),
            ok,
            pid: std::process::id(),
            hosts_created: self.hosts.created.clone(),
            unposted_since: owed.into_iter().flatten().min(),
            ..state::State::default()
        };
        if self.keep == Keep::Everything {
            s.set_record(&self.record);
        }
        if let Err(e) = state::save(&self.cfg.state_file, &mut s) {
            log::warn(
                "could not write the state file; the next run posts its whole window",
                &[("error", json!(e))],
            );
        }
    }
}
