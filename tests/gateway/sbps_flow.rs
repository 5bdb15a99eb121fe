//! End-to-end over HTTP: the gateway and the SBPS sandbox on one local server, the payer's
//! browser played by the test. Every transition of DESIGN §4 and every row of the
//! Operations table of DESIGN §3.

use crate::common;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use common::flow::*;
use common::hooks::Hooked;
use common::*;
use kantan::accounts::DEMO_HASH_KEY;
use kantan::ids::PaymentId;
use kantan::local::background::LocalOutbox;
use kantan::local::sandbox::Fault;
use serde_json::{Value, json};

const CAPTURE: &str = "ST02-00201-402";
const CANCEL_REFUND: &str = "ST02-00303-402";

#[tokio::test]
async fn the_newcomers_walk_partial_capture_then_partial_refund_next_month() {
    let local = start_local().await;
    let created = local.create("walk-1", 1000).await;
    let id = created["id"].as_str().expect("id").to_owned();

    let (status, page) = local.pay(&created, "approve").await;
    assert_eq!(status, 200);
    let (action, fields) = form_of(&page);
    assert_eq!(action, "https://merchant.site/complete-payment");
    let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(field("res_result"), "OK");
    assert_eq!(field("order_id"), id);
    assert_eq!(field("res_tracking_id").len(), 14);
    assert_eq!(field("sps_hashcode").len(), 40);

    let p = local.payment(&id).await;
    assert_eq!(p["status"], "authorized");
    assert_eq!(p["authorizedAmount"]["value"], 1000);
    assert!(p.get("nextStep").is_none());

    let capture = local.op(&id, "captures", Some(600), Some("cap-1")).await;
    assert_eq!(capture.status, 201, "{}", capture.text);
    let c = capture.json();
    assert_eq!(
        (c["type"].as_str(), c["status"].as_str(), c["paymentStatus"].as_str()),
        (Some("capture"), Some("succeeded"), Some("captured"))
    );
    assert_eq!(c["amount"], json!({"value": 600, "currency": "jpy"}));
    assert_eq!(c["paymentId"], json!(id));

    // In the month of the sale a partial refund is refused before SBPS is called.
    let calls_before = local.sandbox.calls().len();
    let early = local.op(&id, "refunds", Some(100), None).await;
    assert_eq!(early.status, 422, "{}", early.text);
    assert_eq!(early.json()["reason"]["code"], "partial_refund_not_yet_available");
    assert_eq!(local.sandbox.calls().len(), calls_before);

    // Next month (Japan time), for the gateway and the sandbox alike.
    local.app.service.clock.set(Utc.with_ymd_and_hms(2030, 12, 2, 1, 0, 0).single().expect("time"));
    let refund = local.op(&id, "refunds", Some(100), Some("ref-1")).await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    assert_eq!(refund.json()["paymentStatus"], "partially_refunded");

    let p = local.payment(&id).await;
    assert_eq!(p["status"], "partially_refunded");
    assert_eq!(p["authorizedAmount"]["value"], 1000);
    assert_eq!(p["capturedAmount"]["value"], 600);
    assert_eq!(p["refundedAmount"]["value"], 100);
    assert_eq!(p["cancelledAmount"]["value"], 0);
    let ops = p["operations"].as_array().expect("operations");
    assert_eq!(ops.len(), 2);
    assert_eq!(
        local.events(&id).await,
        [
            "payment.created",
            "payment.authorized",
            "operation.requested",
            "payment.captured",
            "operation.requested",
            "payment.partially_refunded"
        ]
    );
    assert_eq!((local.sent(CAPTURE), local.performed(CAPTURE)), (1, 1));
    assert_eq!((local.sent(CANCEL_REFUND), local.performed(CANCEL_REFUND)), (1, 1));
    let calls = local.sandbox.calls();
    assert_eq!(calls[0].amount, Some(600));
    assert_eq!(calls[1].amount, Some(100));
}

#[tokio::test]
async fn a_declined_purchase_is_declined_with_its_code() {
    let local = start_local().await;
    let created = local.create("decline-1", 500).await;
    let (_, page) = local.pay(&created, "decline").await;
    let (action, fields) = form_of(&page);
    assert_eq!(action, "https://merchant.site/complete-payment");
    assert!(fields.iter().any(|(k, v)| k == "res_err_code" && v == "402U1999"));
    let p = local.payment(created["id"].as_str().expect("id")).await;
    assert_eq!(p["status"], "declined");
    assert_eq!(p["reason"]["code"], "declined");
    assert!(p["reason"]["description"].as_str().unwrap_or("").contains("402U1999"));
    assert_eq!(p["reason"]["providerCode"], "402U1999", "SBPS's code, apart from the sentence");
    // The reference is released.
    local.create("decline-1", 500).await;
}

#[tokio::test]
async fn cancelling_on_the_au_screen_changes_nothing() {
    let local = start_local().await;
    let created = local.create("abandon-1", 500).await;
    let (_, page) = local.pay(&created, "cancel").await;
    assert_eq!(form_of(&page).0, "https://merchant.site/complete-payment");
    let id = created["id"].as_str().expect("id");
    assert_eq!(local.payment(id).await["status"], "pending");
    assert_eq!(local.events(id).await.len(), 1);
}

#[tokio::test]
async fn the_purchase_screen_checks_the_form_as_sbps_would() {
    let local = start_local().await;
    let created = local.create("screen-1", 500).await;
    let (url, params) = redirect_of(&created);
    let url = url.as_str();
    let tampered: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| if k == "amount" { (k.clone(), "1".into()) } else { (k.clone(), v.clone()) })
        .collect();
    let r = reply(local.http.post(url).form(&tampered)).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("40209025"), "{}", r.text);
    let missing: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "success_url").cloned().collect();
    let r = reply(local.http.post(url).form(&missing)).await;
    assert!(r.status == 400 && r.text.contains("40203"), "{}", r.text);

    // Too late: past request_date + limit_second.
    local.app.service.clock.advance(Duration::seconds(601));
    let r = reply(local.http.post(url).form(&params)).await;
    assert!(r.status == 400 && r.text.contains("40210023"), "{}", r.text);
    local.app.service.clock.advance(Duration::seconds(-601));

    // An order id is used once.
    let (status, _) = local.pay(&created, "approve").await;
    assert_eq!(status, 200);
    let r = reply(local.http.post(url).form(&params)).await;
    assert!(r.status == 400 && r.text.contains("40296004"), "{}", r.text);
}

#[tokio::test]
async fn notifications_are_verified_and_applied_once() {
    let local = start_local().await;
    let created = local.create("notify-1", 800).await;
    let id = created["id"].as_str().expect("id").to_owned();

    assert_eq!(local.notify(&id, "800", "OK", "12345678901234", "wrong key").await, "NG,sps_hashcode error");
    assert_eq!(local.notify(&id, "801", "OK", "12345678901234", DEMO_HASH_KEY).await, "NG,amount error");
    let unknown = PaymentId::generate();
    assert_eq!(local.notify(unknown.as_str(), "800", "OK", "12345678901234", DEMO_HASH_KEY).await, "NG,order_id error");
    assert_eq!(local.events(&id).await.len(), 1, "nothing written");

    let mut tasks = Vec::new();
    let local = Arc::new(local);
    for _ in 0..20 {
        let (local, id) = (local.clone(), id.clone());
        tasks.push(tokio::spawn(async move { local.notify(&id, "800", "OK", "12345678901234", DEMO_HASH_KEY).await }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), "OK,");
    }
    assert_eq!(local.notify(&id, "800", "OK", "12345678901234", DEMO_HASH_KEY).await, "OK,");
    assert_eq!(local.events(&id).await, ["payment.created", "payment.authorized"]);
    // Another tracking id for the same order is not a repeat.
    assert_eq!(local.notify(&id, "800", "OK", "99999999999999", DEMO_HASH_KEY).await, "NG,order is no longer pending");
}

#[tokio::test]
async fn late_notifications_after_cancel_or_expiry_are_refused() {
    let local = start_local().await;
    let created = local.create("late-1", 300).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let cancel = local.op(&id, "cancels", None, None).await;
    assert_eq!(cancel.status, 201, "{}", cancel.text);
    assert_eq!(cancel.json()["paymentStatus"], "cancelled");
    assert_eq!(local.sandbox.calls().len(), 0, "a pending payment is cancelled without SBPS");
    // Its amounts agree with its one cancel: nothing authorized, all of it cancelled.
    let p = local.payment(&id).await;
    assert_eq!((p["authorizedAmount"]["value"].as_u64(), p["cancelledAmount"]["value"].as_u64()), (Some(0), Some(300)));
    assert_eq!(p["operations"][0]["amount"]["value"], 300);
    assert_eq!(local.notify(&id, "300", "OK", "12345678901234", DEMO_HASH_KEY).await, "NG,order is no longer pending");

    let created = local.create("late-2", 300).await;
    let id = created["id"].as_str().expect("id").to_owned();
    local.app.service.clock.advance(Duration::minutes(41));
    assert_eq!(local.notify(&id, "300", "OK", "12345678901234", DEMO_HASH_KEY).await, "NG,order is no longer pending");
    assert_eq!(local.payment(&id).await["status"], "expired");
}

#[tokio::test]
async fn a_timed_out_capture_retried_with_its_key_captures_once() {
    let local = start_local().await;
    let id = local.authorized("timeout-1", 1000).await;
    local.sandbox.inject(vec![Fault::Delay { millis: 1500 }]);
    let first = local.op(&id, "captures", None, Some("cap-key")).await;
    assert_eq!(first.status, 202, "{}", first.text);
    assert!(first.headers.contains_key("retry-after"));
    assert_eq!(first.json()["status"], "pending");
    // While the outcome is unknown, other operations wait.
    let other = local.op(&id, "cancels", None, None).await;
    assert_eq!(other.status, 409, "{}", other.text);

    let retry = local.op(&id, "captures", None, Some("cap-key")).await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.json()["id"], first.json()["id"], "the same operation, resumed");
    assert_eq!(local.performed(CAPTURE), 1, "exactly one capture reached the sandbox's books");
    assert_eq!(local.sent(CAPTURE), 2);
    let p = local.payment(&id).await;
    assert_eq!(p["status"], "captured");
    assert_eq!(p["operations"].as_array().map(Vec::len), Some(1));
    // And the key now replays.
    let again = local.op(&id, "captures", None, Some("cap-key")).await;
    assert_eq!((again.status, again.text), (201, retry.text));
}

#[tokio::test]
async fn concurrent_captures_make_one_sbps_capture() {
    let local = Arc::new(start_local().await);
    let id = local.authorized("race-1", 1000).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (local, id) = (local.clone(), id.clone());
        tasks.push(tokio::spawn(async move { local.op(&id, "captures", None, None).await.status }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert_eq!(local.sent(CAPTURE), 1);
    assert_eq!(local.payment(&id).await["capturedAmount"]["value"], 1000);
}

#[tokio::test]
async fn cancels_void_authorizations_and_partial_cancels_lower_the_capture() {
    let local = start_local().await;
    // Full cancel of an authorization: SBPS void.
    let id = local.authorized("cancel-1", 1000).await;
    let r = local.op(&id, "cancels", None, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["paymentStatus"], "cancelled");
    assert_eq!(local.performed(CANCEL_REFUND), 1);
    let p = local.payment(&id).await;
    assert_eq!(p["cancelledAmount"]["value"], 1000);
    local.create("cancel-1", 1000).await; // reference released

    // Partial cancel: no SBPS call; the capture then sends the lower amount.
    let id = local.authorized("cancel-2", 1000).await;
    let calls = local.sandbox.calls().len();
    let r = local.op(&id, "cancels", Some(300), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["paymentStatus"], "authorized");
    assert_eq!(local.sandbox.calls().len(), calls);
    let again = local.op(&id, "cancels", Some(100), None).await;
    assert_eq!((again.status, again.json()["reason"]["code"].as_str()), (409, Some("operation_not_allowed")));
    let over = local.op(&id, "captures", Some(701), None).await;
    assert_eq!((over.status, over.json()["reason"]["code"].as_str()), (422, Some("amount_exceeds_remaining")));
    let capture = local.op(&id, "captures", None, None).await;
    assert_eq!(capture.status, 201, "{}", capture.text);
    assert_eq!(local.sandbox.calls().last().and_then(|c| c.amount), Some(700));
    let p = local.payment(&id).await;
    assert_eq!((p["capturedAmount"]["value"].as_u64(), p["cancelledAmount"]["value"].as_u64()), (Some(700), Some(300)));
    // A second capture is refused by us, not by SBPS.
    let calls = local.sandbox.calls().len();
    assert_eq!(local.op(&id, "captures", None, None).await.status, 409);
    assert_eq!(local.sandbox.calls().len(), calls);
}

#[tokio::test]
async fn full_refund_in_the_sales_month_and_the_refund_deadline() {
    let local = start_local().await;
    let id = local.captured("refund-1", 1000).await;
    let r = local.op(&id, "refunds", None, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["paymentStatus"], "refunded");
    assert_eq!(local.payment(&id).await["refundedAmount"]["value"], 1000);
    assert_eq!(local.op(&id, "refunds", None, None).await.status, 409);

    let id = local.captured("refund-2", 1000).await;
    // Sold in November (Japan time): refunds close at the end of January.
    local.app.service.clock.set(Utc.with_ymd_and_hms(2031, 1, 31, 15, 0, 0).single().expect("time"));
    let calls = local.sandbox.calls().len();
    let late = local.op(&id, "refunds", None, None).await;
    assert_eq!((late.status, late.json()["reason"]["code"].as_str()), (422, Some("refund_period_expired")));
    assert_eq!(local.sandbox.calls().len(), calls);
}

#[tokio::test]
async fn sbps_refusals_map_to_stable_reasons() {
    let local = start_local().await;
    let id = local.captured("errors-1", 1000).await;
    local.app.service.clock.set(Utc.with_ymd_and_hms(2030, 12, 1, 1, 0, 0).single().expect("time"));

    // 402-29: au's billing run is not done: 503 with Retry-After, the error shape carrying the
    // recorded operation (failed) and SBPS's code; the key stays on that operation.
    local.sandbox.inject(vec![Fault::Error { code: "40229999".into() }]);
    let r = local.op(&id, "refunds", Some(100), Some("ref-29")).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        (r.json()["operation"]["status"].as_str(), r.json()["reason"]["code"].as_str()),
        (Some("failed"), Some("billing_run_pending"))
    );
    assert_eq!(r.json()["reason"]["providerCode"], "40229999");
    let refund_id = r.json()["operation"]["id"].as_str().expect("the recorded operation").to_owned();

    // The retry with the key sends that same operation again; 402-09 (checksum): a
    // configuration fault, 502, on the same operation.
    local.sandbox.inject(vec![Fault::Error { code: "40209025".into() }]);
    let r = local.op(&id, "refunds", Some(100), Some("ref-29")).await;
    assert_eq!(r.status, 502, "{}", r.text);
    assert_eq!(r.json()["reason"]["code"], "provider_configuration_error");
    assert_eq!(r.json()["operation"]["id"], refund_id.as_str(), "one key, one operation");

    // 402-75: more than was captured, 422.
    local.sandbox.inject(vec![Fault::Error { code: "40275008".into() }]);
    let r = local.op(&id, "refunds", Some(100), None).await;
    assert_eq!((r.status, r.json()["reason"]["code"].as_str()), (422, Some("amount_exceeds_remaining")));
    assert_eq!(r.json()["operation"]["status"], "failed");

    // Failed operations do not count toward "one refund".
    let r = local.op(&id, "refunds", Some(100), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = local.payment(&id).await;
    let statuses: Vec<&str> =
        p["operations"].as_array().expect("ops").iter().filter_map(|o| o["status"].as_str()).collect();
    assert_eq!(statuses, ["succeeded", "failed", "failed", "succeeded"]);
    assert_eq!(local.performed(CANCEL_REFUND), 1);
}

/// One Idempotency-Key is one operation (DESIGN §3): after a retryable refusal (au's billing
/// run), the retry with the key sends the same operation again and it succeeds; the merchant sees
/// one refund, an `operation.failed` then a `payment.partially_refunded` webhook for it.
async fn a_retry_after_a_billing_run_refusal_resends_the_same_operation<S: LocalOutbox>(h: Hooked<S>) {
    h.register("shop", &[]).await;
    let id = h.local.captured("billing-run-1", 1000).await;
    h.local.app.service.clock.set(Utc.with_ymd_and_hms(2030, 12, 1, 1, 0, 0).single().expect("time"));
    h.local.sandbox.inject(vec![Fault::Error { code: "40229000".into() }]);
    let refused = h.local.op(&id, "refunds", Some(300), Some("refund-once")).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    let op_id = refused.json()["operation"]["id"].as_str().expect("operation").to_owned();
    h.settle().await;

    let retried = h.local.op(&id, "refunds", Some(300), Some("refund-once")).await;
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(retried.json()["id"], op_id.as_str(), "the same operation, sent again");
    let replay = h.local.op(&id, "refunds", Some(300), Some("refund-once")).await;
    assert_eq!((replay.status, replay.text.as_str()), (201, retried.text.as_str()));

    let p = h.local.payment(&id).await;
    let refunds: Vec<&Value> =
        p["operations"].as_array().expect("ops").iter().filter(|o| o["type"] == "refund").collect();
    assert_eq!(refunds.len(), 1, "one refund: {p}");
    assert_eq!((refunds[0]["id"].as_str(), refunds[0]["status"].as_str()), (Some(op_id.as_str()), Some("succeeded")));
    assert_eq!(p["refundedAmount"]["value"], 300);
    assert_eq!(h.local.performed(CANCEL_REFUND), 1, "SBPS refunded once");

    // The webhooks that follow: the refusal, then the refund, each once (deliveries are not
    // ordered; `data.sequence` orders them).
    h.settle().await;
    let arrivals = h.arrivals("shop").await;
    let sequence = |kind: &str| -> Vec<u64> {
        arrivals
            .iter()
            .filter_map(|a| serde_json::from_str::<Value>(a["body"].as_str()?).ok())
            .filter(|b| b["type"] == kind)
            .filter_map(|b| b["data"]["sequence"].as_u64())
            .collect()
    };
    let (failed, refunded) = (sequence("operation.failed"), sequence("payment.partially_refunded"));
    assert_eq!((failed.len(), refunded.len()), (1, 1), "{arrivals:?}");
    assert!(failed[0] < refunded[0], "the refusal came before the refund");
    let findings = h.local.audit_one(&h.stored(&id).await).await;
    assert!(findings.is_empty(), "{findings:?}");
}
on_both_stores!(a_retry_after_a_billing_run_refusal_resends_the_same_operation);

#[tokio::test]
async fn an_unknown_outcome_is_recovered_on_the_next_read() {
    let local = start_local().await;
    let id = local.authorized("recover-1", 1000).await;
    local.sandbox.inject(vec![Fault::Status { status: 500 }]);
    let r = local.op(&id, "captures", None, None).await;
    assert_eq!((r.status, r.json()["status"].as_str()), (202, Some("pending")));
    // Within the lock window a read does not resend.
    assert_eq!(local.payment(&id).await["operations"][0]["status"], "pending");
    assert_eq!(local.sent(CAPTURE), 1);
    local.app.service.clock.advance(Duration::seconds(10));
    let p = local.payment(&id).await;
    assert_eq!(p["status"], "captured");
    assert_eq!(p["operations"][0]["status"], "succeeded");
    assert_eq!((local.sent(CAPTURE), local.performed(CAPTURE)), (2, 1));
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_by_the_same_key() {
    let local = start_local().await;
    let id = local.captured("reset-1", 1000).await;
    local.sandbox.inject(vec![Fault::Reset]);
    let r = local.op(&id, "refunds", None, Some("k-reset")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = local.op(&id, "refunds", None, Some("k-reset")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(local.performed(CANCEL_REFUND), 1);
    // The same key with another body is refused.
    let r = local.op(&id, "refunds", Some(5), Some("k-reset")).await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn operations_check_their_input_and_their_account() {
    let local = start_local().await;
    let id = local.authorized("input-1", 1000).await;
    for body in [
        json!({"amount": {"value": 0, "currency": "jpy"}}),
        json!({"amount": {"value": 10, "currency": "usd"}}),
        json!({"amount": "10"}),
        json!([1]),
    ] {
        let r = reply(
            local.http.post(format!("{}/v1/payments/{id}/captures", local.base)).bearer_auth(DEMO_KEY).json(&body),
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let r = reply(local.http.post(format!("{}/v1/payments/{id}/captures", local.base)).bearer_auth(OTHER_KEY)).await;
    assert_eq!(r.status, 404);
    let r = reply(local.http.post(format!("{}/v1/payments/{id}/captures", local.base))).await;
    assert_eq!(r.status, 401);
    assert_eq!(local.sandbox.calls().len(), 0);
    assert_eq!(local.events(&id).await.len(), 2);
}

/// SBPS's capture refusals at the edge of au's rules (spec §8.6), each reached through a sandbox
/// fault: 42 (this service captures the whole authorized amount only) has its own code and
/// leaves the payment authorized, so capturing the whole amount then succeeds; 21, 43 and 33
/// (the authorization is gone) end the payment, voided, with `payment.voided`, its reference
/// free and nothing left for the sweeper; 20 (SBPS has no such authorization) is a 502 an
/// operator looks into, the payment left as it was.
async fn sbps_capture_refusals_at_the_edges<S: LocalOutbox>(h: Hooked<S>) {
    h.register("shop", &[]).await;
    let id = h.local.authorized("edge-42", 1000).await;
    h.local.sandbox.inject(vec![Fault::Error { code: "40242008".into() }]);
    let r = h.local.op(&id, "captures", Some(600), None).await;
    assert_eq!(
        (r.status, r.json()["reason"]["code"].as_str()),
        (422, Some("whole_amount_capture_required")),
        "{}",
        r.text
    );
    assert_eq!(r.json()["reason"]["providerCode"], "40242008");
    assert!(r.json()["reason"]["description"].as_str().unwrap_or("").contains("whole authorized amount"));
    assert_eq!(r.json()["operation"]["paymentStatus"], "authorized");
    let whole = h.local.op(&id, "captures", None, None).await;
    assert_eq!((whole.status, whole.json()["paymentStatus"].as_str()), (201, Some("captured")), "{}", whole.text);

    for (code, reason) in [
        ("40221999", "authorization_cancelled"),
        ("40243999", "authorization_cancelled_by_payer"),
        ("40233999", "capture_period_expired"),
    ] {
        let reference = format!("edge-{}", &code[3..5]);
        let id = h.local.authorized(&reference, 1000).await;
        h.local.sandbox.inject(vec![Fault::Error { code: code.into() }]);
        let r = h.local.op(&id, "captures", None, Some(&reference)).await;
        assert_eq!((r.status, r.json()["reason"]["code"].as_str()), (422, Some(reason)), "{}", r.text);
        assert_eq!(r.json()["operation"]["paymentStatus"], "voided");
        let p = h.local.payment(&id).await;
        assert_eq!((p["status"].as_str(), p["reason"]["code"].as_str()), (Some("voided"), Some(reason)), "{p}");
        assert_eq!(p["reason"]["providerCode"], code);
        assert_eq!(p["capturedAmount"]["value"], 0);
        // A retry with the key answers the same; nothing more can be done to the payment.
        let again = h.local.op(&id, "captures", None, Some(&reference)).await;
        assert_eq!((again.status, again.text.as_str()), (422, r.text.as_str()));
        assert_eq!(h.local.op(&id, "cancels", None, None).await.status, 409);
        // Its reference is free, and the sweeper has nothing of it.
        h.local.create(&reference, 500).await;
        h.local.app.service.clock.advance(Duration::hours(2));
        h.run_until_idle().await;
        assert_eq!(h.stored(&id).await.status, kantan::payment::Status::Voided);
        let findings = h.local.audit_one(&h.stored(&id).await).await;
        assert!(findings.is_empty(), "{code}: {findings:?}");
    }

    let id = h.local.authorized("edge-20", 1000).await;
    h.local.sandbox.inject(vec![Fault::Error { code: "40220999".into() }]);
    let r = h.local.op(&id, "captures", None, None).await;
    assert_eq!((r.status, r.json()["reason"]["code"].as_str()), (502, Some("authorization_not_found")), "{}", r.text);
    assert_eq!(h.local.payment(&id).await["status"], "authorized");

    // The webhooks: three voided payments, each once.
    h.settle().await;
    let voided = h
        .arrivals("shop")
        .await
        .iter()
        .filter_map(|a| serde_json::from_str::<Value>(a["body"].as_str()?).ok())
        .filter(|b| b["type"] == "payment.voided")
        .count();
    assert_eq!(voided, 3);
}
on_both_stores!(sbps_capture_refusals_at_the_edges);

/// The simulator's purchase-form errors carry SBPS's item codes (spec §8.6: 001 merchant_id,
/// 002 service_id, 003 cust_code, 004 order_id, 005 item_id, 008 amount, 009 pagecon_url, 023
/// request_date, 024 limit_second, 025 sps_hashcode; 999 where SBPS names no item), field by
/// field: a missing field is type 03, one too long type 05.
#[tokio::test]
async fn purchase_form_errors_name_sbps_item_codes() {
    let local = start_local().await;
    let created = local.create("items-1", 500).await;
    let (url, params) = redirect_of(&created);
    let spec: [(&str, &str, usize); 16] = [
        ("pay_method", "999", 1000),
        ("merchant_id", "001", 5),
        ("service_id", "002", 3),
        ("cust_code", "003", 64),
        ("order_id", "004", 38),
        ("item_id", "005", 32),
        ("amount", "008", 8),
        ("pay_type", "999", 1),
        ("service_type", "999", 1),
        ("success_url", "999", 500),
        ("cancel_url", "999", 500),
        ("error_url", "999", 500),
        ("pagecon_url", "009", 500),
        ("request_date", "023", 14),
        ("limit_second", "024", 4),
        ("sps_hashcode", "025", 40),
    ];
    let error_code = |html: &str| -> String {
        let start = html.find("id=\"res_err_code\">").map(|i| i + "id=\"res_err_code\">".len()).unwrap_or(0);
        html[start..].chars().take(8).collect()
    };
    for (field, item, max) in spec {
        if field != "limit_second" {
            let missing: Vec<(String, String)> = params.iter().filter(|(k, _)| k != field).cloned().collect();
            let r = reply(local.http.post(&url).form(&missing)).await;
            assert_eq!((r.status, error_code(&r.text)), (400, format!("40203{item}")), "{field} missing");
        }
        let long: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| if k == field { (k.clone(), "1".repeat(max + 1)) } else { (k.clone(), v.clone()) })
            .collect();
        let r = reply(local.http.post(&url).form(&long)).await;
        assert_eq!((r.status, error_code(&r.text)), (400, format!("40205{item}")), "{field} too long");
    }
}
