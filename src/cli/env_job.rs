//! The one CloudFront job the environment (or the options) describes when there is no config
//! file: `CW2MACKEREL_SERVICE`, `MODE`, `ROLES`, `RETIRE_GONE`, `DISTRIBUTIONS`, `TAG`,
//! `METRICS` and `LABEL`, checked with the same checks a file's job passes.

use super::lookup::{self, Given, Lookup};
use super::settings::{self, Setting};
use crate::error::{Error, Mistakes, Result};
use crate::jobs::cloudfront::{Group, Label};
use crate::jobs::{CloudFrontJob, HostTarget, Job, Target, check};

/// The settings that describe the job; with a config file they must stay unset.
pub const JOB_SETTINGS: [&Setting; 8] = [
    &settings::SERVICE,
    &settings::MODE,
    &settings::ROLES,
    &settings::RETIRE_GONE,
    &settings::DISTRIBUTIONS,
    &settings::TAG,
    &settings::METRICS,
    &settings::LABEL,
];

/// The job, for a command that posts (`posts`: a service is then required in service mode).
/// Every setting is checked, so that one mistake (a missing service, say) does not hide the
/// others; the checks across settings are made when the settings they need could be read.
pub fn env_job(lookup: &Lookup, posts: bool) -> Result<Job> {
    let mut m = Mistakes::default();
    let mode = lookup.or_default(&settings::MODE);
    let host = m.take(match mode.value.trim() {
        "service" => Ok(false),
        "host" => Ok(true),
        v => Err(mode.error(format!("{v:?} is not a mode; use service or host"))),
    });
    let service = match lookup.get(&settings::SERVICE) {
        Some(g) => {
            let s = g.value.trim().to_string();
            m.take(check::service_name(&s).map(|()| s).map_err(|e| g.error(e)))
        }
        None if posts && host == Some(false) => {
            m.push(Error::config(
                "no Mackerel service: set CW2MACKEREL_SERVICE (or --service) to the service that receives the metrics",
            ));
            None
        }
        None => Some(String::new()),
    };
    let distributions = lookup.get(&settings::DISTRIBUTIONS);
    let ids = match &distributions {
        Some(g) => m.take(distribution_ids(&g.value).map_err(|e| g.error(e))),
        None => Some(Vec::new()),
    };
    let tags = match lookup.get(&settings::TAG) {
        Some(g) => m.take(tag_filters(&g.value).map_err(|e| g.error(e))),
        None => Some(Vec::new()),
    };
    let groups = {
        let g = lookup.or_default(&settings::METRICS);
        m.take(Group::parse_list(&g.value).map_err(|e| g.error(e)))
    };
    let label = {
        let g = lookup.or_default(&settings::LABEL);
        m.take(Label::parse(&g.value).map_err(|e| g.error(e)))
    };
    let roles = lookup.get(&settings::ROLES);
    let role_list = match &roles {
        Some(g) => m.take(role_list(&g.value).map_err(|e| g.error(e))),
        None => Some(Vec::new()),
    };
    let retire = lookup.get(&settings::RETIRE_GONE);
    let retire_gone = match &retire {
        Some(g) => m.take(
            lookup::parse_bool(&g.value)
                .ok_or_else(|| g.error(format!("{:?} is not true or false", g.value.trim()))),
        ),
        None => Some(false),
    };
    let host_only: Vec<&str> = [&roles, &retire]
        .into_iter()
        .flatten()
        .map(|g| g.from.as_str())
        .collect();
    if host == Some(false) && !host_only.is_empty() {
        let (are, them) = match host_only.len() {
            1 => ("is", "it"),
            _ => ("are", "them"),
        };
        m.push(Error::config(format!(
            "{} {are} for host mode only; set CW2MACKEREL_MODE=host or remove {them}",
            lookup::and_list(&host_only)
        )));
    }
    // Host mode always lists distributions: a host needs the ARN and the domain name.
    if let Some(Given { from, .. }) = &distributions
        && host == Some(false)
        && (tags.as_ref().is_some_and(|t| !t.is_empty())
            || label.as_ref().is_some_and(|l| *l != Label::Id))
    {
        m.push(Error::config(format!(
            "{from} skips the CloudFront API, so a tag filter or a label other than id cannot be applied; remove {from} to read the account's distributions, or use the id label without tags"
        )));
    }
    let parts = (|| {
        Some((
            host?,
            service?,
            ids?,
            tags?,
            groups?,
            label?,
            role_list?,
            retire_gone?,
        ))
    })();
    let (host, service, ids, tags, groups, label, role_list, retire_gone) = m.or(parts)?;
    let target = match host {
        true => Target::Host(HostTarget {
            custom_identifier: None,
            name: None,
            display_name: None,
            roles: role_list,
            retire_gone,
        }),
        false => Target::Service(service),
    };
    Ok(Job::CloudFront(CloudFrontJob {
        name: "cloudfront".into(),
        distributions: ids,
        tags,
        groups,
        label,
        target,
        role: None,
    }))
}

/// The items of a comma list, trimmed, empty ones skipped.
fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn distribution_ids(list: &str) -> Result<Vec<String>, String> {
    let ids = items(list)
        .map(|id| check::distribution_id(id).map(|()| id.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err("no distribution ID in the list".into());
    }
    Ok(check::dedup(ids))
}

fn role_list(list: &str) -> Result<Vec<String>, String> {
    items(list)
        .map(|r| check::role_fullname(r).map(|()| r.to_string()))
        .collect()
}

fn tag_filters(list: &str) -> Result<Vec<(String, String)>, String> {
    items(list)
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if check::tag_key(k).is_ok() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(format!("{pair:?} is not a tag filter; write key=value")),
        })
        .collect()
}
