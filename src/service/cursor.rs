//! Signed cursors of the listings (payments, ledger entries): the shards' positions, signed
//! with a key only the gateway holds (derived from the account's SBPS hash key) and bound to
//! the listing's fingerprint (its kind, the account and the filters), so a cursor that was
//! altered, or is used with other filters, for another listing or by another account, is
//! refused and reveals nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::ServiceError;
use crate::accounts::Account;
use crate::store::listing::ShardPosition;

#[derive(Serialize, Deserialize)]
pub(super) struct CursorBody {
    /// The listing's fingerprint: account and filters.
    pub f: String,
    pub p: Vec<ShardPosition>,
}

fn cursor_mac(account: &Account) -> Hmac<Sha256> {
    // A key of its own, derived from a secret only the gateway holds.
    let mut derive = <Hmac<Sha256> as KeyInit>::new_from_slice(account.sbps.hash_key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    derive.update(b"kantan listing cursor v1");
    let key = derive.finalize().into_bytes();
    <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

pub(super) fn encode(account: &Account, body: &CursorBody) -> Result<String, ServiceError> {
    let json = serde_json::to_vec(body).map_err(|_| ServiceError::Internal("encoding a cursor"))?;
    let mut mac = cursor_mac(account);
    mac.update(&json);
    Ok(format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())))
}

pub(super) fn decode(account: &Account, cursor: &str, expected: &str) -> Result<Vec<ShardPosition>, ServiceError> {
    let (body, tag) = cursor.split_once('.').ok_or(ServiceError::InvalidCursor)?;
    let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| ServiceError::InvalidCursor)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| ServiceError::InvalidCursor)?;
    let mut mac = cursor_mac(account);
    mac.update(&json);
    mac.verify_slice(&tag).map_err(|_| ServiceError::InvalidCursor)?;
    let body: CursorBody = serde_json::from_slice(&json).map_err(|_| ServiceError::InvalidCursor)?;
    if body.f != expected {
        return Err(ServiceError::InvalidCursor);
    }
    Ok(body.p)
}
