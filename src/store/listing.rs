//! Listing an account's payments, newest first, a page at a time (DESIGN §5's listing index).
//!
//! On DynamoDB the index is spread over the account's shards (`LIST#<account>#<shard>`, sort
//! key `<createdAt, ms>#<id>`), or, for one merchant reference, kept under
//! `REF#<account>#<merchantReference>`; a page reads each shard once, side by side, and
//! [`merge`]s them. The embedded store has one "shard". A position per shard is what a cursor
//! carries.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::PaymentId;
use crate::payment::{Payment, Status};

/// Most shards an account's listing may be spread over.
pub use crate::accounts::MAX_LIST_SHARDS;

/// The shard of the listing index a new payment of an account with `shards` shards goes to.
pub fn list_shard_of(id: &PaymentId, shards: u32) -> u32 {
    super::shard_of(id, shards.clamp(1, MAX_LIST_SHARDS))
}

/// A payment's place in its account's listing: creation time to the millisecond, then id.
pub fn list_sort_key(created_at: DateTime<Utc>, id: &PaymentId) -> String {
    format!("{}#{id}", created_at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The listing's time bound as a sort key prefix.
pub fn time_key(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What a listing is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    pub account_id: String,
    /// How many shards the account's listing is spread over.
    pub shards: u32,
    /// Every payment that ever used it (the live one and the released ones).
    pub merchant_reference: Option<String>,
    /// Any of these (empty: any status).
    pub statuses: Vec<Status>,
    /// Inclusive.
    pub created_from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub created_to: Option<DateTime<Utc>>,
}

impl ListFilter {
    pub fn matches_status(&self, status: Status) -> bool {
        self.statuses.is_empty() || self.statuses.contains(&status)
    }
}

/// Where a listing stands in one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardPosition {
    Start,
    /// After this sort key (everything newer has been listed).
    After(String),
    Done,
}

/// One page, and where each shard stands after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub payments: Vec<Payment>,
    pub positions: Vec<ShardPosition>,
}

impl ListPage {
    pub fn is_last(&self) -> bool {
        self.positions.iter().all(|p| *p == ShardPosition::Done)
    }
}

/// What one read of one shard returned: matching items (payments, ledger entries) newest first
/// with their sort keys, and, if the read stopped before the shard's end, the sort key it
/// evaluated up to.
#[derive(Debug, Clone)]
pub struct ShardRead<T = Payment> {
    pub items: Vec<(String, T)>,
    pub evaluated_to: Option<String>,
}

impl<T> Default for ShardRead<T> {
    fn default() -> Self {
        ShardRead { items: Vec::new(), evaluated_to: None }
    }
}

/// Merges the shards' reads of payments into a page; see [`merge_items`].
pub fn merge(reads: Vec<Option<ShardRead>>, old: &[ShardPosition], limit: usize) -> ListPage {
    let (payments, positions) = merge_items(reads, old, limit);
    ListPage { payments, positions }
}

/// Merges the shards' reads (`None`: the shard was done already) into a page of at most
/// `limit`, newest first. Only what is certainly in order is taken: an item older than the
/// point some unfinished shard has read to waits for the next page (that shard may still hold
/// newer ones). A shard whose returned items were all taken moves to where it read to.
pub fn merge_items<T: Clone>(
    reads: Vec<Option<ShardRead<T>>>,
    old: &[ShardPosition],
    limit: usize,
) -> (Vec<T>, Vec<ShardPosition>) {
    let bound = reads.iter().flatten().filter_map(|r| r.evaluated_to.as_deref()).max().map(str::to_owned);
    let mut candidates: Vec<(String, usize, T)> = reads
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
        .flat_map(|(i, r)| r.items.iter().map(move |(sk, p)| (sk.clone(), i, p.clone())))
        .filter(|(sk, _, _)| bound.as_ref().is_none_or(|b| sk >= b))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0));
    candidates.truncate(limit);
    let mut positions = Vec::with_capacity(reads.len());
    for (i, read) in reads.iter().enumerate() {
        let Some(read) = read else {
            positions.push(ShardPosition::Done);
            continue;
        };
        let taken: Vec<&String> = candidates.iter().filter(|c| c.1 == i).map(|c| &c.0).collect();
        positions.push(if taken.len() == read.items.len() {
            match &read.evaluated_to {
                Some(to) => ShardPosition::After(to.clone()),
                None => ShardPosition::Done,
            }
        } else {
            match taken.last() {
                Some(last) => ShardPosition::After((*last).clone()),
                None => old.get(i).cloned().unwrap_or(ShardPosition::Start),
            }
        });
    }
    (candidates.into_iter().map(|(_, _, p)| p).collect(), positions)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::ids::TrackId;
    use crate::money::Yen;
    use crate::payment::{CaptureMode, NewPayment};

    fn payment(n: u32) -> Payment {
        let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap_or_default();
        let (p, _) = Payment::create(
            NewPayment {
                id: PaymentId::generate(),
                account_id: "acct".into(),
                merchant_reference: format!("r{n}"),
                track_id: TrackId::generate(),
                amount: Yen::new(100).unwrap_or_else(|e| panic!("{e}")),
                return_url: "https://m.example/r".into(),
                capture_mode: CaptureMode::Manual,
                limit_second: 600,
                expiry_grace: chrono::Duration::minutes(30),
                list_shard: 0,
                metadata: crate::payment::Metadata::default(),
            },
            at + chrono::Duration::milliseconds(i64::from(n)),
        );
        p
    }

    /// A shard as DynamoDB answers it: newest first after a position, at most `read` items
    /// evaluated, a filter dropping some of them after the read.
    fn read(shard: &[(String, Payment, bool)], position: &ShardPosition, read: usize) -> Option<ShardRead> {
        let after = match position {
            ShardPosition::Done => return None,
            ShardPosition::Start => None,
            ShardPosition::After(sk) => Some(sk.clone()),
        };
        let rest: Vec<&(String, Payment, bool)> =
            shard.iter().filter(|(sk, _, _)| after.as_ref().is_none_or(|a| sk < a)).collect();
        let evaluated: Vec<&&(String, Payment, bool)> = rest.iter().take(read).collect();
        let evaluated_to = (rest.len() > read).then(|| evaluated.last().map(|e| e.0.clone())).flatten();
        let items = evaluated.iter().filter(|e| e.2).map(|e| (e.0.clone(), e.1.clone())).collect();
        Some(ShardRead { items, evaluated_to })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Paging any sharded listing with any limit, any over-read and any filter gives every
        /// match exactly once, newest first.
        #[test]
        fn paging_merged_shards_lists_every_match_once_in_order(
            spread in proptest::collection::vec((0u32..4, any::<bool>()), 0..40),
            shards in 1usize..5,
            limit in 1usize..8,
            over_read in 1usize..4,
        ) {
            let mut by_shard: Vec<Vec<(String, Payment, bool)>> = vec![Vec::new(); shards];
            let mut all = Vec::new();
            for (n, (shard, matches)) in spread.iter().enumerate() {
                let p = payment(n as u32);
                let sk = list_sort_key(p.created_at, &p.id);
                by_shard[*shard as usize % shards].push((sk.clone(), p.clone(), *matches));
                if *matches {
                    all.push((sk, p.id.clone()));
                }
            }
            for shard in &mut by_shard {
                shard.sort_by(|a, b| b.0.cmp(&a.0));
            }
            all.sort_by(|a, b| b.0.cmp(&a.0));
            let want: Vec<PaymentId> = all.into_iter().map(|(_, id)| id).collect();

            let mut positions = vec![ShardPosition::Start; shards];
            let mut got = Vec::new();
            for _ in 0..200 {
                let reads = by_shard.iter().zip(&positions).map(|(s, p)| read(s, p, limit * over_read)).collect();
                let page = merge(reads, &positions, limit);
                prop_assert!(page.payments.len() <= limit);
                got.extend(page.payments.iter().map(|p| p.id.clone()));
                let last = page.is_last();
                positions = page.positions;
                if last {
                    break;
                }
            }
            prop_assert_eq!(got, want);
        }
    }
}
