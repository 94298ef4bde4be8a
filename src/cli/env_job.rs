//! The one CloudFront job the environment (or the options) describes when there is no config
//! file: `CW2MACKEREL_SERVICE`, `MODE`, `ROLES`, `RETIRE_GONE`, `DISTRIBUTIONS`, `TAG`,
//! `METRICS` and `LABEL`, checked with the same checks a file's job passes.

use super::lookup::{self, Given, Lookup};
use super::settings::{self, Setting};
use crate::error::{Error, Result};
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
pub fn env_job(lookup: &Lookup, posts: bool) -> Result<Job> {
    let mode = lookup.or_default(&settings::MODE);
    let host = match mode.value.trim() {
        "service" => false,
        "host" => true,
        v => return Err(mode.error(format!("{v:?} is not a mode; use service or host"))),
    };
    let service = match lookup.get(&settings::SERVICE) {
        Some(g) => {
            let s = g.value.trim().to_string();
            check::service_name(&s).map_err(|e| g.error(e))?;
            s
        }
        None if posts && !host => {
            return Err(Error::config(
                "no Mackerel service: set CW2MACKEREL_SERVICE (or --service) to the service that receives the metrics",
            ));
        }
        None => String::new(),
    };
    let distributions = lookup.get(&settings::DISTRIBUTIONS);
    let ids = match &distributions {
        Some(g) => distribution_ids(&g.value).map_err(|e| g.error(e))?,
        None => Vec::new(),
    };
    let tags = match lookup.get(&settings::TAG) {
        Some(g) => tag_filters(&g.value).map_err(|e| g.error(e))?,
        None => Vec::new(),
    };
    let groups = {
        let g = lookup.or_default(&settings::METRICS);
        Group::parse_list(&g.value).map_err(|e| g.error(e))?
    };
    let label = {
        let g = lookup.or_default(&settings::LABEL);
        Label::parse(&g.value).map_err(|e| g.error(e))?
    };
    let roles = lookup.get(&settings::ROLES);
    let role_list = match &roles {
        Some(g) => role_list(&g.value).map_err(|e| g.error(e))?,
        None => Vec::new(),
    };
    let retire = lookup.get(&settings::RETIRE_GONE);
    let retire_gone = match &retire {
        Some(g) => lookup::parse_bool(&g.value)
            .ok_or_else(|| g.error(format!("{:?} is not true or false", g.value.trim())))?,
        None => false,
    };
    let host_only: Vec<&str> = [&roles, &retire]
        .into_iter()
        .flatten()
        .map(|g| g.from.as_str())
        .collect();
    if !host && !host_only.is_empty() {
        return Err(Error::config(format!(
            "{} apply to hosts; set CW2MACKEREL_MODE=host or remove them",
            host_only.join(" and ")
        )));
    }
    // Host mode always lists distributions: a host needs the ARN and the domain name.
    if let Some(Given { from, .. }) = &distributions
        && !host
        && (!tags.is_empty() || label != Label::Id)
    {
        return Err(Error::config(format!(
            "{from} skips the CloudFront API, so a tag filter or a label other than id cannot be applied; remove {from} to read the account's distributions, or use the id label without tags"
        )));
    }
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
