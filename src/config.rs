//! Configuration from the environment, read once per cold start (DESIGN §6): processing
//! accounts with their SBPS credentials, where to store, the public base URL.

use std::fmt;
use std::path::PathBuf;

use chrono::Duration;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::payment::CaptureMode;

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the accounts could not be read: {0}")]
    Accounts(String),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
}

/// The accounts the gateway serves.
#[derive(Debug, Clone)]
pub struct Accounts {
    accounts: Vec<Account>,
    /// Every accepted API key's SHA-256, with the index of its account.
    keys: Vec<(usize, [u8; 32])>,
}

fn key_hash(account: &Account, field: &str, hex_text: &str) -> Result<[u8; 32], ConfigError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex_text.trim(), &mut hash).map_err(|_| {
        ConfigError::Accounts(format!("account {}: {field} must be 64 hex characters", account.processing_account_id))
    })?;
    Ok(hash)
}

impl Accounts {
    pub fn new(accounts: Vec<Account>) -> Result<Self, ConfigError> {
        let mut out: Vec<Account> = Vec::with_capacity(accounts.len());
        let mut keys = Vec::with_capacity(accounts.len());
        for account in accounts {
            keys.push((out.len(), key_hash(&account, "apiKeySha256", &account.api_key_sha256)?));
            if let Some(previous) = &account.previous_api_key_sha256 {
                keys.push((out.len(), key_hash(&account, "previousApiKeySha256", previous)?));
            }
            if !(1..=crate::store::listing::MAX_LIST_SHARDS).contains(&account.list_shards) {
                return Err(ConfigError::Accounts(format!(
                    "account {}: listShards must be 1 to 16",
                    account.processing_account_id
                )));
            }
            if out.iter().any(|a| a.processing_account_id == account.processing_account_id) {
                return Err(ConfigError::Accounts(format!(
                    "account {} is listed twice",
                    account.processing_account_id
                )));
            }
            out.push(account);
        }
        if out.is_empty() {
            return Err(ConfigError::Accounts("no account is configured".into()));
        }
        for (i, (_, hash)) in keys.iter().enumerate() {
            if keys[..i].iter().any(|(_, other)| other == hash) {
                return Err(ConfigError::Accounts("one API key is configured twice".into()));
            }
        }
        Ok(Accounts { accounts: out, keys })
    }

    /// Parses the JSON list of accounts of `ACCOUNTS_FILE` / `ACCOUNTS_JSON` / the secret.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let accounts: Vec<Account> =
            serde_json::from_str(json).map_err(|e| ConfigError::Accounts(format!("not a list of accounts: {e}")))?;
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

/// Where payments are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Sqlite { path: PathBuf },
    DynamoDb { table: String },
}

/// Where the accounts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSource {
    File(PathBuf),
    Json(String),
    Secret(String),
    Demo,
}

/// Where the webhook master key comes from (DESIGN §6, §8).
#[derive(Clone)]
pub enum WebhookKeySource {
    /// `WEBHOOK_MASTER_SECRET_ID`: a Secrets Manager secret whose string is the base64 key.
    Secret(String),
    /// `WEBHOOK_MASTER_KEY`: the base64 key itself (development, `cargo lambda watch`).
    Inline(Secret),
    /// Neither: `local` uses the published demo key; a Lambda function refuses to start.
    Demo,
}

impl std::fmt::Debug for WebhookKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookKeySource::Secret(id) => write!(f, "Secret({id})"),
            WebhookKeySource::Inline(_) => f.write_str("Inline(..)"),
            WebhookKeySource::Demo => f.write_str("Demo"),
        }
    }
}

/// Everything read from the environment at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub port: u16,
    pub public_base_url: String,
    /// Where the demo account finds the SBPS sandbox (`SANDBOX_BASE_URL`; default the public
    /// base URL, where `local` serves it).
    pub sandbox_base_url: String,
    pub store: StoreConfig,
    pub accounts: AccountSource,
    /// Time a pending payment keeps after `request_date + limit_second` before it expires.
    pub expiry_grace: Duration,
    /// SBPS API timeouts: to connect, and for the whole call.
    pub sbps_connect_timeout: std::time::Duration,
    pub sbps_timeout: std::time::Duration,
    pub webhook_key: WebhookKeySource,
    /// `WEBHOOK_QUEUE_URL`: the SQS queue of `deliver` (AWS); `local` queues in process.
    pub webhook_queue_url: Option<String>,
    /// `WEBHOOK_LOOPBACK_ONLY=1` (local runs that must stay on the machine, such as the
    /// Schemathesis run): webhooks go to loopback endpoints only; any other host is refused
    /// before a name is even looked up.
    pub webhook_loopback_only: bool,
}

impl Settings {
    /// Reads the settings from a variable lookup (the process environment in production).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let port = match var("PORT") {
            Some(p) => p.parse().map_err(|_| ConfigError::Invalid("PORT", p))?,
            None => 3000,
        };
        let public_base_url = var("PUBLIC_BASE_URL")
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}"))
            .trim_end_matches('/')
            .to_owned();
        url::Url::parse(&public_base_url).map_err(|e| ConfigError::Invalid("PUBLIC_BASE_URL", e.to_string()))?;
        let sandbox_base_url = var("SANDBOX_BASE_URL")
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| public_base_url.clone());
        let store = match var("TABLE_NAME") {
            Some(table) => StoreConfig::DynamoDb { table },
            None => StoreConfig::Sqlite {
                path: PathBuf::from(var("KANTAN_DB_PATH").unwrap_or_else(|| ".kantan/local.sqlite".into())),
            },
        };
        let accounts = if let Some(path) = var("ACCOUNTS_FILE") {
            AccountSource::File(path.into())
        } else if let Some(json) = var("ACCOUNTS_JSON") {
            AccountSource::Json(json)
        } else if let Some(id) = var("ACCOUNTS_SECRET_ID") {
            AccountSource::Secret(id)
        } else {
            AccountSource::Demo
        };
        let grace = match var("PENDING_GRACE_SECONDS") {
            Some(s) => s.parse::<u32>().map_err(|_| ConfigError::Invalid("PENDING_GRACE_SECONDS", s))?,
            None => 30 * 60,
        };
        let millis = |name: &'static str, default: u64| match var(name) {
            Some(s) => {
                s.parse::<u64>().map(std::time::Duration::from_millis).map_err(|_| ConfigError::Invalid(name, s))
            }
            None => Ok(std::time::Duration::from_millis(default)),
        };
        Ok(Settings {
            port,
            public_base_url,
            sandbox_base_url,
            store,
            accounts,
            expiry_grace: Duration::seconds(i64::from(grace)),
            sbps_connect_timeout: millis("SBPS_CONNECT_TIMEOUT_MS", 3_000)?,
            sbps_timeout: millis("SBPS_TIMEOUT_MS", 15_000)?,
            webhook_key: match (var("WEBHOOK_MASTER_SECRET_ID"), var("WEBHOOK_MASTER_KEY")) {
                (Some(id), _) => WebhookKeySource::Secret(id),
                (None, Some(key)) => WebhookKeySource::Inline(Secret::new(key)),
                (None, None) => WebhookKeySource::Demo,
            },
            webhook_queue_url: var("WEBHOOK_QUEUE_URL"),
            webhook_loopback_only: match var("WEBHOOK_LOOPBACK_ONLY").as_deref() {
                None | Some("0" | "false") => false,
                Some("1" | "true") => true,
                Some(other) => return Err(ConfigError::Invalid("WEBHOOK_LOOPBACK_ONLY", other.to_owned())),
            },
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// The result-notification URL SBPS posts to (`pagecon_url`).
    pub fn notification_url(&self) -> String {
        format!("{}/v1/notifications/sbps", self.public_base_url)
    }

    /// Where webhooks may be delivered: public addresses; in local mode loopback too; with
    /// `WEBHOOK_LOOPBACK_ONLY`, loopback only.
    pub fn webhook_address_policy(&self) -> crate::webhooks::AddressPolicy {
        use crate::webhooks::AddressPolicy;
        match (self.is_local(), self.webhook_loopback_only) {
            (true, true) => AddressPolicy::LOOPBACK_ONLY,
            (true, false) => AddressPolicy::LOCAL,
            (false, _) => AddressPolicy::PRODUCTION,
        }
    }

    /// Local mode: the gateway itself runs on a loopback address, so merchants' return URLs
    /// may be plain http on loopback too.
    pub fn is_local(&self) -> bool {
        url::Url::parse(&self.public_base_url)
            .ok()
            .and_then(|u| u.host().map(|h| is_loopback_host(&h)))
            .unwrap_or(false)
    }

    /// Loads the accounts from a file, inline JSON or the demo (Secrets Manager is read by the
    /// AWS wiring).
    pub fn load_local_accounts(&self) -> Result<Accounts, ConfigError> {
        match &self.accounts {
            AccountSource::File(path) => {
                let json = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Accounts(format!("{}: {e}", path.display())))?;
                Accounts::from_json(&json)
            }
            AccountSource::Json(json) => Accounts::from_json(json),
            AccountSource::Demo => {
                tracing::info!(
                    account = DEMO_ACCOUNT_ID,
                    "no ACCOUNTS_FILE, ACCOUNTS_JSON or ACCOUNTS_SECRET_ID: serving the local demo account"
                );
                Accounts::new(vec![demo_account(&self.sandbox_base_url)])
            }
            AccountSource::Secret(_) => {
                Err(ConfigError::Accounts("ACCOUNTS_SECRET_ID needs the Secrets Manager loader".into()))
            }
        }
    }
}

pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
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

    #[test]
    fn settings_default_to_the_local_demo() {
        let s = Settings::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.port, 3000);
        assert_eq!(s.public_base_url, "http://127.0.0.1:3000");
        assert_eq!(s.notification_url(), "http://127.0.0.1:3000/v1/notifications/sbps");
        assert_eq!(s.accounts, AccountSource::Demo);
        assert!(s.is_local());
        assert!(matches!(s.store, StoreConfig::Sqlite { .. }));
    }

    #[test]
    fn table_name_selects_dynamodb() {
        let s = Settings::from_lookup(|n| (n == "TABLE_NAME").then(|| "payments".to_owned()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.store, StoreConfig::DynamoDb { table: "payments".into() });
    }
}
