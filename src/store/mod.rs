//! The persistence port (DESIGN §5) and its adapters. Every adapter keeps one contract, which
//! `tests/store_contract.rs` checks against each of them:
//!
//! * a payment is created atomically with its merchant-reference guard, its track pointer, its
//!   creation event and, when the request carried a key, its idempotency record;
//! * every later change is conditioned on the payment's `version` and writes the payment, the
//!   operation it adds or settles and its audit event together, releasing the reference guard
//!   in the same write when the payment ends without money taken;
//! * an idempotency record whose `expires_at` has passed is treated as absent.

pub mod dynamodb;
pub mod item;
#[cfg(feature = "embedded")]
pub mod sqlite;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{OperationId, PaymentId, TrackId};
use crate::payment::{AuditEvent, Payment, Transition};

pub use dynamodb::DynamoStore;
#[cfg(feature = "embedded")]
pub use sqlite::SqliteStore;

/// Whether the request behind an idempotency key is still running or has its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdempotencyState {
    InProgress,
    Completed,
}

/// An answer kept to be replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What an `Idempotency-Key` stands for, scoped to one processing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub account_id: String,
    pub key: String,
    /// SHA-256 (hex) of method, path and body.
    pub request_hash: String,
    pub state: IdempotencyState,
    pub response: Option<StoredResponse>,
    pub payment_id: Option<PaymentId>,
    pub operation_id: Option<OperationId>,
    /// While in progress: until when another request with this key is told to wait.
    pub locked_until: Option<DateTime<Utc>>,
    /// The record is gone after this (DynamoDB TTL).
    pub expires_at: DateTime<Utc>,
}

impl IdempotencyRecord {
    /// A record counts until it expires, whether or not the store has deleted it yet
    /// (DynamoDB's TTL deletes late): an expired record is absent.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }

    /// Whether `claim` may be written, in a transition, over `live` (the key's live record, if
    /// any): only where there is none, or where it belongs to the same operation (a claim and
    /// its completion, never a takeover). DynamoDB: [`dynamodb::CLAIM_CONDITION`].
    pub fn may_claim(live: Option<&IdempotencyRecord>, claim: &IdempotencyRecord) -> bool {
        match live {
            None => true,
            Some(live) => live.operation_id.is_some() && live.operation_id == claim.operation_id,
        }
    }

    /// Whether the key's live record is still the one a writer read (`expected`; `None`: no
    /// live record), compared by state and lock. DynamoDB: [`dynamodb::expected_condition`].
    pub fn equals_expected(current: Option<&IdempotencyRecord>, expected: Option<&IdempotencyRecord>) -> bool {
        match (current, expected) {
            (None, None) => true,
            (Some(c), Some(e)) => c.state == e.state && c.locked_until == e.locked_until,
            _ => false,
        }
    }
}

/// A new payment and what is written with it.
#[derive(Debug, Clone)]
pub struct NewPaymentRecord {
    pub payment: Payment,
    pub event: AuditEvent,
    pub idempotency: Option<IdempotencyRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The account already has a live payment with this merchant reference.
    #[error("merchant reference already in use by payment {0}")]
    DuplicateReference(PaymentId),
    /// The idempotency key is already taken by a live record: that record, when the store
    /// could tell without another read (DynamoDB returns it with the cancellation reason).
    #[error("idempotency key already in use")]
    IdempotencyKeyTaken(Option<Box<IdempotencyRecord>>),
    /// The payment changed since it was read.
    #[error("the payment changed since it was read")]
    VersionConflict,
    /// A write would break an invariant of DESIGN §4; a bug, refused.
    #[error("refused a write that breaks an invariant: {0}")]
    Invariant(String),
    /// The store could not be reached or failed; details are for the logs only.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// The persistence port.
pub trait Store: Send + Sync + 'static {
    /// Creates a payment (DESIGN §5: one atomic write).
    fn create_payment(
        &self,
        record: &NewPaymentRecord,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A payment with its operations, oldest first.
    fn payment(&self, id: &PaymentId) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    /// The payment a tracking id points to, as of its last change, without its operations
    /// (the browser view needs none): one read.
    fn payment_by_track(&self, track_id: &TrackId) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    /// Applies a transition if the stored version is still `transition.expected_version()`,
    /// writing `idempotency` (if any) in the same write. The idempotency record is written only
    /// if no live record holds its key, or the live one belongs to the same operation
    /// (`IdempotencyKeyTaken` otherwise): a claim and its completion, never a takeover.
    fn apply(
        &self,
        transition: &Transition,
        idempotency: Option<&IdempotencyRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The live idempotency record of a key, if any.
    fn idempotency(
        &self,
        account_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;

    /// Writes an idempotency record: when `expected` is `None` only if no live record exists,
    /// otherwise only if the stored record still equals `expected`.
    fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        expected: Option<&IdempotencyRecord>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The audit trail of a payment, in order (every page of it).
    fn audit_events(&self, id: &PaymentId) -> impl Future<Output = Result<Vec<AuditEvent>, StoreError>> + Send;
}
