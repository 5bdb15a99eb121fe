//! The webhook decisions (DESIGN §8), on the model of [`crate::webhooks`]:
//!
//! * [`dispatch`]: for each new outbox event, one delivery item per subscribed endpoint
//!   (a conditional insert: a replayed event makes no second one) and one queue message each;
//! * [`deliver`]: one attempt of one delivery: sign, post through the vetted client, record the
//!   attempt under a condition on the attempt count, and say when to try again (the schedule is
//!   [`crate::webhooks::retry_schedule`]);
//! * [`endpoints`]: the merchant's endpoints (at most 5), their secrets derived from the master
//!   key, rotation and enabling;
//! * [`redeliver`]: a payment's events with their deliveries, and an event sent again with its
//!   original id.
//!
//! On AWS the table's stream feeds `dispatch` and an SQS queue feeds `deliver`
//! ([`crate::jobs`]); in `local` the embedded store's outbox table and an in-process queue on
//! the app clock do.

pub mod deliver;
pub mod dispatch;
pub mod endpoints;
pub mod redeliver;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::webhooks::{MasterKey, Sender};

/// The webhook machinery: the store, the master key, the vetted sender, the queue and the
/// clock.
pub struct Webhooks<S, Q> {
    pub store: S,
    pub queue: Q,
    pub sender: Sender,
    /// The key endpoint secrets derive from; `None` in the functions that never sign
    /// (`dispatch`), which are not given it.
    pub master_key: Option<MasterKey>,
    pub clock: Clock,
    pub metrics: Metrics,
}
