//! URLs and forms: the check of a configured base URL, percent-encoding as SigV4 and AWS's
//! query protocol want it (the `percent-encoding` crate, which ureq and aws-sigv4 link
//! already), and form bodies built in place.

use crate::fault::Invalid;

/// `url` fit for a message, parsed or not: what precedes its last `@` (the userinfo, which
/// may hold a password with any character) is masked.
pub fn shown(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((head, host)) => {
            let scheme = head.split_once("://").map_or("", |(scheme, _)| scheme);
            format!("{scheme}://***@{host}")
        }
        None => url.to_string(),
    }
}

/// An `http://` or `https://` base URL: a host, and no query.
pub fn check_url(url: &str) -> Result<(), Invalid> {
    let shown = shown(url);
    let uri: http::Uri = url
        .parse()
        .map_err(|_| Invalid::new(format!("{shown:?} is not a URL")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(Invalid::new(format!(
                "{shown:?} must start with http:// or https://"
            )));
        }
    }
    let bad_port = uri
        .authority()
        .and_then(|a| a.as_str().rsplit_once(':'))
        .is_some_and(|(_, port)| {
            !port.ends_with(']') && port.parse::<u16>().ok().is_none_or(|p| p == 0)
        });
    if uri.host().is_none_or(str::is_empty)
        || uri.query().is_some()
        || url.contains('#')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
        || bad_port
    {
        return Err(Invalid::new(format!(
            "{shown:?} must be a base URL like https://host[:port], without a query or fragment"
        )));
    }
    Ok(())
}

/// Everything but AWS's unreserved characters (`A-Za-z0-9-_.~`) is encoded.
const AWS_ENCODED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes everything but AWS's unreserved characters (`A-Za-z0-9-_.~`), the encoding
/// both SigV4 and the query protocol expect.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(&mut out, s);
    out
}

fn encode_into(out: &mut String, s: &str) {
    out.extend(percent_encoding::utf8_percent_encode(s, AWS_ENCODED));
}

/// Decodes `%XX` escapes (proxy user names and passwords); a `%` not followed by two hex
/// digits stays as it is.
pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// An `application/x-www-form-urlencoded` body, `k=v&k=v`, built in place: a GetMetricData
/// call has some 5,000 fields, and a pair of strings each would be 10,000 allocations.
#[derive(Debug, Default)]
pub struct Form(String);

impl Form {
    /// Adds `key=value`, both encoded.
    pub fn add(&mut self, key: std::fmt::Arguments, value: &str) -> &mut Form {
        use std::fmt::Write;
        if !self.0.is_empty() {
            self.0.push('&');
        }
        let start = self.0.len();
        let _ = self.0.write_fmt(key);
        // Keys are made of unreserved characters, as AWS's are; encode one that is not.
        if !self.0[start..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        {
            let raw = self.0.split_off(start);
            self.0 += &encode(&raw);
        }
        self.0.push('=');
        encode_into(&mut self.0, value);
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(
            encode("arn:aws:cloudfront::1:distribution/E1"),
            "arn%3Aaws%3Acloudfront%3A%3A1%3Adistribution%2FE1"
        );
        assert_eq!(encode("a b~"), "a%20b~");
        let mut f = Form::default();
        f.add(format_args!("A"), "1 2")
            .add(format_args!("B.{}", 1), "é")
            .add(format_args!("c d"), "");
        assert_eq!(f.into_bytes(), b"A=1%202&B.1=%C3%A9&c%20d=");
    }

    /// Proxy credentials are decoded as they always were: escapes of any case, a `%` without
    /// two hex digits kept, bytes that are not UTF-8 replaced.
    #[test]
    fn decoding() {
        assert_eq!(decode("p%40ss%3a%2F"), "p@ss:/");
        assert_eq!(decode("100%25%zz%4"), "100%%zz%4");
        assert_eq!(decode("%C3%A9%FF"), "é\u{FFFD}");
        assert_eq!(decode(&encode("a b/é~")), "a b/é~");
    }

    #[test]
    fn urls() {
        assert!(check_url("https://api.mackerelio.com").is_ok());
        assert!(check_url("http://127.0.0.1:1234/base").is_ok());
        for bad in [
            "api.mackerelio.com",
            "ftp://x",
            "http://",
            "http://x/?a=b",
            "https://x/#frag",
            "http://x:65536",
            "http://x:99999/",
            "http://x:0",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(shown("http://u:p w@h:1/x"), "http://***@h:1/x");
        assert_eq!(shown("u:p@h"), "://***@h");
        assert_eq!(shown("https://h/x"), "https://h/x");
    }
}
