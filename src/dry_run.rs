//! What a dry run prints instead of posting: one JSON line per point on stdout.

use crate::jobs::{Dest, Point};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Write;

/// `--dry-run` output: one JSON line per point, `{"name","time","value"}`, with `host` (its
/// customIdentifier) for host metrics and `service` when more than one service is posted to.
pub fn print(points: &[Point]) {
    let services: BTreeSet<&str> = points
        .iter()
        .filter_map(|p| match &*p.dest {
            Dest::Service(s) => Some(s.as_str()),
            Dest::Host(_) => None,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for p in points {
        let mut line = json!({"name": &*p.name, "time": p.time, "value": p.value});
        match &*p.dest {
            Dest::Host(cid) => line["host"] = json!(cid),
            Dest::Service(s) if services.len() > 1 => line["service"] = json!(s),
            Dest::Service(_) => {}
        }
        // A closed pipe (`| head`) just ends the listing.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    let _ = out.flush();
}
