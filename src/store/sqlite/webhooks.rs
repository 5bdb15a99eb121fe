//! The embedded store's webhook half, and its stand-in for the table's stream (the
//! `outbox_pending` rows written with each merchant-visible event).

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{SqliteStore, from_json, read_event, to_json, unavailable};
use crate::ids::{EndpointId, PaymentId};
use crate::payment::AuditEvent;
use crate::store::StoreError;
use crate::store::webhooks::{DeliveryItem, EndpointItem, WebhookStore};
use crate::webhooks::{Delivery, DeliveryKey, DeliveryState, Endpoint};

fn state_name(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "pending",
        DeliveryState::Succeeded => "succeeded",
        DeliveryState::Failed => "failed",
        DeliveryState::Skipped => "skipped",
    }
}

impl WebhookStore for SqliteStore {
    async fn event(&self, payment: &PaymentId, seq: u64) -> Result<Option<AuditEvent>, StoreError> {
        let payment = payment.clone();
        self.with(move |conn| read_event(conn, payment.as_str(), seq)).await
    }

    async fn create_endpoint(&self, endpoint: &Endpoint, max: usize) -> Result<(), StoreError> {
        let item = EndpointItem::of(endpoint);
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let count: i64 = tx
                .query_row("SELECT COUNT(*) FROM endpoints WHERE account_id = ?1", [&item.account_id], |r| r.get(0))
                .map_err(unavailable)?;
            if count as usize >= max {
                return Err(StoreError::LimitReached);
            }
            tx.execute(
                "INSERT INTO endpoints (account_id, id, version, doc) VALUES (?1, ?2, ?3, ?4)",
                params![item.account_id, item.id, item.version as i64, to_json(&item)?],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn endpoints(&self, account: &str) -> Result<Vec<Endpoint>, StoreError> {
        let account = account.to_owned();
        self.with(move |conn| {
            let mut stmt =
                conn.prepare("SELECT doc FROM endpoints WHERE account_id = ?1 ORDER BY id").map_err(unavailable)?;
            let docs = stmt
                .query_map([account], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            docs.iter().map(|d| from_json::<EndpointItem>(d).and_then(EndpointItem::into_endpoint)).collect()
        })
        .await
    }

    async fn endpoint(&self, account: &str, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let (account, id) = (account.to_owned(), id.clone());
        self.with(move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM endpoints WHERE account_id = ?1 AND id = ?2",
                    params![account, id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            doc.map(|d| from_json::<EndpointItem>(&d).and_then(EndpointItem::into_endpoint)).transpose()
        })
        .await
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let item = EndpointItem::of(endpoint);
        self.with(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE endpoints SET version = ?1, doc = ?2 WHERE account_id = ?3 AND id = ?4 AND version = ?5",
                    params![item.version as i64, to_json(&item)?, item.account_id, item.id, item.version as i64 - 1],
                )
                .map_err(unavailable)?;
            if changed == 1 { Ok(()) } else { Err(StoreError::VersionConflict) }
        })
        .await
    }

    async fn delete_endpoint(&self, account: &str, id: &EndpointId) -> Result<bool, StoreError> {
        let (account, id) = (account.to_owned(), id.clone());
        self.with(move |conn| {
            let n = conn
                .execute("DELETE FROM endpoints WHERE account_id = ?1 AND id = ?2", params![account, id.as_str()])
                .map_err(unavailable)?;
            Ok(n == 1)
        })
        .await
    }

    async fn insert_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let item = DeliveryItem::of(delivery);
        self.with(move |conn| {
            let n = conn
                .execute(
                    "INSERT OR IGNORE INTO deliveries (payment_id, seq, endpoint_id, state, attempts, version, doc) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        item.payment_id,
                        item.seq as i64,
                        item.endpoint_id,
                        state_name(item.state),
                        item.attempts,
                        item.version as i64,
                        to_json(&item)?
                    ],
                )
                .map_err(unavailable)?;
            Ok(n == 1)
        })
        .await
    }

    async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
        let key = key.clone();
        self.with(move |conn| {
            let doc: Option<String> = conn
                .query_row(
                    "SELECT doc FROM deliveries WHERE payment_id = ?1 AND seq = ?2 AND endpoint_id = ?3",
                    params![key.payment_id.as_str(), key.seq as i64, key.endpoint_id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            doc.map(|d| from_json::<DeliveryItem>(&d).and_then(DeliveryItem::into_delivery)).transpose()
        })
        .await
    }

    async fn update_delivery(&self, delivery: &Delivery, expected_attempts: u32) -> Result<(), StoreError> {
        let item = DeliveryItem::of(delivery);
        self.with(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE deliveries SET state = ?1, attempts = ?2, version = ?3, doc = ?4 \
                     WHERE payment_id = ?5 AND seq = ?6 AND endpoint_id = ?7 AND attempts = ?8 AND version = ?9",
                    params![
                        state_name(item.state),
                        item.attempts,
                        item.version as i64,
                        to_json(&item)?,
                        item.payment_id,
                        item.seq as i64,
                        item.endpoint_id,
                        expected_attempts,
                        item.version as i64 - 1
                    ],
                )
                .map_err(unavailable)?;
            if changed == 1 { Ok(()) } else { Err(StoreError::VersionConflict) }
        })
        .await
    }

    async fn deliveries(&self, payment: &PaymentId) -> Result<Vec<Delivery>, StoreError> {
        let payment = payment.clone();
        self.with(move |conn| {
            let mut stmt = conn
                .prepare("SELECT doc FROM deliveries WHERE payment_id = ?1 ORDER BY seq, endpoint_id")
                .map_err(unavailable)?;
            let docs = stmt
                .query_map([payment.as_str()], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            docs.iter().map(|d| from_json::<DeliveryItem>(d).and_then(DeliveryItem::into_delivery)).collect()
        })
        .await
    }
}

impl SqliteStore {
    /// Outbox events not yet dispatched, oldest first (the local stand-in for the stream).
    pub async fn undispatched(&self, limit: usize) -> Result<Vec<(PaymentId, AuditEvent)>, StoreError> {
        self.with(move |conn| {
            let mut stmt = conn
                .prepare("SELECT payment_id, seq FROM outbox_pending ORDER BY rowid LIMIT ?1")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([limit as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            let mut events = Vec::new();
            for (payment, seq) in rows {
                let id: PaymentId = payment.parse().map_err(unavailable)?;
                if let Some(event) = read_event(conn, &payment, seq as u64)? {
                    events.push((id, event));
                }
            }
            Ok(events)
        })
        .await
    }

    /// Marks an outbox event dispatched.
    pub async fn mark_dispatched(&self, payment: &PaymentId, seq: u64) -> Result<(), StoreError> {
        let payment = payment.clone();
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM outbox_pending WHERE payment_id = ?1 AND seq = ?2",
                params![payment.as_str(), seq as i64],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    /// Every delivery still waiting for an attempt (to requeue them when `local` starts).
    pub async fn pending_deliveries(&self) -> Result<Vec<Delivery>, StoreError> {
        self.with(|conn| {
            let mut stmt = conn.prepare("SELECT doc FROM deliveries WHERE state = 'pending'").map_err(unavailable)?;
            let docs = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            docs.iter().map(|d| from_json::<DeliveryItem>(d).and_then(DeliveryItem::into_delivery)).collect()
        })
        .await
    }
}
