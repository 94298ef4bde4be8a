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
        state.set_record(&record, std::iter::empty());
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

    #[test]
    fn the_file_reads_and_writes_the_same_json() {
        let text = r#"{"version":4,"config":"ab","key":"cd","completed":5,"interval_s":60,"ok":true,"pid":1,"posted":[{"dest":"service:cdn","name":"a.b","points":[[60,1.5]]},{"dest":"host:arn:aws:cloudfront::1:distribution/E1","name":"custom.c","points":[[60,2.0]]}],"hosts_created":[["arn:aws:cloudfront::1:distribution/E2","H2",5]],"unposted_since":null,"posted_hosts":[["arn:aws:cloudfront::1:distribution/E1","H1"]]}"#;
        let state: State = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::to_value(&state).unwrap(),
            serde_json::from_str::<serde_json::Value>(text).unwrap(),
            "a user's file survives: the same JSON back"
        );
        assert_eq!(state.hosts_created[0].at, 5);
        assert_eq!(state.record().series().count(), 2);
        // A destination of another form (a later version's) is left out, not a corrupt file.
        let other = text.replace("service:cdn", "queue:cdn");
        let other: State = serde_json::from_str(&other).unwrap();
        assert_eq!(other.record().series().count(), 1);
    }

    #[test]
    fn the_hosts_kept_are_those_the_record_holds_points_of() {
        let mut record = Record::default();
        record.remember(&[Point {
            dest: Rc::new(Dest::Host("A".into())),
            name: "custom.a".into(),
            time: 60,
            value: 1.0,
        }]);
        let mut state = State::default();
        state.set_record(&record, [("A", "H1"), ("B", "H2")].into_iter());
        assert_eq!(state.posted_hosts, [("A".to_string(), "H1".to_string())]);
    }

    /// A configuration with every field of every job type set, none at its default.
    fn every_field() -> Vec<Job> {
        use crate::aws::Role;
        use crate::jobs::cloudfront::{Group, Label, Naming};
        use crate::jobs::template::{Pattern, Template};
        use crate::jobs::{CloudFrontJob, HostTarget, MetricSpec, MetricsJob, Target};
        let t = |s: &str| Template::parse(s).unwrap();
        let role = Some(Role {
            arn: "arn:aws:iam::123456789012:role/reader".into(),
            external_id: Some("x".into()),
        });
        vec![
            Job::CloudFront(CloudFrontJob {
                name: "cdn".into(),
                distributions: vec!["E1".into()],
                tags: vec![("env".into(), "prod".into())],
                groups: vec![Group::Requests, Group::CacheHitRate],
                label: Label::Tag("name".into()),
                names: Naming::Plugin,
                prefix: t("cf.{id}"),
                target: Target::Host(HostTarget {
                    custom_identifier: None,
                    name: Some(t("{domain}")),
                    display_name: Some(t("{label}")),
                    roles: vec!["cdn:edge".into()],
                    retire_gone: true,
                    host_id: None,
                }),
                role: role.clone(),
            }),
            Job::Metrics(MetricsJob {
                name: "alb".into(),
                regions: vec!["us-east-1".into()],
                namespace: "AWS/ApplicationELB".into(),
                period: 300,
                dimensions: vec![("LoadBalancer".into(), Pattern::new("app/*"))],
                tags: vec![("team".into(), "web".into())],
                metrics: vec![MetricSpec {
                    name: "RequestCount".into(),
                    stat: "Sum".into(),
                    nil_to_zero: true,
                }],
                target: Target::Service("web".into()),
                name_template: t("alb.{LoadBalancer}.{metric}"),
                role,
            }),
        ]
    }

    #[test]
    fn the_configuration_fingerprint_is_pinned() {
        let jobs = every_field();
        let print = config_print("https://api.mackerelio.com", &jobs);
        assert_eq!(
            (VERSION, print.as_str()),
            (4, "2c8fb885134c9b86"),
            "the configuration's fingerprint changed: a field of a job type was renamed, added, \
             removed or moved, or its serialized form changed. After an upgrade every user's \
             state file would then be another configuration's, silently. Keep the old form \
             (#[serde(rename = \"old_name\")]; skip_serializing_if for a new field at its \
             default), or, for a deliberate change, bump state::VERSION and pin the new \
             fingerprint here"
        );
        // What it is a fingerprint of: the API base and every job.
        assert_ne!(config_print("https://other.example", &jobs), print);
        assert_ne!(
            config_print("https://api.mackerelio.com", &jobs[..1]),
            print
        );
    }
}
