//! Discover: what each job reads, handed to the job's preset ([`expand`]). For CloudFront,
//! the distributions (every page of ListDistributions, narrowed by IDs and tags; explicit IDs
//! are read as given when it is refused). For any other namespace, the metrics ListMetrics
//! finds with data in the last three hours, narrowed by the job's dimension filters and tags.
//! A daemon or a warm Lambda reuses every answer for `discovery_ttl`.

use crate::aws::Aws;
use crate::aws::Role;
use crate::aws::cloudfront::{self, Distribution};
use crate::aws::{cloudwatch, tagging};
use crate::error::Result;
use crate::jobs::{CloudFrontJob, Job, MetricsJob, Target};
use crate::log;
use crate::presets::namespace::Found;
use crate::presets::{self, Expansion};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What `job` reads now, as its preset turns it into series, hosts and graphs.
pub fn expand(aws: &Aws, job: &Job, cache: &mut Cache) -> Result<Expansion> {
    Ok(match job {
        Job::CloudFront(j) => {
            let dists = distributions(aws, &Selection::of(j), cache)?;
            presets::cloudfront::expand(j, dists, aws.global_region())
        }
        Job::Metrics(j) => presets::namespace::expand(j, metrics(aws, j, cache)?),
    })
}

/// What to read: explicit `ids` (none: all), a tag filter, and whether the distributions'
/// tags (for a `tag:` label) or their details (for hosts) are needed.
#[derive(Clone, Copy)]
struct Selection<'a> {
    ids: &'a [String],
    tags: &'a [(String, String)],
    need_tags: bool,
    need_details: bool,
    role: Option<&'a Role>,
}

impl<'a> Selection<'a> {
    /// What a CloudFront job reads.
    fn of(job: &'a CloudFrontJob) -> Self {
        Selection {
            ids: &job.distributions,
            tags: &job.tags,
            need_tags: job.label.needs_tags(),
            need_details: matches!(job.target, Target::Host(_)),
            role: job.role.as_ref(),
        }
    }
}

/// Every page of ListDistributions, narrowed to the IDs if given: an ID not in the account is
/// named in one warning per refresh and not read (its sums would be zeros forever). Explicit
/// IDs that need nothing more than the ID are read as given when the listing fails (the
/// permission is optional then). Tags are read (one ListTagsForResource per distribution)
/// only when the filter or the label needs them, and a distribution is kept when it carries
/// every `key=value` of the filter.
fn distributions(aws: &Aws, sel: &Selection, cache: &mut Cache) -> Result<Vec<Distribution>> {
    let key = SelectionKey {
        ids: sel.ids.to_vec(),
        tags: sel.tags.to_vec(),
        need_tags: sel.need_tags,
        need_details: sel.need_details,
        role: sel.role.cloned(),
    };
    if let Some((at, found)) = cache.distributions.get(&key)
        && cache.fresh(at)
    {
        return Ok(found.clone());
    }
    let found = list(aws, sel)?;
    cache.refreshed = true;
    cache
        .distributions
        .insert(key, (Instant::now(), found.clone()));
    Ok(found)
}

fn list(aws: &Aws, sel: &Selection) -> Result<Vec<Distribution>> {
    let Selection {
        ids, tags, role, ..
    } = *sel;
    let need_tags = sel.need_tags || !tags.is_empty();
    // Explicit IDs may be all that is needed: the listing then only checks that they exist,
    // and without it (no cloudfront:ListDistributions, say) they are read as given.
    let ids_only = !ids.is_empty() && !sel.need_details && !need_tags;
    let as_given = |ids: &mut dyn Iterator<Item = &String>| -> Vec<Distribution> {
        ids.map(|id| Distribution {
            id: id.clone(),
            ..Distribution::default()
        })
        .collect()
    };
    let mut found = match cloudfront::list_distributions(aws, role) {
        Err(e) if ids_only => {
            log::debug(
                "the distribution IDs could not be checked; reading them as given",
                &[("error", json!(e.message()))],
            );
            return Ok(as_given(&mut ids.iter()));
        }
        listed => listed?,
    };
    if !ids.is_empty() {
        found.retain(|d| ids.contains(&d.id));
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| !found.iter().any(|d| &d.id == *id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            log::warn(
                "distributions not in the account are not read (mistyped, or deleted?)",
                &[("ids", json!(missing.join(",")))],
            );
        }
    }
    if ids_only {
        // Nothing but the ID, as when the IDs could not be checked: the labels, and so the
        // metric names, do not depend on whether the permission is there.
        return Ok(as_given(
            &mut ids.iter().filter(|id| found.iter().any(|d| &d.id == *id)),
        ));
    }
    if need_tags {
        for d in &mut found {
            d.tags = cloudfront::list_tags(aws, &d.arn, role)?;
        }
        found.retain(|d| tags.iter().all(|want| d.tags.contains(want)));
    }
    Ok(found)
}

/// A [`Selection`] as a cache key: the selection itself, owned.
#[derive(PartialEq, Eq, Hash)]
struct SelectionKey {
    ids: Vec<String>,
    tags: Vec<(String, String)>,
    need_tags: bool,
    need_details: bool,
    role: Option<Role>,
}

type Dimensions = Vec<Vec<(String, String)>>;
/// (role, region, namespace, metric name)
type MetricKey = (Option<Role>, String, String, String);
/// (role, region, tags)
type TagKey = (Option<Role>, String, Vec<(String, String)>);

/// Discovery answers, reused for `ttl` (a daemon's cycles share them).
#[derive(Default)]
pub struct Cache {
    ttl: Duration,
    distributions: HashMap<SelectionKey, (Instant, Vec<Distribution>)>,
    metrics: HashMap<MetricKey, (Instant, Dimensions)>,
    tagged: HashMap<TagKey, (Instant, Vec<String>)>,
    /// Whether an answer was asked for afresh since [`Cache::take_refreshed`].
    refreshed: bool,
}

impl Cache {
    pub fn new(ttl: Duration) -> Cache {
        Cache {
            ttl,
            ..Cache::default()
        }
    }

    fn fresh(&self, at: &Instant) -> bool {
        at.elapsed() < self.ttl
    }

    /// Whether discovery asked AWS anything since the last time this was asked: what it
    /// found is then worth one warning.
    pub fn take_refreshed(&mut self) -> bool {
        std::mem::take(&mut self.refreshed)
    }
}

/// The metrics of `job` that match its dimension filter (the same dimension names, every value
/// matching its pattern) and, with tags, name a resource that carries them.
fn metrics(aws: &Aws, job: &MetricsJob, cache: &mut Cache) -> Result<Vec<Found>> {
    let role = job.role.as_ref();
    let mut out = Vec::new();
    for region in &job.regions {
        let tagged = match job.tags.is_empty() {
            true => None,
            false => {
                let key = (job.role.clone(), region.clone(), job.tags.clone());
                match cache.tagged.get(&key).filter(|(at, _)| cache.fresh(at)) {
                    Some((_, arns)) => Some(arns.clone()),
                    None => {
                        let arns = tagging::tagged_arns(aws, region, role, &job.tags)?;
                        cache.refreshed = true;
                        cache.tagged.insert(key, (Instant::now(), arns.clone()));
                        Some(arns)
                    }
                }
            }
        };
        let mut names: Vec<&str> = job.metrics.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let key = (
                job.role.clone(),
                region.clone(),
                job.namespace.clone(),
                name.to_string(),
            );
            let sets = match cache.metrics.get(&key).filter(|(at, _)| cache.fresh(at)) {
                Some((_, sets)) => sets.clone(),
                None => {
                    let mut sets =
                        cloudwatch::list_metrics(aws, region, role, &job.namespace, name)?;
                    // Sorted, so that of two metrics that would post under one name the same
                    // one is read every time, whatever order ListMetrics gives.
                    sets.iter_mut().for_each(|dims| dims.sort());
                    sets.sort();
                    cache.refreshed = true;
                    cache.metrics.insert(key, (Instant::now(), sets.clone()));
                    sets
                }
            };
            for dims in sets {
                let wanted = dims.len() == job.dimensions.len()
                    && dims
                        .iter()
                        .all(|(k, v)| job.dimensions.iter().any(|(fk, p)| fk == k && p.matches(v)))
                    && tagged.as_ref().is_none_or(|arns| {
                        dims.iter()
                            .any(|(_, v)| arns.iter().any(|a| tagging::names(a, v)))
                    });
                let found = Found {
                    region: region.clone(),
                    metric: name.to_string(),
                    dimensions: dims,
                };
                if wanted && !out.contains(&found) {
                    out.push(found);
                }
            }
        }
    }
    Ok(out)
}
