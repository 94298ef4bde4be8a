//! Which credential source applies, decided from the environment and the shared files alone,
//! before any network call, in the order of botocore's default chain
//! (`create_credential_resolver`): environment keys; the profile's `role_arn` (with
//! `source_profile` or `credential_source`); web identity; the profile's own credentials
//! (credentials-file keys, then `credential_process`, then config-file keys); the ECS/EKS
//! container endpoint; EC2 instance metadata. The profile is `AWS_DEFAULT_PROFILE`, else
//! `AWS_PROFILE` (botocore's order), else `default`. A profile with no credentials of its own
//! (only a region, say) lets the chain go on, as in every SDK.
//!
//! Where botocore would sign in through IAM Identity Center (`sso_*`) or `aws login`
//! (`login_session`), or ask for an MFA code, the run is refused with what to do instead:
//! those need a person, and no other credentials are picked in their place.

use super::credentials::Source;
use super::keys::{Credentials, Role, check_external_id, check_role_arn};
use super::metadata::{self, ECS_HOST, IMDS_ENDPOINT, IMDS_ENDPOINT_V6};
use super::profile::{Profile, Section, Selected, Shared};
use crate::clock;
use crate::error::{Error, Result, Secret};
use std::path::PathBuf;

/// What the environment and the shared files select.
#[derive(Debug)]
pub struct Detected {
    pub source: Source,
    /// The selected profile, if the shared files have it.
    pub profile: Option<Selected>,
}

/// Picks the source, and the profile whose settings apply.
pub fn detect(env: &dyn Fn(&str) -> Option<String>, shared: &Shared) -> Result<Detected> {
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let chosen = ["AWS_DEFAULT_PROFILE", "AWS_PROFILE"]
        .into_iter()
        .find_map(|v| var(v).map(|name| (v, name)));
    let name = chosen.as_ref().map_or("default", |(_, n)| n.as_str());
    let profile = shared.profiles.get(name);
    if let (Some((variable, name)), None) = (&chosen, profile) {
        return Err(Error::config(format!(
            "{variable} is {name:?}, but no such profile is in the shared config or credentials file"
        )));
    }
    let selected = profile.map(|p| Selected::new(name, p, shared));
    let chain = Chain {
        var: &var,
        shared,
        imds: imds_endpoint(&var, selected.as_ref())?,
    };
    Ok(Detected {
        source: chain.select(name, profile)?,
        profile: selected,
    })
}

struct Chain<'a> {
    var: &'a dyn Fn(&str) -> Option<String>,
    shared: &'a Shared,
    /// EC2 instance metadata's endpoint; `None` when `AWS_EC2_METADATA_DISABLED` is true.
    imds: Option<String>,
}

/// A `role_arn` the assume-role step takes: one without a web identity token beside it.
fn assumes_role(p: &Profile) -> bool {
    p.has("role_arn") && !p.has("web_identity_token_file")
}

/// botocore's `_has_static_credentials`: either key, in either file.
fn has_keys(p: &Profile) -> bool {
    p.has("aws_access_key_id") || p.has("aws_secret_access_key")
}

impl Chain<'_> {
    fn select(&self, name: &str, profile: Option<&Profile>) -> Result<Source> {
        if let Some(s) = self.env_keys()? {
            return Ok(s);
        }
        if let Some(s) = self.profile_steps(name, profile)? {
            return Ok(s);
        }
        if let Some(s) = self.container()? {
            return Ok(s);
        }
        Ok(self.imds())
    }

    /// The steps that read the profile: its role, web identity, its own credentials.
    fn profile_steps(&self, name: &str, profile: Option<&Profile>) -> Result<Option<Source>> {
        if let Some(p) = profile {
            check_values(name, p)?;
            if assumes_role(p) {
                return self.assumed(name, p, &mut vec![name.to_string()]).map(Some);
            }
        }
        if let Some(s) = self.web_identity(name, profile, true)? {
            return Ok(Some(s));
        }
        match profile {
            Some(p) => self.profile_credentials(name, p),
            None => Ok(None),
        }
    }

    /// `AWS_ACCESS_KEY_ID` with `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`).
    fn env_keys(&self) -> Result<Option<Source>> {
        let var = self.var;
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

    /// Web identity: each of its settings from the environment (unless `env` is false, as for
    /// a source profile), else from profile `name`.
    fn web_identity(&self, name: &str, p: Option<&Profile>, env: bool) -> Result<Option<Source>> {
        let setting = |variable: &str, key: &str| -> Option<(String, String)> {
            env.then(|| (self.var)(variable).map(|v| (v, variable.to_string())))
                .flatten()
                .or_else(|| {
                    let v = p?.get(key).filter(|v| !v.is_empty())?;
                    Some((v.to_string(), format!("profile {name:?}: {key}")))
                })
        };
        let Some((file, from)) = setting("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file")
        else {
            return Ok(None);
        };
        let Some((role, whence)) = setting("AWS_ROLE_ARN", "role_arn") else {
            return Err(Error::config(format!(
                "{from} is set, but no role_arn (or AWS_ROLE_ARN) says which role to assume with it"
            )));
        };
        check_role_arn(&role).map_err(|e| Error::config(format!("{whence}: {e}")))?;
        let session_name = match setting("AWS_ROLE_SESSION_NAME", "role_session_name") {
            Some((s, whence)) => session_name(Some(&s), &whence)?,
            None => session_name(None, "")?,
        };
        Ok(Some(Source::WebIdentity {
            token_file: file.into(),
            role_arn: role,
            session_name,
        }))
    }

    /// A profile's own credentials in botocore's order (`ProfileProviderBuilder`): IAM
    /// Identity Center (refused), the credentials file's keys, `aws login` (refused),
    /// `credential_process`, the config file's keys. `None` if it has none.
    fn profile_credentials(&self, name: &str, p: &Profile) -> Result<Option<Source>> {
        let export = format!(
            "export its keys instead: eval \"$(aws configure export-credentials --profile {name} --format env)\""
        );
        // botocore's SSOProvider takes a profile with either of these, before any keys.
        if p.has("sso_account_id") || p.has("sso_role_name") {
            return Err(Error::config(format!(
                "profile {name:?} signs in through IAM Identity Center (SSO), which needs a browser; {export}"
            )));
        }
        if let Some(s) = keys(name, &p.credentials, "credentials file")? {
            return Ok(Some(s));
        }
        if p.has("login_session") {
            return Err(Error::config(format!(
                "profile {name:?} signs in with `aws login` (login_session), which needs a browser; {export}"
            )));
        }
        if let Some(command) = p.get("credential_process") {
            return Ok(Some(Source::Process {
                command: command.to_string(),
                profile: name.to_string(),
            }));
        }
        if let Some(s) = keys(name, &p.config, "config file")? {
            return Ok(Some(s));
        }
        // An SSO token profile (for Builder ID, say) has no credentials to give; the SDKs
        // refuse it rather than look elsewhere.
        if p.has("sso_session") || p.has("sso_start_url") {
            return Err(Error::config(format!(
                "profile {name:?} is set up for an IAM Identity Center (SSO) token, which gives no AWS credentials by itself; {export}"
            )));
        }
        Ok(None)
    }

    /// The role of a profile with `role_arn`, assumed with the credentials of its
    /// `source_profile` (followed as botocore's `AssumeRoleProvider` follows it) or its
    /// `credential_source`. `seen` holds the profiles visited, to find loops.
    fn assumed(&self, name: &str, p: &Profile, seen: &mut Vec<String>) -> Result<Source> {
        let fail = |what: String| Error::config(format!("profile {name:?}: {what}"));
        let arn = p.get("role_arn").unwrap_or_default().to_string();
        check_role_arn(&arn).map_err(|e| fail(format!("role_arn: {e}")))?;
        if let Some(id) = p.get("external_id") {
            check_external_id(id).map_err(|e| fail(format!("external_id: {e}")))?;
        }
        let duration = match p.get("duration_seconds") {
            None => 3600,
            Some(d) => d
                .parse::<u32>()
                .ok()
                .filter(|d| (900..=43_200).contains(d))
                .ok_or_else(|| {
                    fail(format!(
                        "duration_seconds {d:?} is not a number of seconds from 900 to 43200"
                    ))
                })?,
        };
        if p.has("mfa_serial") {
            return Err(fail("assuming its role needs an MFA code (mfa_serial), which an unattended run cannot give; use a role without MFA for cw2mackerel".into()));
        }
        let base = match (p.get("source_profile"), p.get("credential_source")) {
            (Some(_), Some(_)) => {
                return Err(fail(
                    "it has both source_profile and credential_source; keep one".into(),
                ));
            }
            (None, None) => {
                return Err(fail(
                    "it has a role_arn but neither source_profile nor credential_source to assume it with".into(),
                ));
            }
            (Some(source), None) => {
                let sp = self.shared.profiles.get(source).ok_or_else(|| {
                    fail(format!(
                        "its source_profile {source:?} is in neither shared file"
                    ))
                })?;
                // A profile may be its own source once, for keys kept beside its role_arn.
                if seen.iter().any(|s| s == source) && (source != name || !has_keys(sp)) {
                    return Err(fail(format!(
                        "source_profile goes round in a loop ({} → {source})",
                        seen.join(" → ")
                    )));
                }
                seen.push(source.to_string());
                check_values(source, sp)?;
                if has_keys(sp) || !assumes_role(sp) {
                    match self.web_identity(source, Some(sp), false)? {
                        Some(s) => s,
                        None => self.profile_credentials(source, sp)?.ok_or_else(|| {
                            fail(format!(
                                "its source_profile {source:?} has no credentials (keys, role_arn, web_identity_token_file or credential_process)"
                            ))
                        })?,
                    }
                } else {
                    self.assumed(source, sp, seen)?
                }
            }
            (None, Some(cs)) => {
                let none = |what: &str| fail(format!("credential_source {cs}, but {what}"));
                match cs.to_ascii_lowercase().as_str() {
                    "environment" => self
                        .env_keys()?
                        .ok_or_else(|| none("AWS_ACCESS_KEY_ID is not set"))?,
                    "ecscontainer" => self
                        .container()?
                        .ok_or_else(|| none("no AWS_CONTAINER_CREDENTIALS_* is set"))?,
                    "ec2instancemetadata" => match self.imds() {
                        Source::Missing => {
                            return Err(none("AWS_EC2_METADATA_DISABLED is true"));
                        }
                        s => s,
                    },
                    other => {
                        return Err(fail(format!(
                            "credential_source {other:?} is not Environment, EcsContainer or Ec2InstanceMetadata"
                        )));
                    }
                }
            }
        };
        Ok(Source::AssumeRole {
            base: Box::new(base),
            role: Role {
                arn,
                external_id: p.get("external_id").map(str::to_string),
            },
            session_name: profile_session_name(name, p)?,
            duration,
            profile: name.to_string(),
        })
    }

    /// The ECS or EKS container endpoint, if the environment names one. The authorization
    /// token goes with either variable, as botocore's `ContainerProvider` sends it.
    fn container(&self) -> Result<Option<Source>> {
        let var = self.var;
        let url = if let Some(rel) = var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            if !rel.starts_with('/') {
                return Err(Error::config(format!(
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: {rel:?} is not a path starting with /"
                )));
            }
            format!("{ECS_HOST}{rel}")
        } else if let Some(full) = var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            metadata::check_container_url(&full)
                .map_err(|e| Error::config(format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {e}")))?;
            full
        } else {
            return Ok(None);
        };
        Ok(Some(Source::Container {
            url,
            token: var("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Secret::new),
            token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from),
        }))
    }

    fn imds(&self) -> Source {
        match &self.imds {
            Some(endpoint) => Source::Imds {
                endpoint: endpoint.clone(),
            },
            None => Source::Missing,
        }
    }
}

/// A file section's `aws_access_key_id` and `aws_secret_access_key` (with
/// `aws_session_token`, or its old name `aws_security_token`), if it has them.
fn keys(name: &str, s: &Section, file: &str) -> Result<Option<Source>> {
    let get = |k: &str| s.get(k).map(String::as_str);
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => {
            let token = get("aws_session_token").or(get("aws_security_token"));
            let creds = Credentials::new(id, secret, token, None)
                .map_err(|e| Error::config(format!("profile {name:?}: {e}")))?;
            Ok(Some(Source::Static {
                creds,
                origin: format!("profile {name}"),
            }))
        }
        (None, None) => Ok(None),
        // botocore's PartialCredentialsError: a key without its other half is a mistake, not
        // a reason to look further down the chain.
        _ => Err(Error::config(format!(
            "profile {name:?} has only one of aws_access_key_id and aws_secret_access_key in the {file}; give both"
        ))),
    }
}

/// Values a profile in use may not leave empty.
fn check_values(name: &str, p: &Profile) -> Result<()> {
    for key in [
        "aws_access_key_id",
        "aws_secret_access_key",
        "role_arn",
        "credential_process",
        "source_profile",
        "web_identity_token_file",
    ] {
        if p.get(key).is_some_and(str::is_empty) {
            return Err(Error::config(format!(
                "profile {name:?} has an empty {key}; give it a value or remove the line"
            )));
        }
    }
    Ok(())
}

/// Where EC2 instance metadata is: `AWS_EC2_METADATA_SERVICE_ENDPOINT` or the profile's
/// `ec2_metadata_service_endpoint`, else the address of the endpoint mode
/// (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` or `ec2_metadata_service_endpoint_mode`: IPv4,
/// the default, or IPv6), as the SDKs' `imds-config` cases have it. A bad mode is refused even
/// when an endpoint is given, as botocore refuses it. `None` when disabled.
fn imds_endpoint(
    var: &dyn Fn(&str) -> Option<String>,
    profile: Option<&Selected>,
) -> Result<Option<String>> {
    let setting = |variable: &str, key: &str| {
        var(variable)
            .map(|v| (v, variable.to_string()))
            .or_else(|| profile?.setting(key))
    };
    let mode = setting(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
        "ec2_metadata_service_endpoint_mode",
    );
    let by_mode = match mode {
        None => IMDS_ENDPOINT,
        Some((m, _)) if m.eq_ignore_ascii_case("ipv4") => IMDS_ENDPOINT,
        Some((m, _)) if m.eq_ignore_ascii_case("ipv6") => IMDS_ENDPOINT_V6,
        Some((m, from)) => {
            return Err(Error::config(format!(
                "{from}: {m:?} is not an endpoint mode (IPv4 or IPv6)"
            )));
        }
    };
    if var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    match setting(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "ec2_metadata_service_endpoint",
    ) {
        None => Ok(Some(by_mode.to_string())),
        Some((url, from)) => {
            crate::url::check_url(&url).map_err(|e| Error::config(format!("{from}: {e}")))?;
            Ok(Some(url.trim_end_matches('/').to_string()))
        }
    }
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
    session_name(p.get("role_session_name"), &what)
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;
