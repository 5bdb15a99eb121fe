//! Outcomes as HTTP answers: the service's [`Render`] port (what is kept for an idempotent
//! replay is exactly what was answered), and replays of kept answers. One schema per status
//! (DESIGN §3): an operation that succeeded is `201` with the operation, one whose outcome is
//! not known yet `202` with the operation (pending), and one SBPS refused is the error shape
//! with the recorded operation in it.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::error::{ApiError, ErrorBody, failure_retry_after, failure_status};
use super::json_response;
use super::next_step::next_step;
use crate::accounts::Account;
use crate::payment::{OperationStatus, Payment, Status};
use crate::service::{OperationResult, Render, ServiceError};
use crate::store::StoredResponse;
use crate::views::{Amount, PaymentView, Reason, timestamp};

/// Seconds a merchant is told to wait before retrying an operation whose outcome is unknown.
const PENDING_RETRY_AFTER: u32 = 5;

/// Renders with the gateway's notification URL (the redirect's `pagecon_url`).
pub struct HttpRender<'a> {
    pub notification_url: &'a str,
}

impl Render for HttpRender<'_> {
    fn payment_created(&self, payment: &Payment, account: &Account) -> Result<StoredResponse, ServiceError> {
        let view = PaymentView::new(payment, next_step(payment, account, self.notification_url));
        let body = serde_json::to_string(&view).map_err(|_| ServiceError::Internal("rendering a payment"))?;
        Ok(StoredResponse { status: StatusCode::CREATED.as_u16(), body })
    }

    fn operation(&self, result: &OperationResult) -> Result<StoredResponse, ServiceError> {
        let answer = OperationAnswer::new(result);
        let body = match (&result.operation.status, &answer.reason) {
            (OperationStatus::Failed, reason) => {
                let reason = reason.clone().unwrap_or_else(|| Reason {
                    code: "provider_refused".into(),
                    description: format!("SBPS refused the {}.", answer.kind),
                    provider_code: None,
                });
                ErrorBody { reason, errors: None, operation: Some(&answer) }.to_json()
            }
            _ => serde_json::to_string(&answer).map_err(|_| ServiceError::Internal("rendering an operation"))?,
        };
        Ok(StoredResponse { status: operation_status(result).as_u16(), body })
    }
}

/// 201 when it succeeded; 202 while the outcome is unknown; the refusal's status when it failed.
fn operation_status(result: &OperationResult) -> StatusCode {
    match (result.operation.status, &result.operation.reason) {
        (OperationStatus::Succeeded, _) => StatusCode::CREATED,
        (OperationStatus::Pending, _) => StatusCode::ACCEPTED,
        (OperationStatus::Failed, Some(reason)) => failure_status(reason.code),
        (OperationStatus::Failed, None) => StatusCode::BAD_GATEWAY,
    }
}

/// The answer to an operation request, with `Retry-After` where a retry may learn or change
/// the outcome.
pub fn operation_response(render: &HttpRender<'_>, result: &OperationResult) -> Result<Response<Body>, ApiError> {
    let stored = render.operation(result)?;
    let mut response = stored_response(stored)?;
    let retry_after = match (result.operation.status, &result.operation.reason) {
        (OperationStatus::Pending, _) => Some(PENDING_RETRY_AFTER),
        (OperationStatus::Failed, Some(reason)) => failure_retry_after(reason.code),
        _ => None,
    };
    if let Some(seconds) = retry_after {
        response.headers_mut().insert("retry-after", seconds.into());
    }
    Ok(response)
}

/// The answer to a create: the same bytes a key keeps for its replay.
pub fn created_response(
    render: &HttpRender<'_>,
    payment: &Payment,
    account: &Account,
) -> Result<Response<Body>, ApiError> {
    stored_response(render.payment_created(payment, account)?)
}

/// A kept answer, replayed byte for byte.
pub fn replayed(stored: StoredResponse) -> Result<Response<Body>, ApiError> {
    let mut response = stored_response(stored)?;
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

fn stored_response(stored: StoredResponse) -> Result<Response<Body>, ApiError> {
    let status = StatusCode::from_u16(stored.status).map_err(|_| ApiError::Internal)?;
    Ok(json_response(status, stored.body))
}

/// The answer to a capture, cancel or refund.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationAnswer {
    pub id: String,
    pub payment_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: &'static str,
    pub amount: Amount,
    pub payment_status: Status,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

impl OperationAnswer {
    pub fn new(result: &OperationResult) -> Self {
        let op = &result.operation;
        let reason = match (&op.reason, op.status, &result.unknown) {
            (Some(r), _, _) => Some(Reason::from(r)),
            (None, OperationStatus::Pending, unknown) => Some(Reason {
                code: "provider_unavailable".into(),
                description: format!(
                    "{} The {} is pending: retry with the same Idempotency-Key after Retry-After to learn \
                     its outcome, or wait for its webhook.",
                    unknown.as_deref().unwrap_or("The outcome is not known yet."),
                    op.kind.as_str()
                ),
                provider_code: None,
            }),
            _ => None,
        };
        OperationAnswer {
            id: op.id.to_string(),
            payment_id: op.payment_id.to_string(),
            kind: op.kind.as_str(),
            status: op.status.as_str(),
            amount: Amount::jpy(op.amount.value()),
            payment_status: result.payment_status,
            created_at: timestamp(op.created_at),
            reason,
        }
    }
}
