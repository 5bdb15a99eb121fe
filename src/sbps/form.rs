//! `application/x-www-form-urlencoded` in Shift_JIS, as SBPS posts it (spec §7.1): values are
//! percent-encoded Shift_JIS bytes and `+` is a space.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form is not valid Shift_JIS")]
    NotShiftJis,
    #[error("the field {0} appears more than once")]
    Repeated(String),
}

/// Decodes a Shift_JIS form body into its fields, by name.
pub fn decode_shift_jis_form(body: &[u8]) -> Result<BTreeMap<String, String>, FormError> {
    let mut fields = BTreeMap::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode_component(name)?;
        let value = decode_component(value)?;
        if fields.insert(name.clone(), value).is_some() {
            return Err(FormError::Repeated(name));
        }
    }
    Ok(fields)
}

fn decode_component(raw: &[u8]) -> Result<String, FormError> {
    let spaced: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Vec<u8> = percent_decode(&spaced).collect();
    encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(&bytes)
        .map(|text| text.into_owned())
        .ok_or(FormError::NotShiftJis)
}

/// Characters left as they are in a form value; everything else is percent-encoded.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// Encodes fields as a Shift_JIS form body, in the given order. `None` if a value cannot be
/// represented in Shift_JIS.
pub fn encode_shift_jis_form<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let mut out = String::new();
    for (name, value) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        for (i, part) in [name, value].into_iter().enumerate() {
            let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(part);
            if unmappable {
                return None;
            }
            if i == 1 {
                out.push('=');
            }
            out.extend(percent_encode(&bytes, FORM_VALUE));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_shift_jis_and_plus() {
        let fields =
            decode_shift_jis_form(b"item_name=%8Cp%91%B1%89%DB%8B%E0&item_id=Item+ID&free1=&flag").unwrap_or_default();
        assert_eq!(fields.get("item_name").map(String::as_str), Some("継続課金"));
        assert_eq!(fields.get("item_id").map(String::as_str), Some("Item ID"));
        assert_eq!(fields.get("free1").map(String::as_str), Some(""));
        assert_eq!(fields.get("flag").map(String::as_str), Some(""));
    }

    #[test]
    fn refuses_repeats_and_broken_bytes() {
        assert_eq!(decode_shift_jis_form(b"a=1&a=2"), Err(FormError::Repeated("a".into())));
        assert_eq!(decode_shift_jis_form(b"a=%82"), Err(FormError::NotShiftJis));
    }

    #[test]
    fn encoding_round_trips() {
        let body = encode_shift_jis_form([("item_name", "継続課金"), ("url", "https://x/y?a=1&b=2 c")]);
        let body = body.unwrap_or_default();
        let fields = decode_shift_jis_form(body.as_bytes()).unwrap_or_default();
        assert_eq!(fields.get("item_name").map(String::as_str), Some("継続課金"));
        assert_eq!(fields.get("url").map(String::as_str), Some("https://x/y?a=1&b=2 c"));
        assert!(body.starts_with("item_name=%8Cp%91%B1%89%DB%8B%E0&"));
    }
}
