//! Listing on DynamoDB: two global secondary indexes over the payment items (projection ALL;
//! the payment item carries a copy of its operations, so a page needs no other read).
//!
//! | index | partition key | sort key |
//! |---|---|---|
//! | `byAccount` | `listPk` = `LIST#<account>#<shard>` | `listSk` = `<createdAt, RFC 3339 ms>#<id>` |
//! | `byReference` | `refPk` = `REF#<account>#<merchantReference>` | `listSk` |
//!
//! A payment goes to shard `hash(id) % listShards` of its account (1 by default; an account
//! that creates more than about 250 payments a second is given more, since each payment
//! writes the index about four times: create, authorization, write-ahead, settle). A page is
//! one `Query` per shard, sent side by side, merged newest first; the reference index is one
//! partition per reference (one `Query`). Filters on status are the query's filter; the time
//! range is its key condition. The track pointer's copy carries none of these attributes, so it
//! is in neither index.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, Item, PARTITION_KEY, SORT_KEY, key, payment_pk, s, unavailable, value_of};
use crate::payment::Payment;
use crate::store::StoreError;
use crate::store::item::PaymentItem;
use crate::store::listing::{ListFilter, ListPage, ShardPosition, ShardRead, list_sort_key, merge, time_key};

pub const BY_ACCOUNT: &str = "byAccount";
pub const BY_REFERENCE: &str = "byReference";
pub const LIST_PK: &str = "listPk";
pub const LIST_SK: &str = "listSk";
pub const REF_PK: &str = "refPk";

fn list_pk(account: &str, shard: u32) -> String {
    format!("LIST#{account}#{shard}")
}

fn ref_pk(account: &str, reference: &str) -> String {
    format!("REF#{account}#{reference}")
}

/// The payment item with its index keys.
pub fn indexed(mut item: Item, p: &Payment) -> Item {
    item.insert(LIST_PK.into(), s(list_pk(&p.account_id, p.list_shard)));
    item.insert(LIST_SK.into(), s(list_sort_key(p.created_at, &p.id)));
    item.insert(REF_PK.into(), s(ref_pk(&p.account_id, &p.merchant_reference)));
    item
}

/// One read of one partition of an index.
struct Read {
    index: &'static str,
    pk_name: &'static str,
    pk: String,
}

impl DynamoStore {
    async fn read_shard(
        &self,
        read: Read,
        filter: &ListFilter,
        after: Option<String>,
        limit: usize,
    ) -> Result<ShardRead, StoreError> {
        let lo = filter.created_from.map(time_key).unwrap_or_else(|| "0".into());
        // `~` sorts after every digit: no upper bound. `createdTo` is exclusive: `<to>#id`
        // sorts after `<to>`.
        let hi = filter.created_to.map(time_key).unwrap_or_else(|| "~".into());
        // A status filter applies after the read (`Limit` counts what is read): read four
        // times the page to fill it in one query in most cases; what is not taken is read
        // again by the next page.
        let read_limit = if filter.statuses.is_empty() { limit } else { (limit * 4).min(1000) };
        let mut query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(read.index)
            .scan_index_forward(false)
            .limit(i32::try_from(read_limit).unwrap_or(100))
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", read.pk_name)
            .expression_attribute_names("#sk", LIST_SK)
            .expression_attribute_values(":pk", s(read.pk.clone()))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi));
        if !filter.statuses.is_empty() {
            let names: Vec<String> = (0..filter.statuses.len()).map(|i| format!(":s{i}")).collect();
            query = query
                .filter_expression(format!("#status IN ({})", names.join(", ")))
                .expression_attribute_names("#status", "status");
            for (name, status) in names.iter().zip(&filter.statuses) {
                query = query.expression_attribute_values(name, s(status.as_str()));
            }
        }
        if let Some(after) = after {
            let id = after.rsplit('#').next().unwrap_or_default().to_owned();
            let mut start = key(payment_pk(&id), "PAYMENT");
            start.insert(read.pk_name.into(), s(read.pk.clone()));
            start.insert(LIST_SK.into(), s(after));
            query = query.set_exclusive_start_key(Some(start));
        }
        let out = query.send().await.map_err(|e| unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        let mut items = Vec::with_capacity(out.items().len());
        for item in out.items() {
            let sk = match item.get(LIST_SK) {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => return Err(unavailable("an indexed payment without its sort key")),
            };
            let payment = value_of::<PaymentItem>(&without_keys(item))?.into_listed_payment()?;
            items.push((sk, payment));
        }
        let evaluated_to = match out.last_evaluated_key().and_then(|k| k.get(LIST_SK)) {
            Some(AttributeValue::S(sk)) => Some(sk.clone()),
            _ => None,
        };
        Ok(ShardRead { items, evaluated_to })
    }

    pub(super) async fn list(
        &self,
        filter: &ListFilter,
        positions: Option<&[ShardPosition]>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let reads: Vec<Read> = match &filter.merchant_reference {
            Some(r) => vec![Read { index: BY_REFERENCE, pk_name: REF_PK, pk: ref_pk(&filter.account_id, r) }],
            None => (0..filter.shards.max(1))
                .map(|shard| Read { index: BY_ACCOUNT, pk_name: LIST_PK, pk: list_pk(&filter.account_id, shard) })
                .collect(),
        };
        let start = vec![ShardPosition::Start; reads.len()];
        let positions = positions.unwrap_or(&start);
        if positions.len() != reads.len() {
            return Err(StoreError::InvalidPosition);
        }
        // Every unfinished shard read side by side: one round trip of latency.
        let mut pending = Vec::new();
        for (read, position) in reads.into_iter().zip(positions) {
            let after = match position {
                ShardPosition::Done => {
                    pending.push(None);
                    continue;
                }
                ShardPosition::Start => None,
                ShardPosition::After(sk) => Some(sk.clone()),
            };
            pending.push(Some(self.read_shard(read, filter, after, limit)));
        }
        let results = futures_util::future::join_all(pending.into_iter().map(|p| async move {
            match p {
                Some(read) => read.await.map(Some),
                None => Ok(None),
            }
        }))
        .await;
        let reads = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(merge(reads, positions, limit))
    }
}

/// An index item without the table's and the indexes' keys.
fn without_keys(item: &Item) -> Item {
    item.iter()
        .filter(|(k, _)| ![PARTITION_KEY, SORT_KEY, LIST_PK, LIST_SK, REF_PK].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
