//! Logs and metrics of a whole flow: one line per request with its fields, metric lines in
//! CloudWatch's embedded format, and no secret anywhere (hash key, API key, Basic credentials).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use common::*;
use kantan::accounts::{DEMO_API_KEY, DEMO_HASH_KEY};
use kantan::local::sandbox::Fault;
use kantan::metrics::{Metrics, Sink};
use kantan::store::SqliteStore;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_logs_every_request_and_no_secret() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    // The functions' own log format, at debug level.
    tracing::subscriber::set_global_default(kantan::app::json_logs(move || writer.clone(), "debug"))
        .expect("subscriber");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let local =
        start_local_with(SqliteStore::in_memory().expect("store"), Metrics { sink: Sink::Memory(lines.clone()) }).await;

    // A webhook endpoint on the sandbox receiver: its secret and every signature stay out of
    // the logs too.
    let registered = flow::reply(
        local
            .http
            .post(format!("{}/v1/webhook-endpoints", local.base))
            .bearer_auth(DEMO_KEY)
            .json(&serde_json::json!({"url": format!("{}/sandbox/webhooks/logs", local.base)})),
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let secret = registered.json()["secret"].as_str().expect("secret").to_owned();
    let runner = kantan::local::background::Runner::new(local.app.clone()).await.expect("runner");

    let id = local.authorized("logs-1", 1000).await;
    local.sandbox.inject(vec![Fault::Error { code: "40209025".into() }]);
    assert_eq!(local.op(&id, "captures", Some(400), None).await.status, 502);
    assert_eq!(local.op(&id, "captures", Some(400), Some("k")).await.status, 201);
    assert_eq!(local.op(&id, "refunds", None, None).await.status, 201);
    let bad = flow::reply(local.http.get(format!("{}/v1/payments/{id}", local.base)).bearer_auth("sk_wrong_key")).await;
    assert_eq!(bad.status, 401);
    // Client-chosen values are cut to 128 characters in the logs.
    let long_id = "r".repeat(1000);
    let long_path_id = "p".repeat(1000);
    let cut = flow::reply(
        local
            .http
            .get(format!("{}/v1/payments/{long_path_id}", local.base))
            .bearer_auth(DEMO_KEY)
            .header("x-request-id", &long_id),
    )
    .await;
    assert_eq!(cut.status, 404);

    for _ in 0..5 {
        runner.tick().await;
    }
    let arrivals =
        flow::reply(local.http.get(format!("{}/sandbox/webhooks/logs", local.base))).await.json()["received"].clone();
    let signatures: Vec<String> = arrivals
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["signature"].as_str().map(|s| s.trim_start_matches("v1,").to_owned()))
        .collect();
    assert!(signatures.len() >= 3, "authorized, captured, refunded: {arrivals}");

    let logs = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
    let secret_b64 = secret.trim_start_matches("whsec_").to_owned();
    for hidden in std::iter::once(&secret_b64).chain(&signatures) {
        assert!(!logs.contains(hidden.as_str()), "a log line contains a webhook secret or signature");
    }
    assert!(logs.contains("webhook attempt"), "deliveries are logged");
    let sbps_calls: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "SBPS call")
        .collect();
    assert!(sbps_calls.len() >= 3, "each SBPS call is logged: {sbps_calls:?}");
    assert!(sbps_calls.iter().all(|l| l["function_id"].is_string() && l["ms"].is_number()));
    assert!(sbps_calls.iter().any(|l| l["outcome"] == "configuration"), "the checksum refusal");
    let metrics = lines.lock().expect("metrics").join("\n");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("99999000:{DEMO_HASH_KEY}"));
    for secret in [DEMO_HASH_KEY, DEMO_API_KEY, "sk_wrong_key", basic.as_str()] {
        assert!(!logs.contains(secret), "a log line contains {secret}");
        assert!(!metrics.contains(secret), "a metric line contains {secret}");
    }

    assert!(logs.contains(&"r".repeat(128)) && !logs.contains(&"r".repeat(129)), "request ids are cut");
    assert!(logs.contains(&"p".repeat(128)) && !logs.contains(&"p".repeat(129)), "path ids are cut");

    let requests: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "request")
        .collect();
    // create, GET after approval, notification, 2 captures, refund, GET with a wrong key.
    assert!(requests.len() >= 7, "{}", requests.len());
    for line in &requests {
        for field in ["request_id", "route", "payment_id", "status", "ms"] {
            assert!(line.get(field).is_some(), "{field} missing in {line}");
        }
    }
    assert!(requests.iter().any(|l| l["route"] == "POST /v1/notifications/sbps" && l["payment_id"] == id.as_str()));
    assert!(
        requests
            .iter()
            .any(|l| l["route"] == "POST /v1/payments" && l["status"] == 201 && l["payment_id"] == id.as_str())
    );

    let emf: Vec<serde_json::Value> =
        lines.lock().expect("metrics").iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let named = |name: &str| emf.iter().filter(|m| m.get(name).is_some()).count();
    assert_eq!(named("PaymentsCreated"), 1);
    assert!(named("SbpsLatency") >= 3);
    assert_eq!(named("SbpsErrors"), 1, "the checksum refusal");
    assert!(emf.iter().all(|m| m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "KantanGateway"));
    assert!(emf.iter().any(|m| m["Operations"] == 1.0 && m["Type"] == "refund" && m["Outcome"] == "succeeded"));
    assert!(emf.iter().any(|m| m["WebhookDeliveries"] == 1.0 && m["Outcome"] == "succeeded"));
    assert!(emf.iter().any(|m| m.get("SweepLagMinutes").is_some()));
}
