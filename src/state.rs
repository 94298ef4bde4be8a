//! The state file (`CW2MACKEREL_STATE_FILE`). Every daemon cycle and every `run` writes when it
//! ended, for `healthcheck`. A `run` has no memory between invocations, so it also keeps there
//! the record of what Mackerel accepted (cron every minute then posts each point once) and the
//! hosts it created lately. The file is versioned and tied to the configuration that wrote it
//! (a fingerprint of the Mackerel API base and the jobs, and one of the API key beside it);
//! written atomically; and read back only when all of that matches. A dry run, which reads no
//! key, matches on the configuration alone.

use crate::jobs::Dest;
use crate::record::Record;
use crate::{files, signals};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The format written; another number is another version's file. 3: the key's fingerprint
/// stands apart from the configuration's, so a dry run without the key can read the file.
const VERSION: u32 = 3;
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
    /// Hosts created lately: customIdentifier, host ID, Unix seconds.
    #[serde(default)]
    pub hosts_created: Vec<(String, String, i64)>,
    /// The time of the oldest point Mackerel has not taken yet: the next process (or run)
    /// of this configuration reads back to it, so a Mackerel outage longer than the
    /// look-back, across restarts, loses nothing Mackerel still accepts.
    #[serde(default)]
    pub unposted_since: Option<i64>,
    /// `run` only: per customIdentifier of the record, the host that took its points.
    #[serde(default)]
    pub posted_hosts: Vec<(String, String)>,
}

/// One series of the record: `dest` is `service:<name>` or `host:<customIdentifier>`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Posted {
    pub dest: String,
    pub name: String,
    pub points: Vec<(i64, f64)>,
}

impl State {
    /// The record this state holds.
    pub fn record(&self) -> Record {
        let mut record = Record::default();
        let mut dests: Vec<Rc<Dest>> = Vec::new();
        for s in &self.posted {
            let dest = match s.dest.split_once(':') {
                Some(("service", name)) => Dest::Service(name.into()),
                Some(("host", cid)) => Dest::Host(cid.into()),
                _ => continue,
            };
            // Series share their destination, as the pipeline's do.
            let dest = match dests.iter().find(|d| ***d == dest) {
                Some(d) => Rc::clone(d),
                None => {
                    let dest = Rc::new(dest);
                    dests.push(Rc::clone(&dest));
                    dest
                }
            };
            let name: Rc<str> = s.name.as_str().into();
            for &(t, v) in &s.points {
                record.insert(&dest, &name, t, v);
            }
        }
        for (cid, id) in &self.posted_hosts {
            record.host_is(cid, id);
        }
        record
    }

    /// Puts `record` into the state.
    pub fn set_record(&mut self, record: &Record) {
        self.posted = record
            .series()
            .map(|(dest, name, points)| Posted {
                dest: match dest {
                    Dest::Service(s) => format!("service:{s}"),
                    Dest::Host(cid) => format!("host:{cid}"),
                },
                name: name.to_string(),
                points: points.to_vec(),
            })
            .collect();
        self.posted_hosts = record
            .hosts()
            .map(|(cid, id)| (cid.to_string(), id.to_string()))
            .collect();
    }
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

/// Reads only what `healthcheck` needs, from a state file of any version.
pub fn load_any(path: &Path) -> Result<State, String> {
    let bytes =
        files::read(path, LIMIT).map_err(|e| format!("no state at {} ({e})", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("unreadable state in {}: {e}", path.display()))
}

/// Writes `state` (with this version) to `path`, atomically.
pub fn save(path: &Path, state: &mut State) -> Result<(), String> {
    state.version = VERSION;
    let bytes = serde_json::to_vec(state).map_err(|e| e.to_string())?;
    files::write(path, &bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// An exclusive hold on a state file, so that two `run`s at once do not each act on a record
/// the other is about to change. Released when dropped.
pub struct Lock(#[allow(dead_code)] File);

/// Takes the lock of `path` (the file `<path>.lock`), waiting up to `wait` for another run to
/// release it; `None` if it could not be had, or a stop signal cut the wait short.
pub fn lock(path: &Path, wait: Duration) -> Result<Option<Lock>, String> {
    let mut lock_path = PathBuf::from(path);
    lock_path.as_mut_os_string().push(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|e| format!("opening {}: {e}", lock_path.display()))?;
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
                return Err(format!("locking {}: {e}", lock_path.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "state files",
            &[br#"{"version":3,"config":"ab","key":"cd","completed":5,"interval_s":60,"ok":true,"pid":1,"posted":[{"dest":"service:cdn","name":"a.b","points":[[60,1.5]]}],"hosts_created":[["cid","id",5]]}"#],
            |b| {
                serde_json::from_slice::<State>(b)
                    .map_or(0, |s| s.record().series().map(|(_, _, p)| p.len()).sum())
            },
        );
    }
    use crate::jobs::Point;

    #[test]
    fn a_record_survives_the_file_and_only_for_its_configuration() {
        let dir = std::env::temp_dir().join(format!("cw2m-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let mut record = Record::default();
        let dest = Rc::new(Dest::Host("arn:aws:cloudfront::1:distribution/E1".into()));
        record.remember(&[Point {
            dest: Rc::clone(&dest),
            name: "custom.cloudfront.requests.request".into(),
            time: 60,
            value: 1.5,
        }]);
        let config = fingerprint(&["https://api.mackerelio.com", "jobs"]);
        let key = fingerprint(&["key"]);
        let mut state = State {
            config: config.clone(),
            key: key.clone(),
            completed: 100,
            interval_s: 60,
            ..State::default()
        };
        state.set_record(&record);
        save(&path, &mut state).unwrap();

        let back = load(&path, &config, Some(&key)).unwrap();
        assert_eq!(back.completed, 100);
        let p = Point {
            dest,
            name: "custom.cloudfront.requests.request".into(),
            time: 60,
            value: 1.5,
        };
        assert!(back.record().holds(&p.dest, &p.name, p.time, p.value));
        // A dry run knows no key: the configuration alone says whose the file is.
        assert!(load(&path, &config, None).is_ok());

        let why = |r: Result<State, Unread>| match r {
            Err(Unread::Unusable(why)) => why,
            other => panic!("expected an unusable file, got {other:?}"),
        };
        let other = fingerprint(&["https://api.mackerelio.com", "other jobs"]);
        assert!(why(load(&path, &other, Some(&key))).contains("another configuration"));
        let other_key = fingerprint(&["other key"]);
        assert!(why(load(&path, &config, Some(&other_key))).contains("another Mackerel API key"));
        std::fs::write(&path, "{\"version\": 3, \"completed\":").unwrap();
        assert!(why(load(&path, &config, None)).contains("corrupt"));
        std::fs::write(
            &path,
            "{\"version\": 2, \"completed\": 5, \"interval_s\": 60}",
        )
        .unwrap();
        assert!(why(load(&path, &config, None)).contains("another version (2)"));
        assert_eq!(load_any(&path).unwrap().completed, 5);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(load(&path, &config, None), Err(Unread::Missing)));

        let held = lock(&path, Duration::ZERO).unwrap().unwrap();
        assert!(lock(&path, Duration::from_millis(200)).unwrap().is_none());
        drop(held);
        assert!(lock(&path, Duration::ZERO).unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
