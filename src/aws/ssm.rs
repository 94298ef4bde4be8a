//! SSM Parameter Store: GetParameter, to read the Mackerel API key (decrypted when it is a
//! SecureString) instead of keeping it in a plain environment variable.

use super::client::Aws;
use super::endpoint::{Service, check_region};
use super::request::Call;
use crate::error::{Error, Result, Secret};

/// The region of a parameter ARN (`arn:aws:ssm:REGION:ACCOUNT:parameter/NAME`), if it names
/// one that is a region (it goes into a host name).
pub fn arn_region(name: &str) -> Option<&str> {
    let mut parts = name.strip_prefix("arn:")?.split(':');
    let (_partition, service, region) = (parts.next()?, parts.next()?, parts.next()?);
    (service == "ssm" && check_region(region).is_ok()).then_some(region)
}

/// Reads parameter `name` in `region`; `region_from` says where that region came from (the
/// ARN, `AWS_REGION`, the profile), since a parameter name is looked for in that region only.
pub fn get_parameter(aws: &Aws, name: &str, region: &str, region_from: &str) -> Result<Secret> {
    let call = Call::json(
        Service::Ssm,
        region,
        None,
        "AmazonSSM.GetParameter",
        &serde_json::json!({"Name": name, "WithDecryption": true}),
        "SSM GetParameter",
        "ssm:GetParameter (and kms:Decrypt for a SecureString)",
    );
    let body = aws.call(&call).map_err(|e| {
        e.context(format!(
            "reading the API key from {name:?} in {region} (region from {region_from})"
        ))
    })?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Error::runtime(format!(
            "SSM GetParameter returned an unreadable answer: {e}"
        ))
    })?;
    match v["Parameter"]["Value"].as_str() {
        Some(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim())),
        _ => Err(Error::runtime(format!(
            "SSM parameter {name:?} has no value"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_from_arns() {
        assert_eq!(
            arn_region("arn:aws:ssm:ap-northeast-1:123456789012:parameter/mackerel/apikey"),
            Some("ap-northeast-1")
        );
        assert_eq!(arn_region("/mackerel/apikey"), None);
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_region("arn:aws:ssm:x@evil/:1:parameter/k"), None);
    }
}
