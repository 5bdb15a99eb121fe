//! Merchant webhooks end to end on `local` (DESIGN §8), on both stores: an endpoint on the
//! sandbox receiver, a payment paid on the sandbox, the background runner ticked by hand on the
//! manual clock. Every delivery is also checked with an independent verifier (the
//! `standardwebhooks` crate).

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::DEMO_KEY;
use common::flow::reply;
use common::hooks::{Hooked, independently_verified};
use kantan::ids::{EndpointId, PaymentId};
use kantan::local::background::LocalOutbox;
use kantan::payment::{AuditEvent, EventKind};
use kantan::service::webhooks::Webhooks;
use kantan::service::webhooks::deliver::Next;
use kantan::store::{Store, StoreError, WebhookStore};
use kantan::webhooks::queue::LocalQueue;
use kantan::webhooks::retry_schedule::RETRY_DELAYS;
use kantan::webhooks::{AddressPolicy, Delivery, DeliveryKey, DeliveryState, Endpoint, MasterKey, Sender};
use serde_json::{Value, json};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc)).expect("a time")
}

fn body(arrival: &Value) -> Value {
    serde_json::from_str(arrival["body"].as_str().unwrap_or_default()).expect("a JSON body")
}

async fn delivery_of<S: LocalOutbox>(h: &Hooked<S>, payment: &str, kind: &str) -> Value {
    let events = h.events(payment).await;
    let event = events.iter().find(|e| e["type"] == kind).unwrap_or_else(|| panic!("no {kind} in {events:?}"));
    event["deliveries"][0].clone()
}

on_both_stores!(authorized_then_captured_arrive_signed);
async fn authorized_then_captured_arrive_signed<S: LocalOutbox>(h: Hooked<S>) {
    let endpoint = h.register("shop", &[]).await;
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = h.local.authorized("order-1", 1000).await;
    h.settle().await;
    let capture = h.local.op(&id, "captures", None, None).await;
    assert_eq!(capture.status, 201, "{}", capture.text);
    h.settle().await;

    let arrivals = h.arrivals("shop").await;
    let kinds: Vec<Value> = arrivals.iter().map(|a| body(a)["type"].clone()).collect();
    assert_eq!(kinds, [json!("payment.authorized"), json!("payment.captured")]);
    for a in &arrivals {
        assert_eq!(a["verified"], true, "{a}");
        assert!(independently_verified(a, &secret), "{a}");
        let b = body(a);
        assert_eq!(a["id"], b["id"]);
        assert_eq!(b["data"]["payment"]["id"], json!(id));
        assert!(a["body"].as_str().map(str::len).unwrap_or(0) <= 16 * 1024);
    }
    let captured = body(&arrivals[1]);
    assert_eq!(captured["id"], json!(format!("evt_{id}_{}", captured["data"]["sequence"])));
    assert_eq!(captured["data"]["payment"]["status"], "captured");
    assert_eq!(captured["data"]["payment"]["capturedAmount"]["value"], 1000);
    assert_eq!(captured["data"]["operation"]["type"], "capture");
    assert_eq!(captured["data"]["operation"]["status"], "succeeded");
    assert!(captured["data"]["payment"].get("nextStep").is_none());

    // The events route shows each event with its delivery.
    let events = h.events(&id).await;
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e["deliveries"][0]["state"], "succeeded");
        assert_eq!(e["deliveries"][0]["attempts"], 1);
        assert_eq!(e["deliveries"][0]["lastStatus"], 200);
    }
    // Nothing more goes out, however long the runner runs.
    h.local.app.service.clock.advance(Duration::days(2));
    h.settle().await;
    assert_eq!(h.arrivals("shop").await.len(), 2);
}

on_both_stores!(a_receiver_failing_three_times_gets_four_attempts_with_one_id);
async fn a_receiver_failing_three_times_gets_four_attempts_with_one_id<S: LocalOutbox>(h: Hooked<S>) {
    let endpoint = h.register("flaky", &["payment.authorized"]).await;
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    h.answer("flaky", 500, 3).await;
    let id = h.local.authorized("order-1", 1000).await;
    h.settle().await;
    for (n, delay) in RETRY_DELAYS.iter().take(3).enumerate() {
        let d = delivery_of(&h, &id, "payment.authorized").await;
        assert_eq!((d["state"].clone(), d["attempts"].clone()), (json!("pending"), json!(n + 1)), "{d}");
        assert_eq!(d["lastStatus"], 500);
        let wait = (time(&d["nextAttemptAt"]) - time(&d["lastAttemptAt"])).num_milliseconds() as f64 / 1000.0;
        let base = *delay as f64;
        assert!(
            wait >= base * 0.9 - 1.0 && wait <= base * 1.1 + 1.0,
            "attempt {}: waited {wait}, schedule {base}",
            n + 1
        );
        // Not before it is due.
        h.local.app.service.clock.set(time(&d["nextAttemptAt"]) - Duration::seconds(1));
        h.settle().await;
        assert_eq!(h.arrivals("flaky").await.len(), n + 1, "nothing before the next attempt is due");
        // Timestamps are the wall clock's seconds: a second apart, so each is fresh.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        h.local.app.service.clock.set(time(&d["nextAttemptAt"]));
        h.settle().await;
    }
    let arrivals = h.arrivals("flaky").await;
    assert_eq!(arrivals.len(), 4);
    let answered: Vec<Value> = arrivals.iter().map(|a| a["answered"].clone()).collect();
    assert_eq!(answered, [json!(500), json!(500), json!(500), json!(200)]);
    assert!(arrivals.iter().all(|a| a["id"] == arrivals[0]["id"]), "one webhook-id for every attempt");
    assert!(arrivals.iter().all(|a| independently_verified(a, &secret)));
    let stamps: Vec<i64> =
        arrivals.iter().map(|a| a["timestamp"].as_str().unwrap_or("").parse().unwrap_or(0)).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "a fresh timestamp each time: {stamps:?}");
    let signatures: std::collections::HashSet<&str> = arrivals.iter().filter_map(|a| a["signature"].as_str()).collect();
    assert_eq!(signatures.len(), 4, "a fresh signature each time");
    let d = delivery_of(&h, &id, "payment.authorized").await;
    assert_eq!((d["state"].clone(), d["attempts"].clone()), (json!("succeeded"), json!(4)));
}

on_both_stores!(failing_forever_ends_failed_with_no_extra_attempt);
async fn failing_forever_ends_failed_with_no_extra_attempt<S: LocalOutbox>(h: Hooked<S>) {
    h.register("down", &["payment.authorized"]).await;
    h.answer("down", 503, 1000).await;
    let id = h.local.authorized("order-1", 1000).await;
    h.settle().await;
    for _ in 0..20 {
        let d = delivery_of(&h, &id, "payment.authorized").await;
        if d["state"] != "pending" {
            break;
        }
        h.local.app.service.clock.set(time(&d["nextAttemptAt"]));
        h.settle().await;
    }
    let d = delivery_of(&h, &id, "payment.authorized").await;
    assert_eq!((d["state"].clone(), d["attempts"].clone()), (json!("failed"), json!(10)), "{d}");
    assert!(d["nextAttemptAt"].is_null());
    h.local.app.service.clock.advance(Duration::days(3));
    h.settle().await;
    assert_eq!(h.arrivals("down").await.len(), 10, "no attempt after the schedule ends");
}

on_both_stores!(gone_disables_until_enabled_and_redeliver_sends_the_original_id);
async fn gone_disables_until_enabled_and_redeliver_sends_the_original_id<S: LocalOutbox>(h: Hooked<S>) {
    let endpoint = h.register("closing", &[]).await;
    let endpoint_id = endpoint["id"].as_str().expect("id").to_owned();
    h.answer("closing", 410, 1).await;
    let id = h.local.authorized("order-1", 1000).await;
    h.settle().await;
    let base = &h.local.base;
    let get = reply(h.local.http.get(format!("{base}/v1/webhook-endpoints/{endpoint_id}")).bearer_auth(DEMO_KEY)).await;
    assert_eq!(get.json()["status"], "disabled", "{}", get.text);
    assert_eq!(get.json()["disabledReason"], "gone");
    assert_eq!(delivery_of(&h, &id, "payment.authorized").await["state"], "failed");

    // Later events are skipped while it is disabled.
    assert_eq!(h.local.op(&id, "captures", None, None).await.status, 201);
    h.settle().await;
    assert_eq!(h.arrivals("closing").await.len(), 1);
    assert_eq!(delivery_of(&h, &id, "payment.captured").await["state"], "skipped");

    let enabled =
        reply(h.local.http.post(format!("{base}/v1/webhook-endpoints/{endpoint_id}/enable")).bearer_auth(DEMO_KEY))
            .await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    assert_eq!(enabled.json()["status"], "enabled");
    let event_id = h.events(&id).await.iter().find(|e| e["type"] == "payment.captured").expect("event")["id"].clone();
    let event_id = event_id.as_str().expect("id").to_owned();
    let redelivered =
        reply(h.local.http.post(format!("{base}/v1/events/{event_id}/redeliver")).bearer_auth(DEMO_KEY)).await;
    assert_eq!(redelivered.status, 202, "{}", redelivered.text);
    h.settle().await;
    let arrivals = h.arrivals("closing").await;
    assert_eq!(arrivals.len(), 2);
    assert_eq!(arrivals[1]["id"], json!(event_id), "redelivered with its original id");
    assert_eq!(arrivals[1]["answered"], 200);
    assert_eq!(delivery_of(&h, &id, "payment.captured").await["state"], "succeeded");

    // With an Idempotency-Key, a redelivery is done once.
    let keyed = || {
        reply(
            h.local
                .http
                .post(format!("{base}/v1/events/{event_id}/redeliver"))
                .bearer_auth(DEMO_KEY)
                .header("idempotency-key", "redeliver-1"),
        )
    };
    let first = keyed().await;
    assert_eq!(first.status, 202, "{}", first.text);
    let again = keyed().await;
    assert_eq!((again.status, again.text.clone()), (202, first.text.clone()));
    assert!(again.headers.contains_key("idempotent-replayed"));
    h.settle().await;
    assert_eq!(h.arrivals("closing").await.len(), 3, "one more delivery, not two");

    // Another account cannot redeliver it, or read the endpoint.
    let foreign =
        reply(h.local.http.post(format!("{base}/v1/events/{event_id}/redeliver")).bearer_auth(common::OTHER_KEY)).await;
    assert_eq!(foreign.status, 404, "{}", foreign.text);
    let foreign =
        reply(h.local.http.get(format!("{base}/v1/webhook-endpoints/{endpoint_id}")).bearer_auth(common::OTHER_KEY))
            .await;
    assert_eq!(foreign.status, 404);
}

on_both_stores!(a_redirect_is_never_followed);
async fn a_redirect_is_never_followed<S: LocalOutbox>(h: Hooked<S>) {
    h.register("hop", &["payment.authorized"]).await;
    let target = h.inbox_url("target");
    h.control("hop", json!({"answer": {"status": 302, "times": 1, "location": target}})).await;
    let id = h.local.authorized("order-1", 1000).await;
    h.settle().await;
    assert_eq!(h.arrivals("hop").await.len(), 1);
    assert_eq!(h.arrivals("target").await.len(), 0, "the redirect was not followed");
    let d = delivery_of(&h, &id, "payment.authorized").await;
    assert_eq!((d["state"].clone(), d["lastStatus"].clone()), (json!("pending"), json!(302)));
}

/// A store that fails the next delivery record, as if the process died between the POST and
/// the write of its attempt.
struct CrashBeforeRecord<S> {
    inner: S,
    crash_next: std::sync::atomic::AtomicBool,
}

impl<S: WebhookStore> WebhookStore for CrashBeforeRecord<S> {
    async fn event(&self, p: &PaymentId, seq: u64) -> Result<Option<AuditEvent>, StoreError> {
        self.inner.event(p, seq).await
    }
    async fn create_endpoint(&self, e: &Endpoint, max: usize) -> Result<(), StoreError> {
        self.inner.create_endpoint(e, max).await
    }
    async fn endpoints(&self, account: &str) -> Result<Vec<Endpoint>, StoreError> {
        self.inner.endpoints(account).await
    }
    async fn endpoint(&self, account: &str, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        self.inner.endpoint(account, id).await
    }
    async fn update_endpoint(&self, e: &Endpoint) -> Result<(), StoreError> {
        self.inner.update_endpoint(e).await
    }
    async fn delete_endpoint(&self, account: &str, id: &EndpointId) -> Result<bool, StoreError> {
        self.inner.delete_endpoint(account, id).await
    }
    async fn insert_delivery(&self, d: &Delivery) -> Result<bool, StoreError> {
        self.inner.insert_delivery(d).await
    }
    async fn delivery(&self, key: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
        self.inner.delivery(key).await
    }
    async fn update_delivery(&self, d: &Delivery, expected: u32) -> Result<(), StoreError> {
        if self.crash_next.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Unavailable("crashed before the record".into()));
        }
        self.inner.update_delivery(d, expected).await
    }
    async fn deliveries(&self, p: &PaymentId) -> Result<Vec<Delivery>, StoreError> {
        self.inner.deliveries(p).await
    }
}

/// The outbox event of `kind` of payment `id`, as the store holds it.
async fn outbox_event<S: LocalOutbox>(h: &Hooked<S>, id: &str, kind: &str) -> (PaymentId, AuditEvent) {
    let id: PaymentId = id.parse().expect("id");
    let events = h.local.app.service.store.audit_events(&id).await.expect("events");
    let event = events.into_iter().find(|e| e.kind.as_str() == kind).expect("the event");
    (id, event)
}

on_both_stores!(a_crash_between_the_post_and_its_record_sends_the_same_id_again);
async fn a_crash_between_the_post_and_its_record_sends_the_same_id_again<S: LocalOutbox>(h: Hooked<S>) {
    h.register("crash", &["payment.authorized"]).await;
    let id = h.local.authorized("crash-1", 1000).await;
    let (payment, event) = outbox_event(&h, &id, "payment.authorized").await;
    let clock = h.local.app.service.clock.clone();
    let crashy = Webhooks {
        store: CrashBeforeRecord { inner: h.local.app.service.store.clone(), crash_next: true.into() },
        queue: LocalQueue::new(clock.clone()),
        sender: Sender::new(AddressPolicy::LOCAL),
        master_key: Some(MasterKey::demo()),
        clock: clock.clone(),
        metrics: kantan::metrics::Metrics::silent(),
    };
    assert_eq!(crashy.dispatch(&payment, &event).await.expect("dispatch").enqueued, 1);
    let key = crashy.queue.take_due(clock.now()).pop().expect("a message");
    assert!(crashy.deliver(&key).await.is_err(), "the attempt's record failed: the message stays");
    assert_eq!(h.arrivals("crash").await.len(), 1, "the POST went out");
    let d = crashy.store.delivery(&key).await.expect("read").expect("delivery");
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0), "nothing recorded");
    // The message comes back: the same event, the same id, and now it counts.
    assert!(matches!(crashy.deliver(&key).await, Ok(Next::Done)));
    let arrivals = h.arrivals("crash").await;
    assert_eq!(arrivals.len(), 2);
    assert_eq!(arrivals[0]["id"], arrivals[1]["id"]);
    assert_eq!(arrivals[1]["verified"], true);
    let d = crashy.store.delivery(&key).await.expect("read").expect("delivery");
    assert_eq!((d.state, d.attempts), (DeliveryState::Succeeded, 1));
}

on_both_stores!(replayed_records_and_messages_count_once);
async fn replayed_records_and_messages_count_once<S: LocalOutbox>(h: Hooked<S>) {
    h.register("once", &[]).await;
    let id = h.local.authorized("once-1", 1000).await;
    let (payment, event) = outbox_event(&h, &id, "payment.authorized").await;
    let hooks = h.local.app.webhooks.as_ref().expect("webhooks");
    // The same stream record twice at once: one delivery.
    let (a, b) = tokio::join!(hooks.dispatch(&payment, &event), hooks.dispatch(&payment, &event));
    let (a, b) = (a.expect("dispatch"), b.expect("dispatch"));
    assert_eq!(a.enqueued + b.enqueued, 1, "{a:?} {b:?}");
    assert_eq!(a.existing + b.existing, 1);
    assert_eq!(hooks.store.deliveries(&payment).await.expect("deliveries").len(), 1);
    // Two copies of its message at once: one attempt counted.
    let keys = match &hooks.queue {
        kantan::webhooks::queue::DeliveryQueue::Local(q) => q.take_due(hooks.clock.now()),
        _ => unreachable!("local queue"),
    };
    assert!(!keys.is_empty());
    let key = keys[0].clone();
    let (x, y) = tokio::join!(hooks.deliver(&key), hooks.deliver(&key));
    assert!(x.is_ok() && y.is_ok());
    let d = hooks.store.delivery(&key).await.expect("read").expect("delivery");
    assert_eq!((d.state, d.attempts), (DeliveryState::Succeeded, 1), "one attempt counted");
    // And afterwards a replayed record or message changes nothing.
    let again = hooks.dispatch(&payment, &event).await.expect("dispatch");
    assert_eq!((again.enqueued, again.existing), (0, 1));
    assert!(matches!(hooks.deliver(&key).await, Ok(Next::Done)));
    let d = hooks.store.delivery(&key).await.expect("read").expect("delivery");
    assert_eq!((d.attempts, d.version), (1, 2));
    assert!(h.arrivals("once").await.len() <= 2, "at least once, never a third time");
}

/// A failed transition (a version conflict) writes no event, so no webhook either.
#[tokio::test]
async fn a_failed_transition_writes_no_event() {
    let h = common::hooks::hooked().await;
    h.register("none", &[]).await;
    let id = h.local.authorized("conflict-1", 1000).await;
    let pid: PaymentId = id.parse().expect("id");
    let store = &h.local.app.service.store;
    let payment = store.payment(&pid).await.expect("read").expect("payment");
    let now = h.local.app.service.clock.now();
    let stale = payment.begin_cancel(kantan::ids::OperationId::generate(), None, now).expect("a cancel");
    let winner = payment.begin_capture(kantan::ids::OperationId::generate(), None, now).expect("a capture");
    store.apply(&winner, None).await.expect("the first write");
    assert_eq!(store.apply(&stale, None).await, Err(StoreError::VersionConflict));
    let events = store.audit_events(&pid).await.expect("events");
    assert_eq!(events.iter().filter(|e| e.seq == stale.event.seq).count(), 1, "only the winner's");
    assert!(
        !events.iter().any(|e| e.kind == EventKind::OperationRequested && e.operation_id == stale.event.operation_id)
    );
}

/// `local`'s runner, running on its own: once the app clock passes a due time (moved by the
/// sandbox's clock control, as a person trying it would), it acts within 2 seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_runner_acts_within_two_seconds_of_the_clock() {
    let h = common::hooks::hooked().await;
    h.register("live", &[]).await;
    let runner = kantan::local::background::Runner::new(std::sync::Arc::clone(&h.local.app)).await.expect("runner");
    let running = tokio::spawn(runner.run());
    let arrived = |kind: &'static str| {
        let h = &h;
        async move {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(5) {
                let arrivals = h.arrivals("live").await;
                if arrivals.iter().any(|a| body(a)["type"] == kind) {
                    return started.elapsed();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("no {kind} within 5 s");
        }
    };
    h.local.authorized("live-1", 1000).await;
    let waited = arrived("payment.authorized").await;
    assert!(waited < std::time::Duration::from_secs(2), "authorized arrived after {waited:?}");

    h.local.create("live-2", 500).await;
    let moved = reply(
        h.local
            .http
            .post(format!("{}/sandbox/sbps/control/clock", h.local.base))
            .json(&json!({"advanceSeconds": 3 * 3600})),
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let waited = arrived("payment.expired").await;
    assert!(waited < std::time::Duration::from_secs(2), "expired arrived after {waited:?}");
    running.abort();
}

/// The README's verification example (Python, standard library only), run on a real delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_python_verifier_accepts_a_real_delivery() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let example = readme
        .split("```python\n")
        .skip(1)
        .map(|block| &block[..block.find("```").expect("its end")])
        .find(|block| block.contains("def verify("))
        .expect("the README's Python verifier");
    let h = common::hooks::hooked().await;
    let secret = h.register("py", &[]).await["secret"].as_str().expect("secret").to_owned();
    h.local.authorized("py-1", 1000).await;
    h.settle().await;
    let arrival = h.arrivals("py").await.pop().expect("a delivery");
    let headers = json!({
        "webhook-id": arrival["id"], "webhook-timestamp": arrival["timestamp"], "webhook-signature": arrival["signature"],
    });
    let body = arrival["body"].as_str().expect("body");
    let script = format!(
        "{example}\nimport json, sys\nh = json.loads(sys.argv[1])\nprint(verify(sys.argv[2], h, sys.argv[3].encode()), \
         verify(sys.argv[2], h, sys.argv[3].encode() + b' '))\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script, &headers.to_string(), &secret, body])
        .output()
        .expect("python3 runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "True False", "{}", String::from_utf8_lossy(&out.stderr));
}

/// The sandbox receiver refuses what a merchant's verifier must refuse: a bare `v1,`, a cut
/// signature, a stale or future timestamp, another body.
#[tokio::test]
async fn the_receiver_refuses_bad_signatures() {
    use kantan::webhooks::signature::EndpointSecret;
    let h = common::hooks::hooked().await;
    let secret = kantan::webhooks::MasterKey::demo().endpoint_secret("a", "e", 1);
    h.control("strict", json!({"secret": secret.reveal()})).await;
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"id":"evt_x_2"}"#;
    let good = secret.sign("evt_x_2", now, body.as_bytes());
    let post = |ts: i64, signature: String, body: &'static str| {
        let h = &h;
        async move {
            reply(
                h.local
                    .http
                    .post(h.inbox_url("strict"))
                    .header("webhook-id", "evt_x_2")
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", signature)
                    .body(body),
            )
            .await
            .status
        }
    };
    assert_eq!(post(now, good.clone(), body).await, 200);
    assert_eq!(post(now, "v1,".into(), body).await, 400);
    assert_eq!(post(now, good[..good.len() - 6].to_owned(), body).await, 400);
    assert_eq!(post(now - 600, secret.sign("evt_x_2", now - 600, body.as_bytes()), body).await, 400, "stale");
    assert_eq!(post(now + 600, secret.sign("evt_x_2", now + 600, body.as_bytes()), body).await, 400, "future");
    assert_eq!(post(now, good.clone(), r#"{"id":"evt_x_3"}"#).await, 400, "another body");
    let other = EndpointSecret::parse(&kantan::webhooks::MasterKey::demo().endpoint_secret("a", "e", 2).reveal())
        .expect("secret");
    assert_eq!(post(now, other.sign("evt_x_2", now, body.as_bytes()), body).await, 400, "another secret");
    let refusals: Vec<Value> = h.arrivals("strict").await.iter().map(|a| a["refusal"].clone()).collect();
    assert_eq!(refusals[0], Value::Null);
    assert!(refusals[1..].iter().all(|r| r.is_string()), "{refusals:?}");
}

/// An endpoint failing every attempt for 5 days, 20 times in a row at least, is disabled by the
/// gateway (and later events are skipped); one success in between would have reset the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_five_days_is_disabled() {
    let h = common::hooks::hooked().await;
    let endpoint = h.register("dead", &["payment.authorized", "payment.captured"]).await;
    let endpoint_id = endpoint["id"].as_str().expect("id").to_owned();
    h.answer("dead", 500, 1000).await;
    let status = || async {
        let r = reply(
            h.local.http.get(format!("{}/v1/webhook-endpoints/{endpoint_id}", h.local.base)).bearer_auth(DEMO_KEY),
        )
        .await;
        r.json()
    };
    let run_out = |kind: &'static str, id: String| {
        let h = &h;
        async move {
            for _ in 0..12 {
                let d = delivery_of(h, &id, kind).await;
                if d["state"] != "pending" {
                    return d;
                }
                h.local.app.service.clock.set(time(&d["nextAttemptAt"]));
                h.settle().await;
            }
            panic!("the schedule did not end");
        }
    };
    let id = h.local.authorized("dead-1", 1000).await;
    h.settle().await;
    let first = run_out("payment.authorized", id.clone()).await;
    assert_eq!((first["state"].clone(), first["attempts"].clone()), (json!("failed"), json!(10)));
    assert_eq!(status().await["status"], "enabled", "10 failures in about 3 days: not yet");

    assert_eq!(h.local.op(&id, "captures", None, None).await.status, 201);
    h.settle().await;
    let second = run_out("payment.captured", id.clone()).await;
    assert_eq!(second["attempts"], 10);
    let endpoint = status().await;
    assert_eq!(endpoint["status"], "disabled", "{endpoint}");
    assert_eq!(endpoint["disabledReason"], "failing");
    assert_eq!(h.arrivals("dead").await.len(), 20);
}
