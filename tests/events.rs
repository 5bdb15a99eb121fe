//! The API Gateway events of `events/` (what `cargo lambda invoke --data-file` sends) as
//! fixtures: each one, parsed by `lambda_http` as the runtime parses it, answers as expected.

mod common;

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
