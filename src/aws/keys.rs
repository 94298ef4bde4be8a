//! What AWS requests are signed with: a set of credentials, and the role a job may assume to
//! read another account. Plain data, shared by the credential chain, STS and signing.

use crate::clock;
use crate::error::Secret;
use serde_json::Value;

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret: Secret,
    pub token: Option<Secret>,
    /// Unix seconds; `None` for long-term keys.
    pub expires: Option<i64>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// A token file (web identity, container authorization) larger than this is not read.
pub const TOKEN_LIMIT: u64 = 64 << 10;

impl Credentials {
    /// Credentials whose parts can go into a request's headers: printable ASCII without
    /// spaces, as AWS's keys and tokens always are (blanks around them are dropped).
    pub fn new(
        access_key_id: &str,
        secret: &str,
        token: Option<&str>,
        expires: Option<i64>,
    ) -> Result<Credentials, String> {
        let (access_key_id, secret, token) =
            (access_key_id.trim(), secret.trim(), token.map(str::trim));
        for (what, part) in [
            ("access key ID", Some(access_key_id)),
            ("secret access key", Some(secret)),
            ("session token", token),
        ] {
            if part.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_graphic())) {
                return Err(format!(
                    "the {what} is empty or holds a character AWS keys never have (a space, a line break, a control or non-ASCII character)"
                ));
            }
        }
        Ok(Credentials {
            access_key_id: access_key_id.to_string(),
            secret: Secret::new(secret),
            token: token.map(Secret::new),
            expires,
        })
    }
}

/// An IAM role assumed with STS AssumeRole, to read another account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Role {
    pub arn: String,
    pub external_id: Option<String>,
}

/// IAM role ARNs: `arn:PARTITION:iam::ACCOUNT:role/NAME`.
pub fn check_role_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok =
        parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[5].starts_with("role/");
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{arn:?} is not an IAM role ARN like arn:aws:iam::123456789012:role/name"
        )),
    }
}

/// The JSON that ECS, EKS and IMDS serve: `AccessKeyId`, `SecretAccessKey`, `Token`,
/// `Expiration`.
pub fn from_json(body: &[u8]) -> Result<Credentials, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("unreadable credentials ({e})"))?;
    from_object(&v, "Token", "the answer")
}

/// The credentials of a JSON object with `AccessKeyId`, `SecretAccessKey`, a session token
/// under `token` and `Expiration`; messages call the object `subject`.
pub fn from_object(v: &Value, token: &str, subject: &str) -> Result<Credentials, String> {
    let field = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err(format!("{subject} lacks AccessKeyId or SecretAccessKey"));
    };
    let expires =
        match field("Expiration") {
            Some(e) => Some(clock::parse_iso8601(&e).ok_or_else(|| {
                format!("{subject} has an Expiration {e:?} that is not a timestamp")
            })?),
            None => None,
        };
    Credentials::new(&id, &secret, field(token).as_deref(), expires)
        .map_err(|e| format!("{subject}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "container credentials",
            &[br#"{"AccessKeyId":"A","SecretAccessKey":"S","Token":"T","Expiration":"2026-11-25T01:02:00Z","Code":"Success"}"#],
            |b| from_json(b).map_or(0, |c| c.access_key_id.len()),
        );
    }

    #[test]
    fn json_credentials() {
        let c = from_json(br#"{"AccessKeyId":"A","SecretAccessKey":"SECRETVALUE","Token":"T","Expiration":"2026-11-25T01:02:00Z"}"#).unwrap();
        assert_eq!(c.expires, Some(1795568520));
        assert!(from_json(br#"{"AccessKeyId":"A"}"#).is_err());
        assert!(from_json(b"{\"AccessKeyId\":").is_err());
        assert!(!format!("{c:?}").contains("SECRETVALUE"));
    }
}
