//! CloudFront API: ListDistributions (every page) and ListTagsForResource, read from XML.

use super::client::Aws;
use super::endpoint::Service;
use super::keys::Role;
use super::pages::Pages;
use super::request::Call;
use crate::error::{Error, Result};
use crate::fault::Undecodable;
use crate::url::encode;
use crate::xml::Element;

/// A distribution as discovery knows it. With explicit IDs only `id` is filled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Distribution {
    pub id: String,
    pub arn: String,
    pub domain: String,
    pub aliases: Vec<String>,
    pub comment: String,
    pub status: String,
    pub enabled: bool,
    pub origins: usize,
    /// Only read when a tag filter or a tag label needs them.
    pub tags: Vec<(String, String)>,
}

const API: &str = "/2020-05-31";
/// A page of this many distributions per ListDistributions call.
const PAGE: u32 = 100;

pub fn list_distributions(aws: &Aws, role: Option<&Role>) -> Result<Vec<Distribution>> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = Pages::new("CloudFront ListDistributions", "NextMarker");
    loop {
        let mut path = format!("{API}/distribution?MaxItems={PAGE}");
        if let Some(m) = &marker {
            path += &format!("&Marker={}", encode(m));
        }
        let call = get(
            aws,
            path,
            "CloudFront ListDistributions",
            "cloudfront:ListDistributions",
            role,
        );
        let body = aws.call(&call)?;
        pages.read(body.len())?;
        let (page, next) = parse_page(&call.xml(&body)?)
            .map_err(|e| Error::runtime(format!("{}: {e}", call.action)))?;
        out.extend(page);
        match next {
            Some(m) => {
                pages.next(&m)?;
                marker = Some(m);
            }
            None => return Ok(out),
        }
    }
}

pub fn list_tags(aws: &Aws, arn: &str, role: Option<&Role>) -> Result<Vec<(String, String)>> {
    let call = get(
        aws,
        format!("{API}/tagging?Resource={}", encode(arn)),
        "CloudFront ListTagsForResource",
        "cloudfront:ListTagsForResource",
        role,
    );
    let body = aws.call(&call)?;
    let doc = call.xml(&body)?;
    if doc.name != "Tags" {
        return Err(Error::runtime(format!(
            "{}: expected <Tags>, got <{}>",
            call.action, doc.name
        )));
    }
    Ok(doc
        .all("Items/Tag")
        .map(|t| {
            (
                t.text_at("Key").unwrap_or_default().to_string(),
                t.text_at("Value").unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// A GET of the CloudFront API, in the global region of the configured partition.
fn get<'a>(
    aws: &Aws,
    path: String,
    action: &'static str,
    permission: &'static str,
    role: Option<&'a Role>,
) -> Call<'a> {
    Call {
        service: Service::CloudFront,
        region: aws.global_region(),
        method: "GET",
        path,
        headers: vec![],
        body: vec![],
        action,
        permission,
        role,
        body_limit: crate::transport::BODY_LIMIT,
    }
}

/// One ListDistributions page and the marker of the next, if any.
fn parse_page(doc: &Element) -> Result<(Vec<Distribution>, Option<String>), Undecodable> {
    if doc.name != "DistributionList" {
        return Err(Undecodable::new(format!(
            "expected <DistributionList>, got <{}>",
            doc.name
        )));
    }
    let mut page = Vec::new();
    for d in doc.all("Items/DistributionSummary") {
        let text = |p: &str| d.text_at(p).unwrap_or_default().to_string();
        let id = text("Id");
        if id.is_empty() {
            return Err(Undecodable::new("a distribution without an Id"));
        }
        page.push(Distribution {
            arn: text("ARN"),
            domain: text("DomainName"),
            aliases: d
                .all("Aliases/Items/CNAME")
                .map(|c| c.text.trim().to_string())
                .collect(),
            comment: text("Comment"),
            status: text("Status"),
            enabled: d.text_at("Enabled") == Some("true"),
            origins: d.all("Origins/Items/Origin").count(),
            tags: Vec::new(),
            id,
        });
    }
    let next = match doc.text_at("IsTruncated") {
        Some("true") => Some(
            doc.text_at("NextMarker")
                .filter(|m| !m.is_empty())
                .ok_or_else(|| Undecodable::new("IsTruncated is true but there is no NextMarker"))?
                .to_string(),
        ),
        _ => None,
    };
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "ListDistributions",
            &[br#"<DistributionList><NextMarker>E2</NextMarker><IsTruncated>true</IsTruncated><Items><DistributionSummary><Id>E1</Id><ARN>arn:aws:cloudfront::1:distribution/E1</ARN><Aliases><Items><CNAME>www.example.com</CNAME></Items></Aliases><Origins><Items><Origin><Id>o</Id></Origin></Items></Origins><Comment>c</Comment><Enabled>true</Enabled></DistributionSummary></Items></DistributionList>"#],
            |b| {
                crate::xml::parse(b)
                    .ok()
                    .and_then(|d| parse_page(&d).ok())
                    .map_or(0, |(page, _)| page.len())
            },
        );
    }

    #[test]
    fn reads_a_page() {
        let doc = crate::xml::parse(
            br#"<?xml version="1.0"?>
<DistributionList xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
  <Marker></Marker><NextMarker>E2</NextMarker><MaxItems>1</MaxItems><IsTruncated>true</IsTruncated><Quantity>1</Quantity>
  <Items><DistributionSummary>
    <Id>E1</Id><ARN>arn:aws:cloudfront::123456789012:distribution/E1</ARN><Status>Deployed</Status>
    <DomainName>d1.cloudfront.net</DomainName>
    <Aliases><Quantity>2</Quantity><Items><CNAME>www.example.com</CNAME><CNAME>cdn.example.com</CNAME></Items></Aliases>
    <Origins><Quantity>1</Quantity><Items><Origin><Id>o</Id><DomainName>origin.example.com</DomainName></Origin></Items></Origins>
    <Comment>site &amp; shop</Comment><Enabled>true</Enabled>
  </DistributionSummary></Items>
</DistributionList>"#,
        )
        .unwrap();
        let (page, next) = parse_page(&doc).unwrap();
        assert_eq!(next.as_deref(), Some("E2"));
        let d = &page[0];
        assert_eq!(d.id, "E1");
        assert_eq!(d.aliases, ["www.example.com", "cdn.example.com"]);
        assert_eq!(
            (d.comment.as_str(), d.origins, d.enabled),
            ("site & shop", 1, true)
        );
    }

    #[test]
    fn empty_account_and_bad_documents() {
        let doc = crate::xml::parse(b"<DistributionList><IsTruncated>false</IsTruncated><Quantity>0</Quantity></DistributionList>").unwrap();
        assert_eq!(parse_page(&doc).unwrap(), (vec![], None));
        let doc = crate::xml::parse(
            b"<DistributionList><IsTruncated>true</IsTruncated></DistributionList>",
        )
        .unwrap();
        assert!(
            parse_page(&doc)
                .unwrap_err()
                .to_string()
                .contains("NextMarker")
        );
        let doc = crate::xml::parse(b"<Other/>").unwrap();
        assert!(parse_page(&doc).is_err());
    }
}
