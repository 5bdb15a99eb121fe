//! The application service: everything that moves money, with no HTTP around it, so the
//! HTTP handlers, the sweeper and (later) the webhook dispatcher run the same logic.
//!
//! * create a payment (one atomic write with its reference guard, track pointer and key);
//! * operate (capture / cancel / refund): write ahead, call the provider, settle; resume with
//!   the same key after an unknown outcome;
//! * apply SBPS's result notification;
//! * read: expire a pending payment whose time is up, recover a pending operation whose lock
//!   window has passed (under the resend lease, so concurrent readers send one call);
//! * the sweeper's entry points: expire one due payment, recover one due operation.
//!
//! It is generic over the [`Store`] port and the [`Provider`] port; one idempotency decision
//! ([`idempotency::decide`]), one retry-on-conflict helper ([`conflict_retry::retry_on_conflict`]), and
//! one place that commits a transition ([`Service::commit`]).

pub mod conflict_retry;
mod create;
mod cursor;
pub mod idempotency;
mod ledger;
mod list;
mod notify;
mod operate;
pub mod provider;
mod read;
mod sweep;
#[cfg(all(test, feature = "embedded"))]
mod tests;
pub mod webhooks;

use chrono::Duration;

use crate::accounts::{Account, Accounts};
use crate::clock::Clock;
use crate::ids::PaymentId;
use crate::metrics::Metrics;
use crate::payment::{Operation, OperationStatus, Payment, StateError, Status, Transition};
use crate::store::{IdempotencyRecord, Store, StoreError, StoredResponse};

pub use create::CreatePayment;
pub use idempotency::{Decision, IdempotencyKey};
pub use ledger::{LedgerListed, LedgerQuery, StatementMonth};
pub use list::{ListQuery, Listed};
pub use notify::NotificationOutcome;
pub use provider::{Provider, ScriptedProvider};
pub use read::SweepOutcome;
pub use sweep::SweepReport;

/// Why the service refused or could not finish a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("no such payment for this account")]
    PaymentNotFound,
    #[error("the merchant reference has a live payment: {0}")]
    DuplicateReference(PaymentId),
    #[error(transparent)]
    NotAllowed(#[from] StateError),
    #[error("a request with this key is in progress")]
    IdempotencyInProgress,
    #[error("the key was used with another request")]
    IdempotencyKeyReused,
    /// The payment kept changing under the request (after every retry).
    #[error("the payment changed while the request was processed")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
    /// A listing cursor that was altered, or is another listing's or another account's.
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict => ServiceError::Conflict,
            StoreError::DuplicateReference(id) => ServiceError::DuplicateReference(id),
            // Only reached where no decision re-reads the key: someone else holds it.
            StoreError::IdempotencyKeyTaken(_) => ServiceError::IdempotencyInProgress,
            other => ServiceError::Store(other),
        }
    }
}

/// How an operation request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationResult {
    pub operation: Operation,
    pub payment_status: Status,
    /// Why the outcome is not known, when the operation is still pending.
    pub unknown: Option<String>,
}

/// The answer of a request that carried an idempotency key may be one kept from before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered<T> {
    Fresh(T),
    Replayed(StoredResponse),
}

/// How outcomes are answered: kept byte for byte with an idempotency key and replayed. The
/// HTTP layer implements it (the service knows no HTTP); `account` signs the redirect.
pub trait Render: Sync {
    fn payment_created(&self, payment: &Payment, account: &Account) -> Result<StoredResponse, ServiceError>;
    fn operation(&self, result: &OperationResult) -> Result<StoredResponse, ServiceError>;
}

/// The service's time rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a sender holds a pending operation (the provider timeout and a margin): no
    /// other request, read or sweep sends its call again before it has passed.
    pub lock_window: Duration,
    /// Time a pending payment keeps after `request_date + limit_second`.
    pub expiry_grace: Duration,
}

impl Policy {
    pub fn new(provider_timeout: std::time::Duration, expiry_grace: Duration) -> Self {
        let timeout = Duration::from_std(provider_timeout).unwrap_or(Duration::seconds(15));
        Policy { lock_window: timeout + Duration::seconds(5), expiry_grace }
    }
}

pub struct Service<S, P> {
    pub store: S,
    pub provider: P,
    pub accounts: Accounts,
    pub clock: Clock,
    pub metrics: Metrics,
    pub policy: Policy,
}

impl<S: Store, P: Provider> Service<S, P> {
    /// The one place a transition is committed, with in the same write: the idempotency record
    /// (if any), the event's webhook (the outbox, if the event is merchant-visible) and a due
    /// entry for the sweeper when an operation stays pending (its lock window's end).
    async fn commit(&self, transition: &Transition, idempotency: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        let mut transition = transition.clone();
        transition.event.outbox = crate::webhooks::body::outbox(&transition.payment, &transition.event);
        transition.wake_at = transition
            .operation
            .as_ref()
            .filter(|op| op.status == OperationStatus::Pending)
            .map(|op| op.attempted_at.unwrap_or(op.created_at) + self.policy.lock_window);
        self.store.apply(&transition, idempotency).await?;
        tracing::debug!(
            payment_id = %transition.payment.id,
            version = transition.payment.version,
            event = %transition.event.kind,
            "committed"
        );
        Ok(())
    }

    /// A payment of `account`; another account's is indistinguishable from a missing one.
    async fn payment_of(&self, account: &Account, id: &PaymentId) -> Result<Payment, ServiceError> {
        match self.store.payment(id).await? {
            Some(p) if p.account_id == account.processing_account_id => Ok(p),
            _ => Err(ServiceError::PaymentNotFound),
        }
    }

    /// Expires `payment` if its time is up; the payment as it then stands. A conflict is the
    /// caller's to retry.
    async fn expire_if_due(&self, payment: Payment) -> Result<Payment, ServiceError> {
        let Some(transition) = payment.expire_if_due(self.clock.now()) else { return Ok(payment) };
        self.commit(&transition, None).await?;
        tracing::info!(payment_id = %transition.payment.id, "payment expired");
        Ok(transition.payment)
    }
}
