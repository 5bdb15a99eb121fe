//! `Settings`: what the environment says, read once per cold start (DESIGN §6): where to
//! store, where the accounts and the webhook master key come from, the public base URL and the
//! SBPS timeouts. The accounts themselves are [`crate::accounts`].

use std::path::PathBuf;

use chrono::Duration;

use crate::accounts::{Accounts, AccountsError, DEMO_ACCOUNT_ID, Secret, demo_account};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
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

/// Whether `local` serves the SBPS simulator (`SBPS_SIMULATOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimulatorSetting {
    /// Unset (or `auto`): with the demo account only.
    Auto,
    /// `on`: with any accounts, on a loopback base URL only, on a clock of its own.
    On,
    /// `off`: never.
    Off,
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
    /// `SBPS_SIMULATOR`: whether `local` serves the SBPS simulator and its controls.
    pub sbps_simulator: SimulatorSetting,
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
            sbps_simulator: match var("SBPS_SIMULATOR").as_deref() {
                None | Some("auto") => SimulatorSetting::Auto,
                Some("on") => SimulatorSetting::On,
                Some("off") => SimulatorSetting::Off,
                Some(other) => return Err(ConfigError::Invalid("SBPS_SIMULATOR", other.to_owned())),
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
                let json =
                    std::fs::read_to_string(path).map_err(|e| AccountsError(format!("{}: {e}", path.display())))?;
                Ok(Accounts::from_json(&json)?)
            }
            AccountSource::Json(json) => Ok(Accounts::from_json(json)?),
            AccountSource::Demo => {
                tracing::info!(
                    account = DEMO_ACCOUNT_ID,
                    "no ACCOUNTS_FILE, ACCOUNTS_JSON or ACCOUNTS_SECRET_ID: serving the local demo account"
                );
                Ok(Accounts::new(vec![demo_account(&self.sandbox_base_url)])?)
            }
            AccountSource::Secret(_) => {
                Err(AccountsError("ACCOUNTS_SECRET_ID needs the Secrets Manager loader".into()).into())
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
