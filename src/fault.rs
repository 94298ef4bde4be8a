//! Failures below the top-level [`crate::error::Error`], typed by whose fault they are and so
//! by what the caller does with them: an [`Invalid`] value of the configuration (the caller
//! says where it was given, and it exits 2), an [`Undecodable`] answer of a peer (the caller
//! names the peer). A request that brought no answer is `transport::Unanswered`; an answer
//! refused with a status is `aws::error::ApiError` or `mackerel::Failure`. None of them is a
//! bare `String`: `tests/architecture.rs` counts those where modules meet. This module
//! imports nothing, so the lowest modules (`clock`, `xml`, `url`) can use it.

use std::fmt;

/// A value of the configuration that cannot be used, and why, said for the user. The caller
/// puts where the value was given in front (`AWS_REGION: "x" is not a region …`); as an
/// [`crate::error::Error`] it is a configuration error, exit 2.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(String);

impl Invalid {
    pub fn new(why: impl Into<String>) -> Self {
        Invalid(why.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The message alone, for callers that build theirs from it (`Error::config`, serde's
/// `custom`, a check that passes a lower one's verdict on).
impl From<Invalid> for String {
    fn from(e: Invalid) -> String {
        e.0
    }
}

/// An answer of a peer (or a file it wrote) that cannot be read as what it should be: the
/// peer's fault, never the configuration's. The caller names the peer and the operation.
#[derive(Debug, PartialEq, Eq)]
pub struct Undecodable(String);

impl Undecodable {
    pub fn new(why: impl Into<String>) -> Self {
        Undecodable(why.into())
    }
}

impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
