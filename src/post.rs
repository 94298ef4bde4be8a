//! Post: datapoints to Mackerel in batches of at most 100, in order, stopping at the first
//! batch that fails for good. Re-posting a timestamp overwrites it, so a retried or repeated
//! batch does no harm.

use crate::error::{Error, Result};
use crate::mackerel::{HostPoint, Mackerel, Refused};
use crate::map::Point;
use std::collections::HashMap;

/// Datapoints per request.
pub const BATCH: usize = 100;

/// Posts `points` to `service`. On failure, the error comes with how many points (a prefix
/// of `points`) were posted before it.
pub fn to_service(
    mackerel: &Mackerel,
    service: &str,
    points: &[Point],
) -> Result<usize, (usize, Error)> {
    let mut posted = 0;
    for batch in points.chunks(BATCH) {
        mackerel
            .post_service_metrics(service, batch)
            .map_err(|e| (posted, e))?;
        posted += batch.len();
    }
    Ok(posted)
}

/// Posts host `points` (whose `host` is a customIdentifier) to the hosts `ids` maps them to.
/// When Mackerel refuses a batch with 400 or 404 (a host retired under us, say by a run that
/// healed a duplicate), the hosts are resolved again with `resolve` and the batch retried once.
pub fn to_hosts(
    mackerel: &Mackerel,
    points: &[Point],
    mut ids: HashMap<String, String>,
    mut resolve: impl FnMut() -> Result<HashMap<String, String>>,
) -> Result<usize, (usize, Error)> {
    let mut posted = 0;
    let mut resolved_again = false;
    for batch in points.chunks(BATCH) {
        loop {
            let items = host_points(batch, &ids).map_err(|e| (posted, e))?;
            match mackerel.post_host_metrics(&items) {
                Ok(()) => break,
                Err(Refused {
                    status: 400 | 404, ..
                }) if !resolved_again => {
                    resolved_again = true;
                    ids = resolve().map_err(|e| (posted, e))?;
                }
                Err(r) => return Err((posted, r.error)),
            }
        }
        posted += batch.len();
    }
    Ok(posted)
}

fn host_points<'a>(
    batch: &'a [Point],
    ids: &'a HashMap<String, String>,
) -> Result<Vec<HostPoint<'a>>> {
    batch
        .iter()
        .map(|p| {
            let cid = p.host.as_deref().unwrap_or_default();
            let host_id = ids
                .get(cid)
                .ok_or_else(|| Error::runtime(format!("no Mackerel host for {cid:?}")))?;
            Ok(HostPoint {
                host_id,
                name: &p.name,
                time: p.time,
                value: p.value,
            })
        })
        .collect()
}
