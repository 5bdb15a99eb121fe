//! The ledger on the embedded store: one `ledger` row per entry, written in the settle's own
//! transaction; a month's totals are a sum over an index (a laptop's ledger is small), the same
//! answer DynamoDB's counters give.

use rusqlite::{Connection, params};

use super::page::NewestFirst;
use super::{SqliteStore, from_json, to_json, unavailable};
use crate::ids::PaymentId;
use crate::payment::{EntryKind, LedgerEntry};
use crate::store::StoreError;
use crate::store::ledger::{LedgerFilter, LedgerItem, LedgerPage, LedgerStore, MonthTotals, ledger_sort_key};
use crate::store::listing::ShardPosition;

/// Writes a confirmed movement's entry (once: its id is its operation's).
pub(super) fn insert_entry(conn: &Connection, entry: &LedgerEntry) -> Result<(), StoreError> {
    let inserted = conn
        .execute(
            "INSERT OR IGNORE INTO ledger (id, account_id, payment_id, kind, month, sort_key, amount, doc) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                entry.id,
                entry.account_id,
                entry.payment_id.as_str(),
                entry.kind.as_str(),
                entry.month,
                ledger_sort_key(entry),
                entry.amount,
                to_json(&LedgerItem::of(entry))?
            ],
        )
        .map_err(unavailable)?;
    if inserted != 1 {
        return Err(StoreError::Invariant(format!("ledger entry {} written twice", entry.id)));
    }
    Ok(())
}

impl LedgerStore for SqliteStore {
    async fn ledger_page(
        &self,
        filter: &LedgerFilter,
        positions: Option<&[ShardPosition]>,
        limit: usize,
    ) -> Result<LedgerPage, StoreError> {
        // One "shard": the embedded store has one index.
        let after = match positions {
            None | Some([ShardPosition::Start]) => None,
            Some([ShardPosition::After(sk)]) => Some(sk.clone()),
            Some([ShardPosition::Done]) => {
                return Ok(LedgerPage { entries: Vec::new(), positions: vec![ShardPosition::Done] });
            }
            Some(_) => return Err(StoreError::InvalidPosition),
        };
        let filter = filter.clone();
        self.with(move |conn| {
            let mut sql = String::from("SELECT sort_key, doc FROM ledger WHERE account_id = ?");
            let mut args: Vec<String> = vec![filter.account_id.clone()];
            if !filter.kinds.is_empty() {
                sql.push_str(&format!(" AND kind IN ({})", vec!["?"; filter.kinds.len()].join(", ")));
                args.extend(filter.kinds.iter().map(|k| k.as_str().to_owned()));
            }
            let (docs, position) = NewestFirst { sql, args, sort_key: "sort_key" }.read(
                conn,
                filter.from,
                filter.to,
                after.as_deref(),
                limit,
            )?;
            let entries =
                docs.iter().map(|doc| from_json::<LedgerItem>(doc)?.into_entry()).collect::<Result<Vec<_>, _>>()?;
            Ok(LedgerPage { entries, positions: vec![position] })
        })
        .await
    }

    async fn month_totals(&self, account_id: &str, month: &str) -> Result<MonthTotals, StoreError> {
        let (account_id, month) = (account_id.to_owned(), month.to_owned());
        self.with(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT kind, COUNT(*), COALESCE(SUM(amount), 0) FROM ledger \
                     WHERE account_id = ?1 AND month = ?2 GROUP BY kind",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![account_id, month], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            let mut totals = MonthTotals::default();
            for (kind, count, amount) in rows {
                let kind = EntryKind::parse(&kind).ok_or_else(|| unavailable("an unknown ledger kind"))?;
                let tally = match kind {
                    EntryKind::Capture => &mut totals.captures,
                    EntryKind::Cancellation => &mut totals.cancellations,
                    EntryKind::Refund => &mut totals.refunds,
                };
                tally.count = count.max(0) as u64;
                tally.amount = amount;
            }
            Ok(totals)
        })
        .await
    }

    async fn payment_ledger(&self, payment: &PaymentId) -> Result<Vec<LedgerEntry>, StoreError> {
        let payment = payment.to_string();
        self.with(move |conn| {
            let mut stmt =
                conn.prepare("SELECT doc FROM ledger WHERE payment_id = ?1 ORDER BY sort_key").map_err(unavailable)?;
            let docs = stmt
                .query_map(params![payment], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            docs.iter().map(|d| from_json::<LedgerItem>(d)?.into_entry()).collect()
        })
        .await
    }
}
