//! The DynamoDB adapter: one table, the item layout of DESIGN §5.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | payment | `PAYMENT#<id>` | `PAYMENT` |
//! | operation | `PAYMENT#<id>` | `OP#<opId>` |
//! | audit event | `PAYMENT#<id>` | `EVENT#<seq, 10 digits>` |
//! | reference guard | `MREF#<account>#<merchantReference>` | `MREF` |
//! | track pointer | `TRACK#<trackId>` | `TRACK` (a copy of the payment item, see below) |
//! | idempotency record | `IDEM#<account>#<key>` | `IDEM` |
//! | due bucket entry | `DUE#<yyyyMMddHHmm>#<shard 0..7>` | `PAYMENT#<id>` or `OP#<paymentId>#<opId>` |
//! | sweep cursor | `SWEEP` | `CURSOR` |
//! | webhook endpoint | `ACCOUNT#<account>` | `WHEP#<endpointId>` (and `COUNT#WHEP`, their number) |
//! | webhook delivery | `PAYMENT#<id>` | `DLV#<seq, 10 digits>#<endpointId>` |
//!
//! Attributes are the domain fields in camelCase, amounts as numbers; `expiresAt` is epoch
//! seconds (the table's TTL attribute). Create is one `TransactWriteItems`; every later change
//! is one `TransactWriteItems` conditioned on the payment's `version`. A payment and its
//! operations are read with one `Query` (`SK >= "OP#"` skips the audit events).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};

mod attributes;
pub mod ledger;
pub mod listing;
mod table;
mod webhooks;

use attributes::{Item, item_of, key, n, s, unavailable, value_of};

use super::item::{EventItem, IdempotencyItem, OperationItem, PaymentItem};
use super::{DUE_SHARDS, DueEntry, IdempotencyRecord, NewPaymentRecord, Store, StoreError, SweepCursor, due_minute};
use crate::ids::{PaymentId, TrackId};
use crate::payment::{AuditEvent, Operation, Payment, Transition};

/// The table's key schema and TTL attribute: the one statement of them in code. The SAM
/// template mirrors it.
pub const PARTITION_KEY: &str = "PK";
pub const SORT_KEY: &str = "SK";
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// How often a transaction cancelled only by a concurrent transaction is retried.
const CONFLICT_RETRIES: u32 = 16;

/// [`IdempotencyRecord::is_live`] negated, as a condition: the key has no live record.
pub const NOT_LIVE_CONDITION: &str = "attribute_not_exists(PK) OR expiresAt <= :now";
/// [`IdempotencyRecord::may_claim`] as a condition (`:op` = the claim's operation id).
pub const CLAIM_CONDITION: &str = "attribute_not_exists(PK) OR expiresAt <= :now OR operationId = :op";

/// [`IdempotencyRecord::equals_expected`] (with a live `expected`) as a condition and its values.
pub fn expected_condition(
    expected: &IdempotencyRecord,
    now: DateTime<Utc>,
) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    let state = match expected.state {
        super::IdempotencyState::InProgress => "in_progress",
        super::IdempotencyState::Completed => "completed",
    };
    let mut values = vec![(":now", n(now.timestamp())), (":state", s(state))];
    let condition = match expected.locked_until {
        Some(until) => {
            values.push((":locked", n(until.timestamp_millis())));
            "expiresAt > :now AND #state = :state AND lockedUntil = :locked"
        }
        None => "expiresAt > :now AND #state = :state AND attribute_not_exists(lockedUntil)",
    };
    (condition, values)
}

/// What an item of a transaction is there for: cancellation reasons are read by role, not by
/// position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Payment,
    ReferenceGuard,
    TrackPointer,
    Event,
    Operation,
    ReleaseReference,
    Idempotency,
    Due,
    Ledger,
    Totals,
}

/// A transaction's items, each with its role.
#[derive(Default)]
struct Transaction {
    items: Vec<TransactWriteItem>,
    roles: Vec<Role>,
}

impl Transaction {
    fn push(&mut self, role: Role, item: TransactWriteItem) {
        self.items.push(item);
        self.roles.push(role);
    }
}

/// Why a transaction was cancelled, read by role.
struct Cancelled {
    reasons: Vec<(Role, CancellationReason)>,
}

impl Cancelled {
    fn of(roles: &[Role], e: &SdkError<TransactWriteItemsError>) -> Option<Self> {
        let reasons = cancellation_reasons(e)?;
        Some(Cancelled { reasons: roles.iter().copied().zip(reasons).collect() })
    }

    /// The reason of the item with `role` if its condition failed.
    fn failed(&self, role: Role) -> Option<&CancellationReason> {
        self.reasons
            .iter()
            .find(|(r, reason)| *r == role && reason.code() == Some("ConditionalCheckFailed"))
            .map(|(_, x)| x)
    }

    fn conflicted(&self) -> bool {
        self.reasons.iter().any(|(_, r)| r.code() == Some("TransactionConflict"))
    }

    /// The record that holds the key, as the failed condition returned it (`ALL_OLD`).
    fn idempotency_record(&self) -> Option<Box<IdempotencyRecord>> {
        let item = self.failed(Role::Idempotency)?.item()?;
        value_of::<IdempotencyItem>(item).and_then(IdempotencyItem::into_record).ok().map(Box::new)
    }
}

fn payment_pk(id: &str) -> String {
    format!("PAYMENT#{id}")
}
fn mref_pk(account: &str, reference: &str) -> String {
    format!("MREF#{account}#{reference}")
}
fn track_pk(track: &str) -> String {
    format!("TRACK#{track}")
}
fn idem_pk(account: &str, key: &str) -> String {
    format!("IDEM#{account}#{key}")
}
fn event_sk(seq: u64) -> String {
    format!("EVENT#{seq:010}")
}
fn due_pk(minute: DateTime<Utc>, shard: u32) -> String {
    format!("DUE#{}#{shard}", due_minute(minute).format("%Y%m%d%H%M"))
}

/// How long a due entry is kept after its minute (its TTL): the sweeper is long past it.
const DUE_RETENTION_DAYS: i64 = 7;

/// A due-bucket entry for `entry` at `at`.
fn due_item(at: DateTime<Utc>, entry: &DueEntry) -> Item {
    let mut item = key(due_pk(at, entry.shard()), &entry.sort_key());
    item.insert(TTL_ATTRIBUTE.into(), n((due_minute(at) + chrono::Duration::days(DUE_RETENTION_DAYS)).timestamp()));
    item
}

fn idem_item(record: &IdempotencyRecord) -> Result<Item, StoreError> {
    item_of(&IdempotencyItem::of(record), idem_pk(&record.account_id, &record.key), "IDEM")
}

/// The track pointer: a copy of the payment item under `TRACK#<trackId>`, rewritten by every
/// change in the same transaction, so the public tracking route is one `GetItem`.
///
/// Why a copy: the route must not reveal or need the payment id, so the track id cannot simply
/// be the payment key; a track id that maps to the payment key by a keyed MAC would need one
/// more secret to manage and rotate; a GSI on the track id is eventually consistent (a payer
/// redirected at once could get a 404) and costs a write per change anyway. The copy costs one
/// more item per transaction (about 1 write unit) and no read at all.
fn track_item(p: &Payment) -> Result<Item, StoreError> {
    item_of(&PaymentItem::of(p), track_pk(p.track_id.as_str()), "TRACK")
}

fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder().table_name(table).set_item(Some(item));
    if let Some(c) = condition {
        p = p.condition_expression(c);
    }
    for (k, v) in values {
        p = p.expression_attribute_values(k, v);
    }
    let p = p.return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    Ok(TransactWriteItem::builder().put(p.build().map_err(unavailable)?).build())
}

/// The reasons a transaction was cancelled, in request order; `None` if it failed otherwise.
fn cancellation_reasons(e: &SdkError<TransactWriteItemsError>) -> Option<Vec<CancellationReason>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(ex)) => Some(ex.cancellation_reasons().to_vec()),
        _ => None,
    }
}

fn conflicted(reasons: &[CancellationReason]) -> bool {
    reasons.iter().any(|r| r.code() == Some("TransactionConflict"))
}

/// The DynamoDB store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The one transaction that creates a payment (DESIGN §5).
    fn create_transaction(&self, record: &NewPaymentRecord, now: DateTime<Utc>) -> Result<Transaction, StoreError> {
        let p = &record.payment;
        p.check_invariants().map_err(StoreError::Invariant)?;
        let not_exists = Some("attribute_not_exists(PK)");
        let pointer = |pk: String, sk: &str| {
            let mut item = key(pk, sk);
            item.insert("paymentId".into(), s(p.id.as_str()));
            item.insert("accountId".into(), s(&p.account_id));
            item
        };
        let mut tx = Transaction::default();
        tx.push(
            Role::Payment,
            put(
                &self.table,
                listing::indexed(item_of(&PaymentItem::of(p), payment_pk(p.id.as_str()), "PAYMENT")?, p),
                not_exists,
                vec![],
            )?,
        );
        tx.push(
            Role::ReferenceGuard,
            put(&self.table, pointer(mref_pk(&p.account_id, &p.merchant_reference), "MREF"), not_exists, vec![])?,
        );
        tx.push(Role::TrackPointer, put(&self.table, track_item(p)?, not_exists, vec![])?);
        tx.push(
            Role::Event,
            put(
                &self.table,
                item_of(&EventItem::of(&record.event), payment_pk(p.id.as_str()), &event_sk(record.event.seq))?,
                not_exists,
                vec![],
            )?,
        );
        tx.push(Role::Due, put(&self.table, due_item(p.pending_until, &DueEntry::Expiry(p.id.clone())), None, vec![])?);
        if let Some(idem) = &record.idempotency {
            tx.push(
                Role::Idempotency,
                put(&self.table, idem_item(idem)?, Some(NOT_LIVE_CONDITION), vec![(":now", n(now.timestamp()))])?,
            );
        }
        Ok(tx)
    }

    /// The one transaction that commits a transition, conditioned on the payment's version.
    fn apply_transaction(
        &self,
        transition: &Transition,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<Transaction, StoreError> {
        let p = &transition.payment;
        p.check_invariants().map_err(StoreError::Invariant)?;
        let pk = payment_pk(p.id.as_str());
        let mut tx = Transaction::default();
        tx.push(
            Role::Payment,
            put(
                &self.table,
                listing::indexed(item_of(&PaymentItem::of(p), pk.clone(), "PAYMENT")?, p),
                Some("version = :expected"),
                vec![(":expected", n(transition.expected_version()))],
            )?,
        );
        // The track pointer's copy changes with the payment, in the same write.
        tx.push(Role::TrackPointer, put(&self.table, track_item(p)?, None, vec![])?);
        if let Some(op) = &transition.operation {
            tx.push(
                Role::Operation,
                put(&self.table, item_of(&OperationItem::of(op), pk.clone(), &format!("OP#{}", op.id))?, None, vec![])?,
            );
        }
        tx.push(
            Role::Event,
            put(
                &self.table,
                item_of(&EventItem::of(&transition.event), pk.clone(), &event_sk(transition.event.seq))?,
                Some("attribute_not_exists(PK)"),
                vec![],
            )?,
        );
        if let Some(entry) = &transition.ledger {
            let [put, add] = ledger::ledger_writes(&self.table, entry)?;
            tx.push(Role::Ledger, put);
            tx.push(Role::Totals, add);
        }
        if let (Some(at), Some(op)) = (transition.wake_at, &transition.operation) {
            let entry = DueEntry::Operation(p.id.clone(), op.id.clone());
            tx.push(Role::Due, put(&self.table, due_item(at, &entry), None, vec![])?);
        }
        if transition.release_reference {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(mref_pk(&p.account_id, &p.merchant_reference), "MREF")))
                .condition_expression("attribute_not_exists(PK) OR paymentId = :id")
                .expression_attribute_values(":id", s(p.id.as_str()))
                .build()
                .map_err(unavailable)?;
            tx.push(Role::ReleaseReference, TransactWriteItem::builder().delete(delete).build());
        }
        if let Some(idem) = idempotency {
            let op = idem.operation_id.as_ref().map(|o| s(o.as_str())).unwrap_or(AttributeValue::Null(true));
            tx.push(
                Role::Idempotency,
                put(
                    &self.table,
                    idem_item(idem)?,
                    Some(CLAIM_CONDITION),
                    vec![(":now", n(transition.event.at.timestamp())), (":op", op)],
                )?,
            );
        }
        Ok(tx)
    }

    /// The items a create sends, for a benchmark's floor (the bare SDK call of the same items).
    pub fn create_items(
        &self,
        record: &NewPaymentRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        self.create_transaction(record, now).map(|tx| tx.items)
    }

    /// The items a transition's commit sends, for a benchmark's floor.
    pub fn apply_items(
        &self,
        transition: &Transition,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        self.apply_transaction(transition, idempotency).map(|tx| tx.items)
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), SdkError<TransactWriteItemsError>> {
        let mut attempt = 0;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            match &result {
                Err(e) if attempt < CONFLICT_RETRIES => {
                    // Cancelled only because another transaction held an item: try again.
                    let only_conflict = cancellation_reasons(e).is_some_and(|r| {
                        conflicted(&r) && !r.iter().any(|x| x.code() == Some("ConditionalCheckFailed"))
                    });
                    if !only_conflict {
                        return result.map(|_| ());
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(
                        10 * u64::from(attempt.min(8)) + rand::random_range(0..25),
                    ))
                    .await;
                }
                _ => return result.map(|_| ()),
            }
        }
    }

    /// Every item of partition `pk` (whose sort key meets `sk_condition`, `:sk` being `sk`,
    /// if given), consistently read, over every page.
    async fn query_partition(&self, pk: String, sk_condition: &str, sk: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk.clone()));
            query = if sk_condition.is_empty() {
                query.key_condition_expression("PK = :pk")
            } else {
                query
                    .key_condition_expression(format!("PK = :pk AND {sk_condition}"))
                    .expression_attribute_values(":sk", s(sk))
            };
            let out = query
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(items),
            }
        }
    }

    async fn query_payment(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        // `SK >= "OP#"` reads the operations and the payment, never the events.
        let items = self.query_partition(payment_pk(id), "SK >= :sk", "OP#").await?;
        let sk = |i: &Item| match i.get(SORT_KEY) {
            Some(AttributeValue::S(v)) => v.clone(),
            _ => String::new(),
        };
        let Some(payment_item) = items.iter().find(|i| sk(i) == "PAYMENT") else { return Ok(None) };
        let payment: PaymentItem = value_of(payment_item)?;
        let operations: Vec<Operation> = items
            .iter()
            .filter(|i| sk(i).starts_with("OP#"))
            .map(|i| value_of::<OperationItem>(i).and_then(OperationItem::into_operation))
            .collect::<Result<_, _>>()?;
        payment.into_payment(operations).map(Some)
    }

    /// Puts `item` if `condition` (with `values`) holds: whether it was written.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut request =
            self.client.put_item().table_name(&self.table).set_item(Some(item)).condition_expression(condition);
        for (k, v) in values {
            request = request.expression_attribute_values(k, v);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(out.item().cloned())
    }
}

fn payment_id_in(item: Option<&Item>) -> Option<PaymentId> {
    match item?.get("paymentId")? {
        AttributeValue::S(id) => id.parse().ok(),
        _ => None,
    }
}

impl Store for DynamoStore {
    async fn create_payment(&self, record: &NewPaymentRecord, now: DateTime<Utc>) -> Result<(), StoreError> {
        let p = &record.payment;
        let tx = self.create_transaction(record, now)?;
        let roles = tx.roles.clone();
        match self.transact(tx.items).await {
            Ok(()) => Ok(()),
            Err(e) => match Cancelled::of(&roles, &e) {
                Some(c) if c.failed(Role::Idempotency).is_some() => {
                    Err(StoreError::IdempotencyKeyTaken(c.idempotency_record()))
                }
                Some(c) if c.failed(Role::ReferenceGuard).is_some() => {
                    let existing = match payment_id_in(c.failed(Role::ReferenceGuard).and_then(|r| r.item())) {
                        Some(id) => Some(id),
                        None => payment_id_in(
                            self.get(mref_pk(&p.account_id, &p.merchant_reference), "MREF").await?.as_ref(),
                        ),
                    };
                    match existing {
                        Some(id) => Err(StoreError::DuplicateReference(id)),
                        // Released in between: the caller may simply try again.
                        None => Err(StoreError::VersionConflict),
                    }
                }
                Some(c) if c.conflicted() => Err(StoreError::Unavailable("transaction conflicts persisted".into())),
                Some(_) => Err(StoreError::Unavailable("create was cancelled: an id was reused".into())),
                None => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
            },
        }
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
        self.query_payment(id.as_str()).await
    }

    async fn payment_by_track(&self, track_id: &TrackId) -> Result<Option<Payment>, StoreError> {
        match self.get(track_pk(track_id.as_str()), "TRACK").await? {
            Some(item) => value_of::<PaymentItem>(&item)?.into_payment(Vec::new()).map(Some),
            None => Ok(None),
        }
    }

    async fn apply(&self, transition: &Transition, idempotency: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        let tx = self.apply_transaction(transition, idempotency)?;
        let roles = tx.roles.clone();
        match self.transact(tx.items).await {
            Ok(()) => Ok(()),
            Err(e) => match Cancelled::of(&roles, &e) {
                Some(c) if c.failed(Role::Idempotency).is_some() && c.failed(Role::Payment).is_none() => {
                    Err(StoreError::IdempotencyKeyTaken(c.idempotency_record()))
                }
                Some(_) => Err(StoreError::VersionConflict),
                None => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
            },
        }
    }

    async fn idempotency(
        &self,
        account_id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        match self.get(idem_pk(account_id, key), "IDEM").await? {
            Some(item) => {
                let record = value_of::<IdempotencyItem>(&item).and_then(IdempotencyItem::into_record)?;
                // DynamoDB deletes expired items late: an expired record is absent.
                Ok(record.is_live(now).then_some(record))
            }
            None => Ok(None),
        }
    }

    async fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
        expected: Option<&IdempotencyRecord>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut request = self.client.put_item().table_name(&self.table).set_item(Some(idem_item(record)?));
        request = match expected {
            None => {
                request.condition_expression(NOT_LIVE_CONDITION).expression_attribute_values(":now", n(now.timestamp()))
            }
            Some(e) => {
                let (condition, values) = expected_condition(e, now);
                let mut request = request.condition_expression(condition).expression_attribute_names("#state", "state");
                for (k, v) in values {
                    request = request.expression_attribute_values(k, v);
                }
                request
            }
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Err(StoreError::IdempotencyKeyTaken(None))
            }
            Err(e) => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
        }
    }

    async fn audit_events(&self, id: &PaymentId) -> Result<Vec<AuditEvent>, StoreError> {
        let items = self.query_partition(payment_pk(id.as_str()), "begins_with(SK, :sk)", "EVENT#").await?;
        items.iter().map(|i| value_of::<EventItem>(i).and_then(EventItem::into_event)).collect()
    }

    async fn due(&self, minute: DateTime<Utc>) -> Result<Vec<DueEntry>, StoreError> {
        // The eight shards are read side by side.
        let mut reads = tokio::task::JoinSet::new();
        for shard in 0..DUE_SHARDS {
            let store = self.clone();
            reads.spawn(async move { store.query_partition(due_pk(minute, shard), "", "").await });
        }
        let mut entries = Vec::new();
        while let Some(read) = reads.join_next().await {
            let items = read.map_err(unavailable)??;
            entries.extend(items.iter().filter_map(|i| match i.get(SORT_KEY) {
                Some(AttributeValue::S(sk)) => DueEntry::parse(sk),
                _ => None,
            }));
        }
        Ok(entries)
    }

    async fn sweep_cursor(&self) -> Result<Option<SweepCursor>, StoreError> {
        let Some(item) = self.get("SWEEP".into(), "CURSOR").await? else { return Ok(None) };
        let number = |name: &str| match item.get(name) {
            Some(AttributeValue::N(v)) => v.parse::<i64>().ok(),
            _ => None,
        };
        let (Some(minute), Some(version)) = (number("minute"), number("version")) else {
            return Err(unavailable("unreadable sweep cursor"));
        };
        let minute = DateTime::from_timestamp(minute, 0).ok_or_else(|| unavailable("unreadable sweep cursor"))?;
        Ok(Some(SweepCursor { minute, version: version as u64 }))
    }

    async fn save_sweep_cursor(&self, minute: DateTime<Utc>, expected: Option<u64>) -> Result<(), StoreError> {
        let mut item = key("SWEEP".into(), "CURSOR");
        item.insert("minute".into(), n(minute.timestamp()));
        item.insert("version".into(), n(expected.map_or(1, |v| v + 1)));
        let written = match expected {
            None => self.put_if(item, "attribute_not_exists(PK)", vec![]).await?,
            Some(v) => self.put_if(item, "version = :v", vec![(":v", n(v))]).await?,
        };
        if written { Ok(()) } else { Err(StoreError::VersionConflict) }
    }

    async fn list_payments(
        &self,
        filter: &crate::store::listing::ListFilter,
        positions: Option<&[crate::store::listing::ShardPosition]>,
        limit: usize,
    ) -> Result<crate::store::listing::ListPage, StoreError> {
        self.list(filter, positions, limit).await
    }
}
