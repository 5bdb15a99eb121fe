//! A DynamoDB that does not answer: the store client's limits (`app::aws_timeouts`) turn a
//! black hole (a listener that accepts and never answers) and a refused connection into a 503
//! with `Retry-After` in seconds, never a request hanging until the function's timeout, and
//! nothing is written.

use crate::common;

use std::time::Duration;

use common::fault_proxy::{Fault, FaultProxy};
use common::flow::{Reply, notification_body, reply};
use common::{Call, send};
use kantan::accounts::DEMO_HASH_KEY;
use kantan::http::router::Route;
use kantan::metrics::{Metrics, Sink};
use kantan::store::{DynamoStore, Store, StoreError};
use serde_json::json;
use tokio::net::TcpListener;

/// The fault proxy in front of DynamoDB Local as a black hole: it reads every request and
/// answers none.
async fn black_hole() -> FaultProxy {
    let proxy = FaultProxy::start(&common::dynamo::endpoint()).await;
    proxy.every(Some((1, Fault::BlackHole)));
    proxy
}

/// A loopback port nothing listens on.
async fn refusing() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_never_answers_is_unavailable_not_a_hang() {
    let hole = black_hole().await;
    for endpoint in [hole.url.clone(), refusing().await] {
        let store = common::dynamo::store_at(&endpoint, "payments");
        let id = "3MoecWcSpNsGd3YAXkZ9mxsqckQ".parse().expect("id");
        // The guard is far above the 4 s operation limit: it only tells a hang from an answer.
        let read = tokio::time::timeout(Duration::from_secs(30), store.payment(&id)).await;
        match read {
            Err(_) => panic!("{endpoint}: the store call hung past 30 s"),
            Ok(Err(StoreError::Unavailable(_))) => {}
            Ok(other) => panic!("{endpoint}: {other:?}"),
        }

        // Through the API: a read and a create both answer 503 with Retry-After.
        let app = common::app_on(store);
        let get = tokio::time::timeout(Duration::from_secs(30), send(&app, Call::get(&format!("/v1/payments/{id}"))))
            .await
            .expect("no hang");
        assert_eq!(get.status, 503, "{endpoint}: {}", get.text);
        assert_eq!(get.code(), "service_unavailable");
        assert!(get.response.headers().get("retry-after").is_some());
        let create = tokio::time::timeout(
            Duration::from_secs(30),
            send(&app, Call::post("/v1/payments", &common::seed_body("faults-1")).idempotency("faults-1")),
        )
        .await
        .expect("no hang");
        assert_eq!(create.status, 503, "{endpoint}: {}", create.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Every route through the fault proxy (tests/common/fault_proxy.rs) in front of DynamoDB Local.
// The routes are the router's own (`Route::every()`), and `prepare` matches them exhaustively:
// a new route does not compile until it has a case here.

/// A request ready to send (and to send again, the same, with the same key).
struct Prepared {
    method: reqwest::Method,
    path: String,
    json: Option<serde_json::Value>,
    form: Option<String>,
    key: Option<String>,
    success: u16,
    payment: Option<String>,
    endpoint: Option<String>,
}

struct Fixture {
    proxy: FaultProxy,
    local: common::Local<DynamoStore>,
    table: String,
    reference: String,
    /// The gateway's metric lines (CloudWatch embedded format).
    metrics: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A table of its own for case `n`, reached through a proxy of its own, served by a gateway
/// of its own (with the product's store timeouts) beside the SBPS sandbox.
async fn fixture(n: usize) -> Fixture {
    let table = format!("proxied-{}-{n}", std::process::id());
    DynamoStore::new(common::dynamo::client(None), table.clone()).ensure_table().await.expect("table");
    let proxy = FaultProxy::start(&common::dynamo::endpoint()).await;
    let store = common::dynamo::store_at(&proxy.url, &table);
    let metrics = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let local = common::start_local_with(store, Metrics { sink: Sink::Memory(metrics.clone()) }).await;
    Fixture { proxy, local, table, reference: format!("proxied-{n}"), metrics }
}

impl Fixture {
    /// How many `Notifications` metric lines had outcome `outcome`.
    fn notifications(&self, outcome: &str) -> usize {
        let lines = self.metrics.lock().expect("metrics");
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m.get("Notifications").is_some() && m["Outcome"] == outcome)
            .count()
    }

    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.local.http.request(method, format!("{}{path}", self.local.base)).bearer_auth(common::DEMO_KEY)
    }

    async fn endpoint(&self) -> String {
        let url = format!("{}/sandbox/webhooks/inbox", self.local.base);
        let r = reply(self.api(reqwest::Method::POST, "/v1/webhook-endpoints").json(&json!({"url": url}))).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["id"].as_str().expect("id").to_owned()
    }

    /// Sets up what `target` needs with the store healthy; answers the request to fault.
    async fn prepare(&self, target: &Route) -> Prepared {
        use reqwest::Method;
        let l = &self.local;
        let reference = self.reference.as_str();
        let key = Some(format!("key-{reference}"));
        let p = |method, path: String, success| Prepared {
            method,
            path,
            json: None,
            form: None,
            key: None,
            success,
            payment: None,
            endpoint: None,
        };
        match target {
            Route::CreatePayment => {
                let mut body = common::seed_body(reference);
                body["amount"]["value"] = json!(1_500);
                Prepared { json: Some(body), key, ..p(Method::POST, "/v1/payments".into(), 201) }
            }
            Route::ListPayments | Route::GetPayment { .. } | Route::TrackPayment { .. } | Route::SbpsNotification => {
                let created = l.create(reference, 1_500).await;
                let id = created["id"].as_str().expect("id").to_owned();
                let path = match target {
                    Route::ListPayments => format!("/v1/payments?merchantReference={reference}"),
                    Route::GetPayment { .. } => format!("/v1/payments/{id}"),
                    Route::TrackPayment { .. } => created["trackingUrl"].as_str().expect("trackingUrl").to_owned(),
                    _ => "/v1/notifications/sbps".into(),
                };
                let mut prepared = Prepared { payment: Some(id.clone()), ..p(Method::GET, path, 200) };
                if matches!(target, Route::SbpsNotification) {
                    l.sandbox.register_authorization("99999", "000", "00000616307348", 1_500);
                    prepared.method = Method::POST;
                    prepared.form =
                        Some(notification_body("99999", &id, "1500", "OK", "00000616307348", DEMO_HASH_KEY));
                }
                prepared
            }
            Route::Capture { .. } | Route::Cancel { .. } => {
                let id = l.authorized(reference, 1_500).await;
                let kind = if matches!(target, Route::Capture { .. }) { "captures" } else { "cancels" };
                Prepared { key, payment: Some(id.clone()), ..p(Method::POST, format!("/v1/payments/{id}/{kind}"), 201) }
            }
            Route::Refund { .. } => {
                let id = l.captured(reference, 1_500).await;
                Prepared {
                    key,
                    payment: Some(id.clone()),
                    ..p(Method::POST, format!("/v1/payments/{id}/refunds"), 201)
                }
            }
            Route::Ledger | Route::Statement { .. } => {
                let id = l.captured(reference, 1_500).await;
                let path = match target {
                    Route::Ledger => "/v1/ledger?type=capture".to_owned(),
                    _ => format!("/v1/statements/{}", kantan::payment::ledger::month_of(l.app.service.clock.now())),
                };
                Prepared { payment: Some(id), ..p(Method::GET, path, 200) }
            }
            Route::CreateEndpoint => {
                let url = format!("{}/sandbox/webhooks/inbox", l.base);
                Prepared {
                    json: Some(json!({"url": url})),
                    key,
                    ..p(Method::POST, "/v1/webhook-endpoints".into(), 201)
                }
            }
            Route::ListEndpoints
            | Route::GetEndpoint { .. }
            | Route::DeleteEndpoint { .. }
            | Route::RotateEndpointSecret { .. }
            | Route::EnableEndpoint { .. } => {
                let id = self.endpoint().await;
                let (method, path, success) = match target {
                    Route::ListEndpoints => (Method::GET, "/v1/webhook-endpoints".into(), 200),
                    Route::GetEndpoint { .. } => (Method::GET, format!("/v1/webhook-endpoints/{id}"), 200),
                    Route::DeleteEndpoint { .. } => (Method::DELETE, format!("/v1/webhook-endpoints/{id}"), 200),
                    Route::RotateEndpointSecret { .. } => {
                        (Method::POST, format!("/v1/webhook-endpoints/{id}/rotate-secret"), 200)
                    }
                    _ => (Method::POST, format!("/v1/webhook-endpoints/{id}/enable"), 200),
                };
                let key = if method == Method::POST { key } else { None };
                Prepared { key, endpoint: Some(id), ..p(method, path, success) }
            }
            Route::PaymentEvents { .. } | Route::RedeliverEvent { .. } => {
                self.endpoint().await;
                let id = l.authorized(reference, 1_500).await;
                if matches!(target, Route::PaymentEvents { .. }) {
                    return Prepared {
                        payment: Some(id.clone()),
                        ..p(Method::GET, format!("/v1/payments/{id}/events"), 200)
                    };
                }
                let events = reply(self.api(Method::GET, &format!("/v1/payments/{id}/events"))).await.json();
                let event = events["data"]
                    .as_array()
                    .and_then(|e| e.iter().find(|e| e["type"] == "payment.authorized"))
                    .and_then(|e| e["id"].as_str())
                    .unwrap_or_else(|| panic!("an authorized event: {events}"))
                    .to_owned();
                Prepared { key, payment: Some(id), ..p(Method::POST, format!("/v1/events/{event}/redeliver"), 202) }
            }
        }
    }

    async fn send(&self, p: &Prepared) -> Reply {
        let mut r = self.api(p.method.clone(), &p.path);
        if let Some(body) = &p.json {
            r = r.json(body);
        }
        if let Some(form) = &p.form {
            r = r.header("content-type", "application/x-www-form-urlencoded").body(form.clone());
        }
        if let Some(key) = &p.key {
            r = r.header("idempotency-key", key);
        }
        reply(r).await
    }

    /// Nothing written twice, every money invariant holding (the audit's checks of the
    /// payment, reconciled with SBPS's calls), and the retry's answer the first's.
    async fn check(&self, target: &Route, p: &Prepared, first: &Reply, retry: &Reply) {
        let l = &self.local;
        let service = &l.app.service;
        let success = |r: &Reply| r.status == p.success;
        match target {
            Route::CreatePayment
            | Route::CreateEndpoint
            | Route::Capture { .. }
            | Route::Cancel { .. }
            | Route::Refund { .. }
                if success(first) =>
            {
                assert_eq!(first.json()["id"], retry.json()["id"], "{target:?}: the retry answers the first's work");
            }
            Route::RotateEndpointSecret { .. } if success(first) => {
                assert_eq!(first.json()["secret"], retry.json()["secret"], "one rotation");
            }
            _ => {}
        }
        let listed =
            reply(self.api(reqwest::Method::GET, &format!("/v1/payments?merchantReference={}", self.reference)))
                .await
                .json();
        let payments = listed["data"].as_array().map(Vec::len).unwrap_or(0);
        let expected_payments = usize::from(!matches!(
            target,
            Route::CreateEndpoint
                | Route::ListEndpoints
                | Route::GetEndpoint { .. }
                | Route::DeleteEndpoint { .. }
                | Route::RotateEndpointSecret { .. }
                | Route::EnableEndpoint { .. }
        ));
        assert_eq!(payments, expected_payments, "{target:?}: payments with the reference");
        let endpoints = reply(self.api(reqwest::Method::GET, "/v1/webhook-endpoints")).await.json();
        let endpoints = endpoints["data"].as_array().map(Vec::len).unwrap_or(0);
        let expected_endpoints = match target {
            Route::CreateEndpoint
            | Route::ListEndpoints
            | Route::GetEndpoint { .. }
            | Route::RotateEndpointSecret { .. }
            | Route::EnableEndpoint { .. }
            | Route::PaymentEvents { .. }
            | Route::RedeliverEvent { .. } => 1,
            _ => 0,
        };
        assert_eq!(endpoints, expected_endpoints, "{target:?}: endpoints");
        if let (Route::DeleteEndpoint { .. }, Some(id)) = (target, &p.endpoint) {
            let gone = reply(self.api(reqwest::Method::GET, &format!("/v1/webhook-endpoints/{id}"))).await;
            assert_eq!(gone.status, 404, "deleted");
        }
        if let Some(id) = &p.payment {
            let id: kantan::ids::PaymentId = id.parse().expect("id");
            let payment = service.store.payment(&id).await.expect("read").expect("stored");
            let expected = match target {
                Route::Capture { .. } => "captured",
                Route::Cancel { .. } => "cancelled",
                Route::Refund { .. } => "refunded",
                Route::SbpsNotification | Route::PaymentEvents { .. } | Route::RedeliverEvent { .. } => "authorized",
                Route::Ledger | Route::Statement { .. } => "captured",
                _ => "pending",
            };
            assert_eq!(payment.status.as_str(), expected, "{target:?}");
            for kind in ["capture", "cancel", "refund"] {
                let n = payment.operations.iter().filter(|o| o.kind.as_str() == kind).count();
                assert!(n <= 1, "{target:?}: {n} {kind} operations");
            }
            let findings = l.audit_one(&payment).await;
            assert!(findings.is_empty(), "{target:?}: {findings:?}");
        }
    }
}

/// A fault on one store request, or on that request and every one after it until the retry
/// (an outage that begins in the middle of a request's work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Injection {
    Once(Fault),
    From(Fault),
}

/// How one case went: its first answer's status.
struct Outcome {
    target: Route,
    fault: Option<Injection>,
    first: u16,
    store_requests: u64,
    /// SBPS's notification answered `NG,` (so SBPS does not complete the purchase) while the
    /// authorization it refused had been stored: DESIGN's known gap, counted, not hidden.
    ng_but_stored: bool,
}

async fn run_case(n: usize, target: Route, fault: Option<Injection>, at: u64) -> Outcome {
    let f = fixture(n).await;
    let prepared = f.prepare(&target).await;
    let before = f.proxy.requests();
    match fault {
        Some(Injection::Once(fault)) => f.proxy.plan((1..at).map(|_| None).chain([Some(fault)])),
        Some(Injection::From(fault)) => {
            f.proxy.plan((1..at).map(|_| None));
            f.proxy.every(Some((1, fault)));
        }
        None => {}
    }
    let first = tokio::time::timeout(Duration::from_secs(30), f.send(&prepared))
        .await
        .unwrap_or_else(|_| panic!("{target:?} under {fault:?} at {at}: hung past 30 s"));
    let store_requests = f.proxy.requests() - before;
    match fault {
        Some(Injection::Once(_)) => assert_eq!(f.proxy.faulted(), 1, "{target:?} under {fault:?} at {at}: applied"),
        Some(Injection::From(_)) => assert!(f.proxy.faulted() >= 1, "{target:?} under {fault:?} at {at}: applied"),
        None => {}
    }
    let unavailable = fault.is_some() && first.status == 503 && first.headers.get("retry-after").is_some();
    assert!(
        first.status == prepared.success || unavailable,
        "{target:?} under {fault:?} at store request {at}: {} {}",
        first.status,
        first.text
    );
    let mut ng_but_stored = false;
    if matches!(target, Route::SbpsNotification) && first.text.starts_with("NG,") {
        let direct = DynamoStore::new(common::dynamo::client(None), f.table.clone());
        let id: kantan::ids::PaymentId = prepared.payment.as_deref().expect("payment").parse().expect("id");
        ng_but_stored = direct.payment(&id).await.expect("read").expect("stored").status.as_str() != "pending";
        // Every NG a store fault caused is counted apart from SBPS's refusals: that count is
        // NotificationsUnsettledAlarm, which sends an operator to compare the payment with SBPS.
        assert_eq!(first.text, "NG,temporary error", "{fault:?} at {at}");
        assert_eq!((f.notifications("unsettled"), f.notifications("refused")), (1, 0), "{fault:?} at {at}");
    } else if matches!(target, Route::SbpsNotification) {
        assert_eq!((f.notifications("unsettled"), f.notifications("accepted")), (0, 1), "{fault:?} at {at}");
    }
    // Whatever the fault left behind lands before the retry: a request held by latency is
    // forwarded late; the refusal ends; a black hole is let go.
    f.proxy.clear();
    // A held request is forwarded its latency after the fault (not after this request began),
    // and lands a moment later.
    if let (Some(Injection::Once(Fault::Latency(d))), Some(at)) = (fault, f.proxy.last_fault_at()) {
        tokio::time::sleep_until((at + d + Duration::from_millis(100)).into()).await;
    }
    f.proxy.accepting().await;
    f.proxy.cut_connections();
    // A pending operation may be resent once its lock window has passed.
    f.local.app.service.clock.advance(chrono::Duration::seconds(30));
    let retry = f.send(&prepared).await;
    let expected = match target {
        Route::DeleteEndpoint { .. } if first.status == 200 => 404,
        _ => prepared.success,
    };
    let retry = if matches!(target, Route::DeleteEndpoint { .. }) && retry.status == 404 && first.status == 503 {
        // The delete had landed though its answer was lost: the endpoint is gone, as asked.
        Reply { status: 200, ..retry }
    } else {
        retry
    };
    assert_eq!(retry.status, expected, "{target:?} retried after {fault:?} at {at}: {}", retry.text);
    f.check(&target, &prepared, &first, &retry).await;
    let _ = common::dynamo::client(None).delete_table().table_name(&f.table).send().await;
    Outcome { target, fault, first: first.status, store_requests, ng_but_stored }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_under_every_store_fault_answers_correctly_or_503_and_converges() {
    use futures_util::StreamExt;
    // First every route with the store healthy: how many store requests each makes.
    let clean: Vec<Outcome> = futures_util::stream::iter(Route::every().into_iter().enumerate())
        .map(|(n, route)| run_case(n, route, None, 0))
        .buffer_unordered(8)
        .collect()
        .await;
    let faults = [
        Injection::Once(Fault::Latency(Duration::from_millis(300))),
        Injection::Once(Fault::Latency(Duration::from_millis(2_500))),
        Injection::Once(Fault::Cut),
        Injection::Once(Fault::Swallow),
        Injection::Once(Fault::BlackHole),
        Injection::Once(Fault::Refuse(Duration::from_secs(5))),
        Injection::From(Fault::Cut),
        Injection::From(Fault::Swallow),
    ];
    let mut cases = Vec::new();
    for outcome in &clean {
        for fault in faults {
            for at in 1..=outcome.store_requests {
                cases.push((outcome.target.clone(), fault, at));
            }
        }
    }
    let outcomes: Vec<Outcome> = futures_util::stream::iter(cases.into_iter().enumerate())
        .map(|(n, (t, f, at))| run_case(100 + n, t, Some(f), at))
        .buffer_unordered(12)
        .collect()
        .await;
    let mut summary = std::collections::BTreeMap::<(String, u16), usize>::new();
    for o in &outcomes {
        let fault = format!("{:?}", o.fault.expect("a fault"));
        *summary.entry((fault, o.first)).or_default() += 1;
        if o.ng_but_stored {
            println!("{:?} under {:?}: answered NG, though the authorization was stored", o.target, o.fault);
        }
    }
    let store_requests: u64 = clean.iter().map(|o| o.store_requests).sum();
    println!(
        "{} routes ({} store requests clean), {} faulted cases: first answers by fault {:?}",
        clean.len(),
        store_requests,
        outcomes.len(),
        summary
    );
    assert!(outcomes.len() >= faults.len() * Route::every().len());
}
