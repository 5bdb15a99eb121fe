//! Reads, and the sweeper's two entry points. A read applies what is due at once: a pending
//! payment whose time is up expires; a pending operation whose lock window has passed is sent
//! again under the resend lease (a version-conditioned write), so however many reads, retries
//! and sweeps arrive together, one call goes out per lock window.

use super::conflict_retry::retry_on_conflict;
use super::{Provider, Service, ServiceError};
use crate::accounts::Account;
use crate::ids::{OperationId, PaymentId, TrackId};
use crate::payment::{AuditEvent, OperationStatus, Payment, Resender, Status};
use crate::store::Store;

/// What the sweeper's visit to one due item did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepOutcome {
    /// The pending payment expired now.
    Expired,
    /// The operation's call was sent again and it settled so.
    Settled(OperationStatus),
    /// The call was sent again (or is being sent by someone else) and the outcome is still
    /// unknown.
    StillPending,
    /// Nothing was due (already expired, settled, paid, or not yet time).
    NothingDue,
    /// No such payment or operation.
    Gone,
}

impl<S: Store, P: Provider> Service<S, P> {
    /// A payment of `account` as it stands now: expired if its time is up, its pending
    /// operation recovered if its lock window has passed.
    pub async fn payment(&self, account: &Account, id: &PaymentId) -> Result<Payment, ServiceError> {
        retry_on_conflict(|| async move {
            let payment = self.expire_if_due(self.payment_of(account, id).await?).await?;
            self.recover(account, payment).await
        })
        .await
    }

    /// The payment behind a tracking id, with its account, expired if its time is up. The
    /// public route sends no provider call.
    pub async fn tracked(&self, track_id: &TrackId) -> Result<(Payment, &Account), ServiceError> {
        retry_on_conflict(|| async move {
            let payment = self.store.payment_by_track(track_id).await?.ok_or(ServiceError::PaymentNotFound)?;
            let account = self.accounts.get(&payment.account_id).ok_or(ServiceError::PaymentNotFound)?;
            Ok((self.expire_if_due(payment).await?, account))
        })
        .await
    }

    /// The audit trail of a payment of `account`, in order.
    pub async fn audit_trail(&self, account: &Account, id: &PaymentId) -> Result<Vec<AuditEvent>, ServiceError> {
        self.payment_of(account, id).await?;
        Ok(self.store.audit_events(id).await?)
    }

    /// Sweeper: expires payment `id` if it is pending and due.
    pub async fn expire_due(&self, id: &PaymentId) -> Result<SweepOutcome, ServiceError> {
        retry_on_conflict(|| async move {
            let Some(payment) = self.store.payment(id).await? else { return Ok(SweepOutcome::Gone) };
            if !payment.is_due_for_expiry(self.clock.now()) {
                return Ok(SweepOutcome::NothingDue);
            }
            let expired = self.expire_if_due(payment).await?;
            Ok(if expired.status == Status::Expired { SweepOutcome::Expired } else { SweepOutcome::NothingDue })
        })
        .await
    }

    /// Sweeper: sends the call of pending operation `op_id` of payment `id` again if its lock
    /// window has passed.
    pub async fn recover_due(&self, id: &PaymentId, op_id: &OperationId) -> Result<SweepOutcome, ServiceError> {
        retry_on_conflict(|| async move {
            let Some(payment) = self.store.payment(id).await? else { return Ok(SweepOutcome::Gone) };
            let Some(op) = payment.operation(op_id).cloned() else { return Ok(SweepOutcome::Gone) };
            if !op.may_resend(Resender::Recovery, self.policy.lock_window, self.clock.now()) {
                return Ok(if op.status == OperationStatus::Pending {
                    SweepOutcome::StillPending
                } else {
                    SweepOutcome::NothingDue
                });
            }
            let account = self.accounts.get(&payment.account_id).ok_or(ServiceError::Internal("unknown account"))?;
            let recovered = self.recover(account, payment).await?;
            Ok(match recovered.operation(op_id).map(|o| o.status) {
                Some(OperationStatus::Pending) | None => SweepOutcome::StillPending,
                Some(status) => SweepOutcome::Settled(status),
            })
        })
        .await
    }

    /// Sends the call of the payment's pending operation again if nobody holds its lease; the
    /// payment as it then stands. A lost race for the lease is a conflict: the retry reads
    /// the payment with the winner's lease and leaves it alone.
    async fn recover(&self, account: &Account, payment: Payment) -> Result<Payment, ServiceError> {
        let now = self.clock.now();
        let Some(op) = payment.pending_operation().cloned() else { return Ok(payment) };
        if !op.may_resend(Resender::Recovery, self.policy.lock_window, now) {
            return Ok(payment);
        }
        let lease = payment.lease(&op.id, Resender::Recovery, self.policy.lock_window, now)?;
        self.commit(&lease, None).await?;
        tracing::info!(payment_id = %payment.id, operation_id = %op.id, "resending a pending operation");
        let (_, payment) = self.send_and_settle(account, lease.payment, op, None, None).await?;
        Ok(payment)
    }
}
