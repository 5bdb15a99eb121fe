//! One attempt of one delivery: sign with the endpoint's current secret (and the previous one
//! during a rotation), post, and record the attempt under a condition on the attempt count,
//! so a duplicated queue message can neither count twice nor lose an attempt. A crash between
//! the post and its record leaves the message to come back: the same `webhook-id` is sent
//! again (at least once).

use chrono::{DateTime, Utc};

use super::Webhooks;
use crate::store::{StoreError, WebhookStore};
use crate::webhooks::queue::Queue;
use crate::webhooks::retry_schedule::{endpoint_worn_out, next_attempt, random_jitter};
use crate::webhooks::sender::{AttemptOutcome, Message};
use crate::webhooks::signature::signature_header;
use crate::webhooks::{Delivery, DeliveryKey, DeliveryState, Endpoint, EndpointStatus};

/// What the queue does with the message after [`Webhooks::deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing more to do: delete the message.
    Done,
    /// Attempt again at this (app) time: hide the message until then.
    RetryAt(DateTime<Utc>),
}

impl<S: WebhookStore, Q: Queue> Webhooks<S, Q> {
    /// Makes the attempt `key` is due for, if any.
    pub async fn deliver(&self, key: &DeliveryKey) -> Result<Next, StoreError> {
        let now = self.clock.now();
        let Some(delivery) = self.store.delivery(key).await? else { return Ok(Next::Done) };
        if delivery.state != DeliveryState::Pending {
            return Ok(Next::Done);
        }
        if let Some(at) = delivery.next_attempt_at.filter(|at| *at > now) {
            return Ok(Next::RetryAt(at));
        }
        let endpoint = self.store.endpoint(&delivery.account_id, &key.endpoint_id).await?;
        let Some(endpoint) = endpoint.filter(|e| e.status == EndpointStatus::Enabled) else {
            return self.settle(&delivery, DeliveryState::Skipped, None).await;
        };
        let event = self.store.event(&key.payment_id, key.seq).await?;
        let Some(outbox) = event.and_then(|e| e.outbox) else {
            return self.settle(&delivery, DeliveryState::Skipped, None).await;
        };
        let Some(master_key) = &self.master_key else {
            return Err(StoreError::Unavailable("this function has no webhook master key".into()));
        };
        let secrets: Vec<_> = endpoint
            .signing_generations(now)
            .into_iter()
            .map(|g| master_key.endpoint_secret(&endpoint.account_id, endpoint.id.as_str(), g))
            .collect();
        // The timestamp is the wall clock's, which receivers compare with theirs; the
        // schedule runs on the app clock (which `local` can move).
        let timestamp = self.clock.wall().timestamp();
        let signature = signature_header(&secrets, &outbox.id, timestamp, outbox.body.as_bytes());
        let message =
            Message { url: &endpoint.url, id: &outbox.id, timestamp, signature: &signature, body: &outbox.body };
        let outcome = self.sender.post(&message, now).await;
        let next = self.record(&delivery, &endpoint, &outcome, now).await?;
        self.metrics.webhook_attempt(match (&next, outcome.succeeded(), outcome.status) {
            (_, true, _) => "succeeded",
            (_, _, Some(410)) => "gone",
            (Next::RetryAt(_), _, _) => "retrying",
            (Next::Done, _, _) => "failed",
        });
        tracing::info!(
            event_id = %outbox.id,
            endpoint_id = %endpoint.id,
            attempt = delivery.attempts + 1,
            status = outcome.status,
            error = outcome.error,
            next = ?next,
            "webhook attempt"
        );
        Ok(next)
    }

    /// Records one attempt and its consequences for the endpoint.
    async fn record(
        &self,
        delivery: &Delivery,
        endpoint: &Endpoint,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<Next, StoreError> {
        let attempts = delivery.attempts + 1;
        let gone = outcome.status == Some(410);
        let (state, next_at) = if outcome.succeeded() {
            (DeliveryState::Succeeded, None)
        } else if gone {
            (DeliveryState::Failed, None)
        } else {
            match next_attempt(attempts - delivery.schedule_start, now, outcome.retry_after, random_jitter()) {
                Some(at) => (DeliveryState::Pending, Some(at)),
                None => (DeliveryState::Failed, None),
            }
        };
        let updated = Delivery {
            state,
            attempts,
            next_attempt_at: next_at,
            last_status: outcome.status,
            last_error: outcome.error.map(str::to_owned),
            last_attempt_at: Some(now),
            version: delivery.version + 1,
            ..delivery.clone()
        };
        match self.store.update_delivery(&updated, delivery.attempts).await {
            Ok(()) => {}
            // Another copy of the message recorded this attempt first: go by what it wrote.
            Err(StoreError::VersionConflict) => return self.as_stored(&delivery.key).await,
            Err(e) => return Err(e),
        }
        self.note_on_endpoint(endpoint, outcome.succeeded(), gone, now).await?;
        Ok(next_at.map_or(Next::Done, Next::RetryAt))
    }

    /// Resets or counts the endpoint's failures in a row; disables it on a 410 or when worn out.
    async fn note_on_endpoint(
        &self,
        endpoint: &Endpoint,
        succeeded: bool,
        gone: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut current = endpoint.clone();
        for _ in 0..5 {
            let mut next = current.clone();
            if succeeded {
                if next.consecutive_failures == 0 {
                    return Ok(());
                }
                next.consecutive_failures = 0;
                next.failing_since = None;
            } else {
                next.consecutive_failures += 1;
                next.failing_since = next.failing_since.or(Some(now));
                let worn_out = endpoint_worn_out(next.consecutive_failures, next.failing_since, now);
                if (gone || worn_out) && next.status == EndpointStatus::Enabled {
                    next.status = EndpointStatus::Disabled;
                    next.disabled_reason = Some(if gone { "gone" } else { "failing" }.to_owned());
                    tracing::warn!(endpoint_id = %next.id, reason = ?next.disabled_reason, "webhook endpoint disabled");
                    self.metrics.endpoint_disabled(if gone { "gone" } else { "failing" });
                }
            }
            next.version += 1;
            next.updated_at = now;
            match self.store.update_endpoint(&next).await {
                Ok(()) => return Ok(()),
                Err(StoreError::VersionConflict) => {
                    match self.store.endpoint(&endpoint.account_id, &endpoint.id).await? {
                        Some(fresh) => current = fresh,
                        None => return Ok(()),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable("the endpoint kept changing".into()))
    }

    /// Ends a delivery without an attempt (its endpoint is gone or disabled).
    async fn settle(&self, delivery: &Delivery, state: DeliveryState, status: Option<u16>) -> Result<Next, StoreError> {
        let updated = Delivery {
            state,
            next_attempt_at: None,
            last_status: status.or(delivery.last_status),
            version: delivery.version + 1,
            ..delivery.clone()
        };
        match self.store.update_delivery(&updated, delivery.attempts).await {
            Ok(()) => {
                self.metrics.webhook_attempt("skipped");
                Ok(Next::Done)
            }
            Err(StoreError::VersionConflict) => self.as_stored(&delivery.key).await,
            Err(e) => Err(e),
        }
    }

    async fn as_stored(&self, key: &DeliveryKey) -> Result<Next, StoreError> {
        Ok(match self.store.delivery(key).await? {
            Some(d) if d.state == DeliveryState::Pending => d.next_attempt_at.map_or(Next::Done, Next::RetryAt),
            _ => Next::Done,
        })
    }
}
