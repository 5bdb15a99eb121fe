//! Idempotency keys (DESIGN §3), in the manner of Stripe's keys and the Lambda Powertools
//! utility: same key and same request replays the first answer byte for byte; same key and
//! another request is 422; a request still in flight is 409.

use chrono::{DateTime, Duration, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use super::error::ApiError;
use crate::ids::{OperationId, PaymentId};
use crate::store::{IdempotencyRecord, IdempotencyState, StoredResponse};

/// How long a key is remembered.
pub const KEY_TTL: Duration = Duration::hours(24);

/// A key as a request presents it.
#[derive(Debug, Clone)]
pub struct Presented {
    pub account_id: String,
    pub key: String,
    pub request_hash: String,
}

impl Presented {
    /// The claim of a request that started operation `operation_id` and is calling SBPS.
    pub fn in_progress(
        &self,
        payment_id: &PaymentId,
        operation_id: &OperationId,
        locked_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> IdempotencyRecord {
        IdempotencyRecord {
            account_id: self.account_id.clone(),
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            state: IdempotencyState::InProgress,
            response: None,
            payment_id: Some(payment_id.clone()),
            operation_id: Some(operation_id.clone()),
            locked_until: Some(locked_until),
            expires_at: now + KEY_TTL,
        }
    }

    /// The record of a request that completed with `status` and `body`.
    pub fn completed(&self, status: StatusCode, body: &str, now: DateTime<Utc>) -> IdempotencyRecord {
        IdempotencyRecord {
            account_id: self.account_id.clone(),
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            state: IdempotencyState::Completed,
            response: Some(StoredResponse { status: status.as_u16(), body: body.to_owned() }),
            payment_id: None,
            operation_id: None,
            locked_until: None,
            expires_at: now + KEY_TTL,
        }
    }
}

/// What to do about a request whose key already has a record.
pub fn replay(record: &IdempotencyRecord, presented: &Presented) -> Result<Response<Body>, ApiError> {
    if record.request_hash != presented.request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    match (&record.state, &record.response) {
        (IdempotencyState::Completed, Some(stored)) => {
            let status = StatusCode::from_u16(stored.status).map_err(|_| ApiError::Internal)?;
            let mut response = super::json_response(status, stored.body.clone());
            response.headers_mut().insert("idempotent-replayed", "true".parse().map_err(|_| ApiError::Internal)?);
            Ok(response)
        }
        _ => Err(ApiError::IdempotencyInProgress),
    }
}
