//! The API Gateway events of `events/` (what `cargo lambda invoke --data-file` sends) as
//! fixtures: each one, parsed by `lambda_http` as the runtime parses it, answers as expected.

use crate::common;

use chrono::Duration;
use common::*;
use kantan::http::{Function, handle};
use kantan::ids::{PaymentId, TrackId};
use kantan::money::Yen;
use kantan::payment::{CaptureMode, NewPayment, Payment};
use kantan::store::{NewPaymentRecord, SqliteStore, Store};
use lambda_http::request::from_str;

const SEED_ID: &str = "27yiW9MgzBtwiodreuNOXk0rtIw";
const SEED_TRACK: &str = "2HdPqTrackDemo0000000000000";

fn event(name: &str) -> lambda_http::Request {
    let path = format!("{}/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    from_str(&json).unwrap_or_else(|e| panic!("{path} is not an API Gateway event: {e}"))
}

async fn invoke(local: &Local<SqliteStore>, name: &str, function: Function) -> (u16, String) {
    let response = handle(&local.app, event(name), Some(&[function])).await;
    (response.status().as_u16(), String::from_utf8_lossy(response.body().as_ref()).into_owned())
}

/// The payment the events refer to: the seed's id, pending, 200 yen, with the events' track id.
async fn seed_payment(local: &Local<SqliteStore>) {
    let (payment, event) = Payment::create(
        NewPayment {
            id: SEED_ID.parse::<PaymentId>().expect("id"),
            account_id: "2HdN2jq6XWmlkhqRC2gDTNYCvNH".into(),
            merchant_reference: "fixture".into(),
            track_id: SEED_TRACK.parse::<TrackId>().expect("track id"),
            amount: Yen::new(200).expect("yen"),
            return_url: "https://merchant.site/complete-payment".into(),
            capture_mode: CaptureMode::Manual,
            limit_second: 600,
            expiry_grace: Duration::minutes(30),
            list_shard: 0,
            metadata: kantan::payment::Metadata::default(),
        },
        local.app.service.clock.now(),
    );
    local
        .app
        .service
        .store
        .create_payment(&NewPaymentRecord { payment, event, idempotency: None }, local.app.service.clock.now())
        .await
        .expect("seed");
}

/// Seeded and authorized by the notify event; the sandbox knows the event's tracking id.
async fn authorized() -> Local<SqliteStore> {
    let local = start_local().await;
    seed_payment(&local).await;
    local.sandbox.register_authorization("99999", "000", "00000616307348", 200);
    assert_eq!(invoke(&local, "notify", Function::Notify).await, (200, "OK,".into()));
    local
}

#[tokio::test]
async fn create_get_and_track_events() {
    let local = start_local().await;
    let (status, body) = invoke(&local, "create", Function::Create).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"merchantReference\":\"c5211d6b-0178-49f8-a06b-69df097a712f\""));
    // The same event again replays (it carries an Idempotency-Key).
    assert_eq!(invoke(&local, "create", Function::Create).await, (201, body));

    seed_payment(&local).await;
    let (status, body) = invoke(&local, "get", Function::Track).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(SEED_ID) && body.contains("\"status\":\"pending\""));
    let (status, body) = invoke(&local, "track", Function::Track).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"nextStep\""));
    // A function answers its own routes only.
    assert_eq!(invoke(&local, "get", Function::Create).await.0, 404);
}

#[tokio::test]
async fn the_list_event_lists_authorized_payments() {
    let local = authorized().await;
    let (status, body) = invoke(&local, "list", Function::Track).await;
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(page["data"][0]["id"], SEED_ID);
    assert_eq!(page["data"][0]["status"], "authorized");
    assert!(page["nextCursor"].is_null());
    assert_eq!(invoke(&local, "list", Function::Create).await.0, 404, "the track function's route");
}

#[tokio::test]
async fn the_notify_event_is_a_valid_notification() {
    let local = authorized().await;
    let p = local.payment(SEED_ID).await;
    assert_eq!(p["status"], "authorized");
    // Sent again: a repeat, answered OK, and nothing written.
    assert_eq!(invoke(&local, "notify", Function::Notify).await, (200, "OK,".into()));
    assert_eq!(local.events(SEED_ID).await.len(), 2);
}

#[tokio::test]
async fn capture_events() {
    let local = authorized().await;
    let (status, body) = invoke(&local, "capture-partial", Function::Capture).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"value\":150"));
    let local = authorized().await;
    let (status, body) = invoke(&local, "capture", Function::Capture).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"value\":200"));
}

#[tokio::test]
async fn cancel_and_refund_events() {
    let local = authorized().await;
    let (status, body) = invoke(&local, "cancel", Function::Cancel).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"paymentStatus\":\"cancelled\""));

    let local = authorized().await;
    assert_eq!(invoke(&local, "capture", Function::Capture).await.0, 201);
    let (status, body) = invoke(&local, "refund", Function::Refund).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"paymentStatus\":\"refunded\""));
}

#[tokio::test]
async fn ledger_and_statement_events() {
    let local = authorized().await;
    assert_eq!(invoke(&local, "capture", Function::Capture).await.0, 201);
    let (status, body) = invoke(&local, "ledger", Function::Track).await;
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(page["data"][0]["paymentId"], SEED_ID);
    assert_eq!(page["data"][0]["type"], "capture");
    assert_eq!(page["data"][0]["amount"]["value"], 200);
    assert_eq!(page["data"][0]["month"], "2030-11");
    let (status, body) = invoke(&local, "statement", Function::Track).await;
    assert_eq!(status, 200, "{body}");
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "the header and the capture: {body}");
    assert!(lines[0].starts_with("entry_id,type,amount,currency,"), "{body}");
    assert!(lines[1].contains(",capture,200,jpy,") && lines[1].contains(SEED_ID), "{body}");
    assert_eq!(invoke(&local, "statement", Function::Capture).await.0, 404, "the track function's route");
}

const FIXTURE_ENDPOINT: &str = "2HdPqEndpointDemo0000000000";

/// The endpoint the webhook events refer to, on the sandbox receiver's inbox `fixture`.
async fn seed_endpoint(local: &Local<SqliteStore>) {
    use kantan::store::WebhookStore;
    use kantan::webhooks::{Endpoint, EndpointStatus};
    let now = local.app.service.clock.now();
    let endpoint = Endpoint {
        id: FIXTURE_ENDPOINT.parse().expect("id"),
        account_id: "2HdN2jq6XWmlkhqRC2gDTNYCvNH".into(),
        url: format!("{}/sandbox/webhooks/fixture", local.base),
        events: Vec::new(),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        generation: 1,
        previous_until: None,
        consecutive_failures: 0,
        failing_since: None,
        created_at: now,
        updated_at: now,
        version: 1,
        created_by: None,
        rotated_by: None,
    };
    local.app.service.store.create_endpoint(&endpoint, 5).await.expect("seed endpoint");
}

#[tokio::test]
async fn webhook_endpoint_events() {
    let local = authorized().await;
    let (status, body) = invoke(&local, "webhook-endpoint-create", Function::Webhooks).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"secret\":\"whsec_"));
    assert_eq!(invoke(&local, "webhook-endpoint-create", Function::Webhooks).await, (201, body), "replayed");
    seed_endpoint(&local).await;
    for (name, expected) in [
        ("webhook-endpoint-list", 200),
        ("webhook-endpoint-get", 200),
        ("webhook-endpoint-rotate-secret", 200),
        ("webhook-endpoint-enable", 200),
        ("payment-events", 200),
        ("event-redeliver", 202),
        ("webhook-endpoint-delete", 200),
    ] {
        let (status, body) = invoke(&local, name, Function::Webhooks).await;
        assert_eq!(status, expected, "{name}: {body}");
    }
    assert_eq!(invoke(&local, "webhook-endpoint-get", Function::Webhooks).await.0, 404, "deleted");
    assert_eq!(invoke(&local, "payment-events", Function::Track).await.0, 404, "the webhooks function's route");
}

#[tokio::test]
async fn dispatch_deliver_and_sweep_events() {
    use aws_lambda_events::event::dynamodb::Event as StreamBatch;
    use aws_lambda_events::event::sqs::SqsEvent;
    let local = authorized().await;
    seed_endpoint(&local).await;
    let read = |name: &str| {
        let path = format!("{}/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let hooks = local.app.webhooks.as_ref().expect("webhooks");

    let batch: StreamBatch = serde_json::from_str(&read("dispatch")).expect("a DynamoDB stream event");
    let answer = kantan::jobs::dispatch::dispatch_batch(hooks, &batch).await;
    assert!(answer.batch_item_failures.is_empty());
    let pid: PaymentId = SEED_ID.parse().expect("id");
    use kantan::store::WebhookStore;
    assert_eq!(hooks.store.deliveries(&pid).await.expect("deliveries").len(), 1, "one delivery for the endpoint");

    let messages: SqsEvent = serde_json::from_str(&read("deliver")).expect("an SQS event");
    // A delivery that succeeds touches no queue (the message is simply not reported).
    let no_queue = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("ap-northeast-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let queue =
        kantan::webhooks::queue::SqsQueue::new(aws_sdk_sqs::Client::from_conf(no_queue), "http://127.0.0.1:9/q");
    let answer = kantan::jobs::deliver::deliver_batch(hooks, &queue, &messages).await;
    assert!(answer.batch_item_failures.is_empty(), "delivered");
    let inbox = flow::reply(local.http.get(format!("{}/sandbox/webhooks/fixture", local.base))).await.json();
    assert_eq!(inbox["received"][0]["id"], format!("evt_{SEED_ID}_2"));

    let schedule: serde_json::Value = serde_json::from_str(&read("sweep")).expect("a scheduled event");
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    assert!(local.app.service.sweep(60).await.is_ok());
}
