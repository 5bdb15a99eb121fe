//! The ledger on DynamoDB (see [`crate::store::ledger`] for the layout): the entry and its
//! month's counters as two more items of the settle's own transaction, the `byLedger` index
//! read a shard at a time and merged, and a month's totals as one read of its counter items.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};

use super::attributes::{Item, item_of, key, n, s, unavailable, value_of};
use super::{DynamoStore, PARTITION_KEY, SORT_KEY, payment_pk};
use crate::ids::PaymentId;
use crate::payment::{EntryKind, LedgerEntry};
use crate::store::StoreError;
use crate::store::ledger::{LedgerFilter, LedgerItem, LedgerPage, LedgerStore, MonthTotals, Tally, ledger_sort_key};
use crate::store::listing::{ShardPosition, ShardRead, merge_items, time_key};

pub const BY_LEDGER: &str = "byLedger";
pub const LEDGER_PK: &str = "ledgerPk";
pub const LEDGER_SK: &str = "ledgerSk";

fn ledger_pk(account: &str, shard: u32) -> String {
    format!("LEDGER#{account}#{shard}")
}

fn entry_sk(entry_id: &str) -> String {
    format!("LEDGER#{entry_id}")
}

/// How many counter items a month's totals are spread over. Every settle that moves money adds
/// to one of them in its own transaction, and two transactions on one item conflict: spread by
/// the entry's id, an account's settles rarely meet on one item, and the month is still one
/// `BatchGetItem` (at most 100 keys) to read.
pub const TOTALS_CELLS: u32 = 32;

/// The counter item an entry adds to: the same one whatever the retries (its id decides).
fn totals_cell(entry_id: &str) -> u32 {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let hash = entry_id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash % TOTALS_CELLS
}

fn totals_key(account: &str, month: &str, cell: u32) -> Item {
    key(format!("STATEMENT#{account}#{month}#{cell:02}"), "STATEMENT")
}

/// The counters of one kind on a month's totals item.
fn counters(kind: EntryKind) -> (&'static str, &'static str) {
    match kind {
        EntryKind::Capture => ("capturesCount", "capturesAmount"),
        EntryKind::Cancellation => ("cancellationsCount", "cancellationsAmount"),
        EntryKind::Refund => ("refundsCount", "refundsAmount"),
    }
}

/// The two items a confirmed movement adds to its transaction: the entry (indexed, written
/// once) and the addition to its month's counters.
pub(super) fn ledger_writes(table: &str, entry: &LedgerEntry) -> Result<[TransactWriteItem; 2], StoreError> {
    let mut item = item_of(&LedgerItem::of(entry), payment_pk(entry.payment_id.as_str()), &entry_sk(&entry.id))?;
    item.insert(LEDGER_PK.into(), s(ledger_pk(&entry.account_id, entry.shard)));
    item.insert(LEDGER_SK.into(), s(ledger_sort_key(entry)));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(unavailable)?;
    let (count, amount) = counters(entry.kind);
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(totals_key(&entry.account_id, &entry.month, totals_cell(&entry.id))))
        .update_expression("ADD #count :one, #amount :amount")
        .expression_attribute_names("#count", count)
        .expression_attribute_names("#amount", amount)
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":amount", n(entry.amount))
        .build()
        .map_err(unavailable)?;
    Ok([TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(update).build()])
}

fn number(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        None => Ok(0),
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| unavailable("an unreadable counter")),
        Some(_) => Err(unavailable("a counter that is not a number")),
    }
}

impl DynamoStore {
    async fn read_ledger_shard(
        &self,
        filter: &LedgerFilter,
        shard: u32,
        after: Option<String>,
        limit: usize,
    ) -> Result<ShardRead<LedgerEntry>, StoreError> {
        let lo = filter.from.map(time_key).unwrap_or_else(|| "0".into());
        let hi = filter.to.map(time_key).unwrap_or_else(|| "~".into());
        let read_limit = if filter.kinds.is_empty() { limit } else { (limit * 3).min(1000) };
        let pk = ledger_pk(&filter.account_id, shard);
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(BY_LEDGER)
            .scan_index_forward(false)
            .limit(i32::try_from(read_limit).unwrap_or(100))
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", LEDGER_PK)
            .expression_attribute_names("#sk", LEDGER_SK)
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi));
        if !filter.kinds.is_empty() {
            let names: Vec<String> = (0..filter.kinds.len()).map(|i| format!(":k{i}")).collect();
            query = query
                .filter_expression(format!("#kind IN ({})", names.join(", ")))
                .expression_attribute_names("#kind", "kind");
            for (name, kind) in names.iter().zip(&filter.kinds) {
                query = query.expression_attribute_values(name, s(kind.as_str()));
            }
        }
        if let Some(after) = after {
            // The sort key ends with the entry id, `led_<operation id>`; the entry's table key
            // needs its payment, which the position carries after a second `#`.
            let (sk, payment) = after.rsplit_once('|').ok_or(StoreError::InvalidPosition)?;
            let entry_id = sk.rsplit('#').next().unwrap_or_default();
            let mut start = key(payment_pk(payment), &entry_sk(entry_id));
            start.insert(LEDGER_PK.into(), s(pk));
            start.insert(LEDGER_SK.into(), s(sk));
            query = query.set_exclusive_start_key(Some(start));
        }
        let out = query.send().await.map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        let mut items = Vec::with_capacity(out.items().len());
        for item in out.items() {
            let entry = value_of::<LedgerItem>(&without_keys(item))?.into_entry()?;
            items.push((format!("{}|{}", ledger_sort_key(&entry), entry.payment_id), entry));
        }
        let evaluated_to = match out.last_evaluated_key() {
            Some(k) => match (k.get(LEDGER_SK), k.get(PARTITION_KEY)) {
                (Some(AttributeValue::S(sk)), Some(AttributeValue::S(pk))) => {
                    Some(format!("{sk}|{}", pk.trim_start_matches("PAYMENT#")))
                }
                _ => None,
            },
            None => None,
        };
        Ok(ShardRead { items, evaluated_to })
    }
}

impl LedgerStore for DynamoStore {
    async fn ledger_page(
        &self,
        filter: &LedgerFilter,
        positions: Option<&[ShardPosition]>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        let shards = filter.shards.max(1);
        let start = vec![ShardPosition::Start; shards as usize];
        let positions = positions.unwrap_or(&start);
        if positions.len() != shards as usize {
            return Err(StoreError::InvalidPosition);
        }
        let reads = futures_util::future::join_all(positions.iter().enumerate().map(|(shard, position)| async move {
            match position {
                ShardPosition::Done => Ok(None),
                ShardPosition::Start => self.read_ledger_shard(filter, shard as u32, None, limit).await.map(Some),
                ShardPosition::After(sk) => {
                    self.read_ledger_shard(filter, shard as u32, Some(sk.clone()), limit).await.map(Some)
                }
            }
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let (entries, positions) = merge_items(reads, positions, limit);
        Ok(LedgerPage { entries, positions })
    }

    async fn month_totals(&self, account_id: &str, month: &str) -> Result<MonthTotals, StoreError> {
        let mut keys = KeysAndAttributes::builder().consistent_read(true);
        for cell in 0..TOTALS_CELLS {
            keys = keys.keys(totals_key(account_id, month, cell));
        }
        let out = self
            .client()
            .batch_get_item()
            .request_items(self.table(), keys.build().map_err(unavailable)?)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        if out.unprocessed_keys().is_some_and(|u| !u.is_empty()) {
            return Err(unavailable("the store did not read every totals item; retry"));
        }
        let mut totals = MonthTotals::default();
        for item in out.responses().and_then(|r| r.get(self.table())).into_iter().flatten() {
            for kind in EntryKind::ALL {
                let (count, amount) = counters(kind);
                let tally = Tally { count: number(item, count)?.max(0) as u64, amount: number(item, amount)? };
                let into = match kind {
                    EntryKind::Capture => &mut totals.captures,
                    EntryKind::Cancellation => &mut totals.cancellations,
                    EntryKind::Refund => &mut totals.refunds,
                };
                into.count += tally.count;
                into.amount += tally.amount;
            }
        }
        Ok(totals)
    }

    async fn payment_ledger(&self, payment: &PaymentId) -> Result<Vec<LedgerEntry>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :ledger)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", s(payment_pk(payment.as_str())))
            .expression_attribute_values(":ledger", s("LEDGER#"))
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        out.items().iter().map(|item| value_of::<LedgerItem>(&without_keys(item))?.into_entry()).collect()
    }
}

/// An index item without the table's and the index's keys.
fn without_keys(item: &Item) -> Item {
    item.iter()
        .filter(|(k, _)| ![PARTITION_KEY, SORT_KEY, LEDGER_PK, LEDGER_SK].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
