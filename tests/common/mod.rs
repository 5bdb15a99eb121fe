//! Shared test wiring: an app on a given store with a manual clock, and request builders.
#![allow(dead_code)]

/// Runs `async fn $name(h: Hooked<S>)` once on the embedded store and once on DynamoDB Local.
#[allow(unused_macros)]
macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::hooks::hooked().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamodb() {
                super::$name(crate::common::hooks::hooked_dynamo().await).await
            }
        }
    };
}

/// Runs `async fn $name(local: Local<S>)` once on the embedded store and once on DynamoDB Local.
#[allow(unused_macros)]
macro_rules! on_both_stores_local {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::start_local().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamodb() {
                super::$name(crate::common::start_local_on(crate::common::dynamo::store().await).await).await
            }
        }
    };
}

pub mod dynamo;
pub mod fault_proxy;
pub mod flow;
pub mod hooks;
pub mod moto;
pub mod openapi;

use chrono::{DateTime, TimeZone, Utc};
use kantan::accounts::{Account, Accounts, demo_account};
use kantan::clock::Clock;
use kantan::config::Settings;
use kantan::http::{App, handle};
use kantan::local::sandbox::Sandbox;
use kantan::metrics::Metrics;
use kantan::sbps::api::SbpsClient;
use kantan::service::{Policy, Provider, Service};
use kantan::store::{Persistence, SqliteStore};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The seed's 16 redirect params, in the seed's order.
pub const SEED_PARAMS: [&str; 16] = [
    "pay_method",
    "merchant_id",
    "service_id",
    "cust_code",
    "order_id",
    "item_id",
    "amount",
    "pay_type",
    "service_type",
    "success_url",
    "cancel_url",
    "error_url",
    "pagecon_url",
    "request_date",
    "limit_second",
    "sps_hashcode",
];

pub const DEMO_KEY: &str = "sk_local_demo";
pub const OTHER_KEY: &str = "sk_other_account";
pub const OTHER_ACCOUNT: &str = "2HdOtherAccount000000000000";

/// 2030-11-10 12:00 JST: in the future, so that no TTL sweeper (DynamoDB Local has one) deletes
/// records the tests still read.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 11, 10, 3, 0, 0).single().expect("valid time")
}

pub fn settings() -> Settings {
    Settings::from_lookup(|_| None).expect("default settings")
}

/// A second account, on the same SBPS as the demo (at `public_base_url`'s sandbox).
pub fn other_account(public_base_url: &str) -> Account {
    let mut a = demo_account(public_base_url);
    a.processing_account_id = OTHER_ACCOUNT.into();
    a.api_key_sha256 = hex::encode(Sha256::digest(OTHER_KEY.as_bytes()));
    a.sbps.merchant_id = "88888".into();
    // Its listing is spread over 4 shards (DynamoDB), to test the merge.
    a.list_shards = 4;
    a
}

pub fn app_on<S: Persistence>(store: S) -> App<S> {
    app_with(store, settings())
}

pub fn app_with<S: Persistence>(store: S, settings: Settings) -> App<S> {
    let metrics = Metrics::silent();
    let sbps = SbpsClient::new(settings.sbps_connect_timeout, settings.sbps_timeout, metrics.clone());
    app_with_provider(store, sbps, settings, metrics)
}

pub fn accounts(settings: &Settings) -> Accounts {
    Accounts::new(vec![demo_account(&settings.public_base_url), other_account(&settings.public_base_url)])
        .expect("accounts")
}

pub fn app_with_provider<S: Persistence, P: Provider>(
    store: S,
    provider: P,
    settings: Settings,
    metrics: Metrics,
) -> App<S, P> {
    let policy = Policy::new(settings.sbps_timeout, settings.expiry_grace);
    let service =
        Service { store, provider, accounts: accounts(&settings), clock: Clock::manual(start()), metrics, policy };
    App::new(service, settings)
}

/// The gateway and the SBPS sandbox on one local port, as `local` runs them, sharing a manual
/// clock; SBPS calls time out after one second.
pub struct Local<S = SqliteStore> {
    pub base: String,
    pub app: Arc<App<S>>,
    pub sandbox: Arc<Sandbox>,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl<S> Drop for Local<S> {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn start_local() -> Local {
    start_local_on(SqliteStore::in_memory().expect("store")).await
}

pub async fn start_local_on<S: Persistence>(store: S) -> Local<S> {
    start_local_with(store, Metrics::silent()).await
}

pub async fn start_local_with<S: Persistence>(store: S, metrics: Metrics) -> Local<S> {
    let listener = kantan::local::server::bind(0).await.expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let settings = Settings::from_lookup(|name| match name {
        "PORT" => Some(port.clone()),
        "SBPS_TIMEOUT_MS" => Some("1000".into()),
        "SBPS_CONNECT_TIMEOUT_MS" => Some("1000".into()),
        _ => None,
    })
    .expect("settings");
    let base = settings.public_base_url.clone();
    let sbps = SbpsClient::new(settings.sbps_connect_timeout, settings.sbps_timeout, metrics.clone());
    // With its local webhook machinery (nothing runs it unless a test makes a runner).
    let app = kantan::local::background::with_local_webhooks(app_with_provider(store, sbps, settings, metrics))
        .await
        .expect("local webhooks");
    let sandbox = Arc::new(
        Sandbox::new(app.service.clock.clone(), Sandbox::merchants_of(&app.service.accounts)).expect("sandbox"),
    );
    let app = Arc::new(app);
    let server = tokio::spawn(kantan::local::server::serve(app.clone(), Some(sandbox.clone()), listener));
    Local { base, app, sandbox, http: reqwest::Client::new(), server }
}

pub fn app() -> App<SqliteStore> {
    app_on(SqliteStore::in_memory().expect("in-memory store"))
}

pub fn seed_body(reference: &str) -> Value {
    json!({
        "processingAccountId": "2HdN2jq6XWmlkhqRC2gDTNYCvNH",
        "merchantReference": reference,
        "amount": {"value": 200, "currency": "jpy"},
        "paymentMethod": {
            "type": "au_kantan_kessai",
            "auKantanKessai": {"returnUrl": "https://merchant.site/complete-payment"}
        }
    })
}

pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub key: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: Vec<u8>,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a str) -> Self {
        Call { method: "GET", path, key: Some(DEMO_KEY), idempotency_key: None, content_type: None, body: vec![] }
    }
    pub fn post(path: &'a str, body: &Value) -> Self {
        Call {
            method: "POST",
            path,
            key: Some(DEMO_KEY),
            idempotency_key: None,
            content_type: Some("application/json"),
            body: serde_json::to_vec(body).expect("json"),
        }
    }
    pub fn key(mut self, key: Option<&'a str>) -> Self {
        self.key = key;
        self
    }
    pub fn idempotency(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }
    pub fn raw(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }
    pub fn content_type(mut self, ct: Option<&'a str>) -> Self {
        self.content_type = ct;
        self
    }
    pub fn request(&self) -> Request {
        let mut b = lambda_http::http::Request::builder().method(self.method).uri(self.path);
        if let Some(k) = self.key {
            b = b.header("authorization", format!("Bearer {k}"));
        }
        if let Some(k) = self.idempotency_key {
            b = b.header("idempotency-key", k);
        }
        if let Some(ct) = self.content_type {
            b = b.header("content-type", ct);
        }
        let body = if self.body.is_empty() { Body::Empty } else { Body::Binary(self.body.clone()) };
        b.body(body).expect("request")
    }
}

pub struct Answer {
    pub status: u16,
    pub text: String,
    pub response: Response<Body>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn code(&self) -> String {
        self.json()["reason"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

pub async fn send<S: Persistence, P: Provider>(app: &App<S, P>, call: Call<'_>) -> Answer {
    let response = handle(app, call.request(), None).await;
    let text = String::from_utf8(response.body().as_ref().to_vec()).expect("utf-8 body");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok());
    openapi::check_answer(call.method, call.path, response.status().as_u16(), content_type, &text);
    Answer { status: response.status().as_u16(), text, response }
}

/// Creates the seed payment with `reference`; answers its JSON.
pub async fn create<S: Persistence, P: Provider>(app: &App<S, P>, reference: &str) -> Value {
    let a = send(app, Call::post("/v1/payments", &seed_body(reference))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.json()
}
