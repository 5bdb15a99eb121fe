//! Load with faults: concurrent merchants run whole flows (create, the payer's approval on the
//! sandbox's au screen, then a capture, a partial cancel and capture, a capture and refund, or a
//! cancel, with reads between) against `local` on DynamoDB Local, with webhooks delivered and
//! the sweeper running, for a fixed time. In the middle third, SBPS faults (5xx, resets, lost
//! answers, delays past the timeout, error codes) and store faults (through the fault proxy:
//! cut connections, swallowed answers, latency, a black hole) are switched on. A merchant retries
//! a 202, 503 or 409 with the same key, as the API asks. Afterwards everything is settled and the
//! audit, reconciled with SBPS's call log, must find nothing.
//!
//! `LOAD_SECONDS` (default 9), `LOAD_CLIENTS` (default 8); `LOAD_REPORT=FILE` writes the
//! figures as a Markdown table (scripts/load puts them in RELIABILITY.md). Loopback only.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::DEMO_KEY;
use common::fault_proxy::{Fault, FaultProxy};
use common::flow::pay_at;
use common::hooks::Hooked;
use kantan::local::sandbox::Fault as SbpsFault;
use kantan::store::DynamoStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Latencies and statuses, per request kind.
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    statuses: BTreeMap<(&'static str, u16), usize>,
    flows: usize,
    transport_errors: usize,
}

struct Merchant {
    base: String,
    http: reqwest::Client,
    tally: Arc<Mutex<Tally>>,
}

impl Merchant {
    fn record(&self, kind: &'static str, started: Instant, status: u16) {
        let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        t.latencies.entry(kind).or_default().push(started.elapsed());
        *t.statuses.entry((kind, status)).or_default() += 1;
    }

    /// Sends `build()` until it is answered with anything but a 202 (outcome not known yet), a 503,
    /// a 409 or a cut connection (at most 20 times), as a merchant following the API's advice would.
    async fn call(&self, kind: &'static str, build: impl Fn() -> reqwest::RequestBuilder) -> (u16, Value) {
        for _ in 0..20 {
            let started = Instant::now();
            match build().send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    self.record(kind, started, status);
                    let text = r.text().await.unwrap_or_default();
                    if status != 202 && status != 503 && status != 409 {
                        return (status, serde_json::from_str(&text).unwrap_or(Value::String(text)));
                    }
                }
                Err(_) => self.tally.lock().unwrap_or_else(|p| p.into_inner()).transport_errors += 1,
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        (0, Value::Null)
    }

    fn post(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(DEMO_KEY).header("idempotency-key", key)
    }

    async fn operate(&self, id: &str, kind: &'static str, amount: Option<u32>, key: String) -> u16 {
        let path = format!("/v1/payments/{id}/{kind}");
        self.call(kind, || {
            let r = self.post(&path, &key);
            match amount {
                Some(a) => r.json(&json!({"amount": {"value": a, "currency": "jpy"}})),
                None => r,
            }
        })
        .await
        .0
    }

    async fn read(&self, id: &str) {
        let url = format!("{}/v1/payments/{id}", self.base);
        self.call("get", || self.http.get(&url).bearer_auth(DEMO_KEY)).await;
    }

    /// One whole flow of a payment.
    async fn flow(&self, n: u64, rng: &mut StdRng) {
        let amount: u32 = rng.random_range(100..=50_000);
        let reference = format!("load-{n}");
        let mut body = common::seed_body(&reference);
        body["amount"]["value"] = json!(amount);
        let (status, created) = self.call("create", || self.post("/v1/payments", &reference).json(&body)).await;
        if status != 201 {
            return;
        }
        let Some(id) = created["id"].as_str().map(str::to_owned) else { return };
        // The payer, on the au screen.
        let started = Instant::now();
        let Ok((status, _)) = pay_at(&self.http, &self.base, &created, "approve").await else { return };
        self.record("approve", started, status);
        self.read(&id).await;
        let key = |what: &str| format!("{reference}-{what}");
        match rng.random_range(0..4) {
            0 => {
                self.operate(&id, "captures", None, key("capture")).await;
            }
            1 => {
                let part = amount / 3;
                if part > 0 {
                    self.operate(&id, "cancels", Some(part), key("cancel")).await;
                }
                self.operate(&id, "captures", None, key("capture")).await;
            }
            2 => {
                self.operate(&id, "captures", None, key("capture")).await;
                self.read(&id).await;
                self.operate(&id, "refunds", None, key("refund")).await;
            }
            _ => {
                self.operate(&id, "cancels", None, key("cancel")).await;
            }
        }
        self.read(&id).await;
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).flows += 1;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn merchants_under_load_and_faults_keep_the_books() {
    let seconds = setting("LOAD_SECONDS", 9);
    let clients = setting("LOAD_CLIENTS", 8);
    let direct = common::dynamo::store().await;
    let proxy = FaultProxy::start(&common::dynamo::endpoint()).await;
    let h: Hooked<DynamoStore> = common::hooks::hooked_dynamo_on(
        common::dynamo::store_at(&proxy.url, direct.table()),
        common::dynamo::stream_reader(&direct),
    )
    .await;
    h.register("load", &[]).await;
    let h = Arc::new(h);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);

    // The background work `local` does: dispatch, deliveries, the sweeper.
    let runner = {
        let h = Arc::clone(&h);
        tokio::spawn(async move {
            while Instant::now() < deadline {
                h.runner.tick().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Faults in the middle third: an SBPS fault queued every 250 ms, and a store fault on
    // every 25th store request, its kind changing each second.
    let faults = {
        let h = Arc::clone(&h);
        let third = Duration::from_secs(seconds) / 3;
        let proxy = Arc::new(proxy);
        let p = Arc::clone(&proxy);
        let task = tokio::spawn(async move {
            tokio::time::sleep(third).await;
            let mut rng = StdRng::seed_from_u64(7);
            let store_faults =
                [Fault::Cut, Fault::Swallow, Fault::Latency(Duration::from_millis(100)), Fault::BlackHole];
            let mut counts = BTreeMap::<String, usize>::new();
            let until = Instant::now() + third;
            let mut tick = 0u64;
            while Instant::now() < until {
                if tick.is_multiple_of(4) {
                    let fault = store_faults[(tick / 4) as usize % store_faults.len()];
                    p.every(Some((25, fault)));
                }
                let sbps = match rng.random_range(0..6) {
                    0 => SbpsFault::Status { status: 503 },
                    1 => SbpsFault::Reset,
                    2 => SbpsFault::Lost,
                    3 => SbpsFault::Delay { millis: 1_500 },
                    4 => SbpsFault::Error { code: "40299999".into() },
                    _ => SbpsFault::Status { status: 500 },
                };
                *counts.entry(format!("{sbps:?}").split([' ', '{']).next().unwrap_or("").to_owned()).or_default() += 1;
                h.local.sandbox.inject(vec![sbps]);
                tick += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            p.clear();
            h.local.sandbox.inject(Vec::new());
            counts
        });
        (task, proxy)
    };

    let mut merchants = tokio::task::JoinSet::new();
    for c in 0..clients {
        let m = Merchant { base: h.local.base.clone(), http: reqwest::Client::new(), tally: Arc::clone(&tally) };
        merchants.spawn(async move {
            let mut rng = StdRng::seed_from_u64(c);
            let mut n = c * 1_000_000;
            while Instant::now() < deadline {
                m.flow(n, &mut rng).await;
                n += 1;
            }
        });
    }
    while merchants.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let _ = runner.await;
    let (fault_task, proxy) = faults;
    let sbps_faults = fault_task.await.expect("fault task");
    let store_faults = proxy.faulted();
    let store_requests = proxy.requests();

    // Settle: the clock moves past every lock window and expiry; the sweeper resends what was
    // left unknown and expires what was never paid.
    for _ in 0..6 {
        h.local.app.service.clock.advance(chrono::Duration::hours(1));
        h.run_until_idle().await;
    }
    let calls = h.local.sbps_calls();
    let report = h.local.audit().await;

    let t = tally.lock().unwrap_or_else(|p| p.into_inner());
    let requests: usize = t.statuses.values().sum();
    let mut table = String::new();
    table.push_str(&format!(
        "{clients} merchants for {:.1} s on DynamoDB Local: {} flows, {requests} requests ({:.0} per second), \
         {store_requests} store requests of which {store_faults} faulted, SBPS faults queued {sbps_faults:?}, \
         {} transport errors; afterwards the audit over {} payments (reconciled with {} SBPS calls): {} findings\n\n",
        elapsed.as_secs_f64(),
        t.flows,
        requests as f64 / elapsed.as_secs_f64(),
        t.transport_errors,
        report.payments,
        calls.len(),
        report.findings.len()
    ));
    table.push_str("| request | count | p50 (ms) | p99 (ms) | answers |\n|---|---:|---:|---:|---|\n");
    for (kind, latencies) in &t.latencies {
        let mut sorted = latencies.clone();
        sorted.sort();
        let answers: Vec<String> =
            t.statuses.iter().filter(|((k, _), _)| k == kind).map(|((_, s), n)| format!("{s}: {n}")).collect();
        table.push_str(&format!(
            "| {kind} | {} | {:.1} | {:.1} | {} |\n",
            sorted.len(),
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.99),
            answers.join(", ")
        ));
    }
    println!("{table}");
    if let Ok(path) = std::env::var("LOAD_REPORT") {
        std::fs::write(path, &table).expect("write the report");
    }
    assert!(report.payments > 0 && t.flows > 0, "the load ran");
    assert!(store_faults > 0, "store faults were injected");
    assert!(report.is_clean(), "the audit after the load:\n{}", report.to_text());
    let fives: usize = t.statuses.iter().filter(|((_, s), _)| *s == 500).map(|(_, n)| n).sum();
    assert_eq!(fives, 0, "no 500s");
}
