//! What every merchant request is checked for before anything else: the API key, the
//! Idempotency-Key header, the JSON body's type and size.

use lambda_http::Request;
use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::{ApiError, FieldError};
use crate::config::{Account, Accounts};
use crate::money::{MAX_YEN, Yen};

/// Bodies larger than this are refused (413) before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest Idempotency-Key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The account whose `Authorization: Bearer <key>` this is.
pub fn authenticate<'a>(req: &Request, accounts: &'a Accounts) -> Result<&'a Account, ApiError> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or(ApiError::Unauthorized)?;
    let (scheme, key) = header.split_once(' ').ok_or(ApiError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(ApiError::Unauthorized);
    }
    accounts.authenticate(key.trim()).ok_or(ApiError::Unauthorized)
}

/// The `Idempotency-Key` header: absent, or 1 to 255 printable ASCII characters.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let invalid = |message: &str| ApiError::Invalid(vec![FieldError::new("Idempotency-Key", message)]);
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

/// Checks the body's size and type and parses it; `Ok(None)` for an empty body.
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
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::Malformed(format!("The body is not valid JSON: {}.", json_error_summary(&e))))
}

/// Position and category of a JSON syntax error, without echoing the body.
fn json_error_summary(e: &serde_json::Error) -> String {
    format!("{:?} error at line {}, column {}", e.classify(), e.line(), e.column()).to_lowercase()
}

/// The fingerprint of a request for idempotency: method, API path and body.
pub fn request_hash(method: &str, api_path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(api_path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// An amount object `{"value": <whole yen>, "currency": "jpy"}`; `field` names it in errors.
pub fn amount(value: &Value, field: &str) -> Result<Yen, Vec<FieldError>> {
    let mut errors = Vec::new();
    let value_field = format!("{field}.value");
    let currency_field = format!("{field}.currency");
    let Value::Object(amount) = value else {
        return Err(vec![FieldError::new(field, "must be an object with value and currency")]);
    };
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
