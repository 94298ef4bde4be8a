//! The small languages of job files: name templates with `{placeholder}`s, and glob patterns
//! (`*`, `?`) for dimension values.

use crate::fault::Invalid;

/// A value made safe to stand between the dots of a Mackerel metric name: characters outside
/// `[a-zA-Z0-9_-]` become `_` (a dot would split the graph).
pub fn name_part(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `{name}` placeholders in literal text. Values put in are made safe for Mackerel names.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Template {
    parts: Vec<Part>,
}

/// A piece of a template: literal text or a placeholder's name.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum Part {
    Text(String),
    Var(String),
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, Invalid> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if rest[..open].contains('}') {
                return Err(Invalid::new(format!("{s:?} has a '}}' without '{{'")));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| Invalid::new(format!("{s:?} has a '{{' without '}}'")))?
                + open;
            let var = &rest[open + 1..close];
            if var.is_empty() || var.contains('{') {
                return Err(Invalid::new(format!(
                    "{s:?} has an empty or nested placeholder"
                )));
            }
            parts.push(Part::Var(var.to_string()));
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(Invalid::new(format!("{s:?} has a '}}' without '{{'")));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if parts.is_empty() {
            return Err(Invalid::new("the template is empty"));
        }
        Ok(Template { parts })
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The literal text between the placeholders.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            Part::Var(_) => None,
        })
    }

    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Fills the placeholders; with `safe`, every value's characters outside
    /// `[a-zA-Z0-9_-]` become `_` (a dot would split a Mackerel graph), and an empty value
    /// becomes `_` (an empty part would leave two dots in a row).
    pub fn render(&self, value: &dyn Fn(&str) -> Option<String>, safe: bool) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out += t,
                Part::Var(v) => {
                    let v = value(v).unwrap_or_default();
                    if safe && v.is_empty() {
                        out.push('_');
                    } else if safe {
                        out += &name_part(&v);
                    } else {
                        out += &v;
                    }
                }
            }
        }
        out
    }
}

/// An exact value or a glob (`*` any run of characters, `?` one character).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Pattern(String);

impl Pattern {
    pub fn new(p: &str) -> Pattern {
        Pattern(p.to_string())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, value: &str) -> bool {
        glob(self.0.as_bytes(), value.as_bytes())
    }
}

fn glob(p: &[u8], v: &[u8]) -> bool {
    // Iterative matcher with one backtrack point per `*`: linear enough for dimension values.
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_globs() {
        let t = Template::parse("alb.{LoadBalancer}.{metric}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["LoadBalancer", "metric"]);
        let v = |k: &str| {
            Some(if k == "metric" {
                "RequestCount".to_string()
            } else {
                "app/web/1f.x".to_string()
            })
        };
        assert_eq!(t.render(&v, true), "alb.app_web_1f_x.RequestCount");
        assert_eq!(t.render(&v, false), "alb.app/web/1f.x.RequestCount");
        for bad in ["", "a{", "a}", "{}", "{a{b}}", "x}{y"] {
            assert!(Template::parse(bad).is_err(), "{bad:?}");
        }
        for (p, v, m) in [
            ("app/web-*", "app/web-1/abc", true),
            ("app/web-*", "app/api-1", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*c", "ab", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(Pattern::new(p).matches(v), m, "{p} {v}");
        }
        assert_eq!(name_part("日本.a b"), "___a_b");
    }
}
