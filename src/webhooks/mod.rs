//! Merchant webhooks (DESIGN §8): outcomes pushed to the merchant, signed, at least once.
//!
//! * the outbox: a merchant-visible audit event carries its webhook ([`body::outbox`]), written
//!   with the change it reports;
//! * [`dispatch`]: for each new outbox event, one delivery item per subscribed endpoint
//!   (a conditional insert: a replayed event makes no second one) and one queue message each;
//! * [`deliver`]: one attempt of one delivery: sign, post through the vetted client, record the
//!   attempt under a condition on the attempt count, and say when to try again;
//! * [`endpoints`]: the merchant's endpoints (at most 5), their secrets derived from a master
//!   key ([`signature`]), rotation, enabling, and redelivery of an event.
//!
//! On AWS the table's stream feeds `dispatch` and an SQS queue feeds `deliver`; in `local` the
//! embedded store's outbox table and an in-process queue on the app clock do
//! ([`crate::background`]).

pub mod address;
pub mod body;
pub mod queue;
pub mod retry_schedule;
pub mod sender;
pub mod signature;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EndpointId, PaymentId};
use crate::payment::EventKind;

pub use address::AddressPolicy;
pub use queue::Queue;
pub use sender::Sender;
pub use signature::MasterKey;

/// At most this many endpoints per account.
pub const MAX_ENDPOINTS: usize = 5;
/// A webhook body is at most this long.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// After a rotation, the previous secret keeps signing beside the new one this long.
pub fn rotation_overlap() -> Duration {
    Duration::hours(24)
}
/// A delivery item is kept this long (its TTL).
pub fn delivery_retention() -> Duration {
    Duration::days(30)
}

/// The merchant-visible event types, in DESIGN §8's order.
pub fn event_types() -> impl Iterator<Item = EventKind> {
    EventKind::ALL.into_iter().filter(|k| k.is_merchant_visible())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Enabled,
    Disabled,
}

/// A merchant's webhook endpoint. Its secret is not stored: it is derived from the master key
/// and `generation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub account_id: String,
    pub url: String,
    /// Subscribed types; empty means every type.
    pub events: Vec<EventKind>,
    pub status: EndpointStatus,
    /// Why it was disabled (`gone`: a 410; `failing`: every attempt failed for 5 days).
    pub disabled_reason: Option<String>,
    pub generation: u32,
    /// Until when the previous generation's secret signs beside the current one.
    pub previous_until: Option<DateTime<Utc>>,
    /// Failed attempts in a row, and when the first of them happened.
    pub consecutive_failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; the store's optimistic lock.
    pub version: u64,
    /// The fingerprint of the keyed request (the idempotency key and the request's hash) that
    /// created it, and of the last that rotated its secret: a retry of either, whatever
    /// became of the first attempt's answer, finds its work done instead of doing it twice.
    pub created_by: Option<String>,
    pub rotated_by: Option<String>,
}

impl Endpoint {
    pub fn subscribes_to(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }

    /// The generations whose secrets sign at `now`: the current one, and the previous one
    /// during a rotation's overlap.
    pub fn signing_generations(&self, now: DateTime<Utc>) -> Vec<u32> {
        let mut generations = vec![self.generation];
        if self.generation > 1 && self.previous_until.is_some_and(|until| now < until) {
            generations.push(self.generation - 1);
        }
        generations
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    Succeeded,
    /// Every attempt of the schedule failed.
    Failed,
    /// Not sent: the endpoint was disabled or deleted.
    Skipped,
}

/// Names one delivery: an event (payment and sequence) to one endpoint. The queue's message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryKey {
    pub payment_id: PaymentId,
    pub seq: u64,
    pub endpoint_id: EndpointId,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub key: DeliveryKey,
    pub account_id: String,
    pub event_id: String,
    pub event_type: EventKind,
    pub state: DeliveryState,
    /// Attempts made, over every redelivery (the condition of each record).
    pub attempts: u32,
    /// The value of `attempts` when the current schedule began (a redelivery starts a new one).
    pub schedule_start: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    /// Why the last attempt failed without a status (`timeout`, `refused_address`, ...).
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Incremented by every change.
    pub version: u64,
}

impl Delivery {
    /// A delivery of `outbox` (event `key.seq` of `key.payment_id`) never attempted: due at
    /// once if `Pending`, or `Skipped` from the start.
    pub fn first(key: DeliveryKey, outbox: &crate::payment::Outbox, state: DeliveryState, now: DateTime<Utc>) -> Self {
        Delivery {
            key,
            account_id: outbox.account_id.clone(),
            event_id: outbox.id.clone(),
            event_type: outbox.kind,
            state,
            attempts: 0,
            schedule_start: 0,
            next_attempt_at: (state == DeliveryState::Pending).then_some(now),
            last_status: None,
            last_error: None,
            last_attempt_at: None,
            created_at: now,
            version: 1,
        }
    }

    /// When the store may forget it.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.created_at + delivery_retention()
    }
}
