//! A payment's events with their deliveries (`GET /v1/payments/{id}/events`), and an event sent
//! again with its original id (`POST /v1/events/{eventId}/redeliver`): each delivery of it
//! starts a new schedule.

use super::Webhooks;
use super::endpoints::EndpointError;
use crate::ids::PaymentId;
use crate::payment::{AuditEvent, Outbox};
use crate::store::{StoreError, WebhookStore};
use crate::webhooks::queue::Queue;
use crate::webhooks::{Delivery, DeliveryKey, DeliveryState, EndpointStatus};

/// An event of a payment with its deliveries.
#[derive(Debug, Clone)]
pub struct EventWithDeliveries {
    pub event: AuditEvent,
    pub outbox: Outbox,
    pub deliveries: Vec<Delivery>,
}

impl<S: WebhookStore, Q: Queue> Webhooks<S, Q> {
    /// The merchant-visible events of `payment` (already known to be `account`'s), each with
    /// its deliveries.
    pub async fn events_of(
        &self,
        events: Vec<AuditEvent>,
        payment: &PaymentId,
    ) -> Result<Vec<EventWithDeliveries>, EndpointError> {
        let deliveries = self.store.deliveries(payment).await?;
        Ok(events
            .into_iter()
            .filter_map(|event| {
                let outbox = event.outbox.clone()?;
                let mine = deliveries.iter().filter(|d| d.key.seq == event.seq).cloned().collect();
                Some(EventWithDeliveries { event, outbox, deliveries: mine })
            })
            .collect())
    }

    /// Sends event `event_id` of `account` again, with its original id, to every enabled
    /// endpoint subscribed to its type: each delivery starts a new schedule. How many were
    /// enqueued.
    pub async fn redeliver(&self, account: &str, event_id: &str) -> Result<usize, EndpointError> {
        let (payment, seq) = Outbox::parse_event_id(event_id).ok_or(EndpointError::EventNotFound)?;
        let event = self.store.event(&payment, seq).await?;
        let Some(outbox) = event.and_then(|e| e.outbox).filter(|o| o.account_id == account) else {
            return Err(EndpointError::EventNotFound);
        };
        let now = self.clock.now();
        let mut enqueued = 0;
        for endpoint in self.store.endpoints(account).await? {
            if endpoint.status != EndpointStatus::Enabled || !endpoint.subscribes_to(outbox.kind) {
                continue;
            }
            let key = DeliveryKey { payment_id: payment.clone(), seq, endpoint_id: endpoint.id.clone() };
            let restarted = match self.store.delivery(&key).await? {
                Some(d) => {
                    let fresh = Delivery {
                        state: DeliveryState::Pending,
                        schedule_start: d.attempts,
                        next_attempt_at: Some(now),
                        version: d.version + 1,
                        ..d.clone()
                    };
                    self.store.update_delivery(&fresh, d.attempts).await.map(|()| true)
                }
                None => {
                    let fresh = Delivery::first(key.clone(), &outbox, DeliveryState::Pending, now);
                    self.store.insert_delivery(&fresh).await
                }
            };
            match restarted {
                Ok(true) => {}
                // Changed under us (an attempt is being recorded): that attempt stands.
                Ok(false) | Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(e.into()),
            }
            self.queue.send(&key, chrono::Duration::zero()).await.map_err(|_| EndpointError::Queue)?;
            enqueued += 1;
        }
        tracing::info!(event_id = %outbox.id, enqueued, "webhook event redelivered");
        Ok(enqueued)
    }
}
