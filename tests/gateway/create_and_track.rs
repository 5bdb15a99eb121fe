//! Creating and tracking payments through the HTTP layer, as a merchant and a browser see it.

use crate::common;

use chrono::Duration;
use common::*;
use kantan::ids::PaymentId;
use kantan::store::Store;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

fn param(body: &Value, name: &str) -> String {
    body["nextStep"]["redirect"]["params"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["value"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_seed_request_answers_the_seed_shape() {
    let app = app();
    let a = send(&app, Call::post("/v1/payments", &seed_body("c5211d6b-0178-49f8-a06b-69df097a712f"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let body = a.json();
    let keys: Vec<&str> = body.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    // serde_json without preserve_order sorts keys: check the raw text for the seed's order.
    let order: Vec<usize> =
        ["\"id\"", "\"merchantReference\"", "\"status\"", "\"trackingUrl\"", "\"reason\"", "\"nextStep\""]
            .iter()
            .map(|k| a.text.find(k).unwrap_or(usize::MAX))
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "seed field order: {order:?} in {}", a.text);
    assert!(keys.contains(&"amount") && keys.contains(&"createdAt"));

    let id = body["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 27);
    assert_eq!(body["merchantReference"], "c5211d6b-0178-49f8-a06b-69df097a712f");
    assert_eq!(body["status"], "pending");
    let tracking = body["trackingUrl"].as_str().unwrap_or_default();
    assert!(tracking.starts_with("/v1/tracks/payments/") && tracking.len() == "/v1/tracks/payments/".len() + 27);
    assert_eq!(
        body["reason"],
        json!({"code": "required_next_step", "description": "An additional step is needed to complete the payment."})
    );
    assert_eq!(body["nextStep"]["type"], "redirect");
    assert_eq!(body["nextStep"]["redirect"]["method"], "post");
    assert_eq!(body["nextStep"]["redirect"]["url"], "http://127.0.0.1:3000/sandbox/sbps/purchase");

    let names: Vec<String> = body["nextStep"]["redirect"]["params"]
        .as_array()
        .map(|ps| ps.iter().map(|p| p["name"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    assert_eq!(names, SEED_PARAMS);
    assert_eq!(param(&body, "pay_method"), "auone");
    assert_eq!(param(&body, "merchant_id"), "99999");
    assert_eq!(param(&body, "service_id"), "000");
    for field in ["cust_code", "order_id", "item_id"] {
        assert_eq!(param(&body, field), id);
    }
    assert_eq!(param(&body, "amount"), "200");
    assert_eq!(param(&body, "pay_type"), "0");
    assert_eq!(param(&body, "service_type"), "0");
    for field in ["success_url", "cancel_url", "error_url"] {
        assert_eq!(param(&body, field), "https://merchant.site/complete-payment");
    }
    assert_eq!(param(&body, "pagecon_url"), "http://127.0.0.1:3000/v1/notifications/sbps");
    assert_eq!(param(&body, "request_date"), "20301110120000"); // Japan time of the test clock
    assert_eq!(param(&body, "limit_second"), "600");

    // Anyone can recompute the checksum from DESIGN §6's demo hash key.
    let mut text = String::new();
    for name in &SEED_PARAMS[..15] {
        text.push_str(&param(&body, name));
    }
    text.push_str("c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00");
    assert_eq!(param(&body, "sps_hashcode"), hex::encode_upper(Sha1::digest(text.as_bytes())));
}

#[tokio::test]
async fn the_tracking_url_and_the_payment_show_the_pending_payment() {
    let app = app();
    let created = create(&app, "order-1").await;
    let tracking = created["trackingUrl"].as_str().unwrap_or_default().to_owned();

    let t = send(&app, Call::get(&tracking).key(None)).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let track = t.json();
    assert_eq!(track["id"], created["id"]);
    assert_eq!(track["status"], "pending");
    assert_eq!(track["amount"], json!({"value": 200, "currency": "jpy"}));
    assert_eq!(track["nextStep"], created["nextStep"]);
    assert_eq!(track["reason"]["code"], "required_next_step");
    let mut keys: Vec<&str> = track.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    keys.sort();
    assert_eq!(keys, ["amount", "id", "nextStep", "reason", "status", "updatedAt"]);

    let path = format!("/v1/payments/{}", created["id"].as_str().unwrap_or_default());
    let g = send(&app, Call::get(&path)).await;
    assert_eq!(g.status, 200, "{}", g.text);
    let full = g.json();
    assert_eq!(full["processingAccountId"], "2HdN2jq6XWmlkhqRC2gDTNYCvNH");
    assert_eq!(full["status"], "pending");
    for field in ["authorizedAmount", "capturedAmount", "cancelledAmount", "refundedAmount"] {
        assert_eq!(full[field], json!({"value": 0, "currency": "jpy"}), "{field}");
    }
    assert_eq!(full["operations"], json!([]));
    assert_eq!(full["trackingUrl"], created["trackingUrl"]);

    let id: PaymentId = created["id"].as_str().unwrap_or_default().parse().expect("id");
    let events = app.service.store.audit_events(&id).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind.as_str(), "payment.created");
}

#[tokio::test]
async fn another_accounts_payment_is_not_found() {
    let app = app();
    let created = create(&app, "order-1").await;
    let path = format!("/v1/payments/{}", created["id"].as_str().unwrap_or_default());
    let a = send(&app, Call::get(&path).key(Some(OTHER_KEY))).await;
    assert_eq!((a.status, a.code()), (404, "payment_not_found".into()));
    // Using another account's id in a create is an unknown account for this key.
    let a = send(&app, Call::post("/v1/payments", &seed_body("x")).key(Some(OTHER_KEY))).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["errors"][0]["field"], "processingAccountId");
}

#[tokio::test]
async fn keys_are_required_and_checked() {
    let app = app();
    for key in [None, Some("sk_wrong"), Some("")] {
        let a = send(&app, Call::post("/v1/payments", &seed_body("o")).key(key)).await;
        assert_eq!((a.status, a.code()), (401, "unauthorized".into()), "{key:?}");
    }
    let a = send(&app, Call::get("/v1/payments/27yiW9MgzBtwiodreuNOXk0rtIw").key(None)).await;
    assert_eq!(a.status, 401);
    let a = send(&app, Call::get("/v1/payments/27yiW9MgzBtwiodreuNOXk0rtIw")).await;
    assert_eq!((a.status, a.code()), (404, "payment_not_found".into()));
    let a = send(&app, Call::get("/v1/payments/not-an-id")).await;
    assert_eq!(a.status, 404);
    let a = send(&app, Call::get("/v1/tracks/payments/27yiW9MgzBtwiodreuNOXk0rtIw").key(None)).await;
    assert_eq!(a.status, 404);
}

#[tokio::test]
async fn a_repeated_reference_is_a_conflict_naming_the_payment() {
    let app = app();
    let first = create(&app, "order-1").await;
    let a = send(&app, Call::post("/v1/payments", &seed_body("order-1"))).await;
    assert_eq!((a.status, a.code()), (409, "duplicate_merchant_reference".into()));
    assert!(a.text.contains(first["id"].as_str().unwrap_or("?")));
    // Another account may use the same reference.
    let mut body = seed_body("order-1");
    body["processingAccountId"] = json!(OTHER_ACCOUNT);
    let a = send(&app, Call::post("/v1/payments", &body).key(Some(OTHER_KEY))).await;
    assert_eq!(a.status, 201, "{}", a.text);
}

#[tokio::test]
async fn idempotency_replays_byte_for_byte_and_refuses_another_body() {
    let app = app();
    let first = send(&app, Call::post("/v1/payments", &seed_body("order-1")).idempotency("key-1")).await;
    assert_eq!(first.status, 201);
    let again = send(&app, Call::post("/v1/payments", &seed_body("order-1")).idempotency("key-1")).await;
    assert_eq!((again.status, &again.text), (201, &first.text));
    assert_eq!(again.response.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));

    let other = send(&app, Call::post("/v1/payments", &seed_body("order-2")).idempotency("key-1")).await;
    assert_eq!((other.status, other.code()), (422, "idempotency_key_reused".into()));
    // Nothing was written for order-2.
    create(&app, "order-2").await;

    // Keys are per account: the other account's key-1 is a different key.
    let mut body = seed_body("order-1");
    body["processingAccountId"] = json!(OTHER_ACCOUNT);
    let a = send(&app, Call::post("/v1/payments", &body).key(Some(OTHER_KEY)).idempotency("key-1")).await;
    assert_eq!(a.status, 201, "{}", a.text);

    // After 24 hours the key is forgotten: the same request is then a duplicate reference.
    app.service.clock.advance(Duration::hours(24) + Duration::seconds(1));
    let late = send(&app, Call::post("/v1/payments", &seed_body("order-1")).idempotency("key-1")).await;
    assert_ne!(late.text, first.text);
}

#[tokio::test]
async fn idempotency_keys_must_be_sane() {
    let app = app();
    let long = "k".repeat(256);
    let a = send(&app, Call::post("/v1/payments", &seed_body("o")).idempotency(&long)).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["errors"][0]["field"], "Idempotency-Key");
    let ok = "k".repeat(255);
    let a = send(&app, Call::post("/v1/payments", &seed_body("o")).idempotency(&ok)).await;
    assert_eq!(a.status, 201);
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_payment() {
    let app = std::sync::Arc::new(app());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            send(&app, Call::post("/v1/payments", &seed_body("order-1")).idempotency("same")).await.text
        }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(t.await.expect("task"));
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "every answer is the first one");
}

#[tokio::test]
async fn concurrent_creates_with_one_reference_make_one_payment() {
    let app = std::sync::Arc::new(app());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app = app.clone();
        tasks.push(tokio::spawn(
            async move { send(&app, Call::post("/v1/payments", &seed_body("order-1"))).await.status },
        ));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19);
}

#[tokio::test]
async fn pending_payments_expire_when_read_and_release_their_reference() {
    let app = app();
    let created = create(&app, "order-1").await;
    let path = format!("/v1/payments/{}", created["id"].as_str().unwrap_or_default());
    // request_date + limit_second + 30 min grace: still pending at the edge.
    app.service.clock.advance(Duration::seconds(600 + 1800));
    assert_eq!(send(&app, Call::get(&path)).await.json()["status"], "pending");
    app.service.clock.advance(Duration::seconds(1));
    let expired = send(&app, Call::get(&path)).await.json();
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["reason"]["code"], "expired");
    assert!(expired.get("nextStep").is_none());
    let tracked = send(&app, Call::get(created["trackingUrl"].as_str().unwrap_or_default()).key(None)).await.json();
    assert_eq!(tracked["status"], "expired");
    // The reference is free again.
    create(&app, "order-1").await;
}

#[tokio::test]
async fn a_create_expires_a_due_payment_holding_its_reference() {
    let app = app();
    let first = create(&app, "order-1").await;
    app.service.clock.advance(Duration::hours(1));
    let second = create(&app, "order-1").await;
    assert_ne!(first["id"], second["id"]);
    let path = format!("/v1/payments/{}", first["id"].as_str().unwrap_or_default());
    assert_eq!(send(&app, Call::get(&path)).await.json()["status"], "expired");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = app();
    let a = send(&app, Call::get("/v1/nothing")).await;
    assert_eq!((a.status, a.code()), (404, "route_not_found".into()));
    let mut put = Call::get("/v1/payments");
    put.method = "PUT";
    let a = send(&app, put).await;
    assert_eq!((a.status, a.code()), (405, "method_not_allowed".into()));
    // A REST stage prefix does not matter.
    let created = create(&app, "order-1").await;
    let path = format!("/prod/v1/payments/{}", created["id"].as_str().unwrap_or_default());
    assert_eq!(send(&app, Call::get(&path)).await.status, 200);
}

/// One payment view (DESIGN §3): the create answer is the payment view plus `nextStep`, with the
/// same fields `GET /v1/payments/{id}` and a list item show, `trackId` beside `trackingUrl`, and
/// the merchant's `metadata` everywhere (never in the redirect SBPS receives).
#[tokio::test]
async fn the_create_answer_the_payment_and_a_list_item_are_one_view() {
    let app = app();
    let mut body = seed_body("view-1");
    body["metadata"] = json!({"orderNumber": "A-1001", "顧客": "山田"});
    let created = send(&app, Call::post("/v1/payments", &body)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created = created.json();
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created["metadata"], json!({"orderNumber": "A-1001", "顧客": "山田"}));
    let track_id = created["trackId"].as_str().unwrap_or_default();
    assert_eq!(created["trackingUrl"], format!("/v1/tracks/payments/{track_id}"));
    let names: Vec<&str> = created["nextStep"]["redirect"]["params"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, SEED_PARAMS, "metadata never reaches SBPS's form");
    let path = format!("/v1/payments/{id}");
    let got = send(&app, Call::get(&path)).await.json();
    assert_eq!(got, created, "GET shows exactly what create answered while the payment is pending");
    let listed = send(&app, Call::get("/v1/payments?merchantReference=view-1")).await.json();
    assert_eq!(listed["data"][0], created);
    let tracked = send(&app, Call::get(&format!("/v1/tracks/payments/{track_id}")).key(None)).await;
    assert_eq!((tracked.status, tracked.json()["id"].as_str()), (200, Some(id.as_str())));
}

/// `metadata`: strings only, at most 20 keys of 1 to 40 characters and values of at most 500;
/// every other shape is a 400 naming the field and stating the rule, and nothing is written.
#[tokio::test]
async fn metadata_is_checked_field_by_field() {
    let app = app();
    let many: serde_json::Map<String, Value> = (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!("order-1"), "metadata", "must be an object of strings"),
        (json!({"n": 1}), "metadata.n", "must be a string"),
        (json!({"n": null}), "metadata.n", "must be a string"),
        (json!({"": "v"}), "metadata.", "keys have 1 to 40 characters"),
        (json!({"k".repeat(41): "v"}), &*format!("metadata.{}", "k".repeat(41)), "keys have 1 to 40 characters"),
        (json!({"note": "x".repeat(501)}), "metadata.note", "values have at most 500 characters"),
        (Value::Object(many), "metadata", "has at most 20 keys"),
    ];
    for (metadata, field, message) in cases {
        let mut body = seed_body("meta-1");
        body["metadata"] = metadata.clone();
        let refused = send(&app, Call::post("/v1/payments", &body)).await;
        assert_eq!(refused.status, 400, "{metadata}: {}", refused.text);
        assert_eq!(refused.code(), "invalid_request");
        assert_eq!(refused.json()["errors"], json!([{"field": field, "message": message}]), "{metadata}");
    }
    let mut body = seed_body("meta-1");
    body["metadata"] = json!({"k".repeat(40): "注".repeat(500)});
    assert_eq!(send(&app, Call::post("/v1/payments", &body)).await.status, 201, "the limits themselves are accepted");
}
