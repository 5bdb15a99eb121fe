//! `POST /v1/payments`: validate every field (collecting all problems at once), call the
//! service, answer the signed redirect.

use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};
use unicode_general_category::{GeneralCategory, get_general_category};

use super::error::{ApiError, FieldError};
use super::render::{HttpRender, created_response, replayed};
use super::request::{amount, authenticate, idempotency_key, json_body, refuse_unknown_fields};
use super::{App, PaymentIdLog};
use crate::accounts::Account;
use crate::config::is_loopback_host;
use crate::payment::Metadata;
use crate::sbps::purchase::MAX_URL_LEN;
use crate::service::{Answered, CreatePayment, IdempotencyKey, Provider};
use crate::store::Store;

/// Longest merchant reference accepted.
pub const MAX_MERCHANT_REFERENCE: usize = 64;
const RETURN_URL: &str = "paymentMethod.auKantanKessai.returnUrl";

pub async fn create<S: Store, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    api_path: &str,
) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.service.accounts)?;
    let key = idempotency_key(req)?;
    let body = json_body(req)?.ok_or_else(|| ApiError::Malformed("A JSON body is required.".into()))?;
    let request = validate(&body, account, app.settings.is_local())?;
    let key = key.map(|k| IdempotencyKey::new(&account.processing_account_id, k, "POST", api_path, req.body()));
    let render = HttpRender { notification_url: &app.notification_url };
    match app.service.create(account, request, key.as_ref(), &render).await? {
        Answered::Fresh(payment) => {
            let mut response = created_response(&render, &payment, account)?;
            response.extensions_mut().insert(PaymentIdLog(payment.id.to_string()));
            Ok(response)
        }
        Answered::Replayed(stored) => replayed(stored),
    }
}

/// Checks every field of the seed's request, collecting all problems at once.
pub fn validate(body: &Value, account: &Account, local: bool) -> Result<CreatePayment, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Invalid(vec![FieldError::new("", "the body must be a JSON object")]));
    };
    let mut errors = Vec::new();
    refuse_unknown_fields(
        obj,
        &["processingAccountId", "merchantReference", "amount", "paymentMethod", "metadata"],
        "",
        &mut errors,
    );
    let amount = match obj.get("amount") {
        Some(value) => amount(value, "amount").map_err(|mut es| errors.append(&mut es)).ok(),
        None => {
            errors.push(FieldError::new("amount", "is required"));
            None
        }
    };
    match required_string(obj, "processingAccountId", "processingAccountId", &mut errors) {
        Some(id) if id != account.processing_account_id => {
            errors.push(FieldError::new("processingAccountId", "unknown processing account"));
        }
        _ => {}
    }
    let merchant_reference =
        required_string(obj, "merchantReference", "merchantReference", &mut errors).and_then(|r| {
            check_merchant_reference(r).map_err(|m| errors.push(FieldError::new("merchantReference", m))).ok()
        });
    let return_url = match obj.get("paymentMethod") {
        Some(Value::Object(method)) => payment_method(method, local, &mut errors),
        Some(_) => {
            errors.push(FieldError::new("paymentMethod", "must be an object"));
            None
        }
        None => {
            errors.push(FieldError::new("paymentMethod", "is required"));
            None
        }
    };
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => Some(Metadata::default()),
        Some(value) => metadata(value, &mut errors),
    };
    match (merchant_reference, amount, return_url, metadata) {
        (Some(merchant_reference), Some(amount), Some(return_url), Some(metadata)) if errors.is_empty() => {
            Ok(CreatePayment { merchant_reference, amount, return_url, metadata })
        }
        _ => Err(ApiError::Invalid(errors)),
    }
}

/// `metadata`: an object of strings within [`Metadata`]'s limits; each refusal names the field
/// (`metadata`, or `metadata.<key>`) and states the rule.
fn metadata(value: &Value, errors: &mut Vec<FieldError>) -> Option<Metadata> {
    let Value::Object(obj) = value else {
        errors.push(FieldError::new("metadata", "must be an object of strings"));
        return None;
    };
    let mut map = std::collections::BTreeMap::new();
    let mut valid = true;
    for (key, value) in obj {
        match value {
            Value::String(s) => {
                map.insert(key.clone(), s.clone());
            }
            _ => {
                errors.push(FieldError::new(&format!("metadata.{}", for_field(key)), "must be a string"));
                valid = false;
            }
        }
    }
    if !valid {
        return None;
    }
    Metadata::parse(map)
        .map_err(|e| {
            let field = e.key().map_or("metadata".to_owned(), |k| format!("metadata.{}", for_field(k)));
            errors.push(FieldError::new(&field, e.to_string()))
        })
        .ok()
}

/// A client's key as part of a field name: at most 64 characters of it.
fn for_field(key: &str) -> &str {
    match key.char_indices().nth(64) {
        Some((end, _)) => &key[..end],
        None => key,
    }
}

fn required_string<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match obj.get(key) {
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
        None => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
    }
}

/// `paymentMethod`: its type, and the canonical return URL.
fn payment_method(method: &Map<String, Value>, local: bool, errors: &mut Vec<FieldError>) -> Option<String> {
    refuse_unknown_fields(method, &["type", "auKantanKessai"], "paymentMethod", errors);
    if let Some(t) = required_string(method, "type", "paymentMethod.type", errors)
        && t != "au_kantan_kessai"
    {
        errors.push(FieldError::new("paymentMethod.type", "only au_kantan_kessai is supported"));
    }
    match method.get("auKantanKessai") {
        Some(Value::Object(au)) => {
            refuse_unknown_fields(au, &["returnUrl"], "paymentMethod.auKantanKessai", errors);
            let raw = required_string(au, "returnUrl", RETURN_URL, errors)?;
            canonical_return_url(raw, local).map_err(|m| errors.push(FieldError::new(RETURN_URL, m))).ok()
        }
        Some(_) => {
            errors.push(FieldError::new("paymentMethod.auKantanKessai", "must be an object"));
            None
        }
        None => {
            errors.push(FieldError::new("paymentMethod.auKantanKessai", "is required"));
            None
        }
    }
}

/// 1 to 64 characters, none of them control, format (bidirectional overrides, zero-width),
/// line or paragraph separators, private-use or unassigned, no space separator but U+0020 (an
/// ordinary space stays allowed inside: order systems write "ORDER 1001"), and no surrounding
/// spaces.
pub fn check_merchant_reference(r: &str) -> Result<String, &'static str> {
    let len = r.chars().count();
    if len == 0 || len > MAX_MERCHANT_REFERENCE {
        return Err("must be 1 to 64 characters");
    }
    let refused = |c: char| {
        matches!(
            get_general_category(c),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
                | GeneralCategory::PrivateUse
                | GeneralCategory::Surrogate
                | GeneralCategory::Unassigned
        )
    };
    if r.chars().any(refused) {
        return Err("must be printable characters (no control, format, separator or private-use characters)");
    }
    // Spaces that look like U+0020 and are not (no-break, ideographic, em, thin, ...): a
    // reference a person reads must be the one the merchant's system stores.
    let lookalike = |c: char| c != ' ' && get_general_category(c) == GeneralCategory::SpaceSeparator;
    if r.chars().any(lookalike) {
        return Err("must use no space but U+0020 (no no-break, ideographic or other space separators)");
    }
    if r.trim() != r {
        return Err("must not start or end with spaces");
    }
    Ok(r.to_owned())
}

/// The canonical serialization of an absolute https URL (http only for loopback hosts in
/// local mode) with a DNS host (an IP literal only for loopback, in local mode), no user info,
/// no port 0, at most as long as SBPS's URL fields. What is stored, signed and answered is
/// this serialization, never the raw input: quotes, angle brackets and spaces come out
/// percent-encoded.
pub fn canonical_return_url(raw: &str, local: bool) -> Result<String, &'static str> {
    if raw.len() > MAX_URL_LEN {
        return Err("must be at most 500 characters");
    }
    let url = url::Url::parse(raw.trim()).map_err(|_| "must be an absolute URL")?;
    let host = url.host().ok_or("must have a host")?;
    let loopback = is_loopback_host(&host);
    match url.scheme() {
        "https" => {}
        "http" if local && loopback => {}
        _ => return Err("must be an https URL"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user info");
    }
    if url.port() == Some(0) {
        return Err("must not use port 0");
    }
    match host {
        url::Host::Domain(name) if is_dns_name(name) || (local && loopback) => {}
        url::Host::Ipv4(_) | url::Host::Ipv6(_) if local && loopback => {}
        _ => return Err("must have a DNS host name"),
    }
    let canonical = url.to_string();
    if canonical.len() > MAX_URL_LEN {
        return Err("must be at most 500 characters");
    }
    if !canonical.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII");
    }
    Ok(canonical)
}

/// A DNS host name: at least two labels of letters, digits and inner hyphens, 1 to 63
/// characters each, 253 in all (IDNs arrive here in their ASCII form).
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels.last().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_are_canonical() {
        let ok = |raw: &str| canonical_return_url(raw, false);
        assert_eq!(
            ok("https://merchant.site/complete-payment").as_deref(),
            Ok("https://merchant.site/complete-payment")
        );
        assert_eq!(
            ok("https://Merchant.SITE/a b?q=\"<x>\"#f g").as_deref(),
            Ok("https://merchant.site/a%20b?q=%22%3Cx%3E%22#f%20g")
        );
        assert_eq!(ok("https://xn--r8jz45g.jp/").as_deref(), Ok("https://xn--r8jz45g.jp/"));
        assert_eq!(ok("https://例え.jp/").as_deref(), Ok("https://xn--r8jz45g.jp/"));
        for bad in [
            "https://user:pw@merchant.site/",
            "https://user@merchant.site/",
            "https://merchant.site:0/",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://127.0.0.1/",
            "https://localhost/",
            "https://intranet/",
            "https://exa_mple.com/",
            "http://merchant.site/",
            "ftp://merchant.site/",
            "/relative",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(canonical_return_url("http://127.0.0.1:8080/back", true).is_ok());
        assert!(canonical_return_url("http://localhost/back", true).is_ok());
        assert!(canonical_return_url("http://10.0.0.1/back", true).is_err());
    }

    #[test]
    fn merchant_references_are_printable() {
        assert!(check_merchant_reference("c5211d6b-0178-49f8-a06b-69df097a712f").is_ok());
        assert!(check_merchant_reference("注文 123").is_ok());
        for bad in
            ["a\u{202E}b", "a\u{200B}b", "a\u{2028}b", "a\u{2029}b", "a\u{E000}b", "a\u{7}b", " a", "", "a\u{FEFF}"]
        {
            assert!(check_merchant_reference(bad).is_err(), "{bad:?}");
        }
    }
}
