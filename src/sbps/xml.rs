//! The XML of SBPS's API type (spec §8): requests built in definition order with their
//! Shift_JIS checksum, and documents read by tag name into a flat map.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::hashcode::{Charset, HashError, sps_hashcode};

/// One element of a request: a path (`a` or `parent/child`) and its text.
pub type Element = (&'static str, String);

/// An API request: function id and its elements in definition order (without `sps_hashcode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub function_id: &'static str,
    pub elements: Vec<Element>,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

impl ApiRequest {
    /// The checksum (lower-case hex): element values in document order, Shift_JIS, + hash key.
    pub fn hashcode(&self, hash_key: &str) -> Result<String, HashError> {
        sps_hashcode(self.elements.iter().map(|(_, v)| v.as_str()), hash_key, Charset::ShiftJis)
    }

    /// The signed document as text (to be sent as Shift_JIS bytes).
    pub fn to_xml(&self, hash_key: &str) -> Result<String, HashError> {
        let hash = self.hashcode(hash_key)?;
        let mut xml =
            format!(r#"<?xml version="1.0" encoding="Shift_JIS"?><sps-api-request id="{}">"#, self.function_id);
        let mut open: Option<&str> = None;
        for (path, value) in &self.elements {
            let (parent, name) = match path.split_once('/') {
                Some((p, n)) => (Some(p), n),
                None => (None, *path),
            };
            if open != parent {
                if let Some(p) = open {
                    xml.push_str(&format!("</{p}>"));
                }
                if let Some(p) = parent {
                    xml.push_str(&format!("<{p}>"));
                }
                open = parent;
            }
            xml.push_str(&format!("<{name}>{}</{name}>", escape(value)));
        }
        if let Some(p) = open {
            xml.push_str(&format!("</{p}>"));
        }
        xml.push_str(&format!("<sps_hashcode>{hash}</sps_hashcode></sps-api-request>"));
        Ok(xml)
    }
}

/// A document read flat: root name, its `id` attribute, and `path -> text` below the root
/// (empty elements, `<a/>` or `<a></a>`, as empty strings). Order of appearance is kept in
/// `order` for checksums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlatDocument {
    pub root: String,
    pub id: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub order: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a well-formed SBPS XML document: {0}")]
pub struct XmlError(String);

/// Decodes Shift_JIS bytes (an XML declaration may say so; SBPS always uses Shift_JIS).
pub fn decode_shift_jis(bytes: &[u8]) -> Result<String, XmlError> {
    encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|t| t.into_owned())
        .ok_or_else(|| XmlError("not Shift_JIS".into()))
}

pub fn parse_flat(xml: &str) -> Result<FlatDocument, XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut doc = FlatDocument::default();
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let err = |e: &dyn std::fmt::Display| XmlError(e.to_string());
    loop {
        match reader.read_event().map_err(|e| err(&e))? {
            Event::Start(e) | Event::Empty(e) if stack.is_empty() && doc.root.is_empty() => {
                doc.root = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| err(&e))?;
                    if attr.key.as_ref() == b"id" {
                        let value = attr.unescape_value().map_err(|e| err(&e))?;
                        doc.id = Some(value.into_owned());
                    }
                }
                stack.push(doc.root.clone());
            }
            Event::Start(e) => {
                stack.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                text.clear();
            }
            Event::Empty(e) => {
                let mut path: Vec<&str> = stack.iter().skip(1).map(String::as_str).collect();
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                path.push(&name);
                let path = path.join("/");
                doc.order.push(path.clone());
                doc.fields.insert(path, String::new());
            }
            Event::Text(t) => {
                let unescaped = t.unescape().map_err(|e| err(&e))?;
                text.push_str(&unescaped);
            }
            Event::End(_) => {
                if stack.len() > 1 {
                    let path = stack.iter().skip(1).map(String::as_str).collect::<Vec<_>>().join("/");
                    // Containers hold only whitespace; keep leaf text.
                    if !doc.fields.keys().any(|k| k.starts_with(&format!("{path}/"))) {
                        doc.order.push(path.clone());
                        doc.fields.insert(path, text.trim().to_owned());
                    }
                }
                stack.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if doc.root.is_empty() {
        return Err(XmlError("no root element".into()));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §4.4 vector 2, built as a request: the recorded `ST02-00303-101` call.
    #[test]
    fn the_recorded_sandbox_request_reproduces() {
        let request = ApiRequest {
            function_id: "ST02-00303-101",
            elements: vec![
                ("merchant_id", "30132".into()),
                ("service_id", "002".into()),
                ("sps_transaction_id", "B30132002ST010011110100361052482".into()),
                ("tracking_id", "00000616307348".into()),
                ("processing_datetime", "20171127193708".into()),
                ("request_date", "20171127193715".into()),
            ],
        };
        let xml = request.to_xml("8435dbd48f2249807ec216c3d5ecab714264cc4a").unwrap_or_default();
        assert!(xml.ends_with(
            "<request_date>20171127193715</request_date><sps_hashcode>0e940d0ce390f956a5b078d4a9c5d7e49d41ce8a</sps_hashcode></sps-api-request>"
        ));
    }

    #[test]
    fn nested_elements_are_grouped_and_read_back() {
        let request = ApiRequest {
            function_id: "ST02-00303-402",
            elements: vec![
                ("merchant_id", "99999".into()),
                ("tracking_id", "1".into()),
                ("pay_option_manage/amount", "50".into()),
                ("request_date", "20251201093000".into()),
            ],
        };
        let xml = request.to_xml("k").unwrap_or_default();
        assert!(xml.contains("<pay_option_manage><amount>50</amount></pay_option_manage><request_date>"));
        let doc = parse_flat(&xml).unwrap_or_default();
        assert_eq!(doc.root, "sps-api-request");
        assert_eq!(doc.id.as_deref(), Some("ST02-00303-402"));
        assert_eq!(doc.fields.get("pay_option_manage/amount").map(String::as_str), Some("50"));
        assert_eq!(
            doc.order,
            ["merchant_id", "tracking_id", "pay_option_manage/amount", "request_date", "sps_hashcode"]
        );
    }

    /// Spec §4.4 vector 3: a real sandbox request with an empty container, read by our parser
    /// and checked by our checksum: an empty element adds nothing, the `id` attribute is not
    /// hashed.
    #[test]
    fn the_recorded_request_with_an_empty_container_checks_out() {
        let sent = r#"<?xml version="1.0" encoding="Shift_JIS"?><sps-api-request id="ST02-00201-101"><merchant_id>30132</merchant_id><service_id>002</service_id><sps_transaction_id>B30132002ST010011110100361052543</sps_transaction_id><tracking_id>00000616307350</tracking_id><processing_datetime>20171127193711</processing_datetime><pay_option_manage></pay_option_manage><request_date>20171127193718</request_date><sps_hashcode>f7085f0d7eacd5796b738a3e8dd878d19be1c519</sps_hashcode></sps-api-request>"#;
        let doc = parse_flat(sent).unwrap_or_default();
        assert_eq!(doc.id.as_deref(), Some("ST02-00201-101"));
        let values: Vec<&str> = doc
            .order
            .iter()
            .filter(|name| name.as_str() != "sps_hashcode")
            .filter_map(|name| doc.fields.get(name).map(String::as_str))
            .collect();
        let computed =
            sps_hashcode(values, "8435dbd48f2249807ec216c3d5ecab714264cc4a", Charset::ShiftJis).unwrap_or_default();
        let received = doc.fields.get("sps_hashcode").map(String::as_str).unwrap_or_default();
        assert!(crate::sbps::verify_hashcode(received, &computed), "{computed}");
    }

    #[test]
    fn reads_the_recorded_response() {
        let xml = "<?xml version='1.0' encoding='Shift_JIS' ?>\n  <sps-api-response id=\"ST02-00303-101\">\n    <res_result>OK</res_result>\n    <res_sps_transaction_id>B30132002ST020030310100361052525</res_sps_transaction_id>\n    <res_process_date>20171127193710</res_process_date>\n    <res_err_code/>\n    <res_date>20171127193711</res_date>\n  </sps-api-response>";
        let doc = parse_flat(xml).unwrap_or_default();
        assert_eq!(doc.root, "sps-api-response");
        assert_eq!(doc.fields.get("res_result").map(String::as_str), Some("OK"));
        assert_eq!(doc.fields.get("res_err_code").map(String::as_str), Some(""));
        assert!(parse_flat("<a><b></a>").is_err());
    }
}
