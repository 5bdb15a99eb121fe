//! What every merchant request is checked for before anything else: the API key, the
//! Idempotency-Key header, the JSON body's type, size and strictness (no duplicate keys, no
//! unknown fields), and the amount object.

use std::fmt;

use lambda_http::Request;
use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};
use crate::accounts::{Account, Accounts};
use crate::money::{MAX_YEN, Yen};

/// Bodies larger than this are refused (413) before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest Idempotency-Key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The account whose `Authorization: Bearer <key>` this is. Exactly one header is accepted:
/// two are ambiguous, whichever a proxy would read.
pub fn authenticate<'a>(req: &Request, accounts: &'a Accounts) -> Result<&'a Account, ApiError> {
    let mut headers = req.headers().get_all(AUTHORIZATION).iter();
    let (Some(header), None) = (headers.next(), headers.next()) else { return Err(ApiError::Unauthorized) };
    let header = header.to_str().map_err(|_| ApiError::Unauthorized)?;
    let (scheme, key) = header.split_once(' ').ok_or(ApiError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(ApiError::Unauthorized);
    }
    accounts.authenticate(key.trim()).ok_or(ApiError::Unauthorized)
}

/// The `Idempotency-Key` header: absent, or 1 to 255 printable ASCII characters.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let invalid = |message: &str| ApiError::Invalid(vec![FieldError::new("Idempotency-Key", message)]);
    let mut values = req.headers().get_all("idempotency-key").iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(invalid("must be sent once"));
    }
    let key = value.to_str().map_err(|_| invalid("must be printable ASCII"))?.trim();
    if key.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(invalid("must be at most 255 characters"));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("must be printable ASCII without spaces"));
    }
    Ok(Some(key.to_owned()))
}

/// Checks the body's size and type and parses it strictly; `Ok(None)` for an empty body.
pub fn json_body(req: &Request) -> Result<Option<Value>, ApiError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    parse_strict(body).map(Some)
}

/// Parses JSON, refusing duplicate keys at any depth (which `serde_json::Value` would
/// silently resolve to the last one).
pub fn parse_strict(body: &[u8]) -> Result<Value, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Strict::deserialize(&mut de).and_then(|Strict(v)| de.end().map(|()| v));
    parsed.map_err(|e| ApiError::Malformed(format!("The body is not valid JSON: {}.", json_error_summary(&e))))
}

/// Position and category of a JSON error, without echoing the body (a duplicate key is
/// named, shortened).
fn json_error_summary(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("duplicate key ") {
        let key: String = rest.split(" at line").next().unwrap_or("").chars().take(64).collect();
        return format!("the key {key} appears more than once (line {}, column {})", e.line(), e.column());
    }
    format!("{:?} error at line {}, column {}", e.classify(), e.line(), e.column()).to_lowercase()
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|Strict(v)| v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Adds an error for every key of `object` not in `known`, named with its path.
pub fn refuse_unknown_fields(object: &Map<String, Value>, known: &[&str], prefix: &str, errors: &mut Vec<FieldError>) {
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        let shown: String = key.chars().take(64).collect();
        let field = if prefix.is_empty() { shown } else { format!("{prefix}.{shown}") };
        errors.push(FieldError::new(&field, "is not a known field"));
    }
}

/// An amount object `{"value": <whole yen>, "currency": "jpy"}`; `field` names it in errors.
pub fn amount(value: &Value, field: &str) -> Result<Yen, Vec<FieldError>> {
    let mut errors = Vec::new();
    let value_field = format!("{field}.value");
    let currency_field = format!("{field}.currency");
    let Value::Object(amount) = value else {
        return Err(vec![FieldError::new(field, "must be an object with value and currency")]);
    };
    refuse_unknown_fields(amount, &["value", "currency"], field, &mut errors);
    let yen = match amount.get("value") {
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(v), _) => match Yen::new(v) {
                Ok(yen) => Some(yen),
                Err(_) if v == 0 => {
                    errors.push(FieldError::new(&value_field, "must be at least 1"));
                    None
                }
                Err(_) => {
                    errors.push(FieldError::new(&value_field, format!("must be at most {MAX_YEN}")));
                    None
                }
            },
            (None, Some(_)) => {
                errors.push(FieldError::new(&value_field, "must be at least 1"));
                None
            }
            _ => {
                errors.push(FieldError::new(&value_field, "must be a whole number of yen"));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(&value_field, "must be a number (whole yen)"));
            None
        }
        None => {
            errors.push(FieldError::new(&value_field, "is required"));
            None
        }
    };
    match amount.get("currency") {
        Some(Value::String(c)) if c.eq_ignore_ascii_case("jpy") => {}
        Some(Value::String(_)) => errors.push(FieldError::new(&currency_field, "only jpy is supported")),
        Some(_) => errors.push(FieldError::new(&currency_field, "must be a string")),
        None => errors.push(FieldError::new(&currency_field, "is required")),
    }
    match yen {
        Some(yen) if errors.is_empty() => Ok(yen),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(parse_strict(br#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#).is_ok());
        for body in [&br#"{"a": 1, "a": 2}"#[..], br#"{"amount": {"value": 1, "value": 2}}"#, br#"[{"x": 1, "x": 1}]"#]
        {
            let Err(ApiError::Malformed(message)) = parse_strict(body) else { panic!("accepted {body:?}") };
            assert!(message.contains("appears more than once"), "{message}");
        }
        assert!(parse_strict(b"{} {}").is_err(), "trailing data");
    }
}
