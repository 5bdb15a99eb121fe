//! Webhooks end to end on `local`: endpoints registered on the sandbox receiver, the
//! background runner ticked by hand on the manual clock.

use std::sync::Arc;

use kantan::local::background::{LocalOutbox, OutboxSource, Runner, Tick};
use kantan::metrics::Metrics;
use kantan::sbps::api::SbpsClient;
use kantan::store::{DynamoStore, SqliteStore};
use serde_json::{Value, json};

use super::flow::reply;
use super::{DEMO_KEY, Local, start_local_with};

pub struct Hooked<S: LocalOutbox> {
    pub local: Local<S>,
    pub runner: Runner<S, SbpsClient>,
    /// The secret each inbox was given, to verify every arrival independently.
    secrets: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// On the embedded store, its outbox table.
pub async fn hooked() -> Hooked<SqliteStore> {
    let local = start_local_with(SqliteStore::in_memory().expect("store"), Metrics::silent()).await;
    let runner = Runner::new(Arc::clone(&local.app)).await.expect("runner");
    Hooked { local, runner, secrets: Default::default() }
}

/// On DynamoDB Local, its stream (handed to `dispatch` as Lambda would).
pub async fn hooked_dynamo() -> Hooked<DynamoStore> {
    let store = super::dynamo::store().await;
    let reader = super::dynamo::stream_reader(&store);
    hooked_dynamo_on(store, reader).await
}

/// On `store` (DynamoDB Local, possibly through a fault proxy), its stream read by `reader`.
pub async fn hooked_dynamo_on(
    store: DynamoStore,
    reader: kantan::local::dynamodb_stream::StreamReader,
) -> Hooked<DynamoStore> {
    let local = start_local_with(store, Metrics::silent()).await;
    let runner =
        Runner::with_source(Arc::clone(&local.app), OutboxSource::Stream(Box::new(reader))).await.expect("runner");
    Hooked { local, runner, secrets: Default::default() }
}

impl<S: LocalOutbox> Hooked<S> {
    pub fn inbox_url(&self, name: &str) -> String {
        format!("{}/sandbox/webhooks/{name}", self.local.base)
    }

    /// Registers the inbox `name` for `events` (empty: all); sets the inbox's secret. Answers
    /// the endpoint's JSON.
    pub async fn register(&self, name: &str, events: &[&str]) -> Value {
        let mut body = json!({"url": self.inbox_url(name)});
        if !events.is_empty() {
            body["events"] = json!(events);
        }
        let r = reply(
            self.local.http.post(format!("{}/v1/webhook-endpoints", self.local.base)).bearer_auth(DEMO_KEY).json(&body),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let endpoint = r.json();
        self.control(name, json!({"secret": endpoint["secret"]})).await;
        endpoint
    }

    pub async fn control(&self, name: &str, body: Value) {
        if let Some(secret) = body["secret"].as_str()
            && let Ok(mut secrets) = self.secrets.lock()
        {
            secrets.insert(name.to_owned(), secret.to_owned());
        }
        let r = reply(self.local.http.post(format!("{}/control", self.inbox_url(name))).json(&body)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    /// Tells the inbox to answer `status` the next `times` deliveries.
    pub async fn answer(&self, name: &str, status: u16, times: u32) {
        self.control(name, json!({"answer": {"status": status, "times": times}})).await;
    }

    /// What the inbox received. Every arrival the receiver verified must verify with the
    /// `standardwebhooks` crate too (an independent implementation).
    pub async fn arrivals(&self, name: &str) -> Vec<Value> {
        let r = reply(self.local.http.get(self.inbox_url(name))).await;
        let arrivals = r.json()["received"].as_array().cloned().unwrap_or_default();
        let secret = self.secrets.lock().ok().and_then(|s| s.get(name).cloned());
        for a in arrivals.iter().filter(|a| a["verified"] == true) {
            let secret = secret.as_deref().expect("a verified arrival has a secret");
            assert!(independently_verified(a, secret), "standardwebhooks refuses {a}");
        }
        arrivals
    }

    /// Ticks until a tick does nothing (at most 50).
    pub async fn settle(&self) -> Tick {
        let mut total = Tick::default();
        for _ in 0..50 {
            let tick = self.runner.tick().await;
            total.dispatched += tick.dispatched;
            total.delivered += tick.delivered;
            total.swept |= tick.swept;
            if tick.dispatched == 0 && tick.delivered == 0 {
                break;
            }
        }
        total
    }

    /// Ticks until the sweeper, dispatch and deliveries are all idle (at most 200 ticks): the
    /// sweeper has caught up with the clock.
    pub async fn run_until_idle(&self) {
        for _ in 0..200 {
            let tick = self.runner.tick().await;
            if !tick.swept && tick.dispatched == 0 && tick.delivered == 0 {
                return;
            }
        }
    }

    /// The payment as stored (no read through the API, which may expire or recover it).
    pub async fn stored(&self, id: &str) -> kantan::payment::Payment {
        let id: kantan::ids::PaymentId = id.parse().expect("id");
        self.local.app.service.store.payment(&id).await.expect("read").expect("payment")
    }

    /// The payment's events as `GET /v1/payments/{id}/events` answers them.
    pub async fn events(&self, id: &str) -> Vec<Value> {
        let r =
            reply(self.local.http.get(format!("{}/v1/payments/{id}/events", self.local.base)).bearer_auth(DEMO_KEY))
                .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["data"].as_array().cloned().unwrap_or_default()
    }
}

/// Verifies an arrival with the `standardwebhooks` crate and `secret`.
pub fn independently_verified(arrival: &Value, secret: &str) -> bool {
    let mut headers = lambda_http::http::HeaderMap::new();
    for (name, field) in [("webhook-id", "id"), ("webhook-timestamp", "timestamp"), ("webhook-signature", "signature")]
    {
        match arrival[field].as_str().unwrap_or_default().parse() {
            Ok(value) => {
                headers.insert(name, value);
            }
            Err(_) => return false,
        }
    }
    let Ok(verifier) = standardwebhooks::Webhook::new(secret) else { return false };
    verifier.verify(arrival["body"].as_str().unwrap_or_default().as_bytes(), &headers).is_ok()
}
