//! Hosts as Mackerel lists them and as cw2mackerel wants them, and the host list read as it
//! streams: an organization's list can be tens of MB, of which cw2mackerel needs a few hosts.

use super::request::Kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, Read};

/// A host as Mackerel lists it (the fields cw2mackerel reads).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub custom_identifier: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub meta: Value,
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub created_at: i64,
}

impl Host {
    pub fn has_role(&self, full_name: &str) -> bool {
        full_name.split_once(':').is_some_and(|(svc, role)| {
            self.roles
                .get(svc)
                .is_some_and(|r| r.iter().any(|x| x == role))
        })
    }
}

/// What a host should be: the body of `POST /api/v0/hosts` and `PUT /api/v0/hosts/<id>`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HostSpec {
    pub name: String,
    pub display_name: String,
    pub custom_identifier: String,
    pub meta: Value,
    pub role_fullnames: Vec<String>,
}

impl HostSpec {
    /// Whether `host` already is what this spec says (roles may be more: Mackerel keeps those).
    pub fn matches(&self, host: &Host) -> bool {
        host.name == self.name
            && host.display_name.as_deref().unwrap_or_default() == self.display_name
            && host.meta == self.meta
            && self.role_fullnames.iter().all(|r| host.has_role(r))
    }
}

/// Reads the body of `GET /api/v0/hosts`, `{"hosts": [...], ...}`, as it streams: each host
/// is cut out of the stream and parsed alone (with the parser every other answer uses, not a
/// second one for readers), then kept if `keep` wants it or dropped, so memory holds one host
/// and those kept. Anything that is not such an object is `Kind::Foreign`; a body that
/// cannot be read to its end, `Kind::Unanswered`.
pub(super) fn read_hosts(body: impl Read, keep: &dyn Fn(&Host) -> bool) -> Result<Vec<Host>, Kind> {
    let mut body = std::io::BufReader::with_capacity(64 << 10, body);
    let mut scan = Scan::default();
    loop {
        let buf = body.fill_buf().map_err(|_| Kind::Unanswered)?;
        if buf.is_empty() {
            break;
        }
        for &b in buf {
            scan.step(b, keep)?;
        }
        let n = buf.len();
        body.consume(n);
    }
    match (scan.done, scan.seen) {
        (true, true) => Ok(scan.kept),
        _ => Err(Kind::Foreign),
    }
}

/// Deeper than this is not a host list.
const MAX_DEPTH: usize = 128;

/// Where a scan of a host list stands: only the structure is followed (strings, nesting, the
/// top level's keys); each host is checked whole by the JSON parser.
#[derive(Default)]
struct Scan {
    depth: usize,
    string: bool,
    escaped: bool,
    /// At the top level: whether the next string is a key, the key being read, the last key.
    want_key: bool,
    reading_key: bool,
    key: Vec<u8>,
    /// Inside the top level's `hosts` array; whether there was one; the host being cut out.
    in_hosts: bool,
    seen: bool,
    host: Vec<u8>,
    /// Whether the top-level object has closed.
    done: bool,
    kept: Vec<Host>,
}

impl Scan {
    fn step(&mut self, b: u8, keep: &dyn Fn(&Host) -> bool) -> Result<(), Kind> {
        let space = b.is_ascii_whitespace();
        if self.done {
            return if space { Ok(()) } else { Err(Kind::Foreign) };
        }
        if self.in_hosts && self.depth > 2 {
            self.host.push(b);
        }
        if self.string {
            match (self.escaped, b) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => {
                    self.string = false;
                    self.reading_key = false;
                    return Ok(());
                }
                _ => {}
            }
            if self.reading_key && self.key.len() < 16 {
                self.key.push(b);
            }
            return Ok(());
        }
        // Between the hosts of the list only commas and blanks; nothing before the top level.
        let between = self.in_hosts && self.depth == 2;
        match b {
            b'{' | b'[' if self.depth == 0 => {
                if b == b'[' {
                    return Err(Kind::Foreign);
                }
                (self.depth, self.want_key) = (1, true);
            }
            b'{' | b'[' => {
                if self.depth == 1 && self.key == b"hosts" && !self.seen {
                    if b != b'[' {
                        return Err(Kind::Foreign);
                    }
                    (self.in_hosts, self.seen) = (true, true);
                } else if between {
                    if b != b'{' {
                        return Err(Kind::Foreign);
                    }
                    self.host.clear();
                    self.host.push(b);
                }
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(Kind::Foreign);
                }
            }
            b'}' | b']' => {
                self.depth = self.depth.checked_sub(1).ok_or(Kind::Foreign)?;
                match self.depth {
                    2 if self.in_hosts => {
                        let host: Host =
                            serde_json::from_slice(&self.host).map_err(|_| Kind::Foreign)?;
                        if keep(&host) {
                            self.kept.push(host);
                        }
                        self.host = Vec::new();
                    }
                    1 => self.in_hosts = false,
                    0 => self.done = true,
                    _ => {}
                }
            }
            b'"' if between || self.depth == 0 => return Err(Kind::Foreign),
            b'"' => {
                self.string = true;
                if self.depth == 1 && self.want_key {
                    (self.reading_key, self.want_key) = (true, false);
                    self.key.clear();
                }
            }
            b',' if self.depth == 1 => self.want_key = true,
            b',' => {}
            _ if space => {}
            _ if between || self.depth == 0 => return Err(Kind::Foreign),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lists_are_read_keeping_only_what_is_asked() {
        let list = br#"{"total": 3, "hosts": [
            {"id": "a", "customIdentifier": "c1", "meta": {"agent-name": "mackerel-agent"}},
            {"id": "b", "customIdentifier": "c2", "meta": {"cw2mackerel": {"owner": "cloudfront"}}},
            {"id": "c", "meta": {}}], "extra": {"nested": [1, 2]}}"#;
        let kept = read_hosts(&list[..], &|h| h.id != "a").unwrap();
        assert_eq!(
            kept.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(kept[0].custom_identifier.as_deref(), Some("c2"));
        for bad in [
            &b"<html>maintenance</html>"[..],
            b"",
            b"{}",
            br#"{"hosts": {}}"#,
            br#"{"hosts": []} trailing"#,
            br#"[{"hosts": []}]"#,
        ] {
            assert!(
                read_hosts(bad, &|_| true).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "Mackerel host lists",
            &[
                br#"{"hosts":[{"id":"h1","name":"n","displayName":"d","customIdentifier":"c","status":"working","meta":{"cw2mackerel":{"owner":"cloudfront"}},"roles":{"cdn":["edge"]},"createdAt":5}]}"#,
                br#"{"hosts":[]}"#,
            ],
            |b| read_hosts(b, &|_| true).map_or(0, |h| h.len()),
        );
    }

    /// Hands out one byte a read, then fails if told to.
    struct Trickle<'a>(&'a [u8], bool);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ if self.1 => Err(std::io::ErrorKind::ConnectionReset.into()),
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn the_scan_follows_strings_and_nesting_and_any_cut() {
        // Braces, brackets, quotes and a "hosts" key inside strings and nested values.
        let list = br#" {"note": "a } ] \" { [ \\", "x": {"hosts": [1]},
            "hosts": [{"id": "h\"1", "name": "{[", "meta": {"a": [[{}]], "hosts": "no"}},
                      {"id": "h2", "customIdentifier": "c]}"}] } "#;
        let all = read_hosts(Trickle(list, false), &|_| true).unwrap();
        assert_eq!(
            all.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            ["h\"1", "h2"]
        );
        assert_eq!(all[1].custom_identifier.as_deref(), Some("c]}"));
        assert_eq!(all[0].meta["hosts"], "no");
        assert!(matches!(
            read_hosts(Trickle(&list[..40], true), &|_| true),
            Err(Kind::Unanswered)
        ));
        for bad in [
            &br#"{"hosts": [{"id": "h"}, 5]}"#[..],
            br#"{"hosts": [{"id": "h"}, "h"]}"#,
            br#"{"hosts": [{"id": "h"}]"#,
            br#"{"hosts": [{"id": 5}]}"#,
            br#"{"x": {"hosts": []}}"#,
            br#"{"hosts": []}}"#,
        ] {
            let read = read_hosts(bad, &|_| true);
            assert!(
                matches!(read, Err(Kind::Foreign)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
