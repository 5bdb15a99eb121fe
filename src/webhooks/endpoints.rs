//! A merchant's endpoints: register (at most 5, URL rules of [`super::address`]), list, read,
//! delete, rotate the secret (the previous one signs beside it for 24 h), enable again; and an
//! event's redelivery with its original id.

use chrono::{DateTime, Utc};

use super::address::{UrlError, validate_url};
use super::{
    Delivery, DeliveryKey, DeliveryState, Endpoint, EndpointStatus, MAX_ENDPOINTS, Queue, Webhooks, rotation_overlap,
};
use crate::ids::{EndpointId, PaymentId};
use crate::payment::{AuditEvent, EventKind, Outbox};
use crate::store::{StoreError, WebhookStore};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("url {0}")]
    Url(UrlError),
    #[error("an account has at most 5 webhook endpoints")]
    LimitReached,
    #[error("no such webhook endpoint")]
    NotFound,
    #[error("no such event")]
    EventNotFound,
    #[error("the endpoint kept changing")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
    #[error("the queue is unavailable")]
    Queue,
    #[error("this function has no webhook master key")]
    NoMasterKey,
}

impl From<StoreError> for EndpointError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LimitReached => EndpointError::LimitReached,
            other => EndpointError::Store(other),
        }
    }
}

/// An endpoint with its current secret, as a create or a rotation answers it.
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub endpoint: Endpoint,
    pub secret: String,
}

/// An event of a payment with its deliveries.
#[derive(Debug, Clone)]
pub struct EventWithDeliveries {
    pub event: AuditEvent,
    pub outbox: Outbox,
    pub deliveries: Vec<Delivery>,
}

impl<S: WebhookStore, Q: Queue> Webhooks<S, Q> {
    pub async fn create_endpoint(
        &self,
        account: &str,
        url: &str,
        events: Vec<EventKind>,
        request: Option<String>,
    ) -> Result<WithSecret, EndpointError> {
        let url = validate_url(url, self.sender.policy()).map_err(EndpointError::Url)?;
        self.master_key.as_ref().ok_or(EndpointError::NoMasterKey)?;
        if let Some(request) = &request {
            // An earlier attempt of this very request may have written it (at most 5 to look at).
            let endpoints = self.store.endpoints(account).await?;
            if let Some(done) = endpoints.into_iter().find(|e| e.created_by.as_ref() == Some(request)) {
                return self.with_secret(done);
            }
        }
        let now = self.clock.now();
        let mut events = events;
        events.sort_by_key(|k| k.as_str());
        events.dedup();
        let endpoint = Endpoint {
            id: EndpointId::generate(),
            account_id: account.to_owned(),
            url: url.to_string(),
            events,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            generation: 1,
            previous_until: None,
            consecutive_failures: 0,
            failing_since: None,
            created_at: now,
            updated_at: now,
            version: 1,
            created_by: request,
            rotated_by: None,
        };
        self.store.create_endpoint(&endpoint, MAX_ENDPOINTS).await?;
        tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint registered");
        self.with_secret(endpoint)
    }

    fn with_secret(&self, endpoint: Endpoint) -> Result<WithSecret, EndpointError> {
        let key = self.master_key.as_ref().ok_or(EndpointError::NoMasterKey)?;
        let secret = key.endpoint_secret(&endpoint.account_id, endpoint.id.as_str(), endpoint.generation);
        Ok(WithSecret { secret: secret.reveal(), endpoint })
    }

    pub async fn endpoints(&self, account: &str) -> Result<Vec<Endpoint>, EndpointError> {
        Ok(self.store.endpoints(account).await?)
    }

    pub async fn endpoint(&self, account: &str, id: &EndpointId) -> Result<Endpoint, EndpointError> {
        self.store.endpoint(account, id).await?.ok_or(EndpointError::NotFound)
    }

    pub async fn delete_endpoint(&self, account: &str, id: &EndpointId) -> Result<(), EndpointError> {
        if self.store.delete_endpoint(account, id).await? { Ok(()) } else { Err(EndpointError::NotFound) }
    }

    /// A new secret; the previous one keeps signing for 24 hours. A keyed request whose earlier
    /// attempt rotated it already answers that rotation's secret and rotates nothing.
    pub async fn rotate_secret(
        &self,
        account: &str,
        id: &EndpointId,
        request: Option<String>,
    ) -> Result<WithSecret, EndpointError> {
        let endpoint = self
            .change(account, id, |e, now| {
                if request.is_some() && e.rotated_by == request {
                    return false;
                }
                e.generation += 1;
                e.previous_until = Some(now + rotation_overlap());
                e.rotated_by = request.clone();
                true
            })
            .await?;
        tracing::info!(endpoint_id = %endpoint.id, generation = endpoint.generation, "webhook secret rotated");
        self.with_secret(endpoint)
    }

    /// Turns a disabled endpoint back on, its failure count cleared.
    pub async fn enable(&self, account: &str, id: &EndpointId) -> Result<Endpoint, EndpointError> {
        self.change(account, id, |e, _| {
            e.status = EndpointStatus::Enabled;
            e.disabled_reason = None;
            e.consecutive_failures = 0;
            e.failing_since = None;
            true
        })
        .await
    }

    /// Reads the endpoint, `edit`s it (which answers whether there is anything to change)
    /// and writes it conditioned on its version, again from the read if it moved meanwhile.
    async fn change(
        &self,
        account: &str,
        id: &EndpointId,
        edit: impl Fn(&mut Endpoint, DateTime<Utc>) -> bool,
    ) -> Result<Endpoint, EndpointError> {
        for _ in 0..5 {
            let mut endpoint = self.endpoint(account, id).await?;
            let now = self.clock.now();
            if !edit(&mut endpoint, now) {
                return Ok(endpoint);
            }
            endpoint.version += 1;
            endpoint.updated_at = now;
            match self.store.update_endpoint(&endpoint).await {
                Ok(()) => return Ok(endpoint),
                Err(StoreError::VersionConflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EndpointError::Conflict)
    }

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
