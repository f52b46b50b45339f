//! WeChat's message XML: one root (`<xml>`) whose children hold text or CDATA.
//!
//! Only the root's direct children are read; deeper elements (a scan event's `ScanCodeInfo`…)
//! are skipped. A document type declaration is refused outright — it is how external entities
//! and entity expansion attacks get in — and so is any entity other than XML's five predefined
//! ones and character references.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::Rejection;

/// The root's children, by element name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

pub fn parse(xml: &str) -> Result<Fields, Rejection> {
    let mut reader = Reader::from_str(xml);
    let mut fields = HashMap::new();
    let mut depth = 0usize;
    let mut current: Option<(String, String)> = None;
    let mut seen_root = false;
    let bad = |e: &dyn std::fmt::Display| Rejection::Xml(e.to_string());
    loop {
        let event =
            reader.read_event().map_err(|e| Rejection::Xml(format!("{e} at byte {}", reader.buffer_position())))?;
        match event {
            Event::DocType(_) => {
                return Err(Rejection::Xml("a DOCTYPE declaration is not accepted (it could define entities)".into()));
            }
            Event::Start(e) => {
                if depth == 0 && seen_root {
                    return Err(Rejection::Xml("more than one root element".into()));
                }
                depth += 1;
                seen_root = true;
                if depth == 2 {
                    let name = e.name().as_ref().to_owned();
                    current = Some((name, String::new()));
                }
            }
            Event::Empty(e) => {
                if depth == 0 {
                    return Err(Rejection::Xml("the root element is empty".into()));
                }
                if depth == 1 {
                    let name = e.name().as_ref().to_owned();
                    fields.insert(name, String::new());
                }
            }
            Event::End(_) => {
                if depth == 2
                    && let Some((name, value)) = current.take()
                {
                    fields.insert(name, value);
                }
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(Fields(fields));
                }
            }
            Event::Text(t) => {
                if let Some((_, value)) = current.as_mut().filter(|_| depth == 2) {
                    value.push_str(&t.xml10_content());
                } else if depth == 0 && !t.xml10_content().trim().is_empty() {
                    return Err(Rejection::Xml("text outside the root element".into()));
                }
            }
            Event::CData(t) => {
                if let Some((_, value)) = current.as_mut().filter(|_| depth == 2) {
                    value.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| bad(&e))? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| Rejection::Xml(format!("unknown entity `&{};`", &*r)))?
                        .to_owned(),
                };
                if let Some((_, value)) = current.as_mut().filter(|_| depth == 2) {
                    value.push_str(&resolved);
                }
            }
            Event::Eof => {
                return Err(Rejection::Xml(if seen_root {
                    "the document ends before its root element closes".into()
                } else {
                    "no root element".into()
                }));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_cdata_and_predefined_entities() {
        let f = parse(
            "<?xml version=\"1.0\"?><xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1763600000</CreateTime>\
             <Content>网速 &lt;1M &amp; 卡&#x987F;</Content><ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo><Empty/></xml>",
        )
        .unwrap();
        assert_eq!(f.get("ToUserName"), Some("gh_1"));
        assert_eq!(f.get("CreateTime"), Some("1763600000"));
        assert_eq!(f.get("Content"), Some("网速 <1M & 卡顿"));
        assert_eq!(f.get("ScanType"), None, "only the root's children");
        assert_eq!(f.get("Empty"), None);
    }

    #[test]
    fn refuses_doctypes_unknown_entities_and_broken_documents() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><Content>&x;</Content></xml>";
        assert!(matches!(parse(xxe), Err(Rejection::Xml(r)) if r.contains("DOCTYPE")));
        assert!(
            matches!(parse("<xml><Content>&x;</Content></xml>"), Err(Rejection::Xml(r)) if r.contains("unknown entity"))
        );
        assert!(parse("<xml><Content>断网").is_err());
        assert!(parse("<xml><a></b></xml>").is_err());
        assert!(parse("").is_err());
        assert!(parse("not xml at all").is_err());
        assert!(parse("<xml/>").is_err());
    }
}
