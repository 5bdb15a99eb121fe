//! Processing accounts (DESIGN §6): who may use the gateway (the SHA-256 of each API key,
//! compared in constant time), each account's SBPS service and credentials and its own
//! settings, and the fixed local demo account. Read by the composition root from a file,
//! inline JSON or Secrets Manager; nothing here reads the environment.

use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::payment::CaptureMode;

/// An account's listing index is spread over at most this many partitions (DynamoDB).
pub const MAX_LIST_SHARDS: u32 = 16;

/// A secret string: never printed, not even by `{:?}`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An account's SBPS service.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SbpsAccount {
    pub merchant_id: String,
    pub service_id: String,
    pub hash_key: Secret,
    /// Basic-auth user of the XML API; merchant_id + service_id when not given (spec §8.1).
    pub api_user: Option<String>,
    /// Basic-auth password of the XML API; the hash key when not given.
    pub api_password: Option<Secret>,
    pub purchase_url: String,
    pub api_url: String,
}

impl SbpsAccount {
    pub fn api_user(&self) -> String {
        self.api_user.clone().unwrap_or_else(|| format!("{}{}", self.merchant_id, self.service_id))
    }
    pub fn api_password(&self) -> &Secret {
        self.api_password.as_ref().unwrap_or(&self.hash_key)
    }
}

/// A processing account: who may use it (the SHA-256 of its API key) and its SBPS service.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub processing_account_id: String,
    /// Lower-case hex SHA-256 of the API key; the key itself is never kept.
    pub api_key_sha256: String,
    /// While an API key is rotated: the SHA-256 of the key being replaced, which keeps working
    /// beside the new one until it is removed (infra/RUNBOOK.md).
    #[serde(default)]
    pub previous_api_key_sha256: Option<String>,
    pub capture_mode: CaptureMode,
    pub sbps: SbpsAccount,
    /// How many partitions the account's listing index is spread over (DynamoDB): one per
    /// 250 payments a second or so (each payment writes the index about four times). 1 to 16;
    /// only ever raised, since listing reads every shard up to it.
    #[serde(default = "one_shard")]
    pub list_shards: u32,
}

fn one_shard() -> u32 {
    1
}

/// Why the accounts could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the accounts could not be read: {0}")]
pub struct AccountsError(pub String);

/// The accounts the gateway serves.
#[derive(Debug, Clone)]
pub struct Accounts {
    accounts: Vec<Account>,
    /// Every accepted API key's SHA-256, with the index of its account.
    keys: Vec<(usize, [u8; 32])>,
}

fn key_hash(account: &Account, field: &str, hex_text: &str) -> Result<[u8; 32], AccountsError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex_text.trim(), &mut hash).map_err(|_| {
        AccountsError(format!("account {}: {field} must be 64 hex characters", account.processing_account_id))
    })?;
    Ok(hash)
}

impl Accounts {
    pub fn new(accounts: Vec<Account>) -> Result<Self, AccountsError> {
        let mut out: Vec<Account> = Vec::with_capacity(accounts.len());
        let mut keys = Vec::with_capacity(accounts.len());
        for account in accounts {
            keys.push((out.len(), key_hash(&account, "apiKeySha256", &account.api_key_sha256)?));
            if let Some(previous) = &account.previous_api_key_sha256 {
                keys.push((out.len(), key_hash(&account, "previousApiKeySha256", previous)?));
            }
            if !(1..=MAX_LIST_SHARDS).contains(&account.list_shards) {
                return Err(AccountsError(format!(
                    "account {}: listShards must be 1 to 16",
                    account.processing_account_id
                )));
            }
            if out.iter().any(|a| a.processing_account_id == account.processing_account_id) {
                return Err(AccountsError(format!("account {} is listed twice", account.processing_account_id)));
            }
            out.push(account);
        }
        if out.is_empty() {
            return Err(AccountsError("no account is configured".into()));
        }
        for (i, (_, hash)) in keys.iter().enumerate() {
            if keys[..i].iter().any(|(_, other)| other == hash) {
                return Err(AccountsError("one API key is configured twice".into()));
            }
        }
        Ok(Accounts { accounts: out, keys })
    }

    /// Parses the JSON list of accounts of `ACCOUNTS_FILE` / `ACCOUNTS_JSON` / the secret.
    pub fn from_json(json: &str) -> Result<Self, AccountsError> {
        let accounts: Vec<Account> =
            serde_json::from_str(json).map_err(|e| AccountsError(format!("not a list of accounts: {e}")))?;
        Accounts::new(accounts)
    }

    pub fn get(&self, processing_account_id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.processing_account_id == processing_account_id)
    }

    /// The account of an SBPS merchant_id + service_id.
    pub fn by_sbps_service(&self, merchant_id: &str, service_id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.sbps.merchant_id == merchant_id && a.sbps.service_id == service_id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter()
    }

    /// The account whose API key (current or, during a rotation, previous) this is. Every
    /// key's hash is compared, in constant time, so the time taken says nothing about which
    /// account (if any) matched.
    pub fn authenticate(&self, api_key: &str) -> Option<&Account> {
        let presented: [u8; 32] = Sha256::digest(api_key.as_bytes()).into();
        let mut found = u32::MAX;
        for (account, hash) in &self.keys {
            let matches = presented.ct_eq(hash);
            found = u32::conditional_select(&found, &(*account as u32), matches);
        }
        self.accounts.get(found as usize)
    }
}

pub const DEMO_ACCOUNT_ID: &str = "2HdN2jq6XWmlkhqRC2gDTNYCvNH";
pub const DEMO_API_KEY: &str = "sk_local_demo";
pub const DEMO_MERCHANT_ID: &str = "99999";
pub const DEMO_SERVICE_ID: &str = "000";
pub const DEMO_HASH_KEY: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

/// The fixed local demo account (DESIGN §6), its SBPS URLs on the built-in sandbox.
pub fn demo_account(sandbox_base_url: &str) -> Account {
    Account {
        processing_account_id: DEMO_ACCOUNT_ID.into(),
        api_key_sha256: hex::encode(Sha256::digest(DEMO_API_KEY.as_bytes())),
        previous_api_key_sha256: None,
        capture_mode: CaptureMode::Manual,
        sbps: SbpsAccount {
            merchant_id: DEMO_MERCHANT_ID.into(),
            service_id: DEMO_SERVICE_ID.into(),
            hash_key: Secret::new(DEMO_HASH_KEY),
            api_user: None,
            api_password: None,
            purchase_url: format!("{sandbox_base_url}/sandbox/sbps/purchase"),
            api_url: format!("{sandbox_base_url}/sandbox/sbps/api"),
        },
        list_shards: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_key_authenticates_the_demo_account_only() {
        let accounts = Accounts::new(vec![demo_account("http://127.0.0.1:3000")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            accounts.authenticate("sk_local_demo").map(|a| a.processing_account_id.as_str()),
            Some(DEMO_ACCOUNT_ID)
        );
        assert!(accounts.authenticate("sk_local_demo ").is_none());
        assert!(accounts.authenticate("").is_none());
    }

    #[test]
    fn during_a_rotation_both_keys_open_the_account_and_no_other() {
        let hash = |key: &str| hex::encode(Sha256::digest(key.as_bytes()));
        let mut rotating = demo_account("http://127.0.0.1:3000");
        rotating.api_key_sha256 = hash("sk_new");
        rotating.previous_api_key_sha256 = Some(hash("sk_old"));
        let mut other = demo_account("http://127.0.0.1:3000");
        other.processing_account_id = "other".into();
        other.api_key_sha256 = hash("sk_other");
        let accounts = Accounts::new(vec![rotating.clone(), other.clone()]).unwrap_or_else(|e| panic!("{e}"));
        let id = |key: &str| accounts.authenticate(key).map(|a| a.processing_account_id.clone());
        assert_eq!(id("sk_new").as_deref(), Some(DEMO_ACCOUNT_ID));
        assert_eq!(id("sk_old").as_deref(), Some(DEMO_ACCOUNT_ID));
        assert_eq!(id("sk_other").as_deref(), Some("other"));
        assert_eq!(id("sk_local_demo"), None);

        // One key for two accounts, or a malformed previous hash, is refused at start.
        other.previous_api_key_sha256 = Some(hash("sk_old"));
        assert!(Accounts::new(vec![rotating.clone(), other]).is_err());
        rotating.previous_api_key_sha256 = Some("not hex".into());
        assert!(Accounts::new(vec![rotating]).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let account = demo_account("http://127.0.0.1:3000");
        let printed = format!("{account:?}");
        assert!(!printed.contains(DEMO_HASH_KEY));
        assert!(!printed.contains(DEMO_API_KEY));
    }
}
