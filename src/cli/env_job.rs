//! The one CloudFront job the environment (or the options) describes when there is no config
//! file: `CW2MACKEREL_SERVICE`, `MODE`, `ROLES`, `RETIRE_GONE`, `DISTRIBUTIONS`, `TAG`,
//! `METRICS`, `LABEL`, `NAMES`, `METRIC_KEY_PREFIX` and `HOST_ID`, checked with the same
//! checks a file's job passes.

use super::lookup::{self, Given, Lookup};
use super::settings::{self, Setting};
use crate::error::{Error, Mistakes, Result};
use crate::fault::Invalid;
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
    let names = {
        let g = lookup.or_default(&settings::NAMES);
        m.take(Naming::parse(&g.value).map_err(|e| g.error(e)))
    };
    let groups = {
        let g = lookup.or_default(&settings::METRICS);
        if names == Some(Naming::Plugin) && lookup.get(&settings::METRICS).is_some() {
            m.push(g.error(
                "goes with cw2mackerel names: plugin names are the plugin's five metrics; leave it unset",
            ));
            None
        } else {
            m.take(Group::parse_list(&g.value).map_err(|e| g.error(e)))
        }
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
    let host_id = lookup.get(&settings::HOST_ID);
    if let Some(g) = &host_id {
        m.take(check::host_id(g.value.trim()).map_err(|e| g.error(e)));
        for made in [&roles, &retire].into_iter().flatten() {
            m.push(made.error(format!(
                "describes the hosts cw2mackerel makes, and with {} it makes none; remove it",
                g.from
            )));
        }
    }
    let prefix_from = lookup.get(&settings::METRIC_KEY_PREFIX);
    let prefix = {
        let g = lookup.or_default(&settings::METRIC_KEY_PREFIX);
        m.take(check::metric_key_prefix(&g.value).map_err(|e| g.error(e)))
    };
    let host_only: Vec<&str> = [&roles, &retire, &host_id]
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
    // Distributions that share one place (a host, or a service with plugin names) must
    // each get their own names.
    if let Some(g) = &prefix_from
        && host == Some(false)
        && names == Some(Naming::Cw2mackerel)
    {
        m.push(g.error(
            "names service metrics only with CW2MACKEREL_NAMES=plugin (cw2mackerel's service metrics are cloudfront.<label>.…); remove it, or use host mode",
        ));
    }
    let one_place = match (&host_id, host, names) {
        (Some(g), _, _) => Some(format!("on the one host {} names", g.from)),
        (None, Some(false), Some(Naming::Plugin)) => Some("in the one service".to_string()),
        _ => None,
    };
    if let (Some(place), Some(prefix), Some(ids)) = (one_place, &prefix, &ids) {
        let g = lookup.or_default(&settings::METRIC_KEY_PREFIX);
        m.take(
            check::prefix_for_one_place(g.value.trim(), prefix, ids, &place)
                .map_err(|e| g.error(e)),
        );
    }
    let parts = (|| {
        Some((
            host?,
            service?,
            ids?,
            tags?,
            names?,
            groups?,
            label?,
            prefix?,
            role_list?,
            retire_gone?,
        ))
    })();
    let (host, service, ids, tags, names, groups, label, prefix, role_list, retire_gone) =
        m.or(parts)?;
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

fn distribution_ids(list: &str) -> Result<Vec<String>, Invalid> {
    let ids = items(list)
        .map(|id| check::distribution_id(id).map(|()| id.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(Invalid::new("no distribution ID in the list"));
    }
    Ok(check::dedup(ids))
}

fn role_list(list: &str) -> Result<Vec<String>, Invalid> {
    items(list)
        .map(|r| check::role_fullname(r).map(|()| r.to_string()))
        .collect()
}

fn tag_filters(list: &str) -> Result<Vec<(String, String)>, Invalid> {
    items(list)
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if check::tag_key(k).is_ok() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(Invalid::new(format!(
                "{pair:?} is not a tag filter; write key=value"
            ))),
        })
        .collect()
}
