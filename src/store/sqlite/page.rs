//! How the embedded store reads a page of an index newest first: the caller's query and its own
//! conditions, then the time window, the position after the last row sent and the limit, on the
//! index's sort key (the time first, so that its order is the time's).

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::unavailable;
use crate::store::StoreError;
use crate::store::listing::{ShardPosition, time_key};

/// A query that selects `(sort key, document)` rows, narrowed and ordered here.
pub(super) struct NewestFirst {
    /// `SELECT <sort key>, <document> FROM ... WHERE ...` with the caller's conditions.
    pub sql: String,
    /// The values of the caller's `?` placeholders, in order.
    pub args: Vec<String>,
    /// The sort key column, as `sql` names it.
    pub sort_key: &'static str,
}

impl NewestFirst {
    /// At most `limit` documents at or after `from` and before `to`, older than the position
    /// `after`, newest first; and the position of the next page (`Done` after the last).
    pub fn read(
        mut self,
        conn: &Connection,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, ShardPosition), StoreError> {
        let key = self.sort_key;
        for (bound, op) in [(from.map(time_key), ">="), (to.map(time_key), "<"), (after.map(str::to_owned), "<")] {
            if let Some(bound) = bound {
                self.sql.push_str(&format!(" AND {key} {op} ?"));
                self.args.push(bound);
            }
        }
        // One more than asked: whether there is a next page.
        self.sql.push_str(&format!(" ORDER BY {key} DESC LIMIT {}", limit + 1));
        let mut stmt = conn.prepare(&self.sql).map_err(unavailable)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(self.args.iter()), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        let more = rows.len() > limit;
        let mut docs = Vec::with_capacity(limit.min(rows.len()));
        let mut last = None;
        for (sk, doc) in rows.into_iter().take(limit) {
            docs.push(doc);
            last = Some(sk);
        }
        let position = match (more, last) {
            (true, Some(sk)) => ShardPosition::After(sk),
            _ => ShardPosition::Done,
        };
        Ok((docs, position))
    }
}
