//! The accountant's reads: the ledger (every money movement SBPS confirmed, newest first,
//! filtered by time and kind, a page at a time with a signed cursor) and a month's statement
//! in au's terms (its totals, and its entries a page at a time).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::cursor::{CursorBody, decode, encode};
use super::{Provider, Service, ServiceError};
use crate::accounts::Account;
use crate::payment::ledger::month_bounds;
use crate::payment::{EntryKind, LedgerEntry};
use crate::store::ledger::{LedgerFilter, MonthTotals};
use crate::store::{LedgerStore, Store, StoreError};

/// What a merchant asks of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerQuery {
    pub kinds: Vec<EntryKind>,
    /// Confirmed at or after.
    pub from: Option<DateTime<Utc>>,
    /// Confirmed before.
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// One page of entries, and the cursor of the next (none after the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerListed {
    pub entries: Vec<LedgerEntry>,
    pub next_cursor: Option<String>,
}

/// A Japan-time month as a statement covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementMonth {
    /// `YYYY-MM`, Japan time.
    pub month: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Whether the month has ended (else its totals are so far).
    pub complete: bool,
}

fn fingerprint(account: &Account, q: &LedgerQuery) -> String {
    let mut kinds: Vec<&str> = q.kinds.iter().map(|k| k.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let canonical = serde_json::json!([
        "ledger",
        account.processing_account_id,
        kinds,
        q.from.map(|t| t.timestamp_millis()),
        q.to.map(|t| t.timestamp_millis()),
        account.list_shards,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

impl<S: Store + LedgerStore, P: Provider> Service<S, P> {
    /// A page of `account`'s ledger matching `query`, newest first.
    pub async fn ledger(&self, account: &Account, query: &LedgerQuery) -> Result<LedgerListed, ServiceError> {
        let fingerprint = fingerprint(account, query);
        let positions = match &query.cursor {
            Some(cursor) => Some(decode(account, cursor, &fingerprint)?),
            None => None,
        };
        let filter = LedgerFilter {
            account_id: account.processing_account_id.clone(),
            shards: account.list_shards,
            kinds: query.kinds.clone(),
            from: query.from,
            to: query.to,
        };
        let page = match self.store.ledger_page(&filter, positions.as_deref(), query.limit).await {
            Err(StoreError::InvalidPosition) => return Err(ServiceError::InvalidCursor),
            other => other?,
        };
        let next_cursor = if page.is_last() {
            None
        } else {
            Some(encode(account, &CursorBody { f: fingerprint, p: page.positions })?)
        };
        Ok(LedgerListed { entries: page.entries, next_cursor })
    }

    /// The month `YYYY-MM` (Japan time) as of now; `None` for a text that is not one.
    pub fn statement_month(&self, month: &str) -> Option<StatementMonth> {
        let (from, to) = month_bounds(month)?;
        Some(StatementMonth { month: month.to_owned(), from, to, complete: self.clock.now() >= to })
    }

    /// `account`'s totals of `month`, read from the month's counters (never from its entries).
    pub async fn statement(&self, account: &Account, month: &StatementMonth) -> Result<MonthTotals, ServiceError> {
        Ok(self.store.month_totals(&account.processing_account_id, &month.month).await?)
    }

    /// A page of the entries that count in `month`, newest first.
    pub async fn statement_entries(
        &self,
        account: &Account,
        month: &StatementMonth,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<LedgerListed, ServiceError> {
        let query = LedgerQuery { kinds: Vec::new(), from: Some(month.from), to: Some(month.to), limit, cursor };
        self.ledger(account, &query).await
    }
}
