//! The webhook half of the persistence port: endpoints (`ACCOUNT#<account>` / `WHEP#<id>`)
//! and deliveries (`PAYMENT#<id>` / `DLV#<seq>#<endpointId>`), with their stored items.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::ids::{EndpointId, PaymentId};
use crate::payment::{AuditEvent, EventKind};
use crate::webhooks::{Delivery, DeliveryKey, DeliveryState, Endpoint, EndpointStatus};

pub trait WebhookStore: Send + Sync + 'static {
    /// One audit event (with its outbox), if it exists.
    fn event(
        &self,
        payment: &PaymentId,
        seq: u64,
    ) -> impl Future<Output = Result<Option<AuditEvent>, StoreError>> + Send;

    /// Adds an endpoint unless the account already has `max` (`LimitReached`).
    fn create_endpoint(&self, endpoint: &Endpoint, max: usize) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The account's endpoints, oldest first.
    fn endpoints(&self, account: &str) -> impl Future<Output = Result<Vec<Endpoint>, StoreError>> + Send;

    fn endpoint(
        &self,
        account: &str,
        id: &EndpointId,
    ) -> impl Future<Output = Result<Option<Endpoint>, StoreError>> + Send;

    /// Writes `endpoint` if the stored one is still at `endpoint.version - 1` (`VersionConflict`).
    fn update_endpoint(&self, endpoint: &Endpoint) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes an endpoint; whether it existed.
    fn delete_endpoint(&self, account: &str, id: &EndpointId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Adds a delivery unless one exists for its key; whether it was added.
    fn insert_delivery(&self, delivery: &Delivery) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn delivery(&self, key: &DeliveryKey) -> impl Future<Output = Result<Option<Delivery>, StoreError>> + Send;

    /// Writes `delivery` if the stored one still has `expected_attempts` attempts and is at
    /// `delivery.version - 1` (`VersionConflict`): a duplicated message cannot count twice.
    fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every delivery of a payment's events.
    fn deliveries(&self, payment: &PaymentId) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;
}

/// The endpoint item. No secret: it is derived from the master key and `generation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointItem {
    #[serde(rename = "id")]
    pub id: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "url")]
    pub url: String,
    #[serde(rename = "events")]
    pub events: Vec<EventKind>,
    #[serde(rename = "status")]
    pub status: EndpointStatus,
    #[serde(rename = "disabledReason", default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(rename = "generation")]
    pub generation: u32,
    #[serde(rename = "previousUntil", default, skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<DateTime<Utc>>,
    #[serde(rename = "consecutiveFailures")]
    pub consecutive_failures: u32,
    #[serde(rename = "failingSince", default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "updatedAt")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "version")]
    pub version: u64,
    #[serde(rename = "createdBy", default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(rename = "rotatedBy", default, skip_serializing_if = "Option::is_none")]
    pub rotated_by: Option<String>,
}

impl EndpointItem {
    pub fn of(e: &Endpoint) -> Self {
        EndpointItem {
            id: e.id.to_string(),
            account_id: e.account_id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            status: e.status,
            disabled_reason: e.disabled_reason.clone(),
            generation: e.generation,
            previous_until: e.previous_until,
            consecutive_failures: e.consecutive_failures,
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
            version: e.version,
            created_by: e.created_by.clone(),
            rotated_by: e.rotated_by.clone(),
        }
    }

    pub fn into_endpoint(self) -> Result<Endpoint, StoreError> {
        Ok(Endpoint {
            id: self.id.parse().map_err(|_| StoreError::Unavailable("unreadable stored endpoint id".into()))?,
            account_id: self.account_id,
            url: self.url,
            events: self.events,
            status: self.status,
            disabled_reason: self.disabled_reason,
            generation: self.generation,
            previous_until: self.previous_until,
            consecutive_failures: self.consecutive_failures,
            failing_since: self.failing_since,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            created_by: self.created_by,
            rotated_by: self.rotated_by,
        })
    }
}

/// The delivery item; `expiresAt` (epoch seconds) is the table's TTL: 30 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryItem {
    #[serde(rename = "paymentId")]
    pub payment_id: String,
    #[serde(rename = "seq")]
    pub seq: u64,
    #[serde(rename = "endpointId")]
    pub endpoint_id: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "eventId")]
    pub event_id: String,
    #[serde(rename = "eventType")]
    pub event_type: EventKind,
    #[serde(rename = "state")]
    pub state: DeliveryState,
    #[serde(rename = "attempts")]
    pub attempts: u32,
    #[serde(rename = "scheduleStart")]
    pub schedule_start: u32,
    #[serde(rename = "nextAttemptAt", default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(rename = "lastStatus", default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(rename = "lastError", default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(rename = "lastAttemptAt", default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "version")]
    pub version: u64,
    #[serde(rename = "expiresAt")]
    pub expires_at_s: i64,
}

impl DeliveryItem {
    pub fn of(d: &Delivery) -> Self {
        DeliveryItem {
            payment_id: d.key.payment_id.to_string(),
            seq: d.key.seq,
            endpoint_id: d.key.endpoint_id.to_string(),
            account_id: d.account_id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type,
            state: d.state,
            attempts: d.attempts,
            schedule_start: d.schedule_start,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at,
            created_at: d.created_at,
            version: d.version,
            expires_at_s: d.expires_at().timestamp(),
        }
    }

    pub fn into_delivery(self) -> Result<Delivery, StoreError> {
        let unreadable = || StoreError::Unavailable("unreadable stored delivery".into());
        Ok(Delivery {
            key: DeliveryKey {
                payment_id: self.payment_id.parse().map_err(|_| unreadable())?,
                seq: self.seq,
                endpoint_id: self.endpoint_id.parse().map_err(|_| unreadable())?,
            },
            account_id: self.account_id,
            event_id: self.event_id,
            event_type: self.event_type,
            state: self.state,
            attempts: self.attempts,
            schedule_start: self.schedule_start,
            next_attempt_at: self.next_attempt_at,
            last_status: self.last_status,
            last_error: self.last_error,
            last_attempt_at: self.last_attempt_at,
            created_at: self.created_at,
            version: self.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn names(value: &impl Serialize) -> Vec<String> {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(m)) => {
                let mut k: Vec<String> = m.keys().cloned().collect();
                k.sort();
                k
            }
            _ => Vec::new(),
        }
    }

    #[test]
    fn attribute_names_are_pinned_and_items_round_trip() {
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20000);
        let endpoint = Endpoint {
            id: EndpointId::generate(),
            account_id: "acct".into(),
            url: "https://m.example/h".into(),
            events: vec![EventKind::PaymentCaptured],
            status: EndpointStatus::Disabled,
            disabled_reason: Some("gone".into()),
            generation: 2,
            previous_until: Some(now),
            consecutive_failures: 3,
            failing_since: Some(now),
            created_at: now,
            updated_at: now,
            version: 4,
            created_by: Some("c".into()),
            rotated_by: Some("r".into()),
        };
        assert_eq!(
            names(&EndpointItem::of(&endpoint)),
            [
                "accountId",
                "consecutiveFailures",
                "createdAt",
                "createdBy",
                "disabledReason",
                "events",
                "failingSince",
                "generation",
                "id",
                "previousUntil",
                "rotatedBy",
                "status",
                "updatedAt",
                "url",
                "version"
            ]
        );
        assert_eq!(EndpointItem::of(&endpoint).into_endpoint().ok(), Some(endpoint.clone()));
        let delivery = Delivery {
            key: DeliveryKey { payment_id: PaymentId::generate(), seq: 3, endpoint_id: endpoint.id.clone() },
            account_id: "acct".into(),
            event_id: "evt_x_3".into(),
            event_type: EventKind::PaymentCaptured,
            state: DeliveryState::Pending,
            attempts: 2,
            schedule_start: 0,
            next_attempt_at: Some(now),
            last_status: Some(500),
            last_error: Some("timeout".into()),
            last_attempt_at: Some(now),
            created_at: now,
            version: 3,
        };
        assert_eq!(
            names(&DeliveryItem::of(&delivery)),
            [
                "accountId",
                "attempts",
                "createdAt",
                "endpointId",
                "eventId",
                "eventType",
                "expiresAt",
                "lastAttemptAt",
                "lastError",
                "lastStatus",
                "nextAttemptAt",
                "paymentId",
                "scheduleStart",
                "seq",
                "state",
                "version"
            ]
        );
        assert_eq!(DeliveryItem::of(&delivery).expires_at_s, (now + Duration::days(30)).timestamp());
        assert_eq!(DeliveryItem::of(&delivery).into_delivery().ok(), Some(delivery));
    }
}
