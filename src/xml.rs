//! A small element tree over quick-xml, enough to read AWS's XML answers by path
//! (`DistributionList/Items/DistributionSummary`) without a serde model per API.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

#[derive(Debug, Default, PartialEq)]
pub struct Element {
    /// Local name, without namespace prefix.
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

/// Parses a whole document and returns its root element. Any malformation, including a
/// document cut short, is an error that says where.
pub fn parse(bytes: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the XML is not UTF-8".to_string())?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => stack.push(Element {
                name: e.local_name().as_ref().to_string(),
                ..Element::default()
            }),
            Event::Empty(e) => {
                let el = Element {
                    name: e.local_name().as_ref().to_string(),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("malformed XML: unexpected end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text += &t.xml10_content();
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text += &t;
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("malformed XML: unknown entity &{};", &*r))?
                        .to_string(),
                };
                if let Some(el) = stack.last_mut() {
                    el.text += &c;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("the XML document is cut short".into());
    }
    root.ok_or_else(|| "the answer holds no XML document".into())
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
    fn truncated_and_garbage_are_errors() {
        assert!(parse(b"<R><A>1</A>").unwrap_err().contains("cut short"));
        assert!(parse(b"<R><A>1</B></R>").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(b"<R>&bogus;</R>").is_err());
    }
}
