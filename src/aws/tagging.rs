//! Resource Groups Tagging API: GetResources, to narrow a namespace job to resources that
//! carry the job's tags.

use super::client::Aws;
use super::endpoint::Service;
use super::keys::Role;
use super::pages::Pages;
use super::request::Call;
use crate::error::{Error, Result};
use serde_json::{Value, json};

/// The ARNs of resources in `region` that carry every `key=value` in `tags`.
pub fn tagged_arns(
    aws: &Aws,
    region: &str,
    role: Option<&Role>,
    tags: &[(String, String)],
) -> Result<Vec<String>> {
    let filters: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Values": [v]}))
        .collect();
    let mut arns = Vec::new();
    let mut token = String::new();
    let mut pages = Pages::new("Tagging GetResources", "PaginationToken");
    loop {
        let mut body = json!({"TagFilters": filters, "ResourcesPerPage": 100});
        if !token.is_empty() {
            body["PaginationToken"] = json!(token);
        }
        let call = Call::json(
            Service::Tagging,
            region,
            role,
            "ResourceGroupsTaggingAPI_20170126.GetResources",
            &body,
            "Tagging GetResources",
            "tag:GetResources",
        );
        let body = aws.call(&call)?;
        pages.read(body.len())?;
        let answer: Value = serde_json::from_slice(&body).map_err(|e| {
            Error::runtime(format!(
                "{} returned an unreadable answer: {e}",
                call.action
            ))
        })?;
        for r in answer["ResourceTagMappingList"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(arn) = r["ResourceARN"].as_str() {
                arns.push(arn.to_string());
            }
        }
        match answer["PaginationToken"].as_str().filter(|t| !t.is_empty()) {
            Some(t) => {
                pages.next(t)?;
                token = t.to_string();
            }
            None => return Ok(arns),
        }
    }
}

/// Whether a dimension value names the resource of `arn`: CloudWatch dimensions hold the
/// resource's id or name, which AWS ARNs end with after a `/` or `:`
/// (`i-0abc` of `…:instance/i-0abc`, `app/web/50dc6c495c0c9188` of `…:loadbalancer/app/web/…`).
pub fn names(arn: &str, value: &str) -> bool {
    !value.is_empty()
        && (arn == value
            || arn.ends_with(&format!("/{value}"))
            || arn.ends_with(&format!(":{value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_values_name_arns() {
        assert!(names("arn:aws:ec2:us-east-1:1:instance/i-0abc", "i-0abc"));
        assert!(names(
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc",
            "app/web/50dc"
        ));
        assert!(names("arn:aws:sqs:us-east-1:1:orders", "orders"));
        assert!(!names("arn:aws:sqs:us-east-1:1:orders-dlq", "orders"));
        assert!(!names("arn:aws:ec2:us-east-1:1:instance/i-0abc", ""));
    }
}
