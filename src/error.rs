//! The one error type: a message written for the user, and whether it is about configuration
//! (exit 2, always found before any network call) or about something at run time (exit 1).
//! Below it, failures are typed by what the caller does with them (see [`crate::fault`]).

use crate::fault::Invalid;
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

    /// Each mistake a configuration error names (see [`Mistakes`]); other errors are one.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.message().split('\n')
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

/// Configuration mistakes, gathered so that one run (of `check`, or of any command) names
/// every mistake it can find instead of stopping at the first. A configuration [`Error`]
/// made of several holds one per line (see [`Error::lines`]).
#[derive(Debug, Default)]
pub struct Mistakes(Vec<String>);

impl Mistakes {
    /// `r`'s value; or, noting its error, `None` (what depends on it is then left unchecked,
    /// so one mistake is not reported again as others).
    pub fn take<T>(&mut self, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, e: Error) {
        self.0.extend(e.lines().map(str::to_string));
    }

    /// `value` when nothing was noted; else one configuration error holding every mistake.
    pub fn or<T>(self, value: Option<T>) -> Result<T> {
        match (self.0.is_empty(), value) {
            (true, Some(v)) => Ok(v),
            (true, None) => Err(Error::config("the configuration is incomplete")),
            (false, _) => Err(Error::Config(self.0.join("\n"))),
        }
    }
}

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

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Error {
        Error::Config(e.to_string())
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
    fn mistakes_are_gathered_one_a_line() {
        let mut m = Mistakes::default();
        assert_eq!(m.take(Ok::<_, Error>(1)), Some(1));
        assert_eq!(m.take(Err::<u8, _>(Error::config("A: bad"))), None);
        m.push(Error::config("B: bad\nC: bad"));
        let e = m.or(Some(())).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.lines().collect::<Vec<_>>(),
            ["A: bad", "B: bad", "C: bad"]
        );
        assert_eq!(Mistakes::default().or(Some(5)).unwrap(), 5);
    }

    #[test]
    fn context_keeps_kind() {
        let e = Error::config("bad").context("CW2MACKEREL_LOOKBACK");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "CW2MACKEREL_LOOKBACK: bad");
    }
}
