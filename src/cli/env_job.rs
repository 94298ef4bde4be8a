//! The one CloudFront job the environment (or the options) describes when there is no config
//! file: `CW2MACKEREL_SERVICE`, `MODE`, `ROLES`, `RETIRE_GONE`, `DISTRIBUTIONS`, `TAG`,
//! `METRICS`, `LABEL`, `NAMES`, `METRIC_KEY_PREFIX` and `HOST_ID`, checked with the same
//! checks a file's job passes.

use super::lookup::{self, Given, Lookup};
use super::settings::{self, Setting};
use crate::error::{Error, Result};
use crate::jobs::cloudfront::{Group, Label, Naming};
use crate::jobs::{CloudFrontJob, HostTarget, Job, Target, check};

/// The settings that describe the job; with a config file they must stay unset.
pub const JOB_SETTINGS: [&Setting; 11] = [
    &settings::SERVICE,
    &settings::MODE,
    &settings::ROLES,
    &settings::RETIRE_GONE,
    &settings::DISTRIBUTIONS,
    &settings::TAG,
    &settings::METRICS,
    &settings::LABEL,
    &settings::NAMES,
    &settings::METRIC_KEY_PREFIX,
    &settings::HOST_ID,
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
    let names = {
        let g = lookup.or_default(&settings::NAMES);
        Naming::parse(&g.value).map_err(|e| g.error(e))?
    };
    let groups = {
        let g = lookup.or_default(&settings::METRICS);
        if names == Naming::Plugin && lookup.get(&settings::METRICS).is_some() {
            return Err(g.error(
                "goes with cw2mackerel names: plugin names are the plugin's five metrics; leave it unset",
            ));
        }
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
    let host_id = lookup.get(&settings::HOST_ID);
    if let Some(g) = &host_id {
        check::host_id(g.value.trim()).map_err(|e| g.error(e))?;
        if let Some(made) = [&roles, &retire].into_iter().flatten().next() {
            return Err(made.error(format!(
                "describes the hosts cw2mackerel makes, and with {} it makes none; remove it",
                g.from
            )));
        }
    }
    let prefix_from = lookup.get(&settings::METRIC_KEY_PREFIX);
    let prefix = {
        let g = lookup.or_default(&settings::METRIC_KEY_PREFIX);
        check::metric_key_prefix(&g.value).map_err(|e| g.error(e))?
    };
    let host_only: Vec<&str> = [&roles, &retire, &host_id]
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
    // Distributions that share one place (a host, or a service with plugin names) must
    // each get their own names.
    if let Some(g) = &prefix_from
        && !host
        && names == Naming::Cw2mackerel
    {
        return Err(g.error(
            "names service metrics only with CW2MACKEREL_NAMES=plugin (cw2mackerel's service metrics are cloudfront.<label>.…); remove it, or use host mode",
        ));
    }
    let one_place = match &host_id {
        Some(g) => Some(format!("on the one host {} names", g.from)),
        None if !host && names == Naming::Plugin => Some("in the one service".to_string()),
        None => None,
    };
    if let Some(place) = one_place {
        let g = lookup.or_default(&settings::METRIC_KEY_PREFIX);
        check::prefix_for_one_place(g.value.trim(), &prefix, &ids, &place)
            .map_err(|e| g.error(e))?;
    }
    let target = match host {
        true => Target::Host(HostTarget {
            custom_identifier: None,
            name: None,
            display_name: None,
            roles: role_list,
            retire_gone,
            host_id: host_id.map(|g| g.value.trim().to_string()),
        }),
        false => Target::Service(service),
    };
    Ok(Job::CloudFront(CloudFrontJob {
        name: "cloudfront".into(),
        distributions: ids,
        tags,
        groups,
        label,
        names,
        prefix,
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
