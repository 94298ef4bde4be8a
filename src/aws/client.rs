//! The AWS client the service modules call through: the settings of the environment (region,
//! endpoints and their FIPS and dual-stack variants, a CA bundle, where credentials come
//! from), checked before the first call, and [`Aws::call`], which signs with the right
//! credentials and sends.

use super::credentials::{Provider, Source};
use super::detect;
use super::endpoint::{Endpoints, Partition, Service, Variant, check_region};
use super::profile::Shared;
use super::request::{self, Call};
use super::retries;
use crate::error::{Error, Result};
use crate::transport::{Http, tls};

/// AWS settings from the environment and the shared files, all checked before the first call.
#[derive(Debug)]
pub struct Settings {
    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, or the profile's region.
    pub region: Option<String>,
    /// Which of them gave [`Settings::region`], for messages (`AWS_REGION`).
    pub region_from: Option<String>,
    pub endpoints: Endpoints,
    pub credentials: Source,
    /// Attempts per call: `AWS_MAX_ATTEMPTS`, the profile's `max_attempts`, or 3.
    pub max_attempts: u32,
    /// `AWS_CA_BUNDLE`, or the profile's `ca_bundle`: trusted beside the built-in roots.
    pub ca_bundle: Option<tls::Bundle>,
}

impl Settings {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
        let var = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let shared = Shared::load(env)?;
        let detected = detect::detect(env, &shared)?;
        let profile = detected.profile;
        // A setting of the profile in use: its value, and what to call it in a message.
        let setting = |key: &str| profile.as_ref().and_then(|p| p.setting(key));
        let endpoints = Endpoints::resolve(&var, profile.as_ref())?
            .with_variant(Variant::read(&var, &setting)?);
        let region = match (var("AWS_REGION"), var("AWS_DEFAULT_REGION")) {
            (Some(r), _) => Some(("AWS_REGION".to_string(), r)),
            (None, Some(r)) => Some(("AWS_DEFAULT_REGION".to_string(), r)),
            (None, None) => setting("region").map(|(r, from)| (from, r)),
        };
        // A region goes into host names: nothing but a region may pass.
        if let Some((from, r)) = &region {
            check_region(r).map_err(|e| Error::config(format!("{from}: {e}")))?;
        }
        let (region_from, region) = region.unzip();
        let max_attempts = retries::max_attempts(
            var("AWS_MAX_ATTEMPTS").as_deref(),
            setting("max_attempts").as_ref().map(|(v, _)| v.as_str()),
        )
        .map_err(Error::config)?;
        let ca_bundle = var("AWS_CA_BUNDLE")
            .map(|path| (path, "AWS_CA_BUNDLE".to_string()))
            .or_else(|| setting("ca_bundle"))
            .map(|(path, from)| {
                tls::Bundle::read(&path).map_err(|e| Error::config(format!("{from}: {e}")))
            })
            .transpose()?;
        Ok(Settings {
            region,
            region_from,
            endpoints,
            credentials: detected.source,
            max_attempts,
            ca_bundle,
        })
    }
}

impl Settings {
    /// The global region of the configured region's partition (us-east-1 unless AWS_REGION
    /// says otherwise): where CloudFront's API and metrics are.
    pub fn global_region(&self) -> &'static str {
        let region = self.region.as_deref().unwrap_or("us-east-1");
        Partition::of_region(region).global_region()
    }

    /// Each of `uses` (a service and a region) has an endpoint: set, or a default one
    /// cw2mackerel knows (FIPS and dual-stack included). A configuration error names the
    /// first that has none.
    pub fn check_endpoints(&self, uses: &[(Service, &str)]) -> Result<()> {
        for (service, region) in uses {
            self.endpoints.url(*service, region)?;
        }
        Ok(())
    }
}

pub struct Aws<'a> {
    pub http: &'a Http,
    pub settings: &'a Settings,
    creds: Provider<'a>,
}

impl<'a> Aws<'a> {
    pub fn new(http: &'a Http, settings: &'a Settings) -> Self {
        retries::set_max_attempts(settings.max_attempts);
        Aws {
            http,
            settings,
            creds: Provider::new(
                http,
                &settings.credentials,
                &settings.endpoints,
                settings.region.as_deref(),
            ),
        }
    }

    /// The global region of the configured region's partition (us-east-1 unless AWS_REGION
    /// says otherwise): where CloudFront's API and metrics are.
    pub fn global_region(&self) -> &'static str {
        self.settings.global_region()
    }

    /// Signs and sends `call` with its role's credentials or the chain's, retrying as
    /// [`request::send`] does, and renewing those credentials once if their session expired.
    pub fn call(&self, call: &Call) -> Result<Vec<u8>> {
        request::send(
            self.http,
            &self.settings.endpoints,
            call,
            &|| self.creds.get(call.role),
            &|| self.creds.invalidate(call.role),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn region_comes_from_the_environment_or_the_profile() {
        let env: HashMap<&str, &str> = [
            ("AWS_ACCESS_KEY_ID", "A"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ]
        .into();
        let s = Settings::from_env(&|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        let env: HashMap<&str, &str> = [
            ("AWS_ACCESS_KEY_ID", "A"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
            ("AWS_REGION", "us-east-1.evil.example@x/"),
        ]
        .into();
        let e = Settings::from_env(&|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(e.to_string().starts_with("AWS_REGION: "), "{e}");
    }
}
