//! The embedded adapter: one SQLite file (WAL), for laptops and `cargo lambda watch` with no
//! AWS. Same contract as DynamoDB; SQLite transactions stand in for `TransactWriteItems`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

mod ledger;
mod page;
mod schema;
mod webhooks;

use page::NewestFirst;
use schema::{BACKFILL_LISTING, SCHEMA};

use super::item::{EventItem, IdempotencyItem, OperationItem, PaymentItem};
use super::listing::{ListFilter, ListPage, ShardPosition, list_sort_key};
use super::{DueEntry, IdempotencyRecord, NewPaymentRecord, Store, StoreError, SweepCursor, due_minute};
use crate::ids::{PaymentId, TrackId};
use crate::payment::{AuditEvent, Payment, Transition};

/// SQLite store; cheap to clone, one connection behind a mutex, calls run off the async threads.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(unavailable)
}

fn from_json<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Unavailable(format!("unreadable stored item: {e}")))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its folder.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
        }
        let conn = Connection::open(path).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        // A file from before the listing index: its payments are indexed once, as they stand.
        conn.execute_batch(BACKFILL_LISTING).map_err(unavailable)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Unavailable("store lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(unavailable)?
    }
}

/// The payment item alone, without its operations.
fn load_payment_item(conn: &Connection, id: &str) -> Result<Option<PaymentItem>, StoreError> {
    let doc: Option<String> =
        conn.query_row("SELECT doc FROM payments WHERE id = ?1", [id], |r| r.get(0)).optional().map_err(unavailable)?;
    doc.map(|d| from_json(&d)).transpose()
}

fn load_payment(conn: &Connection, id: &str) -> Result<Option<Payment>, StoreError> {
    let Some(payment) = load_payment_item(conn, id)? else { return Ok(None) };
    let mut stmt = conn.prepare("SELECT doc FROM operations WHERE payment_id = ?1").map_err(unavailable)?;
    let docs = stmt
        .query_map([id], |r| r.get::<_, String>(0))
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let operations = docs
        .iter()
        .map(|d| from_json::<OperationItem>(d).and_then(OperationItem::into_operation))
        .collect::<Result<Vec<_>, _>>()?;
    payment.into_payment(operations).map(Some)
}

fn live_idempotency(
    conn: &Connection,
    account_id: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let doc: Option<String> = conn
        .query_row("SELECT doc FROM idempotency WHERE account_id = ?1 AND key = ?2", params![account_id, key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(unavailable)?;
    let record = doc.map(|d| from_json::<IdempotencyItem>(&d).and_then(IdempotencyItem::into_record)).transpose()?;
    Ok(record.filter(|r| r.is_live(now)))
}

fn write_idempotency(conn: &Connection, record: &IdempotencyRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO idempotency (account_id, key, expires_at, doc) VALUES (?1, ?2, ?3, ?4)",
        params![record.account_id, record.key, record.expires_at.timestamp(), to_json(&IdempotencyItem::of(record))?],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn insert_event(conn: &Connection, payment_id: &PaymentId, event: &AuditEvent) -> Result<(), StoreError> {
    let inserted = conn
        .execute(
            "INSERT OR IGNORE INTO events (payment_id, seq, doc) VALUES (?1, ?2, ?3)",
            params![payment_id.as_str(), event.seq as i64, to_json(&EventItem::of(event))?],
        )
        .map_err(unavailable)?;
    if inserted == 0 {
        return Err(StoreError::VersionConflict);
    }
    if event.outbox.is_some() {
        conn.execute(
            "INSERT INTO outbox_pending (payment_id, seq) VALUES (?1, ?2)",
            params![payment_id.as_str(), event.seq as i64],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

fn insert_due(conn: &Connection, at: DateTime<Utc>, entry: &DueEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO due (minute, entry) VALUES (?1, ?2)",
        params![due_minute(at).timestamp(), entry.sort_key()],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn read_event(conn: &Connection, payment_id: &str, seq: u64) -> Result<Option<AuditEvent>, StoreError> {
    let doc: Option<String> = conn
        .query_row("SELECT doc FROM events WHERE payment_id = ?1 AND seq = ?2", params![payment_id, seq as i64], |r| {
            r.get(0)
        })
        .optional()
        .map_err(unavailable)?;
    doc.map(|d| from_json::<EventItem>(&d).and_then(EventItem::into_event)).transpose()
}

impl Store for SqliteStore {
    async fn create_payment(&self, record: &NewPaymentRecord, now: DateTime<Utc>) -> Result<(), StoreError> {
        record.payment.check_invariants().map_err(StoreError::Invariant)?;
        let record = record.clone();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let p = &record.payment;
            if let Some(idem) = &record.idempotency
                && let Some(live) = live_idempotency(&tx, &idem.account_id, &idem.key, now)?
            {
                return Err(StoreError::IdempotencyKeyTaken(Some(Box::new(live))));
            }
            let existing: Option<String> = tx
                .query_row(
                    "SELECT payment_id FROM reference_guards WHERE account_id = ?1 AND merchant_reference = ?2",
                    params![p.account_id, p.merchant_reference],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if let Some(existing) = existing {
                let id = existing.parse().map_err(unavailable)?;
                return Err(StoreError::DuplicateReference(id));
            }
            tx.execute(
                "INSERT INTO payments (id, account_id, version, doc) VALUES (?1, ?2, ?3, ?4)",
                params![p.id.as_str(), p.account_id, p.version as i64, to_json(&PaymentItem::of(p))?],
            )
            .map_err(unavailable)?;
            tx.execute(
                "INSERT INTO reference_guards (account_id, merchant_reference, payment_id) VALUES (?1, ?2, ?3)",
                params![p.account_id, p.merchant_reference, p.id.as_str()],
            )
            .map_err(unavailable)?;
            tx.execute(
                "INSERT INTO track_pointers (track_id, payment_id) VALUES (?1, ?2)",
                params![p.track_id.as_str(), p.id.as_str()],
            )
            .map_err(unavailable)?;
            insert_event(&tx, &p.id, &record.event)?;
            insert_due(&tx, p.pending_until, &DueEntry::Expiry(p.id.clone()))?;
            tx.execute(
                "INSERT INTO payment_list (id, account_id, sort_key, merchant_reference, status) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.id.as_str(), p.account_id, list_sort_key(p.created_at, &p.id), p.merchant_reference, p.status.as_str()],
            )
            .map_err(unavailable)?;
            if let Some(idem) = &record.idempotency {
                write_idempotency(&tx, idem)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
        let id = id.clone();
        self.with(move |conn| load_payment(conn, id.as_str())).await
    }

    async fn payment_by_track(&self, track_id: &TrackId) -> Result<Option<Payment>, StoreError> {
        let track_id = track_id.clone();
        self.with(move |conn| {
            let id: Option<String> = conn
                .query_row("SELECT payment_id FROM track_pointers WHERE track_id = ?1", [track_id.as_str()], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(unavailable)?;
            match id {
                Some(id) => load_payment_item(conn, &id)?.map(|p| p.into_payment(Vec::new())).transpose(),
                None => Ok(None),
            }
        })
        .await
    }

    async fn apply(&self, transition: &Transition, idempotency: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        transition.payment.check_invariants().map_err(StoreError::Invariant)?;
        let transition = transition.clone();
        let idempotency = idempotency.cloned();
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let p = &transition.payment;
            let updated = tx
                .execute(
                    "UPDATE payments SET version = ?1, doc = ?2 WHERE id = ?3 AND version = ?4",
                    params![
                        p.version as i64,
                        to_json(&PaymentItem::of(p))?,
                        p.id.as_str(),
                        transition.expected_version() as i64
                    ],
                )
                .map_err(unavailable)?;
            if updated != 1 {
                return Err(StoreError::VersionConflict);
            }
            if let Some(op) = &transition.operation {
                tx.execute(
                    "INSERT OR REPLACE INTO operations (payment_id, id, doc) VALUES (?1, ?2, ?3)",
                    params![p.id.as_str(), op.id.as_str(), to_json(&OperationItem::of(op))?],
                )
                .map_err(unavailable)?;
            }
            insert_event(&tx, &p.id, &transition.event)?;
            tx.execute("UPDATE payment_list SET status = ?1 WHERE id = ?2", params![p.status.as_str(), p.id.as_str()])
                .map_err(unavailable)?;
            if let Some(entry) = &transition.ledger {
                ledger::insert_entry(&tx, entry)?;
            }
            if let (Some(at), Some(op)) = (transition.wake_at, &transition.operation) {
                insert_due(&tx, at, &DueEntry::Operation(p.id.clone(), op.id.clone()))?;
            }
            if transition.release_reference {
                tx.execute(
                    "DELETE FROM reference_guards WHERE account_id = ?1 AND merchant_reference = ?2 AND payment_id = ?3",
                    params![p.account_id, p.merchant_reference, p.id.as_str()],
                )
                .map_err(unavailable)?;
            }
            if let Some(idem) = &idempotency {
                let now = transition.event.at;
                let live = live_idempotency(&tx, &idem.account_id, &idem.key, now)?;
                if !IdempotencyRecord::may_claim(live.as_ref(), idem) {
                    return Err(StoreError::IdempotencyKeyTaken(live.map(Box::new)));
                }
                write_idempotency(&tx, idem)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn idempotency(
        &self,
        account_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let (account_id, key) = (account_id.to_owned(), key.to_owned());
        self.with(move |conn| live_idempotency(conn, &account_id, &key, now)).await
    }

    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        expected: Option<&IdempotencyRecord>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = record.clone();
        let expected = expected.cloned();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(unavailable)?;
            let current = live_idempotency(&tx, &record.account_id, &record.key, now)?;
            if !IdempotencyRecord::equals_expected(current.as_ref(), expected.as_ref()) {
                return Err(StoreError::IdempotencyKeyTaken(current.map(Box::new)));
            }
            write_idempotency(&tx, &record)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn audit_events(&self, id: &PaymentId) -> Result<Vec<AuditEvent>, StoreError> {
        let id = id.clone();
        self.with(move |conn| {
            let mut stmt =
                conn.prepare("SELECT doc FROM events WHERE payment_id = ?1 ORDER BY seq").map_err(unavailable)?;
            let docs = stmt
                .query_map([id.as_str()], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            docs.iter().map(|d| from_json::<EventItem>(d).and_then(EventItem::into_event)).collect()
        })
        .await
    }

    async fn due(&self, minute: DateTime<Utc>) -> Result<Vec<DueEntry>, StoreError> {
        self.with(move |conn| {
            let mut stmt = conn.prepare("SELECT entry FROM due WHERE minute = ?1").map_err(unavailable)?;
            let keys = stmt
                .query_map([due_minute(minute).timestamp()], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            Ok(keys.iter().filter_map(|k| DueEntry::parse(k)).collect())
        })
        .await
    }

    async fn sweep_cursor(&self) -> Result<Option<SweepCursor>, StoreError> {
        self.with(|conn| {
            let row: Option<(i64, i64)> = conn
                .query_row("SELECT minute, version FROM sweep_cursor WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(unavailable)?;
            Ok(row.and_then(|(minute, version)| {
                Some(SweepCursor { minute: DateTime::from_timestamp(minute, 0)?, version: version as u64 })
            }))
        })
        .await
    }

    async fn save_sweep_cursor(&self, minute: DateTime<Utc>, expected: Option<u64>) -> Result<(), StoreError> {
        self.with(move |conn| {
            let changed = match expected {
                None => conn
                    .execute(
                        "INSERT OR IGNORE INTO sweep_cursor (id, minute, version) VALUES (1, ?1, 1)",
                        [minute.timestamp()],
                    )
                    .map_err(unavailable)?,
                Some(v) => conn
                    .execute(
                        "UPDATE sweep_cursor SET minute = ?1, version = ?2 WHERE id = 1 AND version = ?3",
                        params![minute.timestamp(), v as i64 + 1, v as i64],
                    )
                    .map_err(unavailable)?,
            };
            if changed == 1 { Ok(()) } else { Err(StoreError::VersionConflict) }
        })
        .await
    }

    async fn list_payments(
        &self,
        filter: &ListFilter,
        positions: Option<&[ShardPosition]>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        // One "shard": the embedded store has one index.
        let after = match positions {
            None => None,
            Some([ShardPosition::Start]) => None,
            Some([ShardPosition::After(sk)]) => Some(sk.clone()),
            Some([ShardPosition::Done]) => {
                return Ok(ListPage { payments: Vec::new(), positions: vec![ShardPosition::Done] });
            }
            Some(_) => return Err(StoreError::InvalidPosition),
        };
        let filter = filter.clone();
        self.with(move |conn| {
            let mut sql = String::from(
                "SELECT l.sort_key, p.doc FROM payment_list l JOIN payments p ON p.id = l.id WHERE l.account_id = ?",
            );
            let mut args: Vec<String> = vec![filter.account_id.clone()];
            if let Some(r) = &filter.merchant_reference {
                sql.push_str(" AND l.merchant_reference = ?");
                args.push(r.clone());
            }
            if !filter.statuses.is_empty() {
                sql.push_str(&format!(" AND l.status IN ({})", vec!["?"; filter.statuses.len()].join(", ")));
                args.extend(filter.statuses.iter().map(|s| s.as_str().to_owned()));
            }
            let (docs, position) = NewestFirst { sql, args, sort_key: "l.sort_key" }.read(
                conn,
                filter.created_from,
                filter.created_to,
                after.as_deref(),
                limit,
            )?;
            let payments = docs
                .iter()
                .map(|doc| from_json::<PaymentItem>(doc)?.into_listed_payment())
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ListPage { payments, positions: vec![position] })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::ids::{PaymentId, TrackId};
    use crate::money::Yen;
    use crate::payment::{CaptureMode, NewPayment, Payment};

    /// A file written before the listing index had its payments indexed on open, with the
    /// same sort keys new payments get.
    #[tokio::test]
    async fn an_older_file_is_indexed_on_open() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("old.sqlite");
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let now = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).single().unwrap_or_default() + Duration::milliseconds(678);
        let (payment, event) = Payment::create(
            NewPayment {
                id: PaymentId::generate(),
                account_id: "acct".into(),
                merchant_reference: "order-1".into(),
                track_id: TrackId::generate(),
                amount: Yen::new(100).unwrap_or_else(|e| panic!("{e}")),
                return_url: "https://m.example/r".into(),
                capture_mode: CaptureMode::Manual,
                limit_second: 600,
                expiry_grace: Duration::minutes(30),
                list_shard: 0,
                metadata: crate::payment::Metadata::default(),
            },
            now,
        );
        let expected_key = list_sort_key(now, &payment.id);
        store
            .create_payment(&NewPaymentRecord { payment, event, idempotency: None }, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let forget = store.with(|conn| conn.execute("DELETE FROM payment_list", []).map_err(unavailable)).await;
        assert_eq!(forget.ok(), Some(1));
        drop(store);

        let reopened = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let key = reopened
            .with(|conn| {
                conn.query_row("SELECT sort_key FROM payment_list", [], |r| r.get::<_, String>(0)).map_err(unavailable)
            })
            .await;
        assert_eq!(key.ok(), Some(expected_key));
        let filter = ListFilter {
            account_id: "acct".into(),
            shards: 1,
            merchant_reference: Some("order-1".into()),
            statuses: vec![crate::payment::Status::Pending],
            created_from: None,
            created_to: None,
        };
        let page = reopened.list_payments(&filter, None, 10).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(page.payments.len(), 1);
    }
}
