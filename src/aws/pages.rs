//! The guards of a paginated AWS listing. A peer that repeats a token, never stops giving
//! one, or sends more than memory should hold ends the listing with an error, instead of
//! billed calls until the deadline and memory until the kernel says no.

use crate::error::{Error, Result};
use std::collections::HashSet;

/// More pages than any account has: a million distributions, five million metrics.
const MOST_PAGES: usize = 10_000;
/// All the answers of one listing, at most: some 800,000 metrics of ListMetrics.
const MOST_BYTES: usize = 256 << 20;

pub struct Pages {
    action: &'static str,
    token: &'static str,
    seen: HashSet<String>,
    pages: usize,
    bytes: usize,
    most_pages: usize,
}

impl Pages {
    /// A listing by `action` (`CloudWatch ListMetrics`), whose pages go on with `token`
    /// (`NextToken`).
    pub fn new(action: &'static str, token: &'static str) -> Pages {
        Pages {
            action,
            token,
            seen: HashSet::new(),
            pages: 0,
            bytes: 0,
            most_pages: MOST_PAGES,
        }
    }

    /// At most `pages` pages, for a listing whose every page is billed.
    pub fn at_most(self, pages: usize) -> Pages {
        Pages {
            most_pages: pages,
            ..self
        }
    }

    /// Counts one more answer of `len` bytes; an error once there are too many.
    pub fn read(&mut self, len: usize) -> Result<()> {
        self.pages += 1;
        self.bytes = self.bytes.saturating_add(len);
        if self.pages > self.most_pages || self.bytes > MOST_BYTES {
            return Err(Error::runtime(format!(
                "{} kept giving a {} ({} pages, {} MB); giving up",
                self.action,
                self.token,
                self.pages,
                self.bytes >> 20
            )));
        }
        Ok(())
    }

    /// `token` leads to the next page: an error if an earlier page gave it already.
    pub fn next(&mut self, token: &str) -> Result<()> {
        if !self.seen.insert(token.to_string()) {
            return Err(Error::runtime(format!(
                "{} gave the {} {token:?} twice; giving up",
                self.action, self.token
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_twice_too_many_pages_or_bytes_end_a_listing() {
        let mut p = Pages::new("CloudWatch ListMetrics", "NextToken");
        p.next("a").unwrap();
        p.next("b").unwrap();
        assert!(p.next("a").unwrap_err().to_string().contains("twice"));
        let mut p = Pages::new("x", "NextToken");
        assert!((0..MOST_PAGES).all(|_| p.read(1).is_ok()));
        assert!(p.read(1).is_err());
        let mut p = Pages::new("x", "NextToken");
        p.read(MOST_BYTES).unwrap();
        assert!(p.read(1).is_err());
    }
}
