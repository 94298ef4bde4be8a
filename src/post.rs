//! Post: datapoints to Mackerel in batches of at most 100, in order, stopping at the first
//! batch that fails for good. Re-posting a timestamp overwrites it, so a retried or repeated
//! batch does no harm.

use crate::error::Error;
use crate::mackerel::Mackerel;
use crate::map::Point;

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
