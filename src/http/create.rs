//! `POST /v1/payments`: validate, store a pending payment, answer the signed redirect.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

use super::error::{ApiError, FieldError};
use super::idempotency::{self, Presented};
use super::request::{authenticate, idempotency_key, json_body, request_hash};
use super::views::CreatedPayment;
use super::{App, json_response};
use crate::config::{Account, is_loopback_host};
use crate::ids::{PaymentId, TrackId};
use crate::money::Yen;
use crate::payment::{NewPayment, Payment};
use crate::sbps::purchase::{LIMIT_SECOND, MAX_URL_LEN};
use crate::store::{NewPaymentRecord, Store, StoreError};

/// Longest merchant reference accepted.
pub const MAX_MERCHANT_REFERENCE: usize = 64;

/// A create request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub processing_account_id: String,
    pub merchant_reference: String,
    pub amount: Yen,
    pub return_url: String,
}

pub async fn create<S: Store>(app: &App<S>, req: &Request, api_path: &str) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.accounts)?;
    let key = idempotency_key(req)?;
    let body = json_body(req)?.ok_or_else(|| ApiError::Malformed("A JSON body is required.".into()))?;
    let request = validate(&body, account, app.settings.is_local())?;
    let now = app.clock.now();
    let presented = key.map(|key| Presented {
        account_id: account.processing_account_id.clone(),
        key,
        request_hash: request_hash("POST", api_path, req.body().as_ref()),
    });
    if let Some(p) = &presented
        && let Some(record) = app.store.idempotency(&p.account_id, &p.key, now).await?
    {
        return idempotency::replay(&record, p);
    }

    let (payment, event) = Payment::create(
        NewPayment {
            id: PaymentId::generate(),
            account_id: request.processing_account_id,
            merchant_reference: request.merchant_reference,
            track_id: TrackId::generate(),
            amount: request.amount,
            return_url: request.return_url,
            capture_mode: account.capture_mode,
            limit_second: LIMIT_SECOND,
            expiry_grace: app.settings.expiry_grace,
        },
        now,
    );
    let view = CreatedPayment::new(&payment, account, &app.settings.notification_url());
    let body = serde_json::to_string(&view).map_err(|_| ApiError::Internal)?;
    let record = NewPaymentRecord {
        idempotency: presented.as_ref().map(|p| p.completed(StatusCode::CREATED, &body, now)),
        payment,
        event,
    };

    // One retry: the reference may belong to a pending payment whose time is up, which is
    // expired (releasing the reference) before this payment takes it.
    for attempt in 0..2 {
        match app.store.create_payment(&record, now).await {
            Ok(()) => {
                app.metrics.payment_created();
                let mut response = json_response(StatusCode::CREATED, body);
                response.extensions_mut().insert(super::PaymentIdLog(record.payment.id.to_string()));
                return Ok(response);
            }
            Err(StoreError::IdempotencyKeyTaken) => {
                let p = presented.as_ref().ok_or(ApiError::Internal)?;
                return match app.store.idempotency(&p.account_id, &p.key, now).await? {
                    Some(existing) => idempotency::replay(&existing, p),
                    None => Err(ApiError::IdempotencyInProgress),
                };
            }
            Err(StoreError::DuplicateReference(existing)) if attempt == 0 => {
                if !super::track::expire_if_due(app, &existing).await? {
                    return Err(ApiError::DuplicateReference(existing));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Internal)
}

/// Checks every field, collecting all problems at once.
pub fn validate(body: &Value, account: &Account, local: bool) -> Result<CreateRequest, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Invalid(vec![FieldError::new("", "the body must be a JSON object")]));
    };
    let (amount, mut errors) = match obj.get("amount") {
        Some(value) => match super::request::amount(value, "amount") {
            Ok(yen) => (Some(yen), Vec::new()),
            Err(es) => (None, es),
        },
        None => (None, vec![FieldError::new("amount", "is required")]),
    };
    let mut fail = |field: &str, message: &str| errors.push(FieldError::new(field, message));

    let processing_account_id = match obj.get("processingAccountId") {
        Some(Value::String(id)) if *id == account.processing_account_id => Some(id.clone()),
        Some(Value::String(_)) => {
            fail("processingAccountId", "unknown processing account");
            None
        }
        Some(_) => {
            fail("processingAccountId", "must be a string");
            None
        }
        None => {
            fail("processingAccountId", "is required");
            None
        }
    };

    let merchant_reference = match obj.get("merchantReference") {
        Some(Value::String(r)) => {
            let len = r.chars().count();
            if len == 0 || len > MAX_MERCHANT_REFERENCE {
                fail("merchantReference", "must be 1 to 64 characters");
                None
            } else if r.chars().any(char::is_control) || r.trim() != r {
                fail("merchantReference", "must be printable characters without surrounding spaces");
                None
            } else {
                Some(r.clone())
            }
        }
        Some(_) => {
            fail("merchantReference", "must be a string");
            None
        }
        None => {
            fail("merchantReference", "is required");
            None
        }
    };

    let return_url = match obj.get("paymentMethod") {
        Some(Value::Object(method)) => {
            match method.get("type") {
                Some(Value::String(t)) if t == "au_kantan_kessai" => {}
                Some(Value::String(_)) => fail("paymentMethod.type", "only au_kantan_kessai is supported"),
                Some(_) => fail("paymentMethod.type", "must be a string"),
                None => fail("paymentMethod.type", "is required"),
            }
            let field = "paymentMethod.auKantanKessai.returnUrl";
            match method.get("auKantanKessai") {
                Some(Value::Object(au)) => match au.get("returnUrl") {
                    Some(Value::String(url)) => match check_return_url(url, local) {
                        Ok(()) => Some(url.clone()),
                        Err(message) => {
                            fail(field, message);
                            None
                        }
                    },
                    Some(_) => {
                        fail(field, "must be a string");
                        None
                    }
                    None => {
                        fail(field, "is required");
                        None
                    }
                },
                Some(_) => {
                    fail("paymentMethod.auKantanKessai", "must be an object");
                    None
                }
                None => {
                    fail("paymentMethod.auKantanKessai", "is required");
                    None
                }
            }
        }
        Some(_) => {
            fail("paymentMethod", "must be an object");
            None
        }
        None => {
            fail("paymentMethod", "is required");
            None
        }
    };

    match (processing_account_id, merchant_reference, amount, return_url) {
        (Some(processing_account_id), Some(merchant_reference), Some(amount), Some(return_url))
            if errors.is_empty() =>
        {
            Ok(CreateRequest { processing_account_id, merchant_reference, amount, return_url })
        }
        _ => Err(ApiError::Invalid(errors)),
    }
}

/// An absolute https URL of printable ASCII (http only for loopback hosts in local mode), no
/// longer than SBPS's URL fields.
fn check_return_url(raw: &str, local: bool) -> Result<(), &'static str> {
    if raw.len() > MAX_URL_LEN {
        return Err("must be at most 500 characters");
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces (percent-encode anything else)");
    }
    let url = url::Url::parse(raw).map_err(|_| "must be an absolute URL")?;
    let host = url.host().ok_or("must have a host")?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if local && is_loopback_host(&host) => Ok(()),
        _ => Err("must be an https URL"),
    }
}
