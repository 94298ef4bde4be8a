//! SigV4 signing of a prepared request, with the aws-sigv4 crate. Checked against the AWS
//! test vectors in `fixtures/sigv4` and, in the integration tests, against moto's own check.

use super::keys::Credentials;
use crate::error::Error;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign as sigv4};
use aws_sigv4::sign::v4;
use std::time::SystemTime;

/// Adds `X-Amz-Date`, `X-Amz-Security-Token` (temporary credentials) and `Authorization` to
/// `req`. The host comes from the URI, so it must be the host the request is sent to.
pub fn sign(
    req: &mut http::Request<Vec<u8>>,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), Error> {
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        creds.secret.expose(),
        creds.token.as_ref().map(|t| t.expose().to_string()),
        None,
        "cw2mackerel",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| Error::runtime(format!("signing: {e}")))?
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(req.body()),
    )
    .map_err(|e| Error::runtime(format!("signing: {e}")))?;
    let (instructions, _) = sigv4(signable, &params)
        .map_err(|e| Error::runtime(format!("signing: {e}")))?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Secret;
    use std::path::Path;

    /// Parses a test-suite request file: request line, `Name:value` headers, blank line, body.
    fn request(text: &str) -> http::Request<Vec<u8>> {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let mut first = lines.next().unwrap().split(' ');
        let method = first.next().unwrap();
        let path = first.next().unwrap();
        let mut builder = http::Request::builder().method(method);
        let mut host = String::new();
        for line in lines {
            let (k, v) = line.split_once(':').unwrap();
            if k.eq_ignore_ascii_case("host") {
                host = v.to_string();
            } else {
                builder = builder.header(k, v);
            }
        }
        builder
            .uri(format!("https://{host}{path}"))
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    fn authorization(signed: &str) -> &str {
        signed
            .lines()
            .find_map(|l| l.strip_prefix("Authorization:"))
            .unwrap()
    }

    #[test]
    fn aws_signing_test_suite() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sigv4");
        let mut cases = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let case = entry.unwrap().path();
            if !case.is_dir() {
                continue;
            }
            let read = |f: &str| std::fs::read_to_string(case.join(f)).unwrap();
            let ctx: serde_json::Value = serde_json::from_str(&read("context.json")).unwrap();
            let c = &ctx["credentials"];
            let creds = Credentials {
                access_key_id: c["access_key_id"].as_str().unwrap().into(),
                secret: Secret::new(c["secret_access_key"].as_str().unwrap()),
                token: c["token"].as_str().map(Secret::new),
                expires: None,
            };
            let when = crate::clock::parse_iso8601(ctx["timestamp"].as_str().unwrap()).unwrap();
            let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(when as u64);
            let mut req = request(&read("request.txt"));
            sign(
                &mut req,
                &creds,
                ctx["region"].as_str().unwrap(),
                ctx["service"].as_str().unwrap(),
                time,
            )
            .unwrap();
            let expected = read("header-signed-request.txt");
            assert_eq!(
                req.headers()["authorization"].to_str().unwrap(),
                authorization(&expected),
                "{}",
                case.display()
            );
            if let Some(token) = &creds.token {
                assert_eq!(req.headers()["x-amz-security-token"], token.expose());
            }
            cases += 1;
        }
        assert!(
            cases >= 15,
            "only {cases} vectors found in {}",
            dir.display()
        );
    }
}
