//! The one error type: a message written for the user, and whether it is about configuration
//! (exit 2, always found before any network call) or about something at run time (exit 1).
//! Below it, what a module hands another is typed by what the caller does with it: an
//! [`Invalid`] value of the configuration (the caller says where it was given), an
//! [`Undecodable`] answer of a peer (the caller says which), a request that brought no answer
//! (`transport::Unanswered`), an answer refused with a status (`aws::ApiError`,
//! `mackerel::Failure`). None is a bare `String`: `tests/architecture.rs` counts those.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    Config(String),
    Runtime(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }

    pub fn runtime(msg: impl Into<String>) -> Self {
        Error::Runtime(msg.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 2,
            Error::Runtime(_) => 1,
        }
    }

    /// Puts what was being done in front of the message: `reading X: <message>`.
    pub fn context(self, what: impl fmt::Display) -> Self {
        match self {
            Error::Config(m) => Error::Config(format!("{what}: {m}")),
            Error::Runtime(m) => Error::Runtime(format!("{what}: {m}")),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Error::Config(m) | Error::Runtime(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

/// A value that must never reach a log line, an error or stdout: API keys, AWS secrets, tokens.
/// It cannot be formatted, and log lines mask it while any copy of it lives, and a while
/// after (see [`crate::log::redact`]).
#[derive(PartialEq, Eq)]
pub struct Secret(String);

impl Clone for Secret {
    fn clone(&self) -> Self {
        Secret::new(self.0.clone())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        crate::log::forget(&self.0);
    }
}

impl Secret {
    /// Keeps `value`, and makes every later log line mask it.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::log::secret(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A value of the configuration that cannot be used, and why, said for the user. The caller
/// puts where the value was given in front (`AWS_REGION: "x" is not a region …`); as an
/// [`Error`] it is a configuration error, exit 2.
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

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Error {
        Error::Config(e.0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn a_lasting_secret_outlives_any_number_of_renewed_ones() {
        let key = Secret::new("lasting-api-key-value");
        let copy = key.clone();
        drop(key);
        for i in 0..1000 {
            drop(Secret::new(format!("hourly-session-token-{i}")));
        }
        assert_eq!(
            crate::log::redact("key lasting-api-key-value, token hourly-session-token-999"),
            "key ***, token ***"
        );
        assert_eq!(
            crate::log::redact("hourly-session-token-1"),
            "hourly-session-token-1",
            "only the last few let go of are kept"
        );
        drop(copy);
    }

    #[test]
    fn context_keeps_kind() {
        let e = Error::config("bad").context("CW2MACKEREL_LOOKBACK");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "CW2MACKEREL_LOOKBACK: bad");
    }
}
