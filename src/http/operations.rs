//! `POST /v1/payments/{id}/captures|cancels|refunds`: parse the optional body, call the
//! service, render the operation.

use lambda_http::{Body, Request, Response};
use serde_json::Value;

use super::error::{ApiError, FieldError};
use super::render::{HttpRender, operation_response, replayed};
use super::request::{amount, authenticate, idempotency_key, json_body, refuse_unknown_fields};
use super::{App, PaymentIdLog};
use crate::ids::PaymentId;
use crate::money::Yen;
use crate::payment::OperationKind;
use crate::service::{Answered, IdempotencyKey, Provider};
use crate::store::Store;

pub async fn operate<S: Store, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    api_path: &str,
    payment_id: &str,
    kind: OperationKind,
) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.service.accounts)?;
    let key = idempotency_key(req)?;
    let amount = requested_amount(req)?;
    let id: PaymentId = payment_id.parse().map_err(|_| ApiError::PaymentNotFound)?;
    let key = key.map(|k| IdempotencyKey::new(&account.processing_account_id, k, "POST", api_path, req.body()));
    let render = HttpRender { notification_url: &app.notification_url };
    let answered = app.service.operate(account, &id, kind, amount, key.as_ref(), &render).await?;
    let mut response = match answered {
        Answered::Fresh(result) => operation_response(&render, &result)?,
        Answered::Replayed(stored) => replayed(stored)?,
    };
    response.extensions_mut().insert(PaymentIdLog(id.to_string()));
    Ok(response)
}

/// The optional body `{"amount": {"value", "currency"}}`: no body or `{}` is everything that
/// remains. Any other key, at the top or inside `amount`, is refused: a careless body must
/// never be read as "everything".
pub(crate) fn requested_amount(req: &Request) -> Result<Option<Yen>, ApiError> {
    let Some(body) = json_body(req)? else { return Ok(None) };
    let Value::Object(obj) = body else {
        return Err(ApiError::Invalid(vec![FieldError::new("", "the body must be a JSON object")]));
    };
    let mut errors = Vec::new();
    refuse_unknown_fields(&obj, &["amount"], "", &mut errors);
    let requested = match obj.get("amount") {
        None => None,
        Some(value) => match amount(value, "amount") {
            Ok(yen) => Some(yen),
            Err(mut es) => {
                errors.append(&mut es);
                None
            }
        },
    };
    if errors.is_empty() { Ok(requested) } else { Err(ApiError::Invalid(errors)) }
}
