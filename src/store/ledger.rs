//! The ledger's persistence: entries written with the settle that confirms them (by
//! [`super::Store::apply`], in the same write, never a second round trip), each month's totals
//! kept beside them, and reading both back.
//!
//! On DynamoDB an entry is `PAYMENT#<id>` / `LEDGER#<opId>` (in its payment's partition; a
//! payment's read, `SK >= "OP#"`, never sees it), indexed by `byLedger`: `ledgerPk` =
//! `LEDGER#<account>#<shard>` (the payment's listing shard), `ledgerSk` = `<confirmedAt, RFC 3339
//! ms>#<entryId>`; a page is one `Query` per shard, merged newest first like the payment list.
//! Each month's totals are counters spread over 32 items, `STATEMENT#<account>#<YYYY-MM>#<cell>`
//! / `STATEMENT` (the cell chosen by the entry's id, so that concurrent settles rarely meet on
//! one item), added to in the same transaction as the entry: a statement reads the 32 items in
//! one `BatchGetItem`, and no function ever holds a month of entries. The embedded store keeps
//! the same contract with an SQLite table.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::listing::ShardPosition;
use crate::ids::{OperationId, PaymentId};
use crate::payment::{EntryKind, LedgerEntry, Metadata};

/// Which entries a ledger read is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerFilter {
    pub account_id: String,
    /// How many shards the account's index is spread over.
    pub shards: u32,
    /// Any of these (empty: every kind).
    pub kinds: Vec<EntryKind>,
    /// Confirmed at or after (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Confirmed before (exclusive).
    pub to: Option<DateTime<Utc>>,
}

impl LedgerFilter {
    pub fn matches(&self, kind: EntryKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

/// One page of entries, newest first, and where each shard stands after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    pub positions: Vec<ShardPosition>,
}

impl LedgerPage {
    pub fn is_last(&self) -> bool {
        self.positions.iter().all(|p| *p == ShardPosition::Done)
    }
}

/// How many entries of a kind a month holds, and their sum (signed yen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub count: u64,
    pub amount: i64,
}

/// A month's totals, in SBPS's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthTotals {
    pub captures: Tally,
    pub cancellations: Tally,
    pub refunds: Tally,
}

impl MonthTotals {
    pub fn add(&mut self, kind: EntryKind, amount: i64) {
        let tally = match kind {
            EntryKind::Capture => &mut self.captures,
            EntryKind::Cancellation => &mut self.cancellations,
            EntryKind::Refund => &mut self.refunds,
        };
        tally.count += 1;
        tally.amount += amount;
    }

    pub fn net(&self) -> i64 {
        self.captures.amount + self.cancellations.amount + self.refunds.amount
    }
}

/// The ledger's reads (its writes are [`super::Store::apply`]'s).
pub trait LedgerStore: Send + Sync + 'static {
    /// A page of at most `limit` of the account's entries matching `filter`, newest first, from
    /// `positions` (one per shard; `None`: the start). `InvalidPosition` when the positions
    /// cannot be this read's.
    fn ledger_page(
        &self,
        filter: &LedgerFilter,
        positions: Option<&[ShardPosition]>,
        limit: usize,
    ) -> impl Future<Output = Result<LedgerPage, StoreError>> + Send;

    /// The totals of the account's entries that count in `month` (`YYYY-MM`, Japan time).
    fn month_totals(
        &self,
        account_id: &str,
        month: &str,
    ) -> impl Future<Output = Result<MonthTotals, StoreError>> + Send;

    /// Every entry of one payment (the audit).
    fn payment_ledger(&self, payment: &PaymentId) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;
}

/// A ledger entry as stored (both adapters; attribute names pinned by a test below).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerItem {
    #[serde(rename = "id")]
    pub id: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "paymentId")]
    pub payment_id: String,
    #[serde(rename = "merchantReference")]
    pub merchant_reference: String,
    #[serde(rename = "operationId")]
    pub operation_id: String,
    #[serde(rename = "kind")]
    pub kind: EntryKind,
    #[serde(rename = "amount")]
    pub amount: i64,
    #[serde(rename = "confirmedAt")]
    pub confirmed_at: DateTime<Utc>,
    #[serde(rename = "month")]
    pub month: String,
    #[serde(rename = "metadata", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(rename = "shard", default)]
    pub shard: u32,
}

impl LedgerItem {
    pub fn of(e: &LedgerEntry) -> Self {
        LedgerItem {
            id: e.id.clone(),
            account_id: e.account_id.clone(),
            payment_id: e.payment_id.to_string(),
            merchant_reference: e.merchant_reference.clone(),
            operation_id: e.operation_id.to_string(),
            kind: e.kind,
            amount: e.amount,
            confirmed_at: e.confirmed_at,
            month: e.month.clone(),
            metadata: e.metadata.as_map().clone(),
            shard: e.shard,
        }
    }

    pub fn into_entry(self) -> Result<LedgerEntry, StoreError> {
        let unreadable = |what: &str| StoreError::Unavailable(format!("unreadable ledger entry: {what}"));
        Ok(LedgerEntry {
            id: self.id,
            account_id: self.account_id,
            payment_id: self.payment_id.parse::<PaymentId>().map_err(|_| unreadable("payment id"))?,
            merchant_reference: self.merchant_reference,
            operation_id: self.operation_id.parse::<OperationId>().map_err(|_| unreadable("operation id"))?,
            kind: self.kind,
            amount: self.amount,
            confirmed_at: self.confirmed_at,
            month: self.month,
            metadata: Metadata::stored(self.metadata),
            shard: self.shard,
        })
    }
}

/// An entry's place in its account's ledger index: confirmation time to the millisecond, then id.
pub fn ledger_sort_key(e: &LedgerEntry) -> String {
    format!("{}#{}", super::listing::time_key(e.confirmed_at), e.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_are_pinned() {
        let entry = LedgerEntry {
            id: "led_x".into(),
            account_id: "acct".into(),
            payment_id: PaymentId::generate(),
            merchant_reference: "order-1".into(),
            operation_id: OperationId::generate(),
            kind: EntryKind::Refund,
            amount: -100,
            confirmed_at: DateTime::<Utc>::UNIX_EPOCH,
            month: "1970-01".into(),
            metadata: Metadata::parse([("k".to_owned(), "v".to_owned())].into()).unwrap_or_default(),
            shard: 2,
        };
        let value = serde_json::to_value(LedgerItem::of(&entry)).unwrap_or_default();
        let mut names: Vec<&str> =
            value.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "accountId",
                "amount",
                "confirmedAt",
                "id",
                "kind",
                "merchantReference",
                "metadata",
                "month",
                "operationId",
                "paymentId",
                "shard"
            ]
        );
        assert_eq!(value["kind"], "refund");
        assert_eq!(LedgerItem::of(&entry).into_entry().ok(), Some(entry));
    }

    #[test]
    fn totals_add_up_by_kind() {
        let mut totals = MonthTotals::default();
        totals.add(EntryKind::Capture, 1000);
        totals.add(EntryKind::Capture, 500);
        totals.add(EntryKind::Cancellation, -500);
        totals.add(EntryKind::Refund, -100);
        assert_eq!((totals.captures.count, totals.captures.amount), (2, 1500));
        assert_eq!(totals.net(), 900);
    }
}
