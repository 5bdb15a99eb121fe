//! A merchant's endpoints: register (at most 5, URL rules of [`crate::webhooks::address`]),
//! list, read, delete, rotate the secret (the previous one signs beside it for 24 h), enable
//! again.

use chrono::{DateTime, Utc};

use super::Webhooks;
use crate::ids::EndpointId;
use crate::payment::EventKind;
use crate::store::{StoreError, WebhookStore};
use crate::webhooks::address::{UrlError, validate_url};
use crate::webhooks::queue::Queue;
use crate::webhooks::{Endpoint, EndpointStatus, MAX_ENDPOINTS, rotation_overlap};

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
}
