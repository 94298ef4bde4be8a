//! The Mackerel API key: given as it is, or read from SSM Parameter Store (decrypted), in the
//! region of the parameter's ARN or else the configured one, and checked to fit a header.

use crate::aws::{Aws, ssm};
use crate::error::{Error, Result, Secret};
use crate::fault::Invalid;

/// Where the API key is.
pub enum KeySource<'a> {
    Given(&'a Secret),
    /// An SSM parameter: its name or ARN (`MACKEREL_APIKEY_SSM`).
    Ssm(&'a str),
}

/// The API key from `source`. A parameter is read in the region of its ARN, else in the
/// configured region (which the configuration check made sure exists); an error names which
/// it was.
pub fn api_key(aws: &Aws, source: KeySource) -> Result<Secret> {
    let name = match source {
        KeySource::Given(key) => return Ok(key.clone()),
        KeySource::Ssm(name) => name,
    };
    let settings = aws.settings;
    let configured = settings
        .region
        .as_deref()
        .zip(settings.region_from.as_deref());
    let (region, from) = match ssm::arn_region(name) {
        Some(r) => (r, "the parameter's ARN"),
        None => configured.ok_or_else(|| {
            Error::config("MACKEREL_APIKEY_SSM needs AWS_REGION or a parameter ARN")
        })?,
    };
    let key = ssm::get_parameter(aws, name, region, from)?;
    check_key(key.expose())
        .map_err(|e| Error::runtime(format!("the SSM parameter {name:?}: {e}")))?;
    Ok(key)
}

/// A Mackerel API key goes into a header: visible ASCII only.
pub fn check_key(key: &str) -> Result<(), Invalid> {
    match !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic()) {
        true => Ok(()),
        false => Err(Invalid::new(concat!(
            "the API key holds a space, a line break or another character an HTTP header ",
            "cannot carry"
        ))),
    }
}
