//! `POST /v1/payments/{id}/captures|cancels|refunds`. The operation is written ahead as
//! pending (with the idempotency claim) before SBPS is called, and settled after with its audit
//! event. When the outcome is unknown the operation stays pending and the same call is sent
//! again on a retry with the same key or on the next read: SBPS's "already captured /
//! refunded" then settles it, so money never moves twice.

use chrono::{DateTime, Duration, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::error::{ApiError, FieldError};
use super::idempotency::{self, Presented};
use super::request::{authenticate, idempotency_key, json_body, request_hash};
use super::views::{Amount, Reason, timestamp};
use super::{App, json_response};
use crate::config::Account;
use crate::ids::{OperationId, PaymentId};
use crate::money::Yen;
use crate::payment::{FailureReason, Operation, OperationKind, OperationStatus, Outcome, Payment, Status};
use crate::sbps::api::Verdict;
use crate::store::{IdempotencyRecord, IdempotencyState, Store, StoreError};

/// Tries when the payment changes between read and write.
const ATTEMPTS: usize = 3;

/// The answer for an operation.
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

/// How an operation request ended, as HTTP.
struct Answer {
    status: StatusCode,
    body: String,
    retry_after: Option<u32>,
}

impl Answer {
    fn new(
        op: &Operation,
        payment_status: Status,
        status: StatusCode,
        reason: Option<Reason>,
    ) -> Result<Self, ApiError> {
        let view = OperationAnswer {
            id: op.id.to_string(),
            payment_id: op.payment_id.to_string(),
            kind: op.kind.as_str(),
            status: op.status.as_str(),
            amount: Amount::jpy(op.amount.value()),
            payment_status,
            created_at: timestamp(op.created_at),
            reason: reason.or_else(|| op.reason.as_ref().map(Reason::from)),
        };
        let body = serde_json::to_string(&view).map_err(|_| ApiError::Internal)?;
        Ok(Answer { status, body, retry_after: None })
    }

    /// The answer for an operation as it stands in `payment`.
    fn settled(op: &Operation, payment: &Payment) -> Result<Self, ApiError> {
        match op.status {
            OperationStatus::Succeeded => Answer::new(op, payment.status, StatusCode::CREATED, None),
            OperationStatus::Failed => {
                let code = op.reason.as_ref().map(|r| r.code.as_str()).unwrap_or("");
                let mut answer = Answer::new(op, payment.status, failure_status(code), None)?;
                if code == "billing_run_pending" {
                    answer.retry_after = Some(3600);
                }
                Ok(answer)
            }
            OperationStatus::Pending => Answer::unknown(op, payment.status, "The outcome is not known yet."),
        }
    }

    fn unknown(op: &Operation, payment_status: Status, description: &str) -> Result<Self, ApiError> {
        let reason = Reason {
            code: "provider_unavailable".into(),
            description: format!("{description} The {} is pending; retry later.", op.kind.as_str()),
        };
        let mut a = Answer::new(op, payment_status, StatusCode::SERVICE_UNAVAILABLE, Some(reason))?;
        a.retry_after = Some(5);
        Ok(a)
    }

    fn into_response(self) -> Response<Body> {
        let mut response = json_response(self.status, self.body);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        response
    }
}

/// The HTTP status of a refusal, by its stable reason code (DESIGN §3).
fn failure_status(code: &str) -> StatusCode {
    match code {
        "amount_exceeds_remaining"
        | "partial_refund_not_yet_available"
        | "refund_period_expired"
        | "capture_period_expired" => StatusCode::UNPROCESSABLE_ENTITY,
        "billing_run_pending" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// How long a request that is calling SBPS holds its operation: the SBPS timeout and a margin.
pub fn lock_window<S>(app: &App<S>) -> Duration {
    Duration::from_std(app.settings.sbps_timeout).unwrap_or(Duration::seconds(15)) + Duration::seconds(5)
}

pub async fn operate<S: Store>(
    app: &App<S>,
    req: &Request,
    api_path: &str,
    payment_id: &str,
    kind: OperationKind,
) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.accounts)?;
    let key = idempotency_key(req)?;
    let amount = requested_amount(req)?;
    let id: PaymentId = payment_id.parse().map_err(|_| ApiError::PaymentNotFound)?;
    let presented = key.map(|key| Presented {
        account_id: account.processing_account_id.clone(),
        key,
        request_hash: request_hash("POST", api_path, req.body().as_ref()),
    });

    if let Some(p) = &presented
        && let Some(record) = app.store.idempotency(&p.account_id, &p.key, app.clock.now()).await?
    {
        if record.request_hash != p.request_hash || record.state == IdempotencyState::Completed {
            return idempotency::replay(&record, p);
        }
        if record.locked_until.is_some_and(|until| until > app.clock.now()) {
            return Err(ApiError::IdempotencyInProgress);
        }
        return resume(app, account, p, record).await.map(Answer::into_response);
    }

    for _ in 0..ATTEMPTS {
        let now = app.clock.now();
        let payment = load(app, account, &id).await?;
        let payment = super::track::refresh(app, payment).await?;
        let op_id = OperationId::generate();
        let transition = match kind {
            OperationKind::Capture => payment.begin_capture(op_id.clone(), amount, now),
            OperationKind::Cancel => payment.begin_cancel(op_id.clone(), amount, now),
            OperationKind::Refund => payment.begin_refund(op_id.clone(), amount, now),
        }?;
        let op = transition.operation.clone().ok_or(ApiError::Internal)?;

        if op.status == OperationStatus::Succeeded {
            // Nothing to ask SBPS (cancel of a pending payment, partial cancel).
            let answer = Answer::settled(&op, &transition.payment)?;
            let record = presented.as_ref().map(|p| completed(p, &id, &op, &answer, now));
            match app.store.apply(&transition, record.as_ref()).await {
                Ok(()) => {
                    app.metrics.operation(kind.as_str(), "succeeded");
                    return Ok(answer.into_response());
                }
                Err(StoreError::VersionConflict) => continue,
                Err(StoreError::IdempotencyKeyTaken) => return replay_current(app, presented.as_ref()).await,
                Err(e) => return Err(e.into()),
            }
        }

        let claim = presented.as_ref().map(|p| p.in_progress(&id, &op.id, now + lock_window(app), now));
        match app.store.apply(&transition, claim.as_ref()).await {
            Ok(()) => {}
            Err(StoreError::VersionConflict) => continue,
            Err(StoreError::IdempotencyKeyTaken) => return replay_current(app, presented.as_ref()).await,
            Err(e) => return Err(e.into()),
        }
        let answer = call_and_settle(app, account, transition.payment, op, presented.as_ref(), claim).await?;
        return Ok(answer.into_response());
    }
    Err(StoreError::VersionConflict.into())
}

/// Sends the provider call of a pending operation of `payment` and settles what comes back.
/// `claim` is the idempotency record held while calling (if the request carried a key).
async fn call_and_settle<S: Store>(
    app: &App<S>,
    account: &Account,
    payment: Payment,
    op: Operation,
    presented: Option<&Presented>,
    claim: Option<IdempotencyRecord>,
) -> Result<Answer, ApiError> {
    let (Some(call), Some(tracking_id)) = (op.provider_call, payment.sbps.tracking_id.clone()) else {
        return Err(ApiError::Internal);
    };
    let verdict = app.sbps.send(&account.sbps, &tracking_id, call, op.kind, op.full, app.clock.now()).await;
    let now = app.clock.now();
    let (outcome, remembered) = match verdict {
        Verdict::Succeeded => (Outcome::Succeeded, true),
        Verdict::Refused { code, description, .. } => {
            (Outcome::Failed(FailureReason { code: code.into(), description }), true)
        }
        Verdict::RetryLater { code, description } => {
            (Outcome::Failed(FailureReason { code: code.into(), description }), false)
        }
        Verdict::Unknown { description } => {
            app.metrics.operation(op.kind.as_str(), "unknown");
            tracing::warn!(payment_id = %payment.id, operation_id = %op.id, description, "SBPS outcome unknown");
            // Unlock the key so that a retry resumes this operation at once.
            if let Some(claim) = &claim {
                let unlocked = IdempotencyRecord { locked_until: Some(now), ..claim.clone() };
                if let Err(e) = app.store.put_idempotency(&unlocked, Some(claim), now).await {
                    tracing::warn!(error = %e, "could not unlock an idempotency key; it unlocks by itself");
                }
            }
            return Answer::unknown(&op, payment.status, &description);
        }
    };
    let outcome_name = if outcome == Outcome::Succeeded { "succeeded" } else { "failed" };
    let mut payment = payment;
    for _ in 0..ATTEMPTS {
        let transition = match payment.settle(&op.id, outcome.clone(), now) {
            Ok(t) => t,
            // Settled meanwhile (a concurrent recovery): answer what is stored.
            Err(_) => {
                let settled = payment.operation(&op.id).ok_or(ApiError::Internal)?;
                let answer = Answer::settled(settled, &payment)?;
                complete_record(app, presented, &payment.id, settled, &answer, now).await;
                return Ok(answer);
            }
        };
        let settled = transition.operation.clone().ok_or(ApiError::Internal)?;
        let answer = Answer::settled(&settled, &transition.payment)?;
        // A "retry later" refusal is not remembered: the same key may try again.
        let record = if remembered {
            presented.map(|p| completed(p, &payment.id, &settled, &answer, now))
        } else {
            claim.as_ref().map(|c| IdempotencyRecord { expires_at: now, ..c.clone() })
        };
        match app.store.apply(&transition, record.as_ref()).await {
            Ok(()) => {
                app.metrics.operation(op.kind.as_str(), outcome_name);
                return Ok(answer);
            }
            Err(StoreError::VersionConflict) => {
                payment = app.store.payment(&payment.id).await?.ok_or(ApiError::PaymentNotFound)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::VersionConflict.into())
}

/// A retry with the key of an operation whose outcome was unknown: send the same call again.
async fn resume<S: Store>(
    app: &App<S>,
    account: &Account,
    presented: &Presented,
    record: IdempotencyRecord,
) -> Result<Answer, ApiError> {
    let (Some(payment_id), Some(op_id)) = (record.payment_id.clone(), record.operation_id.clone()) else {
        return Err(ApiError::IdempotencyInProgress);
    };
    let payment = load(app, account, &payment_id).await?;
    let op = payment.operation(&op_id).cloned().ok_or(ApiError::IdempotencyInProgress)?;
    let now = app.clock.now();
    if op.status != OperationStatus::Pending {
        let answer = Answer::settled(&op, &payment)?;
        complete_record(app, Some(presented), &payment_id, &op, &answer, now).await;
        return Ok(answer);
    }
    let relocked = IdempotencyRecord { locked_until: Some(now + lock_window(app)), ..record.clone() };
    app.store.put_idempotency(&relocked, Some(&record), now).await.map_err(|_| ApiError::IdempotencyInProgress)?;
    call_and_settle(app, account, payment, op, Some(presented), Some(relocked)).await
}

/// On a read: re-sends the call of an operation left pending longer than a request can take,
/// and answers the payment as it then stands.
pub async fn recover<S: Store>(app: &App<S>, account: &Account, payment: Payment) -> Result<Payment, ApiError> {
    let Some(op) = payment.pending_operation().cloned() else { return Ok(payment) };
    if op.updated_at + lock_window(app) > app.clock.now() {
        return Ok(payment);
    }
    let id = payment.id.clone();
    match call_and_settle(app, account, payment, op, None, None).await {
        Ok(_) | Err(ApiError::OperationNotAllowed(_)) => {}
        Err(e) => return Err(e),
    }
    app.store.payment(&id).await?.ok_or(ApiError::PaymentNotFound)
}

fn completed(
    p: &Presented,
    payment_id: &PaymentId,
    op: &Operation,
    answer: &Answer,
    now: DateTime<Utc>,
) -> IdempotencyRecord {
    IdempotencyRecord {
        payment_id: Some(payment_id.clone()),
        operation_id: Some(op.id.clone()),
        ..p.completed(answer.status, &answer.body, now)
    }
}

async fn complete_record<S: Store>(
    app: &App<S>,
    presented: Option<&Presented>,
    payment_id: &PaymentId,
    op: &Operation,
    answer: &Answer,
    now: DateTime<Utc>,
) {
    let Some(p) = presented else { return };
    let Ok(Some(current)) = app.store.idempotency(&p.account_id, &p.key, now).await else { return };
    if current.operation_id.as_ref() != Some(&op.id) || current.state == IdempotencyState::Completed {
        return;
    }
    let record = completed(p, payment_id, op, answer, now);
    if let Err(e) = app.store.put_idempotency(&record, Some(&current), now).await {
        tracing::warn!(error = %e, "could not complete an idempotency record");
    }
}

async fn replay_current<S: Store>(app: &App<S>, presented: Option<&Presented>) -> Result<Response<Body>, ApiError> {
    let p = presented.ok_or(ApiError::Internal)?;
    match app.store.idempotency(&p.account_id, &p.key, app.clock.now()).await? {
        Some(record) => idempotency::replay(&record, p),
        None => Err(ApiError::IdempotencyInProgress),
    }
}

async fn load<S: Store>(app: &App<S>, account: &Account, id: &PaymentId) -> Result<Payment, ApiError> {
    match app.store.payment(id).await? {
        Some(p) if p.account_id == account.processing_account_id => Ok(p),
        _ => Err(ApiError::PaymentNotFound),
    }
}

/// The optional body `{"amount": {"value", "currency"}}`; no body (or no amount) is everything.
fn requested_amount(req: &Request) -> Result<Option<Yen>, ApiError> {
    let Some(body) = json_body(req)? else { return Ok(None) };
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Invalid(vec![FieldError::new("", "the body must be a JSON object")]));
    };
    match obj.get("amount") {
        None => Ok(None),
        Some(value) => super::request::amount(value, "amount").map(Some).map_err(ApiError::Invalid),
    }
}
