//! The merchant's own key-value pairs on a payment (`metadata`, DESIGN §3): given at create,
//! kept with the payment, shown in every view of it (API answers, list items, webhook bodies),
//! never sent to SBPS. Strings only, within limits that keep every webhook body under 16 KiB.

use std::collections::BTreeMap;

/// At most this many keys.
pub const MAX_KEYS: usize = 20;
/// A key has 1 to this many characters.
pub const MAX_KEY_CHARS: usize = 40;
/// A value has at most this many characters.
pub const MAX_VALUE_CHARS: usize = 500;
/// The whole map, as JSON, has at most this many bytes (a webhook body, which carries it, is
/// at most 16 KiB).
pub const MAX_JSON_BYTES: usize = 8 * 1024;

/// Why a metadata map was refused; the message states the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("has at most {MAX_KEYS} keys")]
    TooManyKeys,
    #[error("keys have 1 to {MAX_KEY_CHARS} characters")]
    KeyLength { key: String },
    #[error("values have at most {MAX_VALUE_CHARS} characters")]
    ValueLength { key: String },
    #[error("is at most {MAX_JSON_BYTES} bytes as JSON")]
    TooLarge,
}

impl MetadataError {
    /// The key the rule was broken at, if it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            MetadataError::KeyLength { key } | MetadataError::ValueLength { key } => Some(key),
            MetadataError::TooManyKeys | MetadataError::TooLarge => None,
        }
    }
}

/// A valid metadata map (empty when none was given), in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// Every rule is checked; the first broken is answered.
    pub fn parse(map: BTreeMap<String, String>) -> Result<Self, MetadataError> {
        if map.len() > MAX_KEYS {
            return Err(MetadataError::TooManyKeys);
        }
        for (key, value) in &map {
            if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
                return Err(MetadataError::KeyLength { key: key.clone() });
            }
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(MetadataError::ValueLength { key: key.clone() });
            }
        }
        let metadata = Metadata(map);
        if metadata.json_bytes() > MAX_JSON_BYTES {
            return Err(MetadataError::TooLarge);
        }
        Ok(metadata)
    }

    /// A map read back from the store, as it was accepted.
    pub fn stored(map: BTreeMap<String, String>) -> Self {
        Metadata(map)
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The size of `{"key":"value",...}` with JSON's escapes.
    fn json_bytes(&self) -> usize {
        let quoted = |s: &str| -> usize {
            2 + s
                .chars()
                .map(|c| match c {
                    '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                    c if (c as u32) < 0x20 => 6,
                    c => c.len_utf8(),
                })
                .sum::<usize>()
        };
        2 + self.0.iter().map(|(k, v)| quoted(k) + 1 + quoted(v)).sum::<usize>() + self.0.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_limits_hold_at_their_edges() {
        let twenty: Vec<(String, String)> = (0..20).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(Metadata::parse(twenty.iter().cloned().collect()).is_ok());
        let mut twenty_one = twenty.clone();
        twenty_one.push(("k20".into(), "v".into()));
        assert_eq!(Metadata::parse(twenty_one.into_iter().collect()), Err(MetadataError::TooManyKeys));

        let key40 = "k".repeat(40);
        assert!(Metadata::parse(map(&[(&key40, "v")])).is_ok());
        let key41 = "é".repeat(41);
        assert_eq!(Metadata::parse(map(&[(&key41, "v")])), Err(MetadataError::KeyLength { key: key41.clone() }));
        assert_eq!(Metadata::parse(map(&[("", "v")])), Err(MetadataError::KeyLength { key: String::new() }));

        let value500 = "注".repeat(500);
        assert!(Metadata::parse(map(&[("order", &value500)])).is_ok());
        let value501 = "v".repeat(501);
        assert_eq!(
            Metadata::parse(map(&[("order", &value501)])),
            Err(MetadataError::ValueLength { key: "order".into() })
        );
    }

    #[test]
    fn the_whole_map_fits_a_webhook_body() {
        // Twenty keys of 500 three-byte characters: 30 KB of JSON, refused.
        let big: BTreeMap<String, String> = (0..20).map(|i| (format!("k{i}"), "注".repeat(500))).collect();
        assert_eq!(Metadata::parse(big), Err(MetadataError::TooLarge));
        // The byte count is JSON's own.
        let sample = map(&[("a\"b", "c\\d\u{1}é注"), ("x", "")]);
        let metadata = Metadata::parse(sample.clone()).unwrap_or_default();
        let json = serde_json::to_string(&sample).unwrap_or_default();
        assert_eq!(metadata.json_bytes(), json.len(), "{json}");
    }
}
