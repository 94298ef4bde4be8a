//! The Mackerel API key: given as it is, or read from SSM Parameter Store (decrypted), and
//! checked to fit a header.

use crate::aws::{Aws, ssm};
use crate::error::{Error, Result, Secret};
use crate::fault::Invalid;

/// Where the API key is.
pub enum KeySource<'a> {
    Given(&'a Secret),
    /// An SSM parameter (`MACKEREL_APIKEY_SSM`): its name or ARN, the region it is read in,
    /// and what said so (the ARN, `AWS_REGION`, the profile), for messages.
    Ssm {
        name: &'a str,
        region: &'a str,
        region_from: &'a str,
    },
}

/// The API key from `source`: a parameter is read decrypted, and must hold a key.
pub fn api_key(aws: &Aws, source: KeySource) -> Result<Secret> {
    let (name, region, from) = match source {
        KeySource::Given(key) => return Ok(key.clone()),
        KeySource::Ssm {
            name,
            region,
            region_from,
        } => (name, region, region_from),
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
