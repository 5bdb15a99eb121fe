//! The sweeper (DESIGN §8) with no reads at all, on both stores: a pending payment past its
//! expiry produces exactly one `payment.expired` within a minute of app time, and a capture
//! left pending by an SBPS timeout is settled by the sweep (one more SBPS call, no second
//! capture) and produces `payment.captured`.

use crate::common;

use chrono::Duration;
use common::hooks::Hooked;
use kantan::local::background::LocalOutbox;
use kantan::local::sandbox::Fault;
use kantan::payment::Status;
use serde_json::{Value, json};

const CAPTURE: &str = "ST02-00201-402";

fn kinds(arrivals: &[Value]) -> Vec<Value> {
    arrivals
        .iter()
        .map(|a| {
            serde_json::from_str::<Value>(a["body"].as_str().unwrap_or("null")).unwrap_or_default()["type"].clone()
        })
        .collect()
}

on_both_stores!(an_unpaid_payment_expires_once_with_nobody_reading);
async fn an_unpaid_payment_expires_once_with_nobody_reading<S: LocalOutbox>(h: Hooked<S>) {
    h.register("shop", &[]).await;
    let created = h.local.create("unpaid-1", 500).await;
    let id = created["id"].as_str().expect("id").to_owned();
    h.run_until_idle().await;
    let pending_until = h.stored(&id).await.pending_until;
    // Just before its time: nothing.
    h.local.app.service.clock.set(pending_until - Duration::seconds(1));
    h.run_until_idle().await;
    assert_eq!(h.stored(&id).await.status, Status::Pending);
    // Within a minute of its time, with no read: expired, and the merchant told once.
    h.local.app.service.clock.set(pending_until + Duration::seconds(60));
    h.run_until_idle().await;
    assert_eq!(h.stored(&id).await.status, Status::Expired);
    h.local.app.service.clock.advance(Duration::hours(3));
    h.run_until_idle().await;
    let arrivals = h.arrivals("shop").await;
    assert_eq!(kinds(&arrivals), [json!("payment.expired")]);
    let expired: Vec<String> = h.local.events(&id).await.into_iter().filter(|e| e == "payment.expired").collect();
    assert_eq!(expired.len(), 1, "exactly one expiry");
}

on_both_stores!(a_capture_left_pending_by_a_timeout_is_settled_by_the_sweep);
async fn a_capture_left_pending_by_a_timeout_is_settled_by_the_sweep<S: LocalOutbox>(h: Hooked<S>) {
    h.register("shop", &["payment.captured"]).await;
    let id = h.local.authorized("late-1", 1000).await;
    h.local.sandbox.inject(vec![Fault::Delay { millis: 1500 }]);
    let first = h.local.op(&id, "captures", None, None).await;
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(h.local.sent(CAPTURE), 1);
    // Nobody reads or retries. Within the lock window, the sweep leaves it alone...
    h.run_until_idle().await;
    assert_eq!(h.local.sent(CAPTURE), 1);
    // ...and once the window has passed, it sends the capture again, once.
    h.local.app.service.clock.advance(Duration::minutes(2));
    h.run_until_idle().await;
    h.local.app.service.clock.advance(Duration::minutes(2));
    h.run_until_idle().await;
    assert_eq!(h.local.sent(CAPTURE), 2, "one more SBPS call");
    assert_eq!(h.local.performed(CAPTURE), 1, "one capture on SBPS's books");
    assert_eq!(h.stored(&id).await.status, Status::Captured);
    let arrivals = h.arrivals("shop").await;
    assert_eq!(kinds(&arrivals), [json!("payment.captured")]);
}
