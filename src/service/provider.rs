//! The provider port: send one attempt of an operation's call and say how it ended. The SBPS
//! XML API client implements it for real; [`ScriptedProvider`] answers from a script, so the
//! service's tests run in milliseconds with no sandbox.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::accounts::Account;
use crate::payment::{Operation, ProviderAnswer};
use crate::sbps::api::SbpsClient;

pub trait Provider: Send + Sync + 'static {
    /// Sends `operation`'s provider call for the purchase `tracking_id` of `account`, once.
    fn send(
        &self,
        account: &Account,
        tracking_id: &str,
        operation: &Operation,
        now: DateTime<Utc>,
    ) -> impl Future<Output = ProviderAnswer> + Send;
}

impl Provider for SbpsClient {
    async fn send(&self, account: &Account, tracking_id: &str, op: &Operation, now: DateTime<Utc>) -> ProviderAnswer {
        let Some(call) = op.provider_call else {
            return ProviderAnswer::Unknown { description: "The operation has no provider call.".into() };
        };
        SbpsClient::send(self, &account.sbps, tracking_id, call, op.kind, op.full, now).await
    }
}

/// One call as the scripted provider saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCall {
    pub tracking_id: String,
    pub operation: Operation,
}

/// A provider that answers each call with the next scripted answer (`Succeeded` once the
/// script is empty) and records every call. Clones share the script and the record.
#[derive(Debug, Clone, Default)]
pub struct ScriptedProvider {
    script: Arc<Mutex<VecDeque<ProviderAnswer>>>,
    sent: Arc<Mutex<Vec<SentCall>>>,
    /// Held while answering, so a test can keep a call "in flight".
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl ScriptedProvider {
    pub fn new() -> Self {
        ScriptedProvider::default()
    }

    /// Queues answers for the next calls, one per call.
    pub fn script(&self, answers: impl IntoIterator<Item = ProviderAnswer>) {
        if let Ok(mut s) = self.script.lock() {
            s.extend(answers);
        }
    }

    /// Every call sent so far.
    pub fn sent(&self) -> Vec<SentCall> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Holds every call until the guard is dropped.
    pub async fn hold(&self) -> tokio::sync::OwnedMutexGuard<()> {
        Arc::clone(&self.gate).lock_owned().await
    }
}

impl Provider for ScriptedProvider {
    async fn send(&self, _account: &Account, tracking_id: &str, op: &Operation, _now: DateTime<Utc>) -> ProviderAnswer {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(SentCall { tracking_id: tracking_id.to_owned(), operation: op.clone() });
        }
        let _in_flight = self.gate.lock().await;
        self.script.lock().ok().and_then(|mut s| s.pop_front()).unwrap_or(ProviderAnswer::Succeeded)
    }
}
