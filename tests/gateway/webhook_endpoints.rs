//! `/v1/webhook-endpoints` as a merchant uses it, on both stores: URL rules (the SSRF table at
//! registration), event types, the 5-endpoint limit, idempotent creation, another account's
//! endpoint a 404, deletion, and a secret rotation signing with both secrets for 24 hours.

use crate::common;

use chrono::Duration;
use common::flow::{Reply, reply};
use common::hooks::Hooked;
use common::{DEMO_KEY, OTHER_KEY};
use kantan::local::background::LocalOutbox;
use serde_json::{Value, json};

async fn post<S: LocalOutbox>(h: &Hooked<S>, path: &str, body: Option<Value>, key: &str, idem: Option<&str>) -> Reply {
    let mut r = h.local.http.post(format!("{}{path}", h.local.base)).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some(k) = idem {
        r = r.header("idempotency-key", k);
    }
    reply(r).await
}

async fn get<S: LocalOutbox>(h: &Hooked<S>, path: &str, key: &str) -> Reply {
    reply(h.local.http.get(format!("{}{path}", h.local.base)).bearer_auth(key)).await
}

on_both_stores!(registration_refuses_what_design_refuses);
async fn registration_refuses_what_design_refuses<S: LocalOutbox>(h: Hooked<S>) {
    // `local` runs on loopback, so plain http to loopback is allowed; nothing else is.
    for url in [
        "https://10.0.0.1/hook",
        "https://167772161/hook",
        "https://0xa9fea9fe/latest/meta-data",
        "https://169.254.169.254/latest",
        "https://[::ffff:10.0.0.1]/hook",
        "https://[fd00::1]/hook",
        "https://user:pw@merchant.example/hook",
        "http://merchant.example/hook",
        "http://10.0.0.1/hook",
        "javascript:alert(1)",
    ] {
        let r = post(&h, "/v1/webhook-endpoints", Some(json!({"url": url})), DEMO_KEY, None).await;
        assert_eq!(r.status, 400, "{url}: {}", r.text);
        assert_eq!(r.json()["errors"][0]["field"], "url", "{url}");
    }
    for body in [
        json!({}),
        json!({"url": 5}),
        json!({"url": "https://merchant.example/h", "events": ["payment.created"]}),
        json!({"url": "https://merchant.example/h", "events": "payment.captured"}),
        json!({"url": "https://merchant.example/h", "extra": 1}),
    ] {
        let r = post(&h, "/v1/webhook-endpoints", Some(body.clone()), DEMO_KEY, None).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let r =
        post(&h, "/v1/webhook-endpoints", Some(json!({"url": "https://merchant.example/h"})), "sk_nope", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(get(&h, "/v1/webhook-endpoints", DEMO_KEY).await.json()["data"], json!([]), "nothing was written");
}

on_both_stores!(an_account_has_at_most_five_and_sees_only_its_own);
async fn an_account_has_at_most_five_and_sees_only_its_own<S: LocalOutbox>(h: Hooked<S>) {
    let mut ids = Vec::new();
    for n in 0..5 {
        let body = json!({"url": format!("https://merchant.example/h{n}"), "events": ["payment.captured", "payment.captured"]});
        let r = post(&h, "/v1/webhook-endpoints", Some(body), DEMO_KEY, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let e = r.json();
        assert_eq!(e["status"], "enabled");
        assert_eq!(e["events"], json!(["payment.captured"]), "deduplicated");
        assert!(e["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")));
        assert!(e["createdAt"].is_string());
        ids.push(e["id"].as_str().expect("id").to_owned());
    }
    let sixth =
        post(&h, "/v1/webhook-endpoints", Some(json!({"url": "https://merchant.example/6"})), DEMO_KEY, None).await;
    assert_eq!(sixth.status, 422, "{}", sixth.text);
    assert_eq!(sixth.json()["reason"]["code"], "webhook_endpoint_limit_reached");

    let list = get(&h, "/v1/webhook-endpoints", DEMO_KEY).await.json();
    assert_eq!(list["data"].as_array().map(Vec::len), Some(5));
    assert!(
        list["data"].as_array().into_iter().flatten().all(|e| e.get("secret").is_none()),
        "the list shows no secret"
    );
    assert_eq!(get(&h, "/v1/webhook-endpoints", OTHER_KEY).await.json()["data"], json!([]));
    assert_eq!(get(&h, &format!("/v1/webhook-endpoints/{}", ids[0]), OTHER_KEY).await.status, 404);
    let deleted =
        reply(h.local.http.delete(format!("{}/v1/webhook-endpoints/{}", h.local.base, ids[0])).bearer_auth(OTHER_KEY))
            .await;
    assert_eq!(deleted.status, 404, "another account cannot delete it");

    let deleted =
        reply(h.local.http.delete(format!("{}/v1/webhook-endpoints/{}", h.local.base, ids[0])).bearer_auth(DEMO_KEY))
            .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(get(&h, &format!("/v1/webhook-endpoints/{}", ids[0]), DEMO_KEY).await.status, 404);
    // A place is free again.
    let again =
        post(&h, "/v1/webhook-endpoints", Some(json!({"url": "https://merchant.example/6"})), DEMO_KEY, None).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(get(&h, "/v1/webhook-endpoints/not-an-id", DEMO_KEY).await.status, 404);
}

on_both_stores!(creation_with_a_key_is_done_once);
async fn creation_with_a_key_is_done_once<S: LocalOutbox>(h: Hooked<S>) {
    let body = json!({"url": "https://merchant.example/h"});
    let first = post(&h, "/v1/webhook-endpoints", Some(body.clone()), DEMO_KEY, Some("ep-1")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = post(&h, "/v1/webhook-endpoints", Some(body), DEMO_KEY, Some("ep-1")).await;
    assert_eq!((again.status, again.text.clone()), (201, first.text.clone()), "replayed byte for byte");
    assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    let other =
        post(&h, "/v1/webhook-endpoints", Some(json!({"url": "https://merchant.example/x"})), DEMO_KEY, Some("ep-1"))
            .await;
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(get(&h, "/v1/webhook-endpoints", DEMO_KEY).await.json()["data"].as_array().map(Vec::len), Some(1));
}

on_both_stores!(a_rotated_secret_signs_beside_the_old_one_for_a_day);
async fn a_rotated_secret_signs_beside_the_old_one_for_a_day<S: LocalOutbox>(h: Hooked<S>) {
    let endpoint = h.register("rot", &["payment.authorized", "payment.captured", "payment.refunded"]).await;
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let old = endpoint["secret"].as_str().expect("secret").to_owned();
    let rotated = post(&h, &format!("/v1/webhook-endpoints/{id}/rotate-secret"), None, DEMO_KEY, None).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.json()["secret"].as_str().expect("secret").to_owned();
    assert_ne!(old, new);
    let pay = h.local.authorized("rot-1", 1000).await;
    h.settle().await;
    let arrival = h.arrivals("rot").await.pop().expect("an arrival");
    let signatures: Vec<&str> = arrival["signature"].as_str().unwrap_or("").split(' ').collect();
    assert_eq!(signatures.len(), 2, "both secrets sign during the overlap");
    assert_eq!(arrival["verified"], true, "the inbox still holds the old secret");
    // A day later, only the new one.
    h.control("rot", json!({"secret": new})).await;
    h.local.app.service.clock.advance(Duration::hours(24) + Duration::seconds(1));
    assert_eq!(h.local.op(&pay, "captures", None, None).await.status, 201);
    h.settle().await;
    let arrival = h.arrivals("rot").await.pop().expect("an arrival");
    assert_eq!(arrival["signature"].as_str().unwrap_or("").split(' ').count(), 1);
    assert_eq!(arrival["verified"], true);
}

/// Outside local mode (a public base URL), loopback in any form is refused as well.
#[tokio::test]
async fn a_deployed_gateway_refuses_loopback_in_every_form() {
    use common::{Call, send};
    let settings = kantan::config::Settings::from_lookup(|name| match name {
        "PUBLIC_BASE_URL" => Some("https://pay.example.com".into()),
        _ => None,
    })
    .expect("settings");
    let app = common::app_with(kantan::store::SqliteStore::in_memory().expect("store"), settings);
    let app = kantan::local::background::with_local_webhooks(app).await.expect("webhooks");
    for url in [
        "https://127.0.0.1/hook",
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://017700000001/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "http://127.0.0.1:4000/hook",
        "http://localhost:4000/hook",
    ] {
        let a = send(&app, Call::post("/v1/webhook-endpoints", &json!({"url": url}))).await;
        assert_eq!(a.status, 400, "{url}: {}", a.text);
    }
    let a = send(&app, Call::post("/v1/webhook-endpoints", &json!({"url": "https://merchant.example/h"}))).await;
    assert_eq!(a.status, 201, "{}", a.text);
}
