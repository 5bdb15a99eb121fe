//! The payment aggregate and its state machine (DESIGN §4). Pure: no I/O and no clock reads;
//! every command takes `now` and answers a [`Transition`] to persist, or a [`StateError`]
//! that names the state it found.

pub mod calendar;
mod errors;
mod event;
pub mod ledger;
mod metadata;
mod notification;
mod operation;
mod status;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{OperationId, PaymentId, TrackId};
use crate::money::Yen;

pub use errors::StateError;
pub use event::{AuditEvent, EventKind, Outbox};
pub use ledger::{EntryKind, LedgerEntry};
pub use metadata::{Metadata, MetadataError};
pub use notification::{NotificationRefusal, PurchaseResult, ResultDecision};
pub use operation::{
    FailureCode, FailureReason, Operation, OperationKind, OperationStatus, ProviderAnswer, ProviderCall, Resender,
};
pub use status::Status;

/// How the SBPS service of an account is set up: capture later (specified sales), or captured
/// by the purchase itself (automatic sales).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    Manual,
    Automatic,
}

/// What SBPS told us about the purchase in its result notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbpsPurchase {
    /// `res_tracking_id`: the key of every later SBPS API call.
    pub tracking_id: Option<String>,
    pub payment_date: Option<String>,
    pub err_code: Option<String>,
}

/// A payment, with its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub account_id: String,
    pub merchant_reference: String,
    pub track_id: TrackId,
    pub amount: Yen,
    pub return_url: String,
    pub capture_mode: CaptureMode,
    pub status: Status,
    pub authorized: u32,
    pub captured: u32,
    pub cancelled: u32,
    pub refunded: u32,
    /// When the redirect was signed (`request_date`), and for how long SBPS accepts it.
    pub request_date: DateTime<Utc>,
    pub limit_second: u32,
    /// A pending payment still pending after this instant is expired.
    pub pending_until: DateTime<Utc>,
    pub sbps: SbpsPurchase,
    /// When the money was captured: the "sales date" of au's refund rules.
    pub captured_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; the store's optimistic lock and the audit event sequence.
    pub version: u64,
    pub operations: Vec<Operation>,
    /// The partition of the account's listing index (assigned at creation, never changed).
    pub list_shard: u32,
    /// The merchant's own key-value pairs, given at create; never sent to SBPS.
    pub metadata: Metadata,
}

/// One change to persist atomically: the new payment (its `version` one above the stored one),
/// the operation it adds or settles, its audit event, and whether the merchant reference is
/// released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub payment: Payment,
    pub operation: Option<Operation>,
    pub event: AuditEvent,
    pub release_reference: bool,
    /// When the sweeper must look at this payment again (a pending operation's lock window
    /// end), written as a due-bucket entry in the same write; filled in by the service.
    pub wake_at: Option<DateTime<Utc>>,
    /// The money movement this change confirmed, if any: its ledger entry, in the same write.
    pub ledger: Option<LedgerEntry>,
}

impl Transition {
    pub fn expected_version(&self) -> u64 {
        self.payment.version - 1
    }
}

/// Everything a new payment is made of.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub id: PaymentId,
    pub account_id: String,
    pub merchant_reference: String,
    pub track_id: TrackId,
    pub amount: Yen,
    pub return_url: String,
    pub capture_mode: CaptureMode,
    pub limit_second: u32,
    /// Time left to the payer on the au screens after the request itself has expired.
    pub expiry_grace: Duration,
    /// The partition of the account's listing index the payment is kept in (0 when the
    /// account's listing is not spread).
    pub list_shard: u32,
    pub metadata: Metadata,
}

/// How a provider call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed(FailureReason),
}

impl Payment {
    /// A new pending payment and its creation event.
    pub fn create(new: NewPayment, now: DateTime<Utc>) -> (Payment, AuditEvent) {
        let pending_until = now + Duration::seconds(i64::from(new.limit_second)) + new.expiry_grace;
        let payment = Payment {
            id: new.id,
            account_id: new.account_id,
            merchant_reference: new.merchant_reference,
            track_id: new.track_id,
            amount: new.amount,
            return_url: new.return_url,
            capture_mode: new.capture_mode,
            status: Status::Pending,
            authorized: 0,
            captured: 0,
            cancelled: 0,
            refunded: 0,
            request_date: now,
            limit_second: new.limit_second,
            pending_until,
            sbps: SbpsPurchase::default(),
            captured_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
            operations: Vec::new(),
            list_shard: new.list_shard,
            metadata: new.metadata,
        };
        let event = AuditEvent {
            seq: 1,
            kind: EventKind::PaymentCreated,
            at: now,
            from_status: None,
            to_status: Status::Pending,
            operation_id: None,
            amount: Some(payment.amount.value()),
            detail: None,
            outbox: None,
        };
        (payment, event)
    }

    /// The invariants of DESIGN §4 that every stored version must keep.
    pub fn check_invariants(&self) -> Result<(), String> {
        let captured_and_cancelled = u64::from(self.captured) + u64::from(self.cancelled);
        if captured_and_cancelled > u64::from(self.authorized) {
            return Err(format!(
                "captured {} + cancelled {} exceed authorized {}",
                self.captured, self.cancelled, self.authorized
            ));
        }
        if self.authorized > self.amount.value() {
            return Err(format!("authorized {} exceeds amount {}", self.authorized, self.amount));
        }
        if self.refunded > self.captured {
            return Err(format!("refunded {} exceeds captured {}", self.refunded, self.captured));
        }
        let succeeded = |kind: OperationKind| {
            self.operations.iter().filter(|op| op.kind == kind && op.status == OperationStatus::Succeeded).count()
        };
        if succeeded(OperationKind::Capture) > 1 || succeeded(OperationKind::Refund) > 1 {
            return Err("more than one capture or refund succeeded".into());
        }
        if self.operations.iter().filter(|op| op.status == OperationStatus::Pending).count() > 1 {
            return Err("more than one operation pending".into());
        }
        Ok(())
    }

    /// What may still be captured: authorized less what was cancelled.
    pub fn capturable(&self) -> u32 {
        self.authorized.saturating_sub(self.cancelled)
    }

    /// What the payment's cancels took off it, as merchants see it: the succeeded cancel
    /// operations' amounts. For an authorized payment this is `cancelled` (the property test
    /// holds them equal); a payment cancelled while pending, whose authorization never came,
    /// shows the amount its one cancel took off.
    pub fn cancelled_total(&self) -> u32 {
        self.operations
            .iter()
            .filter(|op| op.kind == OperationKind::Cancel && op.status == OperationStatus::Succeeded)
            .map(|op| op.amount.value())
            .sum()
    }

    pub fn pending_operation(&self) -> Option<&Operation> {
        self.operations.iter().find(|op| op.status == OperationStatus::Pending)
    }

    pub fn operation(&self, id: &OperationId) -> Option<&Operation> {
        self.operations.iter().find(|op| &op.id == id)
    }

    /// Whether a pending payment has run out of time (it is then to be expired before anything
    /// else happens to it).
    pub fn is_due_for_expiry(&self, now: DateTime<Utc>) -> bool {
        self.status == Status::Pending && now > self.pending_until
    }

    /// Expires a pending payment whose time is up; `None` when there is nothing to do.
    pub fn expire_if_due(&self, now: DateTime<Utc>) -> Option<Transition> {
        self.is_due_for_expiry(now)
            .then(|| self.transition(now, Status::Expired, EventKind::PaymentExpired, None, None))
    }

    /// SBPS's result notification said OK. On an account with automatic sales the purchase is
    /// the sale, recorded as the capture `capture_id`.
    pub fn authorize(
        &self,
        tracking_id: String,
        payment_date: Option<String>,
        capture_id: OperationId,
        now: DateTime<Utc>,
    ) -> Result<Transition, StateError> {
        self.require_pending("authorize", now)?;
        let mut next = self.clone();
        next.authorized = self.amount.value();
        next.sbps.tracking_id = Some(tracking_id);
        next.sbps.payment_date = payment_date;
        match self.capture_mode {
            CaptureMode::Manual => {
                let mut t = next.transition(now, Status::Authorized, EventKind::PaymentAuthorized, None, None);
                t.event.amount = Some(self.amount.value());
                Ok(t)
            }
            CaptureMode::Automatic => {
                // The purchase was the sale: record it as a capture so the captured amount has
                // its operation, like any other amount change.
                next.captured = self.amount.value();
                next.captured_at = Some(now);
                let op = Operation {
                    id: capture_id,
                    payment_id: self.id.clone(),
                    sequence: self.version + 1,
                    kind: OperationKind::Capture,
                    status: OperationStatus::Succeeded,
                    amount: self.amount,
                    full: true,
                    provider_call: None,
                    reason: None,
                    attempted_at: None,
                    call_in_flight: false,
                    outcome_unknown: false,
                    created_at: now,
                    updated_at: now,
                };
                Ok(next.transition(now, Status::Captured, EventKind::PaymentCaptured, Some(op), None))
            }
        }
    }

    /// SBPS's result notification said anything but OK.
    pub fn decline(&self, err_code: Option<String>, now: DateTime<Utc>) -> Result<Transition, StateError> {
        self.require_pending("decline", now)?;
        let mut next = self.clone();
        next.sbps.err_code = err_code.clone();
        Ok(next.transition(now, Status::Declined, EventKind::PaymentDeclined, None, err_code))
    }

    /// Sends an operation SBPS refused for now (au's billing run, [`FailureCode::is_retryable`])
    /// again, as the same operation: one Idempotency-Key is one operation (DESIGN §3). It is
    /// checked as a new one of its kind and amount would be (a failed operation does not count
    /// toward "once"), and keeps its id, sequence and creation time; the new attempt is its own
    /// audit event.
    pub fn retry_operation(&self, op_id: &OperationId, now: DateTime<Utc>) -> Result<Transition, StateError> {
        let refused = self
            .operation(op_id)
            .filter(|op| {
                op.status == OperationStatus::Failed && op.reason.as_ref().is_some_and(|r| r.code.is_retryable())
            })
            .ok_or(StateError::NoSuchRetryableOperation)?;
        let amount = Some(refused.amount);
        let mut transition = match refused.kind {
            OperationKind::Capture => self.begin_capture(op_id.clone(), amount, now),
            OperationKind::Cancel => self.begin_cancel(op_id.clone(), amount, now),
            OperationKind::Refund => self.begin_refund(op_id.clone(), amount, now),
        }?;
        let same = |op: &mut Operation| {
            op.sequence = refused.sequence;
            op.created_at = refused.created_at;
        };
        transition.operation.iter_mut().for_each(same);
        transition.payment.operations.iter_mut().filter(|op| &op.id == op_id).for_each(same);
        Ok(transition)
    }

    /// Starts a capture of `amount` (all that is capturable when `None`).
    pub fn begin_capture(
        &self,
        op_id: OperationId,
        amount: Option<Yen>,
        now: DateTime<Utc>,
    ) -> Result<Transition, StateError> {
        self.require_no_pending_operation()?;
        if self.status != Status::Authorized {
            return Err(self.wrong_status("capture", "authorized"));
        }
        if self.has_taken(OperationKind::Capture, |_| true) {
            return Err(StateError::OnceOnly { kind: OperationKind::Capture });
        }
        let amount = self.within(amount, self.capturable())?;
        let partial = amount.value() != self.authorized;
        let call = ProviderCall::Capture { amount: partial.then_some(amount.value()) };
        let full = amount.value() == self.capturable();
        Ok(self.begin(op_id, OperationKind::Capture, amount, full, Some(call), now))
    }

    /// Starts a cancel: of a pending payment (in full, no provider call), of an authorization
    /// in full (provider call), or of part of an authorization (no provider call; the capture
    /// later sends the lower amount).
    pub fn begin_cancel(
        &self,
        op_id: OperationId,
        amount: Option<Yen>,
        now: DateTime<Utc>,
    ) -> Result<Transition, StateError> {
        self.require_no_pending_operation()?;
        match self.status {
            Status::Pending => {
                if self.is_due_for_expiry(now) {
                    return Err(self.wrong_status("cancel", "pending or authorized"));
                }
                if amount.is_some_and(|a| a != self.amount) {
                    return Err(StateError::PartialCancelOfPending);
                }
                let op = self.new_operation(op_id, OperationKind::Cancel, self.amount, true, None, now);
                let op = Operation { status: OperationStatus::Succeeded, ..op };
                Ok(self.transition(now, Status::Cancelled, EventKind::PaymentCancelled, Some(op), None))
            }
            Status::Authorized => {
                let amount = self.within(amount, self.capturable())?;
                if amount.value() == self.capturable() {
                    let call = ProviderCall::CancelOrRefund { amount: None };
                    return Ok(self.begin(op_id, OperationKind::Cancel, amount, true, Some(call), now));
                }
                if self.has_taken(OperationKind::Cancel, |op| !op.full) {
                    return Err(StateError::OnceOnly { kind: OperationKind::Cancel });
                }
                let mut next = self.clone();
                next.cancelled += amount.value();
                let op = self.new_operation(op_id, OperationKind::Cancel, amount, false, None, now);
                let op = Operation { status: OperationStatus::Succeeded, ..op };
                Ok(next.transition(now, Status::Authorized, EventKind::PaymentPartiallyCancelled, Some(op), None))
            }
            _ => Err(self.wrong_status("cancel", "pending or authorized")),
        }
    }

    /// Starts a refund of `amount` (everything captured when `None`), under au's month rules.
    pub fn begin_refund(
        &self,
        op_id: OperationId,
        amount: Option<Yen>,
        now: DateTime<Utc>,
    ) -> Result<Transition, StateError> {
        self.require_no_pending_operation()?;
        if self.has_taken(OperationKind::Refund, |_| true) {
            return Err(StateError::OnceOnly { kind: OperationKind::Refund });
        }
        if self.status != Status::Captured {
            return Err(self.wrong_status("refund", "captured"));
        }
        let amount = self.within(amount, self.captured)?;
        let full = amount.value() == self.captured;
        let sold_at = self.captured_at.unwrap_or(self.updated_at);
        if !calendar::refund_period_open(sold_at, now) {
            return Err(StateError::RefundPeriodExpired);
        }
        if !full && !calendar::partial_refund_available(sold_at, now) {
            return Err(StateError::PartialRefundNotYetAvailable { from: calendar::start_of_month_after(sold_at, 1) });
        }
        let call = ProviderCall::CancelOrRefund { amount: (!full).then_some(amount.value()) };
        Ok(self.begin(op_id, OperationKind::Refund, amount, full, Some(call), now))
    }

    /// Settles a pending operation with the provider's answer.
    pub fn settle(&self, op_id: &OperationId, outcome: Outcome, now: DateTime<Utc>) -> Result<Transition, StateError> {
        let op = self
            .operation(op_id)
            .filter(|op| op.status == OperationStatus::Pending)
            .ok_or(StateError::NoSuchPendingOperation)?
            .clone();
        let mut next = self.clone();
        match outcome {
            Outcome::Failed(reason) => {
                let detail = Some(reason.code.to_string());
                let settled = Operation {
                    status: OperationStatus::Failed,
                    reason: Some(reason),
                    call_in_flight: false,
                    updated_at: now,
                    ..op
                };
                // SBPS's word that the authorization is gone ends the payment: voided, its
                // reference released, nothing left to capture or sweep.
                if settled.reason.as_ref().is_some_and(|r| r.code.ends_authorization()) {
                    return Ok(next.transition(now, Status::Voided, EventKind::PaymentVoided, Some(settled), detail));
                }
                let status = self.status;
                return Ok(next.transition(now, status, EventKind::OperationFailed, Some(settled), detail));
            }
            Outcome::Succeeded => {}
        }
        let amount = op.amount.value();
        let (status, kind) = match op.kind {
            OperationKind::Capture => {
                next.captured = amount;
                next.captured_at = Some(now);
                (Status::Captured, EventKind::PaymentCaptured)
            }
            OperationKind::Cancel => {
                next.cancelled = self.authorized.saturating_sub(self.captured);
                (Status::Cancelled, EventKind::PaymentCancelled)
            }
            OperationKind::Refund => {
                next.refunded = amount;
                if op.full {
                    (Status::Refunded, EventKind::PaymentRefunded)
                } else {
                    (Status::PartiallyRefunded, EventKind::PaymentPartiallyRefunded)
                }
            }
        };
        let settled = Operation {
            status: OperationStatus::Succeeded,
            reason: None,
            call_in_flight: false,
            updated_at: now,
            ..op
        };
        Ok(next.transition(now, status, kind, Some(settled), None))
    }

    /// Takes the resend lease of a pending operation: the version-conditioned write that lets
    /// exactly one sender call the provider again.
    pub fn lease(
        &self,
        op_id: &OperationId,
        resender: Resender,
        lock_window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Transition, StateError> {
        let op = self.operation(op_id).filter(|op| op.status == OperationStatus::Pending);
        let op = op.ok_or(StateError::NoSuchPendingOperation)?;
        if !op.may_resend(resender, lock_window, now) {
            return Err(StateError::OperationInProgress { operation_id: op.id.clone(), kind: op.kind });
        }
        let leased = Operation { attempted_at: Some(now), call_in_flight: true, ..op.clone() };
        let mut t = self.transition(now, self.status, EventKind::OperationAttempted, Some(leased), None);
        t.event.amount = None; // no amount changes
        Ok(t)
    }

    /// Releases the lease of a pending operation whose call ended with no known outcome, so
    /// that the merchant's retry with the same key may go at once (readers and the sweeper
    /// still wait for the lock window).
    pub fn release_lease(
        &self,
        op_id: &OperationId,
        detail: String,
        now: DateTime<Utc>,
    ) -> Result<Transition, StateError> {
        let op = self.operation(op_id).filter(|op| op.status == OperationStatus::Pending);
        let op = op.ok_or(StateError::NoSuchPendingOperation)?;
        let released = Operation { call_in_flight: false, outcome_unknown: true, ..op.clone() };
        let mut t = self.transition(now, self.status, EventKind::OperationOutcomeUnknown, Some(released), Some(detail));
        t.event.amount = None; // no amount changes
        Ok(t)
    }

    fn begin(
        &self,
        op_id: OperationId,
        kind: OperationKind,
        amount: Yen,
        full: bool,
        call: Option<ProviderCall>,
        now: DateTime<Utc>,
    ) -> Transition {
        let op = self.new_operation(op_id, kind, amount, full, call, now);
        let status = self.status;
        self.transition(now, status, EventKind::OperationRequested, Some(op), None)
    }

    fn new_operation(
        &self,
        id: OperationId,
        kind: OperationKind,
        amount: Yen,
        full: bool,
        provider_call: Option<ProviderCall>,
        now: DateTime<Utc>,
    ) -> Operation {
        Operation {
            id,
            payment_id: self.id.clone(),
            sequence: self.version + 1,
            kind,
            status: OperationStatus::Pending,
            amount,
            full,
            attempted_at: provider_call.is_some().then_some(now),
            call_in_flight: provider_call.is_some(),
            outcome_unknown: false,
            provider_call,
            reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Builds the next version of `self` (already carrying its new amounts) in `status`.
    fn transition(
        &self,
        now: DateTime<Utc>,
        status: Status,
        kind: EventKind,
        operation: Option<Operation>,
        detail: Option<String>,
    ) -> Transition {
        let mut payment = self.clone();
        payment.status = status;
        payment.version = self.version + 1;
        payment.updated_at = now;
        if let Some(op) = &operation {
            match payment.operations.iter_mut().find(|o| o.id == op.id) {
                Some(existing) => *existing = op.clone(),
                None => payment.operations.push(op.clone()),
            }
        }
        let event = AuditEvent {
            seq: payment.version,
            kind,
            at: now,
            from_status: Some(self.status),
            to_status: status,
            operation_id: operation.as_ref().map(|op| op.id.clone()),
            amount: operation.as_ref().map(|op| op.amount.value()),
            detail,
            outbox: None,
        };
        Transition {
            release_reference: status.releases_reference() && !self.status.releases_reference(),
            ledger: ledger::entry(self, &payment, kind, operation.as_ref(), now),
            payment,
            operation,
            event,
            wake_at: None,
        }
    }

    fn require_pending(&self, action: &'static str, now: DateTime<Utc>) -> Result<(), StateError> {
        if self.status != Status::Pending || self.is_due_for_expiry(now) {
            let status = if self.is_due_for_expiry(now) { Status::Expired } else { self.status };
            return Err(StateError::WrongStatus { action, status, expected: "pending" });
        }
        Ok(())
    }

    fn require_no_pending_operation(&self) -> Result<(), StateError> {
        match self.pending_operation() {
            Some(op) => Err(StateError::OperationInProgress { operation_id: op.id.clone(), kind: op.kind }),
            None => Ok(()),
        }
    }

    fn wrong_status(&self, action: &'static str, expected: &'static str) -> StateError {
        StateError::WrongStatus { action, status: self.status, expected }
    }

    /// Whether an operation of `kind` matching `filter` already took (or may be taking) money.
    /// Failed operations do not count toward "once".
    fn has_taken(&self, kind: OperationKind, filter: impl Fn(&Operation) -> bool) -> bool {
        self.operations.iter().any(|op| op.kind == kind && op.status != OperationStatus::Failed && filter(op))
    }

    fn within(&self, requested: Option<Yen>, available: u32) -> Result<Yen, StateError> {
        let amount = match requested {
            Some(a) => a,
            None => Yen::new(u64::from(available)).map_err(|_| StateError::NothingLeft)?,
        };
        if amount.value() > available {
            return Err(StateError::AmountExceedsRemaining { requested: amount.value(), available });
        }
        Ok(amount)
    }
}
