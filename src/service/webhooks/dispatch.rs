//! Dispatch: a new outbox event becomes one delivery per subscribed endpoint and one queue
//! message each. The delivery insert is conditional, so a replayed stream record (or outbox
//! row) makes no second delivery; a delivery left unsent by a dispatch that died before its
//! message went out is sent again.

use super::Webhooks;
use crate::ids::PaymentId;
use crate::payment::AuditEvent;
use crate::store::{StoreError, WebhookStore};
use crate::webhooks::queue::{Queue, QueueError};
use crate::webhooks::{Delivery, DeliveryKey, DeliveryState, EndpointStatus};

/// What one event's dispatch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dispatched {
    /// Deliveries written and enqueued.
    pub enqueued: usize,
    /// Deliveries written as skipped (the endpoint is disabled).
    pub skipped: usize,
    /// Deliveries that already existed (a replay).
    pub existing: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl<S: WebhookStore, Q: Queue> Webhooks<S, Q> {
    /// Dispatches one audit event of `payment_id` (events without an outbox are ignored).
    pub async fn dispatch(&self, payment_id: &PaymentId, event: &AuditEvent) -> Result<Dispatched, DispatchError> {
        let mut done = Dispatched::default();
        let Some(outbox) = &event.outbox else { return Ok(done) };
        let now = self.clock.now();
        for endpoint in self.store.endpoints(&outbox.account_id).await? {
            if !endpoint.subscribes_to(outbox.kind) {
                continue;
            }
            let enabled = endpoint.status == EndpointStatus::Enabled;
            let key = DeliveryKey { payment_id: payment_id.clone(), seq: event.seq, endpoint_id: endpoint.id.clone() };
            let state = if enabled { DeliveryState::Pending } else { DeliveryState::Skipped };
            let delivery = Delivery::first(key, outbox, state, now);
            if self.store.insert_delivery(&delivery).await? {
                if enabled {
                    self.queue.send(&delivery.key, chrono::Duration::zero()).await?;
                    done.enqueued += 1;
                } else {
                    done.skipped += 1;
                }
                continue;
            }
            done.existing += 1;
            // A replay. If the first dispatch wrote the delivery but died before its message
            // went out, nothing would ever send it: a delivery never attempted is enqueued
            // again (the attempt count's condition keeps a duplicate from counting twice).
            if let Some(existing) = self.store.delivery(&delivery.key).await?
                && existing.state == DeliveryState::Pending
                && existing.attempts == 0
            {
                self.queue.send(&existing.key, chrono::Duration::zero()).await?;
            }
        }
        Ok(done)
    }
}
