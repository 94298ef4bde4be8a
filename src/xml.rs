//! AWS's XML answers over quick-xml: [`walk`] streams a document as open and close steps with
//! the path to each element (for answers that can be large), and [`parse`] builds a small
//! element tree from it, read by path (`DistributionList/Items/DistributionSummary`), without
//! a serde model per API. Neither recurses on the input's depth, which is limited.

use crate::fault::Undecodable;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

#[derive(Debug, Default, PartialEq)]
pub struct Element {
    /// Local name, without namespace prefix.
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

/// How deep a document may nest; AWS's answers use under a dozen levels.
pub const MAX_DEPTH: usize = 64;

/// One step of [`walk`]: an element opens (the local names from the root down to it), or
/// closes (the same, with the text directly inside it).
pub enum Step<'a> {
    Open(&'a [String]),
    Close(&'a [String], &'a str),
}

/// Reads a whole document as a stream of [`Step`]s, building nothing: memory stays near the
/// size of the body, and nesting deeper than [`MAX_DEPTH`] is an error, never a recursion. Any
/// malformation, including a document cut short, is an error that says where.
pub fn walk(
    bytes: &[u8],
    visit: &mut dyn FnMut(Step) -> Result<(), Undecodable>,
) -> Result<(), Undecodable> {
    let text = std::str::from_utf8(bytes).map_err(|_| Undecodable::new("the XML is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    // The names and texts of the open elements; their strings are kept and reused, so a
    // document of a million elements does not make a million allocations.
    let mut path: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut depth = 0;
    let mut roots = 0;
    loop {
        let event = reader.read_event().map_err(|e| {
            Undecodable::new(format!(
                "malformed XML at byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        let (open, close) = match &event {
            Event::Start(e) => (Some(e.local_name()), false),
            Event::Empty(e) => (Some(e.local_name()), true),
            Event::End(_) => (None, true),
            Event::Text(t) => {
                if depth > 0 {
                    texts[depth - 1] += &t.xml10_content();
                }
                continue;
            }
            Event::CData(t) => {
                if depth > 0 {
                    texts[depth - 1] += t.as_ref();
                }
                continue;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(r)
                        .ok_or_else(|| {
                            Undecodable::new(format!("malformed XML: unknown entity &{};", &**r))
                        })?
                        .to_string(),
                };
                if depth > 0 {
                    texts[depth - 1] += &c;
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if let Some(name) = open {
            if depth == MAX_DEPTH {
                return Err(Undecodable::new(format!(
                    "the XML nests more than {MAX_DEPTH} levels deep"
                )));
            }
            if depth == 0 {
                roots += 1;
            }
            if depth == path.len() {
                path.push(String::new());
                texts.push(String::new());
            }
            path[depth].clear();
            path[depth] += name.as_ref();
            texts[depth].clear();
            depth += 1;
            visit(Step::Open(&path[..depth]))?;
        }
        if close {
            if depth == 0 {
                return Err(Undecodable::new("malformed XML: unexpected end tag"));
            }
            visit(Step::Close(&path[..depth], &texts[depth - 1]))?;
            depth -= 1;
        }
    }
    if depth > 0 {
        return Err(Undecodable::new("the XML document is cut short"));
    }
    if roots == 0 {
        return Err(Undecodable::new("the answer holds no XML document"));
    }
    Ok(())
}

/// Parses a whole document and returns its root element (the last, if there are several).
pub fn parse(bytes: &[u8]) -> Result<Element, Undecodable> {
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    walk(bytes, &mut |step| {
        match step {
            Step::Open(path) => stack.push(Element {
                name: path[path.len() - 1].clone(),
                ..Element::default()
            }),
            Step::Close(_, text) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| Undecodable::new("malformed XML: unexpected end tag"))?;
                el.text = text.to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
        }
        Ok(())
    })?;
    root.ok_or_else(|| Undecodable::new("the answer holds no XML document"))
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at a `/`-separated path below this one.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |el, name| el.child(name))
    }

    /// The trimmed text at a path, if the element exists.
    pub fn text_at(&self, path: &str) -> Option<&str> {
        self.at(path).map(|e| e.text.trim())
    }

    /// All elements named by the last step of `path`, under the element the rest leads to.
    pub fn all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Element> {
        let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
        let parent = if parent.is_empty() {
            Some(self)
        } else {
            self.at(parent)
        };
        parent.into_iter().flat_map(move |p| p.children(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(e: &Element) -> usize {
        1 + e.text.len() + e.children.iter().map(count).sum::<usize>()
    }

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "xml",
            &[
                b"<?xml version=\"1.0\"?><R xmlns=\"x\"><A><B>one &amp; &#233;</B><E/></A><C><![CDATA[<raw>]]></C></R>",
                b"<ErrorResponse><Error><Code>Throttling</Code><Message>slow</Message></Error></ErrorResponse>",
            ],
            |b| parse(b).map_or(0, |e| count(&e)),
        );
    }

    #[test]
    fn paths_text_and_entities() {
        let doc = parse(
            br#"<?xml version="1.0"?>
            <R xmlns="http://x/"><A><B>one &amp; two &#233;</B><B>2</B><E/></A><C><![CDATA[<raw>]]></C></R>"#,
        )
        .unwrap();
        assert_eq!(doc.name, "R");
        assert_eq!(doc.text_at("A/B"), Some("one & two é"));
        assert_eq!(doc.all("A/B").count(), 2);
        assert_eq!(doc.text_at("A/E"), Some(""));
        assert_eq!(doc.text_at("C"), Some("<raw>"));
        assert!(doc.at("A/Z").is_none());
        assert_eq!(doc.all("Z/B").count(), 0);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        let deep = "<a>".repeat(200_000);
        assert!(
            parse(deep.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("64 levels")
        );
        let ok = format!("{}{}", "<a>".repeat(64), "</a>".repeat(64));
        assert!(parse(ok.as_bytes()).is_ok());
        let over = format!("{}{}", "<a>".repeat(65), "</a>".repeat(65));
        assert!(parse(over.as_bytes()).is_err());
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        assert!(
            parse(b"<R><A>1</A>")
                .unwrap_err()
                .to_string()
                .contains("cut short")
        );
        assert!(parse(b"<R><A>1</B></R>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(b"<R>&bogus;</R>").is_err());
    }
}
