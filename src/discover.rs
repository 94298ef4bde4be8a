//! Discover: which CloudFront distributions to read. Explicit IDs need no call at all;
//! otherwise every page of ListDistributions, narrowed by IDs and tags when given.

use crate::aws::Aws;
use crate::aws::cloudfront::{self, Distribution};
use crate::error::Result;
use crate::log;
use serde_json::json;

/// What to read: explicit `ids` (none: all), a tag filter, and whether the distributions'
/// tags (for a `tag:` label) or their details (for hosts) are needed.
pub struct Selection<'a> {
    pub ids: &'a [String],
    pub tags: &'a [(String, String)],
    pub need_tags: bool,
    pub need_details: bool,
}

/// Explicit IDs, when nothing more than the ID is needed, cost no call. Otherwise every page of
/// ListDistributions, narrowed to the IDs if given; tags are read (one ListTagsForResource per
/// distribution) only when the filter or the label needs them, and a distribution is kept when
/// it carries every `key=value` of the filter.
pub fn distributions(aws: &Aws, sel: &Selection) -> Result<Vec<Distribution>> {
    let Selection { ids, tags, .. } = *sel;
    let need_tags = sel.need_tags || !tags.is_empty();
    if !ids.is_empty() && !sel.need_details && !need_tags {
        return Ok(ids
            .iter()
            .map(|id| Distribution {
                id: id.clone(),
                ..Distribution::default()
            })
            .collect());
    }
    let mut found = cloudfront::list_distributions(aws)?;
    if !ids.is_empty() {
        found.retain(|d| ids.contains(&d.id));
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| !found.iter().any(|d| &d.id == *id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            log::warn(
                "distributions not in the account",
                &[("ids", json!(missing.join(",")))],
            );
        }
    }
    if need_tags {
        for d in &mut found {
            d.tags = cloudfront::list_tags(aws, &d.arn)?;
        }
        found.retain(|d| tags.iter().all(|want| d.tags.contains(want)));
    }
    Ok(found)
}
