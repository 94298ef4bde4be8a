//! AWS error answers (the query/REST XML `ErrorResponse` and the JSON `__type` form) turned into
//! a code to act on and a message that says what to do.

use crate::transport::Reply;

#[derive(Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Seconds AWS's clock is ahead of the time the request was signed at (behind when
    /// negative), when the answer's `Date` shows that is why it was refused.
    pub skew: Option<i64>,
}

/// Reads the error out of a non-2xx answer; an unreadable body still gives the status.
pub fn parse(reply: &Reply) -> ApiError {
    let (mut code, mut message) = (String::new(), String::new());
    if let Ok(doc) = crate::xml::parse(&reply.body) {
        let error = doc
            .at("Error")
            .or_else(|| doc.at("Errors/Error"))
            .or_else(|| (doc.name == "Error").then_some(&doc));
        if let Some(e) = error {
            code = e.text_at("Code").unwrap_or_default().to_string();
            message = e.text_at("Message").unwrap_or_default().to_string();
        }
    } else if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&reply.body) {
        let t = v["__type"]
            .as_str()
            .or(v["code"].as_str())
            .unwrap_or_default();
        code = bare_code(t).to_string();
        message = v["message"]
            .as_str()
            .or(v["Message"].as_str())
            .unwrap_or_default()
            .to_string();
    }
    if code.is_empty() {
        code = reply
            .header("x-amzn-errortype")
            .map(|t| bare_code(t).to_string())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| format!("HTTP{}", reply.status));
    }
    if message.is_empty() && !reply.body.is_empty() && code.starts_with("HTTP") {
        message = crate::log::excerpt(&reply.body);
    }
    ApiError {
        status: reply.status,
        code,
        message,
        skew: None,
    }
}

/// An error code without the namespace in front or the URI behind, as botocore reads it
/// (`parsers.py`, `BaseJSONParser._do_error_parse`: cut at the first `:`, keep what follows the
/// last `#`): `aws.protocoltests.restjson#FooError:http://internal.amazon.com/…` → `FooError`.
fn bare_code(t: &str) -> &str {
    let t = t.split(':').next().unwrap_or(t);
    t.rsplit('#').next().unwrap_or(t).trim()
}

/// botocore's `ThrottledRetryableChecker._THROTTLED_ERROR_CODES` (`retries/standard.py`, 1.44.8).
const THROTTLING_CODES: [&str; 14] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// `TransientRetryableChecker`: its error codes and statuses (501 is not among them).
const TRANSIENT_CODES: [&str; 3] = [
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
];
const TRANSIENT_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// Codes AWS answers a request signed at a time too far from its own with: the SDKs for
/// Java (`AwsErrorCode`, definite and possible clock skew codes) and JavaScript
/// (`CLOCK_SKEW_ERROR_CODES`) correct their clock on these when the answer's `Date` says so.
/// CloudWatch, STS and CloudFront say `SignatureDoesNotMatch` ("Signature expired"), the JSON
/// services `InvalidSignatureException`.
const CLOCK_SKEW_CODES: [&str; 6] = [
    "RequestTimeTooSkewed",
    "RequestExpired",
    "RequestInTheFuture",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
];

impl ApiError {
    /// Throttling, as botocore's standard retry mode detects it: one of its throttling codes,
    /// or a 429 (which no operation cw2mackerel calls models as an error of its own). Retried
    /// with a base of 1 s.
    pub fn throttling(&self) -> bool {
        self.status == 429 || THROTTLING_CODES.contains(&self.code.as_str())
    }

    /// Transient trouble on AWS's side: a transient code or status 500, 502, 503 or 504.
    /// Retried with a base of 50 ms.
    pub fn transient(&self) -> bool {
        TRANSIENT_STATUSES.contains(&self.status) || TRANSIENT_CODES.contains(&self.code.as_str())
    }

    /// Worth another try after a pause: exactly what botocore's standard mode retries (none of
    /// the operations called models a retryable error of its own).
    pub fn retryable(&self) -> bool {
        self.throttling() || self.transient()
    }

    /// A refusal that may come from this machine's clock being off from AWS's.
    pub fn clock_skew_code(&self) -> bool {
        CLOCK_SKEW_CODES.contains(&self.code.as_str())
    }

    /// The session token ran out: fresh credentials may fix it.
    pub fn expired_token(&self) -> bool {
        matches!(
            self.code.as_str(),
            "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired"
        )
    }

    /// One line for the user: what failed, why, and what to change. `action` is like
    /// `CloudWatch GetMetricData`, `permission` the IAM action it needs.
    pub fn explain(&self, action: &str, permission: &str) -> String {
        let said = if self.message.is_empty() {
            format!("{} {}", self.status, self.code)
        } else {
            format!("{} {}: {}", self.status, self.code, self.message)
        };
        let advice = match self.code.as_str() {
            _ if self.skew.is_some() => clock_advice(self.skew),
            "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "AuthorizationError" => format!(
                "the AWS credentials lack the IAM permission {permission}; grant it to the role or user"
            ),
            "RequestTimeTooSkewed" | "RequestExpired" | "RequestInTheFuture" => clock_advice(None),
            // AWS's words when only the time was wrong (a proxy may have dropped the Date).
            "SignatureDoesNotMatch" | "InvalidSignatureException"
                if self.message.starts_with("Signature expired")
                    || self.message.starts_with("Signature not yet current") =>
            {
                clock_advice(None)
            }
            "SignatureDoesNotMatch" | "InvalidSignatureException" => concat!(
                "the secret access key does not match the access key ID; ",
                "check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key"
            )
            .into(),
            "InvalidClientTokenId" | "UnrecognizedClientException" | "InvalidAccessKeyId" => {
                concat!(
                    "AWS does not know this access key ID (deleted, mistyped, or from another ",
                    "partition); check the credentials"
                )
                .into()
            }
            "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => {
                "the AWS session token has expired; supply fresh temporary credentials".into()
            }
            _ if self.throttling() => {
                "AWS kept throttling; run less often or ask for a higher quota".into()
            }
            _ => String::new(),
        };
        if advice.is_empty() {
            format!("{action} failed ({said})")
        } else {
            format!("{action} failed ({said}): {advice}")
        }
    }
}

/// What to do about a clock AWS refused; `skew` is how far AWS's clock is ahead of ours.
fn clock_advice(skew: Option<i64>) -> String {
    let fix = "set this machine's clock right (NTP, chrony or systemd-timesyncd)";
    match skew {
        Some(s) => format!(
            "this machine's clock is {} {} AWS's (the answer's Date); {fix}",
            crate::clock::format_duration(std::time::Duration::from_secs(s.unsigned_abs())),
            if s > 0 { "behind" } else { "ahead of" }
        ),
        None => format!("AWS refused the time the request was signed at; {fix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "AWS errors",
            &[
                b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>",
                br#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"gone"}"#,
            ],
            |b| {
                let e = parse(&reply(400, &String::from_utf8_lossy(b)));
                e.code.len() + e.message.len()
            },
        );
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: http::HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn query_xml_error() {
        let e = parse(&reply(
            403,
            r#"<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/r is not authorized to perform: cloudwatch:GetMetricData</Message></Error><RequestId>x</RequestId></ErrorResponse>"#,
        ));
        assert_eq!(e.code, "AccessDenied");
        let m = e.explain("CloudWatch GetMetricData", "cloudwatch:GetMetricData");
        assert!(
            m.contains("not authorized") && m.contains("grant it"),
            "{m}"
        );
        assert!(!e.retryable());
    }

    #[test]
    fn json_error() {
        let e = parse(&reply(
            400,
            r#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"gone"}"#,
        ));
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("ParameterNotFound", "gone")
        );
        let e = parse(&reply(
            400,
            r#"{"__type":"ThrottlingException","Message":"slow"}"#,
        ));
        assert!(e.retryable());
    }

    /// The awsJson1_1 protocol tests (smithy `awsJson1_1/errors.smithy`,
    /// `AwsJson11FooErrorUsingXAmznErrorType…`, `…UsingCode`, `…WithDunderTypeUriAndNamespace`)
    /// expect `FooError` whatever form the code comes in.
    #[test]
    fn json_codes_lose_their_namespace_and_uri() {
        for body in [
            r#"{"__type": "FooError"}"#,
            r#"{"__type": "aws.protocoltests.restjson#FooError"}"#,
            r#"{"__type": "aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/"}"#,
            r#"{"code": "aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/"}"#,
        ] {
            assert_eq!(parse(&reply(400, body)).code, "FooError", "{body}");
        }
        for header in [
            "FooError",
            "FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/",
            "aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/com.amazon.coral.validate/",
        ] {
            let mut r = reply(400, "");
            r.headers
                .insert("x-amzn-errortype", header.parse().unwrap());
            assert_eq!(parse(&r).code, "FooError", "{header}");
        }
        // Throttling written that way is retried.
        let e = parse(&reply(
            400,
            r#"{"__type": "com.amazonaws.ssm#ThrottlingException:http://internal.amazon.com/"}"#,
        ));
        assert!(e.retryable());
        assert!(parse(&reply(400, r#"{"__type":"LimitExceededException"}"#)).retryable());
    }

    #[test]
    fn unreadable_bodies_still_say_something() {
        let e = parse(&reply(502, "<html>Bad Gateway"));
        assert_eq!(e.code, "HTTP502");
        assert!(e.retryable());
        assert!(e.explain("X", "x:Y").contains("Bad Gateway"));
        let e = parse(&reply(400, ""));
        assert_eq!(e.explain("X", "x:Y"), "X failed (400 HTTP400)");
    }

    #[test]
    fn expired_and_signature() {
        let e = parse(&reply(
            400,
            "<ErrorResponse><Error><Code>ExpiredToken</Code><Message>m</Message></Error></ErrorResponse>",
        ));
        assert!(e.expired_token());
        let e = parse(&reply(
            403,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>",
        ));
        assert!(e.explain("A", "p").contains("AWS_SECRET_ACCESS_KEY"));
    }
}
