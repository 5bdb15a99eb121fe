//! The gateway on DynamoDB Local: the item layout of DESIGN §5, round trips per operation,
//! and concurrency.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use common::dynamo::{RequestCounter, store, store_with};
use common::*;
use kantan::accounts::DEMO_HASH_KEY;

#[tokio::test]
async fn a_created_payment_is_exactly_the_items_of_the_design() {
    let store = store().await;
    let (client, table) = (store.client().clone(), store.table().to_owned());
    let app = app_on(store);
    let created = send(&app, Call::post("/v1/payments", &seed_body("order-1")).idempotency("key-1")).await.json();
    let id = created["id"].as_str().expect("id");
    let track = created["trackingUrl"].as_str().expect("url").rsplit('/').next().expect("track id");

    let items = client.scan().table_name(&table).send().await.expect("scan").items().to_vec();
    let keys: BTreeMap<String, String> = items
        .iter()
        .map(|i| {
            let get = |k: &str| match i.get(k) {
                Some(AttributeValue::S(v)) => v.clone(),
                _ => String::new(),
            };
            (get("PK"), get("SK"))
        })
        .collect();
    let expected: BTreeMap<String, String> = [
        (format!("PAYMENT#{id}"), "PAYMENT".to_owned()),
        ("MREF#2HdN2jq6XWmlkhqRC2gDTNYCvNH#order-1".to_owned(), "MREF".to_owned()),
        (format!("TRACK#{track}"), "TRACK".to_owned()),
        ("IDEM#2HdN2jq6XWmlkhqRC2gDTNYCvNH#key-1".to_owned(), "IDEM".to_owned()),
    ]
    .into_iter()
    .collect();
    // The payment's partition also holds its first audit event, and the due bucket of its
    // expiry minute holds the sweeper's entry.
    assert_eq!(items.len(), 6, "{keys:?}");
    let due = items
        .iter()
        .find(|i| matches!(i.get("PK"), Some(AttributeValue::S(pk)) if pk.starts_with("DUE#")))
        .expect("a due bucket entry");
    assert_eq!(due.get("SK"), Some(&AttributeValue::S(format!("PAYMENT#{id}"))));
    assert!(matches!(due.get("expiresAt"), Some(AttributeValue::N(_))), "due entries expire (TTL)");
    let Some(AttributeValue::S(due_pk)) = due.get("PK") else { panic!("a due key") };
    let parts: Vec<&str> = due_pk.split('#').collect();
    assert_eq!(parts.len(), 3, "DUE#<yyyyMMddHHmm>#<shard>: {due_pk}");
    assert_eq!(parts[1].len(), 12);
    assert!(parts[2].parse::<u32>().is_ok_and(|shard| shard < 8));
    for (pk, sk) in &expected {
        assert!(
            items.iter().any(|i| i.get("PK") == Some(&AttributeValue::S(pk.clone()))
                && i.get("SK") == Some(&AttributeValue::S(sk.clone()))),
            "missing {pk} / {sk}"
        );
    }
    assert!(items.iter().any(|i| i.get("SK") == Some(&AttributeValue::S("EVENT#0000000001".into()))));

    let payment = items.iter().find(|i| i.get("SK") == Some(&AttributeValue::S("PAYMENT".into()))).expect("payment");
    assert_eq!(payment.get("amount"), Some(&AttributeValue::N("200".into())));
    assert_eq!(payment.get("capturedAmount").or(payment.get("captured")), Some(&AttributeValue::N("0".into())));
    assert_eq!(payment.get("version"), Some(&AttributeValue::N("1".into())));
    assert_eq!(payment.get("status"), Some(&AttributeValue::S("pending".into())));
    let idem = items.iter().find(|i| i.get("SK") == Some(&AttributeValue::S("IDEM".into()))).expect("idem");
    assert!(matches!(idem.get("expiresAt"), Some(AttributeValue::N(_))), "TTL attribute is epoch seconds");
    // Nothing secret is stored.
    let dump = format!("{items:?}");
    assert!(!dump.contains(DEMO_HASH_KEY) && !dump.contains(DEMO_KEY));
}

#[tokio::test]
async fn round_trips_per_operation() {
    let counter = RequestCounter::default();
    let local = start_local_on(store_with(Some(counter.clone())).await).await;
    counter.take();

    let created = local.create("trips-1", 1000).await;
    assert_eq!(counter.take(), 1, "create");
    let id = created["id"].as_str().expect("id").to_owned();
    let keyed = || {
        local
            .http
            .post(format!("{}/v1/payments", local.base))
            .bearer_auth(DEMO_KEY)
            .header("idempotency-key", "trips-key")
    };
    let first = flow::reply(keyed().json(&seed_body("trips-2"))).await;
    assert_eq!(first.status, 201);
    assert_eq!(counter.take(), 1, "create with a key");
    let replay = flow::reply(keyed().json(&seed_body("trips-2"))).await;
    assert_eq!((replay.status, replay.text.as_str()), (201, first.text.as_str()));
    assert_eq!(counter.take(), 1, "create replayed: the refused write returns the record");
    let reused = flow::reply(keyed().json(&seed_body("trips-3"))).await;
    assert_eq!(reused.status, 422);
    assert_eq!(counter.take(), 1, "create with a reused key");

    local.payment(&id).await;
    assert_eq!(counter.take(), 1, "GET /v1/payments/{{id}}");
    let track = created["trackingUrl"].as_str().expect("url");
    let r = flow::reply(local.http.get(format!("{}{track}", local.base))).await;
    assert_eq!(r.status, 200);
    assert_eq!(counter.take(), 1, "the public tracking route: the pointer's copy");

    let (status, _) = local.pay(&created, "approve").await;
    assert_eq!(status, 200);
    assert_eq!(counter.take(), 2, "notification: read, then write");
    let r = flow::reply(local.http.get(format!("{}{track}", local.base))).await;
    assert_eq!(r.json()["status"], "authorized", "the copy changed with the payment");
    counter.take();

    let r = local.op(&id, "captures", Some(600), Some("trips-cap")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(counter.take(), 3, "capture with a key: read, write ahead with the claim, settle");
    let again = local.op(&id, "captures", Some(600), Some("trips-cap")).await;
    assert_eq!((again.status, again.text.as_str()), (201, r.text.as_str()));
    assert_eq!(counter.take(), 2, "capture replayed: read the payment, then the key (the state refuses)");
    let r = local.op(&id, "refunds", None, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(counter.take(), 3, "refund: read, write ahead, settle");

    // Listing: one Query per page for an account on one shard (the index projects the whole
    // payment item, operations included: no batch read); one per shard, side by side, for an
    // account spread over 4.
    for n in 0..3 {
        local.create(&format!("trips-list-{n}"), 100).await;
    }
    counter.take();
    let page = flow::reply(local.http.get(format!("{}/v1/payments?limit=2", local.base)).bearer_auth(DEMO_KEY)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(counter.take(), 1, "a listing page");
    let cursor = page.json()["nextCursor"].as_str().expect("a next page").to_owned();
    let cursor: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    let next = flow::reply(
        local.http.get(format!("{}/v1/payments?limit=2&cursor={cursor}", local.base)).bearer_auth(DEMO_KEY),
    )
    .await;
    assert_eq!(next.status, 200);
    assert_eq!(counter.take(), 1, "the next page");
    let found = flow::reply(
        local.http.get(format!("{}/v1/payments?merchantReference=trips-1", local.base)).bearer_auth(DEMO_KEY),
    )
    .await;
    assert_eq!(found.json()["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(counter.take(), 1, "by reference");
    let theirs = flow::reply(local.http.get(format!("{}/v1/payments", local.base)).bearer_auth(OTHER_KEY)).await;
    assert_eq!(theirs.status, 200);
    assert_eq!(counter.take(), 4, "an account on 4 shards: 4 queries, side by side");

    // The ledger: one Query per page per shard; a statement's totals one BatchGetItem, its CSV
    // page one Query per shard (the month's entries are never read for the totals).
    // (The capture and the refund were confirmed at the same instant of the tests' clock, so
    // newest first they are in the order of their ids: the type filter picks the refund.)
    let ledger = flow::reply(
        local.http.get(format!("{}/v1/ledger?type=cancellation&limit=1", local.base)).bearer_auth(DEMO_KEY),
    )
    .await;
    assert_eq!(ledger.status, 200, "{}", ledger.text);
    assert_eq!(ledger.json()["data"][0]["type"], "cancellation", "the refund in the month of the sale");
    assert_eq!(ledger.json()["data"][0]["amount"]["value"], -600);
    assert_eq!(counter.take(), 1, "a ledger page");
    let theirs = flow::reply(local.http.get(format!("{}/v1/ledger", local.base)).bearer_auth(OTHER_KEY)).await;
    assert_eq!(theirs.status, 200);
    assert_eq!(counter.take(), 4, "an account's ledger on 4 shards");
    let month = kantan::payment::ledger::month_of(local.app.service.clock.now());
    let statement =
        flow::reply(local.http.get(format!("{}/v1/statements/{month}", local.base)).bearer_auth(DEMO_KEY)).await;
    assert_eq!(statement.json()["net"]["value"], 0, "{}", statement.text);
    assert_eq!(counter.take(), 1, "a statement's totals");
    let csv = flow::reply(
        local
            .http
            .get(format!("{}/v1/statements/{month}", local.base))
            .bearer_auth(DEMO_KEY)
            .header("accept", "text/csv"),
    )
    .await;
    assert_eq!(csv.status, 200);
    assert_eq!(counter.take(), 1, "a statement's CSV page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_creates_with_one_reference_make_one_payment() {
    let app = Arc::new(app_on(store().await));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move { send(&app, Call::post("/v1/payments", &seed_body("same-ref"))).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        let a = t.await.expect("task");
        answers.push((a.status, a.text));
    }
    let created: Vec<&String> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, t)| t).collect();
    assert_eq!(created.len(), 1, "{:?}", answers.iter().map(|(s, _)| s).collect::<Vec<_>>());
    let id =
        serde_json::from_str::<serde_json::Value>(created[0]).expect("json")["id"].as_str().expect("id").to_owned();
    for (status, text) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{text}");
        assert!(text.contains("duplicate_merchant_reference") && text.contains(&id), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_creates_with_one_key_make_one_payment() {
    let app = Arc::new(app_on(store().await));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            send(&app, Call::post("/v1/payments", &seed_body("keyed")).idempotency("one-key")).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        let a = t.await.expect("task");
        answers.push((a.status, a.text));
    }
    let created: Vec<&String> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, t)| t).collect();
    assert!(!created.is_empty());
    assert!(created.iter().all(|t| *t == created[0]), "every 201 is the same answer, byte for byte");
    for (status, text) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 409, "{text}");
        assert!(text.contains("idempotency_in_progress"), "{text}");
    }
}

#[tokio::test]
async fn the_whole_flow_on_dynamodb() {
    let local = start_local_on(store().await).await;
    let id = local.authorized("flow-1", 1000).await;
    let r = local.op(&id, "cancels", Some(200), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = local.op(&id, "captures", None, Some("cap")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let again = local.op(&id, "captures", None, Some("cap")).await;
    assert_eq!((again.status, &again.text), (201, &r.text));
    let r = local.op(&id, "refunds", None, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = local.payment(&id).await;
    assert_eq!(p["status"], "refunded");
    assert_eq!(
        (
            p["capturedAmount"]["value"].as_u64(),
            p["cancelledAmount"]["value"].as_u64(),
            p["refundedAmount"]["value"].as_u64()
        ),
        (Some(800), Some(200), Some(800))
    );
    assert_eq!(local.events(&id).await.len(), 7);
}

#[tokio::test]
async fn an_unreachable_table_is_a_503_without_sdk_details() {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "test"))
        .build();
    let store = kantan::store::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "payments");
    let app = app_on(store);
    for call in
        [Call::post("/v1/payments", &seed_body("down-1")), Call::get("/v1/payments/27yiW9MgzBtwiodreuNOXk0rtIw")]
    {
        let a = send(&app, call).await;
        assert_eq!((a.status, a.code()), (503, "service_unavailable".to_owned()), "{}", a.text);
        assert!(a.response.headers().contains_key("retry-after"));
        for word in ["dispatch", "Sdk", "127.0.0.1", "connect", "DynamoDB"] {
            assert!(!a.text.contains(word), "{word} in {}", a.text);
        }
    }
}

#[tokio::test]
async fn a_timed_out_capture_is_resumed_by_its_key_on_dynamodb() {
    let local = start_local_on(store().await).await;
    let id = local.authorized("timeout-ddb", 1000).await;
    local.sandbox.inject(vec![kantan::local::sandbox::Fault::Delay { millis: 1500 }]);
    let first = local.op(&id, "captures", None, Some("k-ddb")).await;
    assert_eq!((first.status, first.json()["status"].as_str()), (202, Some("pending")), "{}", first.text);
    let retry = local.op(&id, "captures", None, Some("k-ddb")).await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.json()["id"], first.json()["id"]);
    let performed = local.sandbox.calls().iter().filter(|c| c.function_id == "ST02-00201-402" && c.performed).count();
    assert_eq!(performed, 1);
    let replay = local.op(&id, "captures", None, Some("k-ddb")).await;
    assert_eq!((replay.status, replay.text), (201, retry.text));
    assert_eq!(local.payment(&id).await["status"], "captured");
}
