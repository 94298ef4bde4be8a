//! Discover: which CloudFront distributions to read. Explicit IDs need no call at all;
//! otherwise every page of ListDistributions, narrowed by tags when a filter is set.

use crate::aws::Aws;
use crate::aws::cloudfront::{self, Distribution};
use crate::error::Result;

/// `ids` wins when given. Tags are read (one ListTagsForResource per distribution) only when
/// `tags` filters or `need_tags` says the label needs them; a distribution is kept when it
/// carries every `key=value` of the filter.
pub fn distributions(
    aws: &Aws,
    ids: &[String],
    tags: &[(String, String)],
    need_tags: bool,
) -> Result<Vec<Distribution>> {
    if !ids.is_empty() {
        return Ok(ids
            .iter()
            .map(|id| Distribution {
                id: id.clone(),
                ..Distribution::default()
            })
            .collect());
    }
    let mut found = cloudfront::list_distributions(aws)?;
    if tags.is_empty() && !need_tags {
        return Ok(found);
    }
    for d in &mut found {
        d.tags = cloudfront::list_tags(aws, &d.arn)?;
    }
    found.retain(|d| tags.iter().all(|want| d.tags.contains(want)));
    Ok(found)
}
