//! What DESIGN forbids, tried as a new user and a careless merchant would, over HTTP against
//! the gateway and the SBPS sandbox; on both stores where a store is involved.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::dynamo;
use common::flow::*;
use common::*;
use kantan::accounts::DEMO_HASH_KEY;
use kantan::local::sandbox::Fault;
use kantan::store::Persistence;
use serde_json::json;

const CAPTURE: &str = "ST02-00201-402";
const CANCEL_REFUND: &str = "ST02-00303-402";

async fn raw_op<S: Persistence>(local: &Local<S>, id: &str, kind: &str, body: &str, key: Option<&str>) -> Reply {
    let mut req = local
        .http
        .post(format!("{}/v1/payments/{id}/{kind}", local.base))
        .bearer_auth(DEMO_KEY)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    reply(req).await
}

fn fields_of(r: &Reply) -> Vec<String> {
    r.json()["errors"]
        .as_array()
        .map(|es| es.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_careless_operation_body_is_never_read_as_everything() {
    let local = start_local().await;
    let id = local.authorized("careless-1", 1000).await;
    let events_before = local.events(&id).await.len();
    for (body, field) in [
        (r#"{"amout": {"value": 100, "currency": "jpy"}}"#, "amout"),
        (r#"{"value": 100}"#, "value"),
        (r#"{"amount": {"value": 100, "currency": "jpy", "valeu": 1}}"#, "amount.valeu"),
        (r#"{"amount": {"value": 100, "currency": "jpy"}, "final": true}"#, "final"),
        (r#"{"Amount": {"value": 100, "currency": "jpy"}}"#, "Amount"),
    ] {
        let r = raw_op(&local, &id, "captures", body, None).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json()["reason"]["code"], "invalid_request");
        assert!(fields_of(&r).iter().any(|f| f == field), "{body}: {}", r.text);
    }
    for body in
        [r#"{"amount": {"value": 100, "value": 900, "currency": "jpy"}}"#, r#"{"amount": null, "amount": null}"#]
    {
        let r = raw_op(&local, &id, "captures", body, None).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.text.contains("appears more than once"), "{}", r.text);
    }
    assert_eq!(local.sandbox.calls().len(), 0, "nothing was called");
    assert_eq!(local.events(&id).await.len(), events_before, "nothing was written");

    // `{}` and an empty body both mean everything that remains.
    let all = raw_op(&local, &id, "captures", "{}", None).await;
    assert_eq!(all.status, 201, "{}", all.text);
    assert_eq!(all.json()["amount"]["value"], 1000);
    let id2 = local.authorized("careless-2", 700).await;
    let empty = local.op(&id2, "cancels", None, None).await;
    assert_eq!((empty.status, empty.json()["amount"]["value"].clone()), (201, json!(700)));
}

#[tokio::test]
async fn create_bodies_refuse_unknown_fields_and_duplicate_keys() {
    let app = app();
    let mut body = seed_body("order-1");
    body["paymentMethod"]["auKantanKessai"]["returnURL"] = json!("https://merchant.site/x");
    body["amount"]["cents"] = json!(1);
    body["captureMode"] = json!("automatic");
    let a = send(&app, Call::post("/v1/payments", &body)).await;
    assert_eq!(a.status, 400, "{}", a.text);
    let fields: Vec<String> =
        a.json()["errors"].as_array().into_iter().flatten().map(|e| e["field"].as_str().unwrap_or("").into()).collect();
    for f in ["paymentMethod.auKantanKessai.returnURL", "amount.cents", "captureMode"] {
        assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
    }
    let seed = seed_body("order-1").to_string();
    let duplicated =
        seed.replacen(r#""merchantReference":"order-1""#, r#""merchantReference":"a","merchantReference":"b""#, 1);
    assert_ne!(duplicated, seed);
    let a = send(&app, Call::post("/v1/payments", &json!({})).raw(duplicated.as_bytes())).await;
    assert_eq!((a.status, a.code()), (400, "malformed_request".to_owned()), "{}", a.text);
    assert!(a.text.contains("merchantReference"), "{}", a.text);
    create(&app, "order-1").await; // nothing was written before
}

/// 30 requests at once with one key: the first answer, replayed byte for byte, or 409
/// `idempotency_in_progress` with `Retry-After`; nothing else, and one SBPS call.
async fn thirty_at_once_with_one_key<S: Persistence>(local: Arc<Local<S>>) {
    let id = local.authorized("one-key-1", 1000).await;
    for (kind, function) in [("captures", CAPTURE), ("refunds", CANCEL_REFUND)] {
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let (local, id) = (local.clone(), id.clone());
            tasks.push(tokio::spawn(async move { local.op(&id, kind, None, Some(&format!("{kind}-key"))).await }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.expect("task"));
        }
        let firsts: Vec<&Reply> = answers.iter().filter(|r| r.status == 201).collect();
        assert!(!firsts.is_empty(), "{kind}: no request completed");
        for r in &answers {
            match r.status {
                201 => assert_eq!(r.text, firsts[0].text, "{kind}: a replay is byte for byte"),
                409 => {
                    assert_eq!(r.json()["reason"]["code"], "idempotency_in_progress", "{kind}: {}", r.text);
                    assert!(r.headers.get("retry-after").is_some(), "{kind}");
                }
                other => panic!("{kind}: answer {other}: {}", r.text),
            }
        }
        assert_eq!(local.sent(function), 1, "{kind}: one SBPS call");
    }
}

#[tokio::test]
async fn thirty_concurrent_operations_with_one_key_on_the_embedded_store() {
    thirty_at_once_with_one_key(Arc::new(start_local().await)).await;
}

#[tokio::test]
async fn thirty_concurrent_operations_with_one_key_on_dynamodb() {
    thirty_at_once_with_one_key(Arc::new(start_local_on(dynamo::store().await).await)).await;
}

/// A capture whose outcome is unknown (the connection dropped), then 20 reads at once: one
/// of them sends the call again, the others see its lease and leave it.
async fn twenty_reads_send_one_call<S: Persistence>(local: Arc<Local<S>>) {
    let id = local.authorized("reads-1", 1000).await;
    local.sandbox.inject(vec![Fault::Reset, Fault::Delay { millis: 300 }]);
    let r = local.op(&id, "captures", None, None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(local.sent(CAPTURE), 1);
    local.app.service.clock.advance(chrono::Duration::seconds(10)); // past the lock window
    let mut reads = Vec::new();
    for _ in 0..20 {
        let (local, id) = (local.clone(), id.clone());
        reads.push(tokio::spawn(async move {
            reply(local.http.get(format!("{}/v1/payments/{id}", local.base)).bearer_auth(DEMO_KEY)).await.status
        }));
    }
    for read in reads {
        assert_eq!(read.await.expect("task"), 200);
    }
    assert_eq!(local.sent(CAPTURE), 2, "the original call and one recovery");
    assert_eq!(local.performed(CAPTURE), 1);
    assert_eq!(local.payment(&id).await["status"], "captured");
}

#[tokio::test]
async fn twenty_concurrent_reads_make_one_recovery_call_on_the_embedded_store() {
    twenty_reads_send_one_call(Arc::new(start_local().await)).await;
}

#[tokio::test]
async fn twenty_concurrent_reads_make_one_recovery_call_on_dynamodb() {
    twenty_reads_send_one_call(Arc::new(start_local_on(dynamo::store().await).await)).await;
}

#[tokio::test]
async fn a_lambda_function_with_no_accounts_source_refuses_to_start() {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_create"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("KANTAN_DB_PATH", std::env::temp_dir().join("kantan-refuse.sqlite"))
            .output(),
    )
    .await
    .expect("it stops by itself")
    .expect("it runs");
    assert!(!out.status.success());
    let logs = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("refusing to start") && logs.contains("no accounts source"), "{logs}");
}

#[tokio::test]
async fn the_return_url_is_stored_signed_and_answered_in_its_canonical_form() {
    let local = start_local().await;
    let mut body = seed_body("canonical-1");
    body["paymentMethod"]["auKantanKessai"]["returnUrl"] = json!("https://Merchant.SITE/done page?o=\"<1>\"");
    let created = reply(local.http.post(format!("{}/v1/payments", local.base)).bearer_auth(DEMO_KEY).json(&body)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created = created.json();
    let (_, params) = redirect_of(&created);
    let canonical = "https://merchant.site/done%20page?o=%22%3C1%3E%22";
    for name in ["success_url", "cancel_url", "error_url"] {
        assert_eq!(params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()), Some(canonical), "{name}");
    }
    // The sandbox verifies the checksum over what was answered: the payer gets through.
    let (status, page) = local.pay(&created, "approve").await;
    assert_eq!(status, 200, "{page}");
    let (action, _) = form_of(&page);
    assert_eq!(action, canonical);

    for bad in ["https://user:pw@merchant.site/", "https://merchant.site:0/", "https://192.0.2.1/", "https://shop/"] {
        let mut body = seed_body("canonical-2");
        body["paymentMethod"]["auKantanKessai"]["returnUrl"] = json!(bad);
        let r = reply(local.http.post(format!("{}/v1/payments", local.base)).bearer_auth(DEMO_KEY).json(&body)).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(fields_of(&r), ["paymentMethod.auKantanKessai.returnUrl"], "{bad}");
    }
}

#[tokio::test]
async fn merchant_references_refuse_invisible_and_private_characters() {
    let app = app();
    for bad in
        ["order\u{202E}1", "order\u{200B}1", "order\u{2028}1", "order\u{2029}1", "order\u{E000}1", "\u{FEFF}order"]
    {
        let a = send(&app, Call::post("/v1/payments", &seed_body(bad))).await;
        assert_eq!(a.status, 400, "{bad:?}: {}", a.text);
        assert!(a.text.contains("merchantReference"), "{}", a.text);
    }
    create(&app, "注文-0001").await;
}

/// Every space separator but U+0020 looks like a space and is not one: refused, naming the field.
/// U+0020 itself stays allowed inside a reference (references come from merchants' order
/// systems, where "ORDER 1001" is common), as before, not at either end.
#[tokio::test]
async fn merchant_references_refuse_lookalike_spaces() {
    let app = app();
    for bad in
        ["order\u{00A0}1", "order\u{3000}1", "order\u{2003}1", "order\u{202F}1", "order\u{205F}1", "order\u{1680}1"]
    {
        let a = send(&app, Call::post("/v1/payments", &seed_body(bad))).await;
        assert_eq!(a.status, 400, "{bad:?}: {}", a.text);
        assert_eq!(a.json()["errors"][0]["field"], "merchantReference", "{}", a.text);
    }
    create(&app, "ORDER 1001").await;
    for edge in [" order-1", "order-1 "] {
        assert_eq!(send(&app, Call::post("/v1/payments", &seed_body(edge))).await.status, 400, "{edge:?}");
    }
}

#[tokio::test]
async fn an_unknown_merchant_and_a_wrong_checksum_get_the_same_answer() {
    let local = start_local().await;
    let created = local.create("ng-1", 200).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let wrong_checksum = local.notify(&id, "200", "OK", "00000616307348", "not the key").await;
    // Signed with the right key, but for a merchant id nobody configured.
    let unknown_merchant = local.notify_as("12345", &id, "200", DEMO_HASH_KEY).await;
    assert_eq!(wrong_checksum, unknown_merchant);
    assert!(wrong_checksum.starts_with("NG,"), "{wrong_checksum}");
    assert_eq!(local.payment(&id).await["status"], "pending");
}

#[tokio::test]
async fn http_hygiene() {
    let local = start_local().await;
    let r = reply(local.http.delete(format!("{}/v1/payments", local.base))).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("GET, HEAD, POST"));
    let r = reply(local.http.put(format!("{}/v1/payments/x", local.base))).await;
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("GET, HEAD"));

    let created = local.create("hygiene-1", 200).await;
    let id = created["id"].as_str().expect("id");
    let two = reply(
        local
            .http
            .get(format!("{}/v1/payments/{id}", local.base))
            .header("authorization", format!("Bearer {DEMO_KEY}"))
            .header("authorization", format!("Bearer {DEMO_KEY}")),
    )
    .await;
    assert_eq!(two.status, 401);

    let too_large = "x".repeat(70_000);
    for r in [
        reply(local.http.post(format!("{}/v1/payments", local.base)).bearer_auth(DEMO_KEY).body(too_large)).await,
        reply(local.http.get(format!("{}/v1/payments/{id}", local.base)).bearer_auth(DEMO_KEY)).await,
        reply(local.http.get(format!("{}/v1/payments/nope", local.base)).bearer_auth(DEMO_KEY)).await,
        two,
    ] {
        assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
        assert_eq!(r.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    }
}

/// `local` as a process of its own, fed everything odd a client could send to the sandbox.
#[tokio::test]
async fn nothing_sent_to_the_sandbox_stops_local() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_local"))
        .env("PORT", port.to_string())
        .env("KANTAN_DB_PATH", dir.path().join("local.sqlite"))
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("local starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    for _ in 0..600 {
        if http.get(format!("{base}/v1/tracks/payments/x")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let control = |path: &str, body: String| http.post(format!("{base}/sandbox/sbps/control/{path}")).body(body);
    let odd_json = [
        json!({"advanceSeconds": i64::MAX}),
        json!({"advanceSeconds": i64::MIN}),
        json!({"now": "9999-12-31T23:59:59Z"}),
        json!({"now": "0001-01-01T00:00:00Z"}),
        json!({"advanceSeconds": 1e300}),
        json!({"now": 5}),
    ];
    for body in odd_json {
        let r = control("clock", body.to_string()).send().await.expect("an answer");
        assert_eq!(r.status(), 400, "{body}");
    }
    for body in [
        json!({"faults": [{"kind": "delay", "millis": u64::MAX}]}),
        json!({"faults": [{"kind": "status", "status": 0}]}),
        json!({"faults": [{"kind": "error", "code": "<x>&\"'"}]}),
        json!({"faults": vec![json!({"kind": "reset"}); 1000]}),
        json!({"faults": "all"}),
    ] {
        let r = control("faults", body.to_string()).send().await.expect("an answer");
        assert_eq!(r.status(), 400, "{body}");
    }
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    };
    let long = "9".repeat(5000);
    let odd_forms: Vec<Vec<u8>> = vec![
        noise(300),
        noise(70_000),
        b"%%%&&&===".to_vec(),
        format!("pay_method=auone&merchant_id=99999&service_id=000&amount={long}&request_date={long}&limit_second={long}").into_bytes(),
        b"pay_method=auone&merchant_id=99999&service_id=000&order_id=a&amount=1&decision=approve&pagecon_url=http://[::1".to_vec(),
        b"decision=approve".to_vec(),
    ];
    for body in &odd_forms {
        let r = http.post(format!("{base}/sandbox/sbps/purchase")).body(body.clone()).send().await.expect("an answer");
        assert!(r.status() == 400 || r.status() == 413, "{}", r.status());
    }
    let xml = |inner: &str| {
        format!("<?xml version=\"1.0\"?><sps-api-request id=\"ST02-00201-402\">{inner}</sps-api-request>")
    };
    let odd_xml = [
        xml(&format!(
            "<merchant_id>99999</merchant_id><service_id>000</service_id><request_date>20301110120000</request_date><limit_second>{long}</limit_second>"
        )),
        xml(
            "<merchant_id>99999</merchant_id><service_id>000</service_id><request_date>99999999999999</request_date><limit_second>-1</limit_second>",
        ),
        xml(&"<a>".repeat(2000)),
        String::from_utf8_lossy(&noise(500)).into_owned(),
    ];
    for body in odd_xml {
        let r = http
            .post(format!("{base}/sandbox/sbps/api"))
            .basic_auth("99999000", Some(DEMO_HASH_KEY))
            .body(body.into_bytes())
            .send()
            .await
            .expect("an answer");
        assert!(r.status() == 200 || r.status() == 400 || r.status() == 413, "{}", r.status());
        if r.status() == 200 {
            assert!(r.text().await.expect("text").contains("<res_result>NG</res_result>"));
        }
    }
    // Still serving.
    let r = http
        .post(format!("{base}/v1/payments"))
        .bearer_auth(DEMO_KEY)
        .json(&seed_body("still-here"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status(), 201);
    child.start_kill().expect("kill");
    let out = child.wait_with_output().await.expect("output");
    let logs = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!logs.contains("panicked") && !logs.contains(".rs:"), "{logs}");
}
