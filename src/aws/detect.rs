//! Which credential source applies, decided from the environment and the shared files alone,
//! before any network call, in the order of the AWS SDKs' default chain (botocore's
//! `create_credential_resolver`): environment keys; a profile's `role_arn` (with
//! `source_profile` or `credential_source`); web identity; a profile's static keys; a
//! profile's `credential_process`; the ECS/EKS container endpoint; EC2 instance metadata. A
//! profile set up for IAM Identity Center (SSO) is refused with what to do instead.

use super::credentials::{MISSING, Source};
use super::keys::{Credentials, Role};
use super::metadata::{self, ECS_HOST, IMDS_ENDPOINT};
use super::profile::{self, Profile};
use crate::clock;
use crate::error::{Error, Result, Secret};
use std::path::PathBuf;

/// Source profiles followed before a chain of them counts as a loop.
const MOST_HOPS: usize = 8;

/// Picks the source. The profile in use (its name and settings) comes with it, if the
/// shared files have it: the region and endpoint settings are read from it.
pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Result<(Source, Option<(String, Profile)>)> {
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let profile_name = var("AWS_PROFILE");
    let name = profile_name.as_deref().unwrap_or("default");
    let profile = profile::load(env, name)?;
    if let (Some(name), None) = (&profile_name, &profile) {
        return Err(Error::config(format!(
            "AWS_PROFILE is {name:?}, but no such profile is in the shared credentials or config file"
        )));
    }
    let selected = profile.clone().map(|p| (name.to_string(), p));

    if let Some(s) = env_keys(&var)? {
        return Ok((s, selected));
    }
    if let Some(p) = &profile {
        check_values(name, p)?;
        if p.contains_key("role_arn") && !p.contains_key("web_identity_token_file") {
            return Ok((
                assumed(env, &var, name, p, &mut vec![name.to_string()])?,
                selected,
            ));
        }
    }
    if let (Some(file), Some(role)) = (var("AWS_WEB_IDENTITY_TOKEN_FILE"), var("AWS_ROLE_ARN")) {
        super::keys::check_role_arn(&role)
            .map_err(|e| Error::config(format!("AWS_ROLE_ARN: {e}")))?;
        let session_name = session_name(
            var("AWS_ROLE_SESSION_NAME").as_deref(),
            "AWS_ROLE_SESSION_NAME",
        )?;
        return Ok((
            Source::WebIdentity {
                token_file: file.into(),
                role_arn: role,
                session_name,
            },
            selected,
        ));
    }
    if let Some(p) = &profile {
        if let Some(s) = profile_source(name, p)? {
            return Ok((s, selected));
        }
        if profile_name.is_some() {
            return Err(Error::config(format!(
                "profile {name:?} has no aws_access_key_id/aws_secret_access_key, role_arn, web_identity_token_file or credential_process"
            )));
        }
    }
    if let Some(s) = container(&var)? {
        return Ok((s, selected));
    }
    Ok((imds(&var)?, selected))
}

/// `AWS_ACCESS_KEY_ID` with `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`).
fn env_keys(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Source>> {
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Ok(Some(Source::Static {
            creds: Credentials::new(&id, &secret, var("AWS_SESSION_TOKEN").as_deref(), None)
                .map_err(|e| {
                    Error::config(format!(
                        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: {e}"
                    ))
                })?,
            origin: "environment".into(),
        })),
        (Some(_), None) => Err(Error::config(
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
        )),
        (None, Some(_)) => Err(Error::config(
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
        )),
        (None, None) => Ok(None),
    }
}

/// Values a profile may not leave empty, and settings cw2mackerel cannot follow.
fn check_values(name: &str, p: &Profile) -> Result<()> {
    for key in [
        "aws_access_key_id",
        "aws_secret_access_key",
        "role_arn",
        "credential_process",
        "source_profile",
    ] {
        if p.get(key).is_some_and(|v| v.is_empty()) {
            return Err(Error::config(format!(
                "profile {name:?} has an empty {key}; give it a value or remove the line"
            )));
        }
    }
    // botocore's PartialCredentialsError: a key ID without its secret is a mistake, not a
    // reason to look further down the chain.
    if p.contains_key("aws_access_key_id") != p.contains_key("aws_secret_access_key") {
        return Err(Error::config(format!(
            "profile {name:?} has only one of aws_access_key_id and aws_secret_access_key; give both"
        )));
    }
    if [
        "sso_start_url",
        "sso_session",
        "sso_account_id",
        "sso_role_name",
    ]
    .iter()
    .any(|k| p.contains_key(*k))
        && !p.contains_key("aws_access_key_id")
    {
        return Err(Error::config(format!(
            "profile {name:?} signs in through IAM Identity Center (SSO), which needs a browser; export its keys instead: eval \"$(aws configure export-credentials --profile {name} --format env)\""
        )));
    }
    if p.contains_key("mfa_serial") {
        return Err(Error::config(format!(
            "profile {name:?} needs an MFA code (mfa_serial), which an unattended run cannot give; use a role without MFA for cw2mackerel"
        )));
    }
    Ok(())
}

/// A profile's own keys, web identity or credential_process, in that order.
fn profile_source(name: &str, p: &Profile) -> Result<Option<Source>> {
    if let (Some(id), Some(secret)) = (p.get("aws_access_key_id"), p.get("aws_secret_access_key")) {
        return Ok(Some(Source::Static {
            creds: Credentials::new(
                id,
                secret,
                p.get("aws_session_token").map(String::as_str),
                None,
            )
            .map_err(|e| Error::config(format!("profile {name:?}: {e}")))?,
            origin: format!("profile {name}"),
        }));
    }
    if let (Some(file), Some(role)) = (p.get("web_identity_token_file"), p.get("role_arn")) {
        super::keys::check_role_arn(role)
            .map_err(|e| Error::config(format!("profile {name:?}: role_arn: {e}")))?;
        return Ok(Some(Source::WebIdentity {
            token_file: file.into(),
            role_arn: role.clone(),
            session_name: profile_session_name(name, p)?,
        }));
    }
    if let Some(command) = p.get("credential_process") {
        return Ok(Some(Source::Process {
            command: command.clone(),
            profile: name.to_string(),
        }));
    }
    Ok(None)
}

/// The role of a profile with `role_arn`, assumed with the credentials of its
/// `source_profile` (followed as far as it goes) or its `credential_source`.
fn assumed(
    env: &dyn Fn(&str) -> Option<String>,
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
    p: &Profile,
    seen: &mut Vec<String>,
) -> Result<Source> {
    let arn = p.get("role_arn").cloned().unwrap_or_default();
    super::keys::check_role_arn(&arn)
        .map_err(|e| Error::config(format!("profile {name:?}: role_arn: {e}")))?;
    let duration = match p.get("duration_seconds") {
        None => 3600,
        Some(d) => d
            .parse::<u32>()
            .ok()
            .filter(|d| (900..=43_200).contains(d))
            .ok_or_else(|| {
                Error::config(format!(
                    "profile {name:?}: duration_seconds {d:?} is not a number of seconds from 900 to 43200"
                ))
            })?,
    };
    let base = match (p.get("source_profile"), p.get("credential_source")) {
        (Some(_), Some(_)) => {
            return Err(Error::config(format!(
                "profile {name:?} has both source_profile and credential_source; keep one"
            )));
        }
        (None, None) => {
            return Err(Error::config(format!(
                "profile {name:?} has a role_arn but neither source_profile nor credential_source to assume it with"
            )));
        }
        (Some(source), None) => {
            let sp = match source == name {
                true => p.clone(),
                false => profile::load(env, source)?.ok_or_else(|| {
                    Error::config(format!(
                        "profile {name:?}: its source_profile {source:?} is in neither shared file"
                    ))
                })?,
            };
            check_values(source, &sp)?;
            let has_keys = sp.contains_key("aws_access_key_id");
            if source != name && !has_keys && sp.contains_key("role_arn") {
                if seen.iter().any(|s| s == source) || seen.len() >= MOST_HOPS {
                    return Err(Error::config(format!(
                        "profile {name:?}: source_profile goes round in a loop ({} → {source})",
                        seen.join(" → ")
                    )));
                }
                seen.push(source.clone());
                assumed(env, var, source, &sp, seen)?
            } else {
                // A source profile's own keys win over its role_arn, as in botocore.
                profile_source(source, &sp)?.ok_or_else(|| {
                    Error::config(format!(
                        "profile {name:?}: its source_profile {source:?} has no keys, role_arn, web_identity_token_file or credential_process"
                    ))
                })?
            }
        }
        (None, Some(cs)) => match cs.to_ascii_lowercase().as_str() {
            "environment" => env_keys(var)?.ok_or_else(|| {
                Error::config(format!(
                    "profile {name:?}: credential_source Environment, but AWS_ACCESS_KEY_ID is not set"
                ))
            })?,
            "ecscontainer" => container(var)?.ok_or_else(|| {
                Error::config(format!(
                    "profile {name:?}: credential_source EcsContainer, but no AWS_CONTAINER_CREDENTIALS_* is set"
                ))
            })?,
            "ec2instancemetadata" => imds(var)?,
            other => {
                return Err(Error::config(format!(
                    "profile {name:?}: credential_source {other:?} is not Environment, EcsContainer or Ec2InstanceMetadata"
                )));
            }
        },
    };
    if matches!(base, Source::Missing) {
        return Err(Error::config(format!("profile {name:?}: {MISSING}")));
    }
    Ok(Source::AssumeRole {
        base: Box::new(base),
        role: Role {
            arn,
            external_id: p.get("external_id").cloned(),
        },
        session_name: profile_session_name(name, p)?,
        duration,
        profile: name.to_string(),
    })
}

/// The ECS or EKS container endpoint, if the environment names one.
fn container(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Source>> {
    if let Some(rel) = var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        return Ok(Some(Source::Container {
            url: format!("{ECS_HOST}{rel}"),
            token: None,
            token_file: None,
        }));
    }
    let Some(full) = var("AWS_CONTAINER_CREDENTIALS_FULL_URI") else {
        return Ok(None);
    };
    metadata::check_container_url(&full)
        .map_err(|e| Error::config(format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {e}")))?;
    Ok(Some(Source::Container {
        url: full,
        token: var("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Secret::new),
        token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from),
    }))
}

/// EC2 instance metadata, unless `AWS_EC2_METADATA_DISABLED` says no.
fn imds(var: &dyn Fn(&str) -> Option<String>) -> Result<Source> {
    if var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(Source::Missing);
    }
    let endpoint = var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| IMDS_ENDPOINT.into());
    crate::url::check_url(&endpoint)
        .map_err(|e| Error::config(format!("AWS_EC2_METADATA_SERVICE_ENDPOINT: {e}")))?;
    Ok(Source::Imds {
        endpoint: endpoint.trim_end_matches('/').into(),
    })
}

/// A role session name given by `what`, checked as STS would (2 to 64 letters, digits or
/// `+=,.@_-`); without one, a name of our own.
fn session_name(given: Option<&str>, what: &str) -> Result<String> {
    match given {
        None => Ok(format!("cw2mackerel-{}", clock::now())),
        Some(s)
            if (2..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)) =>
        {
            Ok(s.to_string())
        }
        Some(s) => Err(Error::config(format!(
            "{what}: {s:?} is not a role session name (2 to 64 letters, digits or +=,.@_-)"
        ))),
    }
}

fn profile_session_name(name: &str, p: &Profile) -> Result<String> {
    let what = format!("profile {name:?}: role_session_name");
    session_name(p.get("role_session_name").map(String::as_str), &what)
}

#[cfg(test)]
mod tests;
