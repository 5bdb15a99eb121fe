//! The persistence port (DESIGN §5) and its adapters. Every adapter keeps one contract, which
//! `tests/store/contract.rs` checks against each of them:
//!
//! * a payment is created atomically with its merchant-reference guard, its track pointer, its
//!   creation event and, when the request carried a key, its idempotency record;
//! * every later change is conditioned on the payment's `version` and writes the payment, the
//!   operation it adds or settles and its audit event together, releasing the reference guard
//!   in the same write when the payment ends without money taken;
//! * an idempotency record whose `expires_at` has passed is treated as absent;
//! * a create writes a due-bucket entry for the payment's expiry, and a transition with a
//!   `wake_at` one for it, in the same write; a merchant-visible event carries its outbox;
//! * a transition that confirmed a money movement writes its ledger entry and adds it to its
//!   month's totals in the same write ([`ledger`]).

pub mod dynamodb;
pub mod item;
pub mod ledger;
pub mod listing;
#[cfg(feature = "embedded")]
pub mod sqlite;
pub mod webhooks;

use std::future::Future;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{OperationId, PaymentId, TrackId};
use crate::payment::{AuditEvent, Payment, Transition};

pub use dynamodb::DynamoStore;
pub use ledger::LedgerStore;
#[cfg(feature = "embedded")]
pub use sqlite::SqliteStore;
pub use webhooks::WebhookStore;

/// Due buckets are sharded by payment id (DESIGN §5): no bucket partition takes more than an
/// eighth of the write rate.
pub const DUE_SHARDS: u32 = 8;

/// Something the sweeper must look at: a pending payment's expiry, or the end of a pending
/// operation's lock window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DueEntry {
    Expiry(PaymentId),
    Operation(PaymentId, OperationId),
}

impl DueEntry {
    pub fn payment_id(&self) -> &PaymentId {
        match self {
            DueEntry::Expiry(p) | DueEntry::Operation(p, _) => p,
        }
    }

    /// Its sort key in a bucket: `PAYMENT#<id>` or `OP#<paymentId>#<opId>`.
    pub fn sort_key(&self) -> String {
        match self {
            DueEntry::Expiry(p) => format!("PAYMENT#{p}"),
            DueEntry::Operation(p, op) => format!("OP#{p}#{op}"),
        }
    }

    pub fn parse(sort_key: &str) -> Option<Self> {
        if let Some(p) = sort_key.strip_prefix("PAYMENT#") {
            return Some(DueEntry::Expiry(p.parse().ok()?));
        }
        let (p, op) = sort_key.strip_prefix("OP#")?.split_once('#')?;
        Some(DueEntry::Operation(p.parse().ok()?, op.parse().ok()?))
    }

    /// The bucket shard of its payment.
    pub fn shard(&self) -> u32 {
        shard_of(self.payment_id(), DUE_SHARDS)
    }
}

/// Which of `shards` shards a payment's items spread by payment go to (due buckets, the
/// listing index): FNV-1a of its id, stable across versions.
pub fn shard_of(id: &PaymentId, shards: u32) -> u32 {
    let h = id.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    h % shards.max(1)
}

/// The whole minute `at` falls in: a due bucket's name.
pub fn due_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

/// Where the sweeper stopped: every bucket up to and including `minute` has been swept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepCursor {
    pub minute: DateTime<Utc>,
    pub version: u64,
}

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
    /// A claim's random token: the request that wrote it, reading it back after the answer of
    /// its own write was lost (the store committed, the connection dropped), knows it for its
    /// own and goes on, where any other request is told to wait.
    pub claim_token: Option<String>,
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
    /// A listing position that cannot belong to the listing asked for.
    #[error("invalid listing position")]
    InvalidPosition,
    /// The account already has as many of these as it may.
    #[error("limit reached")]
    LimitReached,
    /// A write would break an invariant of DESIGN §4; a bug, refused.
    #[error("refused a write that breaks an invariant: {0}")]
    Invariant(String),
    /// The store could not be reached or failed; details are for the logs only.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Every part of the persistence port, as every adapter provides them.
pub trait Persistence: Store + WebhookStore + LedgerStore + Clone {}
impl<T: Store + WebhookStore + LedgerStore + Clone> Persistence for T {}

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

    /// The entries of the due bucket of `minute` (every shard).
    fn due(&self, minute: DateTime<Utc>) -> impl Future<Output = Result<Vec<DueEntry>, StoreError>> + Send;

    /// Where the sweeper stopped, if it ever ran.
    fn sweep_cursor(&self) -> impl Future<Output = Result<Option<SweepCursor>, StoreError>> + Send;

    /// A page of at most `limit` of the account's payments matching `filter`, newest first,
    /// from `positions` (one per shard, as a previous page left them; `None`: the start).
    /// `InvalidPosition` when the positions cannot be this listing's.
    fn list_payments(
        &self,
        filter: &listing::ListFilter,
        positions: Option<&[listing::ShardPosition]>,
        limit: usize,
    ) -> impl Future<Output = Result<listing::ListPage, StoreError>> + Send;

    /// Moves the sweep cursor to `minute` if it is still at version `expected` (`None`: there
    /// is none yet); `VersionConflict` otherwise.
    fn save_sweep_cursor(
        &self,
        minute: DateTime<Utc>,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
