//! What a function reads from Secrets Manager at cold start (or, locally, from a file, inline
//! or the published demo values): the processing accounts and the webhook master key.

use crate::Error;
use crate::accounts::Accounts;
use crate::config::{AccountSource, Settings, WebhookKeySource};
use crate::webhooks::MasterKey;

use super::aws::sdk_config;

/// The processing accounts: from Secrets Manager (`ACCOUNTS_SECRET_ID`, the secret string is
/// the JSON list of accounts), a file, inline JSON, or the demo account.
pub async fn load_accounts(settings: &Settings, aws: Option<&aws_config::SdkConfig>) -> Result<Accounts, Error> {
    let AccountSource::Secret(secret_id) = &settings.accounts else {
        return Ok(settings.load_local_accounts()?);
    };
    let json = read_secret(aws, secret_id, "the accounts secret").await?;
    let accounts = Accounts::from_json(&json)?;
    tracing::info!(secret = %secret_id, accounts = accounts.all().count(), "accounts loaded from Secrets Manager");
    Ok(accounts)
}

/// The webhook master key: from Secrets Manager (`WEBHOOK_MASTER_SECRET_ID`, the secret
/// string is the key), inline (`WEBHOOK_MASTER_KEY`), or the published demo key, which only
/// `local` may use (`allow_demo`). At least 32 characters.
pub async fn load_master_key(
    settings: &Settings,
    aws: Option<&aws_config::SdkConfig>,
    allow_demo: bool,
) -> Result<MasterKey, Error> {
    // The key is the secret's text itself (the template generates 64 random letters and
    // digits), at least 32 bytes of it.
    let decode = |text: &str| -> Result<MasterKey, Error> { Ok(MasterKey::new(text.trim().as_bytes().to_vec())?) };
    match &settings.webhook_key {
        WebhookKeySource::Inline(key) => decode(key.expose()),
        WebhookKeySource::Demo if allow_demo => {
            tracing::info!("no WEBHOOK_MASTER_SECRET_ID or WEBHOOK_MASTER_KEY: signing webhooks with the demo key");
            Ok(MasterKey::demo())
        }
        WebhookKeySource::Demo => {
            let why = "no WEBHOOK_MASTER_SECRET_ID (or WEBHOOK_MASTER_KEY): a Lambda function never signs with the \
                       published demo key";
            tracing::error!(reason = why, "refusing to start");
            Err(why.into())
        }
        WebhookKeySource::Secret(id) => decode(&read_secret(aws, id, "the webhook master key secret").await?),
    }
}

/// The string of Secrets Manager secret `id` (`what` names it in errors), with `aws` or the
/// SDK configuration loaded here.
async fn read_secret(aws: Option<&aws_config::SdkConfig>, id: &str, what: &str) -> Result<String, Error> {
    let loaded;
    let aws = match aws {
        Some(c) => c,
        None => {
            loaded = sdk_config().await;
            &loaded
        }
    };
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let secret = client.get_secret_value().secret_id(id).send().await.map_err(|e| {
        format!("could not read {what} {id}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
    })?;
    Ok(secret.secret_string().ok_or_else(|| format!("{what} has no SecretString"))?.to_owned())
}
