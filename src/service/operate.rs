//! Capture, cancel and refund: the operation is written ahead as pending (with the key's
//! claim) before the provider is called, and settled after with its audit event. When the
//! outcome is unknown it stays pending; the same call is sent again by a retry with the same
//! key, a read or the sweeper, each under the resend lease: the provider's "already captured /
//! refunded" then settles it, so money never moves twice.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::conflict_retry::retry_on_conflict;
use super::idempotency::{Decision, IdempotencyKey, decide};
use super::{Answered, OperationResult, Provider, Render, Service, ServiceError};
use crate::accounts::Account;
use crate::crash_point::{CrashPoint, reach};
use crate::ids::{OperationId, PaymentId};
use crate::money::Yen;
use crate::payment::{
    Operation, OperationKind, OperationStatus, Outcome, Payment, ProviderAnswer, Resender, StateError,
};
use crate::store::{IdempotencyRecord, Store, StoreError};

/// A request's key and how its answers are kept, when it carried one.
pub(super) type Keyed<'a> = Option<(&'a IdempotencyKey, &'a dyn Render)>;

impl<S: Store, P: Provider> Service<S, P> {
    /// Capture, cancel or refund `amount` (everything that remains when `None`) of a payment
    /// of `account`.
    pub async fn operate(
        &self,
        account: &Account,
        payment_id: &PaymentId,
        kind: OperationKind,
        amount: Option<Yen>,
        key: Option<&IdempotencyKey>,
        render: &dyn Render,
    ) -> Result<Answered<OperationResult>, ServiceError> {
        let keyed: Keyed<'_> = key.map(|k| (k, render));
        retry_on_conflict(|| async move { self.operate_once(account, payment_id, kind, amount, keyed).await }).await
    }

    async fn operate_once(
        &self,
        account: &Account,
        payment_id: &PaymentId,
        kind: OperationKind,
        amount: Option<Yen>,
        keyed: Keyed<'_>,
    ) -> Result<Answered<OperationResult>, ServiceError> {
        // With a key, the write-ahead's claim is written first (its condition decides); the
        // key's record is read only when the state machine refuses, or when the store cannot
        // return the record that holds the key.
        let now = self.clock.now();
        let payment = self.expire_if_due(self.payment_of(account, payment_id).await?).await?;
        let op_id = OperationId::generate();
        let begun = match kind {
            OperationKind::Capture => payment.begin_capture(op_id, amount, now),
            OperationKind::Cancel => payment.begin_cancel(op_id, amount, now),
            OperationKind::Refund => payment.begin_refund(op_id, amount, now),
        };
        let transition = match begun {
            Ok(t) => t,
            Err(refusal) => return self.refused(account, refusal, keyed).await,
        };
        let op = transition.operation.clone().ok_or(ServiceError::Internal("a begun operation"))?;

        if op.status != OperationStatus::Pending {
            // Nothing to ask the provider (cancel of a pending payment, partial cancel).
            let result = OperationResult { operation: op, payment_status: transition.payment.status, unknown: None };
            let record = completion(keyed, &transition.payment.id, &result, now)?;
            return match self.commit(&transition, record.as_ref()).await {
                Ok(()) => {
                    self.metrics.operation(kind.as_str(), "succeeded");
                    Ok(Answered::Fresh(result))
                }
                Err(StoreError::IdempotencyKeyTaken(holder)) => self.key_held(account, holder, keyed).await,
                Err(e) => Err(e.into()),
            };
        }

        let claim = keyed.map(|(k, _)| k.in_progress(payment_id, &op.id, now + self.policy.lock_window, now));
        match self.commit(&transition, claim.as_ref()).await {
            Ok(()) => {}
            Err(StoreError::IdempotencyKeyTaken(holder)) => return self.key_held(account, holder, keyed).await,
            Err(e) => return Err(e.into()),
        }
        let (result, _) = self.send_and_settle(account, transition.payment, op, keyed, claim).await?;
        Ok(Answered::Fresh(result))
    }

    /// The decision on the record that holds a key: `holder` when the store returned it with
    /// its refusal, else read.
    pub(super) async fn decision_on(
        &self,
        holder: Option<Box<IdempotencyRecord>>,
        key: &IdempotencyKey,
        now: DateTime<Utc>,
    ) -> Result<Decision, ServiceError> {
        let record = match holder {
            Some(record) => Some(*record),
            None => self.store.idempotency(&key.account_id, &key.key, now).await?,
        };
        Ok(decide(record.as_ref(), key, now))
    }

    /// The write-ahead lost its key to a record already there: that record's decision stands.
    async fn key_held(
        &self,
        account: &Account,
        holder: Option<Box<IdempotencyRecord>>,
        keyed: Keyed<'_>,
    ) -> Result<Answered<OperationResult>, ServiceError> {
        let (key, render) = keyed.ok_or(ServiceError::Internal("a key was taken without a key"))?;
        match self.decision_on(holder, key, self.clock.now()).await? {
            // It expired in between: start again.
            Decision::Start => Err(ServiceError::Conflict),
            Decision::Resume { payment_id, operation_id } => {
                self.resume(account, &payment_id, &operation_id, key, render).await
            }
            other => answer_without_work(other),
        }
    }

    /// The state machine refused. With a key, an earlier request with the same key may be why
    /// (it wrote first, or its operation is still pending): that decision stands, never the
    /// refusal.
    async fn refused(
        &self,
        account: &Account,
        refusal: StateError,
        keyed: Keyed<'_>,
    ) -> Result<Answered<OperationResult>, ServiceError> {
        if let Some((key, render)) = keyed {
            match self.decision_on(None, key, self.clock.now()).await? {
                Decision::Start => {}
                Decision::Resume { payment_id, operation_id } => {
                    return self.resume(account, &payment_id, &operation_id, key, render).await;
                }
                other => return answer_without_work(other),
            }
        }
        Err(ServiceError::NotAllowed(refusal))
    }

    /// A retry with the key of an operation whose outcome was unknown: send the same call
    /// again under the resend lease. Of one SBPS refused for now: send it again, as the same
    /// operation.
    async fn resume(
        &self,
        account: &Account,
        payment_id: &PaymentId,
        op_id: &OperationId,
        key: &IdempotencyKey,
        render: &dyn Render,
    ) -> Result<Answered<OperationResult>, ServiceError> {
        let now = self.clock.now();
        let payment = self.expire_if_due(self.payment_of(account, payment_id).await?).await?;
        let op = payment.operation(op_id).cloned().ok_or(ServiceError::IdempotencyInProgress)?;
        if op.status == OperationStatus::Failed && op.reason.as_ref().is_some_and(|r| r.code.is_retryable()) {
            return self.retry_refused(account, payment, op_id, key, render).await;
        }
        if op.status != OperationStatus::Pending {
            let result = OperationResult { operation: op, payment_status: payment.status, unknown: None };
            self.complete_key(Some((key, render)), payment_id, &result, now).await;
            return Ok(Answered::Fresh(result));
        }
        // A read or the sweeper may be sending it right now: then this request waits.
        let lease = payment
            .lease(op_id, Resender::KeyRetry, self.policy.lock_window, now)
            .map_err(|_| ServiceError::IdempotencyInProgress)?;
        let relocked = key.in_progress(payment_id, op_id, now + self.policy.lock_window, now);
        self.commit(&lease, Some(&relocked)).await?;
        let (result, _) = self.send_and_settle(account, lease.payment, op, Some((key, render)), Some(relocked)).await?;
        Ok(Answered::Fresh(result))
    }

    /// Reopens an operation SBPS refused for now and sends it again (write-ahead, call, settle),
    /// under the same key. If the state machine refuses it now (the payment moved on), that
    /// refusal is the answer, to this retry and to any later one with the key.
    async fn retry_refused(
        &self,
        account: &Account,
        payment: Payment,
        op_id: &OperationId,
        key: &IdempotencyKey,
        render: &dyn Render,
    ) -> Result<Answered<OperationResult>, ServiceError> {
        let now = self.clock.now();
        let transition = payment.retry_operation(op_id, now).map_err(ServiceError::NotAllowed)?;
        let op = transition.operation.clone().ok_or(ServiceError::Internal("a retried operation"))?;
        let claim = key.in_progress(&payment.id, &op.id, now + self.policy.lock_window, now);
        self.commit(&transition, Some(&claim)).await?;
        tracing::info!(payment_id = %payment.id, operation_id = %op.id, "operation sent again with its key");
        let (result, _) =
            self.send_and_settle(account, transition.payment, op, Some((key, render)), Some(claim)).await?;
        Ok(Answered::Fresh(result))
    }

    /// Sends the provider call of `op`, pending on `payment` under a lease this caller holds,
    /// and settles what comes back. `claim` is the key's record held while calling. Answers the
    /// operation's result and the payment as it then stands.
    pub(super) async fn send_and_settle(
        &self,
        account: &Account,
        payment: Payment,
        op: Operation,
        keyed: Keyed<'_>,
        claim: Option<IdempotencyRecord>,
    ) -> Result<(OperationResult, Payment), ServiceError> {
        let tracking_id = payment.sbps.tracking_id.clone().ok_or(ServiceError::Internal("no SBPS tracking id"))?;
        reach(CrashPoint::AfterWriteAhead).await;
        let answer = self.provider.send(account, &tracking_id, &op, self.clock.now()).await;
        reach(CrashPoint::AfterProviderAnswer).await;
        let outcome = match answer {
            ProviderAnswer::Succeeded => Outcome::Succeeded,
            // SBPS refused the request itself (checksum, ids, credentials), not the operation:
            // after an earlier call with no known outcome, that call may still have been done.
            ProviderAnswer::Refused(reason) if op.outcome_unknown && reason.code.is_configuration_fault() => {
                return self.outcome_unknown(payment, op, reason.description, keyed, claim).await;
            }
            ProviderAnswer::Refused(reason) => Outcome::Failed(reason),
            ProviderAnswer::Unknown { description } => {
                return self.outcome_unknown(payment, op, description, keyed, claim).await;
            }
        };
        let now = self.clock.now();
        let first_read = Mutex::new(Some(payment));
        let (first_read, outcome, op, claim) = (&first_read, &outcome, &op, &claim);
        retry_on_conflict(|| async move {
            let cached = first_read.lock().ok().and_then(|mut p| p.take());
            let payment = match cached {
                Some(p) => p,
                None => self.store.payment(&op.payment_id).await?.ok_or(ServiceError::PaymentNotFound)?,
            };
            let Ok(transition) = payment.settle(&op.id, outcome.clone(), now) else {
                // Settled meanwhile (a concurrent recovery): answer what is stored.
                let settled =
                    payment.operation(&op.id).cloned().ok_or(ServiceError::Internal("a settled operation"))?;
                let result = OperationResult { operation: settled, payment_status: payment.status, unknown: None };
                self.complete_key(keyed, &payment.id, &result, now).await;
                return Ok((result, payment));
            };
            let settled = transition.operation.clone().ok_or(ServiceError::Internal("a settled operation"))?;
            let result =
                OperationResult { operation: settled, payment_status: transition.payment.status, unknown: None };
            let record = match (outcome, claim) {
                // A refusal worth retrying keeps the key on this operation, unlocked: a retry with
                // the key sends it again (one key, one operation), never a second one beside it.
                (Outcome::Failed(r), Some(c)) if r.code.is_retryable() => {
                    Some(IdempotencyRecord { locked_until: Some(now), ..c.clone() })
                }
                _ => completion(keyed, &transition.payment.id, &result, now)?,
            };
            self.commit(&transition, record.as_ref()).await?;
            let name = if matches!(outcome, Outcome::Succeeded) { "succeeded" } else { "failed" };
            self.metrics.operation(op.kind.as_str(), name);
            Ok((result, transition.payment))
        })
        .await
    }

    /// The call ended with no known outcome: release the lease and unlock the key in one
    /// write, so the next sender may go at once; the operation stays pending.
    async fn outcome_unknown(
        &self,
        payment: Payment,
        op: Operation,
        description: String,
        keyed: Keyed<'_>,
        claim: Option<IdempotencyRecord>,
    ) -> Result<(OperationResult, Payment), ServiceError> {
        self.metrics.operation(op.kind.as_str(), "unknown");
        tracing::warn!(payment_id = %payment.id, operation_id = %op.id, description, "provider outcome unknown");
        let now = self.clock.now();
        let (op_ref, description_ref, claim_ref) = (&op, &description, &claim);
        let released = retry_on_conflict(|| async move {
            let payment = self.store.payment(&op_ref.payment_id).await?.ok_or(ServiceError::PaymentNotFound)?;
            let Ok(transition) = payment.release_lease(&op_ref.id, description_ref.clone(), now) else {
                return Ok(payment); // settled meanwhile
            };
            let unlocked = claim_ref.as_ref().map(|c| IdempotencyRecord { locked_until: Some(now), ..c.clone() });
            self.commit(&transition, unlocked.as_ref()).await?;
            Ok(transition.payment)
        })
        .await;
        let payment = match released {
            Ok(p) => p,
            Err(e) => {
                // The lease and the key unlock by themselves when the lock window ends.
                tracing::warn!(error = %e, "could not release the lease of an operation with an unknown outcome");
                payment
            }
        };
        let current = payment.operation(&op.id).cloned().unwrap_or(op);
        if current.status != OperationStatus::Pending {
            let result = OperationResult { operation: current, payment_status: payment.status, unknown: None };
            self.complete_key(keyed, &payment.id, &result, now).await;
            return Ok((result, payment));
        }
        let result = OperationResult { operation: current, payment_status: payment.status, unknown: Some(description) };
        Ok((result, payment))
    }

    /// Completes the key of a request whose operation was settled by someone else, best
    /// effort: if it fails, the next retry with the key finds the settled operation again.
    async fn complete_key(
        &self,
        keyed: Keyed<'_>,
        payment_id: &PaymentId,
        result: &OperationResult,
        now: DateTime<Utc>,
    ) {
        let Some((key, render)) = keyed else { return };
        let Ok(Some(current)) = self.store.idempotency(&key.account_id, &key.key, now).await else { return };
        if current.operation_id.as_ref() != Some(&result.operation.id) || current.response.is_some() {
            return;
        }
        let Ok(response) = render.operation(result) else { return };
        let record = key.completed(response, payment_id, Some(&result.operation.id), now);
        if let Err(e) = self.store.put_idempotency(&record, Some(&current), now).await {
            tracing::warn!(error = %e, "could not complete an idempotency record");
        }
    }
}

/// The completed record of a keyed request, if it carried a key.
fn completion(
    keyed: Keyed<'_>,
    payment_id: &PaymentId,
    result: &OperationResult,
    now: DateTime<Utc>,
) -> Result<Option<IdempotencyRecord>, ServiceError> {
    let Some((key, render)) = keyed else { return Ok(None) };
    Ok(Some(key.completed(render.operation(result)?, payment_id, Some(&result.operation.id), now)))
}

/// The answer of a decision that does no work.
pub(super) fn answer_without_work<T>(decision: Decision) -> Result<Answered<T>, ServiceError> {
    match decision {
        Decision::Replay(response) => Ok(Answered::Replayed(response)),
        Decision::KeyReused => Err(ServiceError::IdempotencyKeyReused),
        Decision::Start | Decision::InProgress | Decision::Resume { .. } => Err(ServiceError::IdempotencyInProgress),
    }
}
