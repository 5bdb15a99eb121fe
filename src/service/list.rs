//! Listing an account's payments for reconciliation: filters, pages newest first, and an
//! opaque cursor bound to the account and the filters. The cursor is the shards' positions,
//! signed with a key only the gateway holds (derived from the account's SBPS hash key), so a
//! cursor that was altered, or is used with other filters or by another account, is refused
//! and reveals nothing.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::cursor::{CursorBody, decode, encode};
use super::{Provider, Service, ServiceError};
use crate::accounts::Account;
use crate::payment::{Payment, Status};
use crate::store::Store;
use crate::store::listing::ListFilter;

/// What a merchant asks to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub merchant_reference: Option<String>,
    pub statuses: Vec<Status>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// One page, and the cursor of the next (none after the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub payments: Vec<Payment>,
    pub next_cursor: Option<String>,
}

fn fingerprint(account: &Account, q: &ListQuery) -> String {
    let mut statuses: Vec<&str> = q.statuses.iter().map(|s| s.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let canonical = serde_json::json!([
        account.processing_account_id,
        q.merchant_reference,
        statuses,
        q.created_from.map(|t| t.timestamp_millis()),
        q.created_to.map(|t| t.timestamp_millis()),
        account.list_shards,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

impl<S: Store, P: Provider> Service<S, P> {
    /// A page of `account`'s payments matching `query`, newest first.
    pub async fn list(&self, account: &Account, query: &ListQuery) -> Result<Listed, ServiceError> {
        let fingerprint = fingerprint(account, query);
        let positions = match &query.cursor {
            Some(cursor) => Some(decode(account, cursor, &fingerprint)?),
            None => None,
        };
        let filter = ListFilter {
            account_id: account.processing_account_id.clone(),
            shards: account.list_shards,
            merchant_reference: query.merchant_reference.clone(),
            statuses: query.statuses.clone(),
            created_from: query.created_from,
            created_to: query.created_to,
        };
        let page = match self.store.list_payments(&filter, positions.as_deref(), query.limit).await {
            Err(crate::store::StoreError::InvalidPosition) => return Err(ServiceError::InvalidCursor),
            other => other?,
        };
        let next_cursor = if page.is_last() {
            None
        } else {
            Some(encode(account, &CursorBody { f: fingerprint, p: page.positions })?)
        };
        Ok(Listed { payments: page.payments, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::accounts::demo_account;
    use crate::store::listing::ShardPosition;

    fn query() -> ListQuery {
        ListQuery {
            merchant_reference: None,
            statuses: vec![Status::Captured],
            created_from: None,
            created_to: None,
            limit: 10,
            cursor: None,
        }
    }

    #[test]
    fn a_cursor_is_bound_to_its_account_and_filters_and_cannot_be_altered() {
        let account = demo_account("http://127.0.0.1:3000");
        let mut other = account.clone();
        other.processing_account_id = "2HdOtherAccount000000000000".into();
        other.sbps.hash_key = crate::accounts::Secret::new("another hash key");
        let f = fingerprint(&account, &query());
        let body = CursorBody { f: f.clone(), p: vec![ShardPosition::After("2030-01-01T00:00:00.000Z#x".into())] };
        let cursor = encode(&account, &body).unwrap_or_default();
        assert_eq!(decode(&account, &cursor, &f).ok(), Some(body.p.clone()));
        // Another limit is the same listing; other filters are not.
        assert_eq!(fingerprint(&account, &ListQuery { limit: 99, ..query() }), f);
        let other_filters = fingerprint(&account, &ListQuery { statuses: vec![Status::Pending], ..query() });
        assert_eq!(decode(&account, &cursor, &other_filters), Err(ServiceError::InvalidCursor));
        assert_eq!(decode(&other, &cursor, &fingerprint(&other, &query())), Err(ServiceError::InvalidCursor));
        // A changed position, however small, is refused.
        let (b, tag) = cursor.split_once('.').unwrap_or_default();
        let mut json = URL_SAFE_NO_PAD.decode(b).unwrap_or_default();
        if let Some(last) = json.iter().rposition(|c| *c == b'x') {
            json[last] = b'y';
        }
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&json));
        assert_eq!(decode(&account, &forged, &f), Err(ServiceError::InvalidCursor));
        for junk in ["", ".", "abc", "a.b", &format!("{cursor}x")] {
            assert_eq!(decode(&account, junk, &f), Err(ServiceError::InvalidCursor), "{junk}");
        }
    }
}
