//! Bad input gets its 4xx in the error shape and writes nothing: a valid create with the same
//! merchantReference succeeds afterwards.

use crate::common;

use common::*;
use serde_json::{Value, json};

fn with(path: &[&str], value: Value) -> Value {
    let mut body = seed_body("order-1");
    let mut target = &mut body;
    for key in &path[..path.len() - 1] {
        target = &mut target[*key];
    }
    target[path[path.len() - 1]] = value;
    body
}

fn without(path: &[&str]) -> Value {
    let mut body = seed_body("order-1");
    let mut target = &mut body;
    for key in &path[..path.len() - 1] {
        target = &mut target[*key];
    }
    if let Some(o) = target.as_object_mut() {
        o.remove(path[path.len() - 1]);
    }
    body
}

#[tokio::test]
async fn invalid_fields_are_400_with_the_field_named() {
    let cases: Vec<(Value, &str)> = vec![
        (with(&["amount", "value"], json!(0)), "amount.value"),
        (with(&["amount", "value"], json!(-5)), "amount.value"),
        (with(&["amount", "value"], json!(1.5)), "amount.value"),
        (with(&["amount", "value"], json!(200.0)), "amount.value"),
        (with(&["amount", "value"], json!("200")), "amount.value"),
        (with(&["amount", "value"], json!(100_000_000)), "amount.value"),
        (with(&["amount", "value"], json!(1e30)), "amount.value"),
        (with(&["amount", "value"], Value::Null), "amount.value"),
        (with(&["amount", "currency"], json!("usd")), "amount.currency"),
        (with(&["amount", "currency"], json!(392)), "amount.currency"),
        (with(&["amount"], json!(200)), "amount"),
        (without(&["amount"]), "amount"),
        (with(&["paymentMethod", "type"], json!("card")), "paymentMethod.type"),
        (without(&["paymentMethod", "type"]), "paymentMethod.type"),
        (
            with(&["paymentMethod", "auKantanKessai", "returnUrl"], json!("/complete")),
            "paymentMethod.auKantanKessai.returnUrl",
        ),
        (
            with(&["paymentMethod", "auKantanKessai", "returnUrl"], json!("http://merchant.site/x")),
            "paymentMethod.auKantanKessai.returnUrl",
        ),
        (
            with(&["paymentMethod", "auKantanKessai", "returnUrl"], json!("ftp://merchant.site/x")),
            "paymentMethod.auKantanKessai.returnUrl",
        ),
        (
            with(
                &["paymentMethod", "auKantanKessai", "returnUrl"],
                json!(format!("https://merchant.site/{}", "a".repeat(480))),
            ),
            "paymentMethod.auKantanKessai.returnUrl",
        ),
        (
            with(&["paymentMethod", "auKantanKessai", "returnUrl"], json!("https://user@merchant.site/x")),
            "paymentMethod.auKantanKessai.returnUrl",
        ),
        (with(&["paymentMethod", "auKantanKessai", "returnUrl"], json!(42)), "paymentMethod.auKantanKessai.returnUrl"),
        (without(&["paymentMethod", "auKantanKessai"]), "paymentMethod.auKantanKessai"),
        (with(&["processingAccountId"], json!("2HdUnknown")), "processingAccountId"),
        (without(&["processingAccountId"]), "processingAccountId"),
        (with(&["merchantReference"], json!("")), "merchantReference"),
        (with(&["merchantReference"], json!("x".repeat(65))), "merchantReference"),
        (with(&["merchantReference"], json!("a\u{0007}b")), "merchantReference"),
        (with(&["merchantReference"], json!(12)), "merchantReference"),
        (without(&["merchantReference"]), "merchantReference"),
        (json!([1, 2]), ""),
    ];
    let app = app();
    for (body, field) in cases {
        let a = send(&app, Call::post("/v1/payments", &body)).await;
        assert_eq!(a.status, 400, "{body} -> {}", a.text);
        assert_eq!(a.code(), "invalid_request", "{body}");
        let fields: Vec<String> = a.json()["errors"]
            .as_array()
            .map(|es| es.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default();
        assert!(fields.iter().any(|f| f == field), "{body}: expected {field} in {fields:?}");
    }
    // Nothing was written.
    create(&app, "order-1").await;
}

#[tokio::test]
async fn boundaries_that_are_valid() {
    let app = app();
    for (i, value) in [json!(1), json!(99_999_999)].into_iter().enumerate() {
        let mut body = with(&["amount", "value"], value);
        body["merchantReference"] = json!(format!("edge-{i}"));
        assert_eq!(send(&app, Call::post("/v1/payments", &body)).await.status, 201);
    }
    let mut body = with(&["amount", "currency"], json!("JPY"));
    body["merchantReference"] = json!("x".repeat(64));
    let a = send(&app, Call::post("/v1/payments", &body)).await;
    assert_eq!(a.status, 201);
    assert_eq!(a.json()["amount"]["currency"], "jpy");
    // Loopback http return URLs are fine in local mode.
    let mut body = with(&["paymentMethod", "auKantanKessai", "returnUrl"], json!("http://127.0.0.1:8080/done"));
    body["merchantReference"] = json!("loopback");
    assert_eq!(send(&app, Call::post("/v1/payments", &body)).await.status, 201);
}

#[tokio::test]
async fn malformed_bodies_types_and_sizes() {
    let app = app();
    let a = send(&app, Call::post("/v1/payments", &json!({})).raw(b"{\"amount\": ")).await;
    assert_eq!((a.status, a.code()), (400, "malformed_request".into()));
    let a = send(&app, Call::post("/v1/payments", &json!({})).raw(b"")).await;
    assert_eq!((a.status, a.code()), (400, "malformed_request".into()));
    let a = send(&app, Call::post("/v1/payments", &seed_body("order-1")).content_type(Some("text/plain"))).await;
    assert_eq!((a.status, a.code()), (415, "unsupported_media_type".into()));
    let a = send(&app, Call::post("/v1/payments", &seed_body("order-1")).content_type(None)).await;
    assert_eq!(a.status, 415);
    let ok = send(
        &app,
        Call::post("/v1/payments", &seed_body("charset")).content_type(Some("application/json; charset=utf-8")),
    )
    .await;
    assert_eq!(ok.status, 201);
    let mut big = seed_body("order-1");
    big["padding"] = json!("x".repeat(64 * 1024));
    let a = send(&app, Call::post("/v1/payments", &big)).await;
    assert_eq!((a.status, a.code()), (413, "payload_too_large".into()));
    create(&app, "order-1").await;
}
