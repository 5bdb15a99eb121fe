//! The gateway's handler cost beside the DynamoDB floor: for create, get, track, notify and
//! capture, the request through the app (router, auth, service, store adapter, rendering) on
//! DynamoDB Local, interleaved with the bare SDK calls of the same items (the floor), p50 and
//! p99 and their ratio; then the local server's throughput at 1, 4 and 16 concurrent clients.
//! The provider is the scripted one (answers at once), so a capture measures the gateway and
//! the table, not SBPS.
//!
//! Run by `scripts/bench` (which starts DynamoDB Local); the figures are medians over
//! `BENCH_ROUNDS` rounds of `BENCH_REQUESTS` requests each. With `BENCH_WRITE=1` it rewrites its
//! section of BENCHMARKS.md and `benches/floor.svg`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::Utc;
use kantan::accounts::{Accounts, DEMO_ACCOUNT_ID, DEMO_API_KEY, DEMO_HASH_KEY, demo_account};
use kantan::clock::Clock;
use kantan::config::Settings;
use kantan::http::{App, handle};
use kantan::ids::{OperationId, PaymentId, TrackId};
use kantan::metrics::Metrics;
use kantan::money::Yen;
use kantan::payment::{CaptureMode, NewPayment, Outcome, Payment};
use kantan::service::{Policy, ScriptedProvider, Service};
use kantan::store::{DynamoStore, NewPaymentRecord, Persistence, SqliteStore};
use lambda_http::{Body, Request};

mod capacity;
mod report;

use capacity::lifecycle;
use report::{chart, write_section};

type Error = Box<dyn std::error::Error + Send + Sync>;

const OPS: [&str; 5] = ["create", "get", "track", "notify", "capture"];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn settings() -> Result<Settings, Error> {
    Ok(Settings::from_lookup(|name| match name {
        "PENDING_GRACE_SECONDS" => Some("86400".into()),
        _ => None,
    })?)
}

fn app_on<S: Persistence>(store: S) -> Result<App<S, ScriptedProvider>, Error> {
    let settings = settings()?;
    let accounts = Accounts::new(vec![demo_account(&settings.public_base_url)])?;
    let policy = Policy::new(settings.sbps_timeout, settings.expiry_grace);
    let service = Service {
        store,
        provider: ScriptedProvider::new(),
        accounts,
        clock: Clock::system(),
        metrics: Metrics::silent(),
        policy,
    };
    Ok(App::new(service, settings))
}

fn request(method: &str, path: &str, key: Option<&str>, body: Option<(&str, Vec<u8>)>) -> Result<Request, Error> {
    let mut b = lambda_http::http::Request::builder().method(method).uri(path);
    b = b.header("authorization", format!("Bearer {DEMO_API_KEY}"));
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    let body = match body {
        Some((content_type, bytes)) => {
            b = b.header("content-type", content_type);
            Body::Binary(bytes)
        }
        None => Body::Empty,
    };
    Ok(b.body(body)?)
}

fn create_body(reference: &str) -> Vec<u8> {
    serde_json::json!({
        "processingAccountId": DEMO_ACCOUNT_ID,
        "merchantReference": reference,
        "amount": {"value": 1200, "currency": "jpy"},
        "paymentMethod": {"type": "au_kantan_kessai", "auKantanKessai": {"returnUrl": "https://merchant.site/complete-payment"}}
    })
    .to_string()
    .into_bytes()
}

/// A result notification for `id`, signed with the demo hash key, as SBPS posts it.
fn notification(id: &str) -> Result<Vec<u8>, Error> {
    let fields = [
        ("pay_method", "auone"),
        ("merchant_id", "99999"),
        ("service_id", "000"),
        ("cust_code", id),
        ("order_id", id),
        ("item_id", id),
        ("amount", "1200"),
        ("pay_type", "0"),
        ("service_type", "0"),
        ("res_pay_method", "auone"),
        ("res_result", "OK"),
        ("res_tracking_id", "00000616307348"),
    ];
    Ok(kantan::local::sandbox::notification_form(fields, DEMO_HASH_KEY).ok_or("form")?.into_bytes())
}

/// Timings of one kind of request, in milliseconds.
#[derive(Default)]
struct Samples {
    gateway: Vec<f64>,
    floor: Vec<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    percentile(values, 50.0)
}

/// (p50, p99) of gateway and floor.
fn summary(s: &mut Samples) -> [f64; 4] {
    s.gateway.sort_by(|a, b| a.total_cmp(b));
    s.floor.sort_by(|a, b| a.total_cmp(b));
    [percentile(&s.gateway, 50.0), percentile(&s.gateway, 99.0), percentile(&s.floor, 50.0), percentile(&s.floor, 99.0)]
}

async fn timed<T, F: std::future::Future<Output = Result<T, Error>>>(samples: &mut Vec<f64>, f: F) -> Result<T, Error> {
    let started = Instant::now();
    let out = f.await?;
    samples.push(started.elapsed().as_secs_f64() * 1000.0);
    Ok(out)
}

/// Runs one gateway request and its floor, the gateway first on even `i` and the floor first on
/// odd `i`, so that neither side always follows the other (a pause the store takes after a write
/// would otherwise always land on the same side).
async fn pair<T>(
    i: usize,
    gateway: impl std::future::Future<Output = Result<T, Error>>,
    floor: impl std::future::Future<Output = Result<(), Error>>,
) -> Result<T, Error> {
    if i.is_multiple_of(2) {
        let answer = gateway.await?;
        floor.await?;
        Ok(answer)
    } else {
        floor.await?;
        gateway.await
    }
}

async fn expect(app: &App<DynamoStore, ScriptedProvider>, req: Request, status: u16) -> Result<String, Error> {
    let response = handle(app, req, None).await;
    let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    if response.status().as_u16() != status {
        return Err(format!("expected {status}, got {}: {text}", response.status()).into());
    }
    Ok(text)
}

async fn transact(client: &Client, items: Vec<TransactWriteItem>) -> Result<(), Error> {
    client.transact_write_items().set_transact_items(Some(items)).send().await?;
    Ok(())
}

async fn query_payment(client: &Client, table: &str, id: &str) -> Result<(), Error> {
    let out = client
        .query()
        .table_name(table)
        .consistent_read(true)
        .key_condition_expression("PK = :pk AND SK >= :sk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("PAYMENT#{id}")))
        .expression_attribute_values(":sk", AttributeValue::S("OP#".into()))
        .send()
        .await?;
    if out.items().is_empty() {
        return Err("the floor's payment is missing".into());
    }
    Ok(())
}

/// A payment built and created the way the gateway would, for the floor.
fn floor_record(store: &DynamoStore, reference: &str) -> Result<(NewPaymentRecord, Vec<TransactWriteItem>), Error> {
    let now = Utc::now();
    let (payment, event) = Payment::create(
        NewPayment {
            id: PaymentId::generate(),
            account_id: DEMO_ACCOUNT_ID.into(),
            merchant_reference: reference.into(),
            track_id: TrackId::generate(),
            amount: Yen::new(1200)?,
            return_url: "https://merchant.site/complete-payment".into(),
            capture_mode: CaptureMode::Manual,
            limit_second: 600,
            expiry_grace: chrono::Duration::days(1),
            list_shard: 0,
            metadata: kantan::payment::Metadata::default(),
        },
        now,
    );
    let key = kantan::service::IdempotencyKey::new(
        DEMO_ACCOUNT_ID,
        format!("f-{reference}"),
        "POST",
        "/v1/payments",
        &create_body(reference),
    );
    // A stored answer the size of the gateway's.
    let answer = kantan::store::StoredResponse { status: 201, body: "x".repeat(1900) };
    let record = NewPaymentRecord { idempotency: Some(key.completed(answer, &payment.id, None, now)), payment, event };
    let items = store.create_items(&record, now)?;
    Ok((record, items))
}

/// One round: `n` of each kind of request, gateway and floor interleaved.
async fn round(
    app: &App<DynamoStore, ScriptedProvider>,
    client: &Client,
    table: &str,
    n: usize,
    tag: &str,
) -> Result<BTreeMap<&'static str, Samples>, Error> {
    let store = &app.service.store;
    let mut samples: BTreeMap<&'static str, Samples> = OPS.iter().map(|op| (*op, Samples::default())).collect();
    let mut gateway_ids = Vec::with_capacity(n);
    let mut floor_payments = Vec::with_capacity(n);

    for i in 0..n {
        let reference = format!("g-{tag}-{i}");
        let req =
            request("POST", "/v1/payments", Some(&reference), Some(("application/json", create_body(&reference))))?;
        let (record, items) = floor_record(store, &format!("f-{tag}-{i}"))?;
        let s = samples.get_mut("create").ok_or("create")?;
        let gateway =
            pair(i, timed(&mut s.gateway, expect(app, req, 201)), timed(&mut s.floor, transact(client, items))).await?;
        let created: serde_json::Value = serde_json::from_str(&gateway)?;
        let id = created["id"].as_str().ok_or("id")?.to_owned();
        let track = created["trackingUrl"].as_str().ok_or("trackingUrl")?.to_owned();
        gateway_ids.push((id, track));
        floor_payments.push(record.payment);
    }
    for i in 0..n {
        let (id, track) = &gateway_ids[i];
        let floor = &floor_payments[i];
        let s = samples.get_mut("get").ok_or("get")?;
        let req = request("GET", &format!("/v1/payments/{id}"), None, None)?;
        pair(
            i,
            timed(&mut s.gateway, expect(app, req, 200)),
            timed(&mut s.floor, query_payment(client, table, floor.id.as_str())),
        )
        .await?;
        let s = samples.get_mut("track").ok_or("track")?;
        let req = request("GET", track, None, None)?;
        let key = [
            ("PK".to_owned(), AttributeValue::S(format!("TRACK#{}", floor.track_id))),
            ("SK".to_owned(), AttributeValue::S("TRACK".into())),
        ];
        let floor_track = async {
            let out =
                client.get_item().table_name(table).consistent_read(true).set_key(Some(key.into())).send().await?;
            out.item().ok_or("the floor's track item is missing")?;
            Ok(())
        };
        pair(i, timed(&mut s.gateway, expect(app, req, 200)), timed(&mut s.floor, floor_track)).await?;
    }
    let mut authorized = Vec::with_capacity(n);
    for i in 0..n {
        let (id, _) = &gateway_ids[i];
        let floor = &floor_payments[i];
        let body = notification(id)?;
        let req = request("POST", "/v1/notifications/sbps", None, Some(("application/x-www-form-urlencoded", body)))?;
        let authorize = floor.authorize("00000616307348".into(), None, OperationId::generate(), Utc::now())?;
        let items = store.apply_items(&authorize, None)?;
        let s = samples.get_mut("notify").ok_or("notify")?;
        let floor_notify = async {
            query_payment(client, table, floor.id.as_str()).await?;
            transact(client, items).await
        };
        let answer = pair(i, timed(&mut s.gateway, expect(app, req, 200)), timed(&mut s.floor, floor_notify)).await?;
        if answer != "OK," {
            return Err(format!("notification answered {answer}").into());
        }
        authorized.push(authorize.payment);
    }
    for i in 0..n {
        let (id, _) = &gateway_ids[i];
        let floor = &authorized[i];
        let now = Utc::now();
        let ahead = floor.begin_capture(OperationId::generate(), None, now)?;
        let op = ahead.operation.clone().ok_or("operation")?;
        let settled = ahead.payment.settle(&op.id, Outcome::Succeeded, now)?;
        let (ahead_items, settle_items) = (store.apply_items(&ahead, None)?, store.apply_items(&settled, None)?);
        let req = request("POST", &format!("/v1/payments/{id}/captures"), None, None)?;
        let s = samples.get_mut("capture").ok_or("capture")?;
        let floor_capture = async {
            query_payment(client, table, floor.id.as_str()).await?;
            transact(client, ahead_items).await?;
            transact(client, settle_items).await
        };
        pair(i, timed(&mut s.gateway, expect(app, req, 201)), timed(&mut s.floor, floor_capture)).await?;
    }
    Ok(samples)
}

/// Requests per second of the local server (embedded store) with `clients` concurrent
/// clients, each creating a payment and reading it back, for `seconds`.
async fn throughput(clients: usize, seconds: f64) -> Result<f64, Error> {
    let dir = std::env::temp_dir().join(format!("kantan-bench-{}", PaymentId::generate()));
    let store = SqliteStore::open(&dir.join("local.sqlite"))?;
    let app = Arc::new(app_on(store)?);
    let listener = kantan::local::server::bind(0).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(kantan::local::server::serve(app, None, listener));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base) = (http.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            let mut i = 0;
            while Instant::now() < deadline {
                let reference = format!("t-{c}-{i}");
                i += 1;
                let created = http
                    .post(format!("{base}/v1/payments"))
                    .bearer_auth(DEMO_API_KEY)
                    .header("content-type", "application/json")
                    .body(create_body(&reference))
                    .send()
                    .await?;
                if created.status() != 201 {
                    return Err::<u64, Error>(format!("create answered {}", created.status()).into());
                }
                let id = created.json::<serde_json::Value>().await?["id"].as_str().unwrap_or_default().to_owned();
                let read = http.get(format!("{base}/v1/payments/{id}")).bearer_auth(DEMO_API_KEY).send().await?;
                if read.status() != 200 {
                    return Err(format!("get answered {}", read.status()).into());
                }
                done += 2;
            }
            Ok(done)
        }));
    }
    let started = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(total as f64 / elapsed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let requests = env_number("BENCH_REQUESTS", 1000);
    let rounds = env_number("BENCH_ROUNDS", 7).max(1);
    let seconds = env_number("BENCH_SECONDS", 5) as f64;
    let write = std::env::var("BENCH_WRITE").is_ok_and(|v| v == "1");
    let aws = kantan::app::sdk_config().await;
    let table = format!("bench-{}", PaymentId::generate());
    let store = kantan::app::dynamo_store(&table, &aws).await?;
    let client = store.client().clone();
    let app = app_on(store)?;

    // Warm both paths (connections, table) before measuring.
    round(&app, &client, &table, 20, "warm").await?;
    let mut per_round: BTreeMap<&str, Vec<[f64; 4]>> = BTreeMap::new();
    for r in 0..rounds {
        let samples = round(&app, &client, &table, requests, &format!("r{r}")).await?;
        for (op, mut s) in samples {
            per_round.entry(op).or_default().push(summary(&mut s));
        }
        eprintln!("round {} of {rounds} done", r + 1);
    }
    let mut rows = Vec::new();
    let mut spreads = Vec::new();
    for op in OPS {
        let runs = per_round.get(op).ok_or("missing op")?;
        let mut figure = [0.0; 4];
        for (k, slot) in figure.iter_mut().enumerate() {
            let mut values: Vec<f64> = runs.iter().map(|v| v[k]).collect();
            *slot = median(&mut values);
        }
        let mut ratios: Vec<f64> = runs.iter().map(|v| v[1] / v[3]).collect();
        ratios.sort_by(|a, b| a.total_cmp(b));
        spreads.push((ratios[0], ratios[ratios.len() - 1]));
        rows.push((op, figure));
    }
    let mut throughputs = Vec::new();
    for clients in [1, 4, 16] {
        throughputs.push((clients, throughput(clients, seconds).await?));
    }

    let goal = |op: &str| match op {
        "create" | "notify" => 1.15,
        _ => 1.3,
    };
    let mut md = format!(
        "## Handler cost beside the DynamoDB floor\n\n\
         `scripts/bench` ({rounds} rounds x {requests} requests of each kind, interleaved with the floor, \
         which side goes first alternating; figures are the medians of the rounds' percentiles, a p99 being \
         the 1-in-100 slowest of one round's requests), on DynamoDB Local with an HTTP keep-alive SDK client, \
         {} cores, debug assertions off (`cargo bench`). Gateway = the request through `kantan::http::handle` \
         (router, auth, service, adapter, rendering; scripted provider, so a capture measures no SBPS time). \
         Floor = the bare SDK calls of the same items: create 1 `TransactWriteItems`; get 1 `Query`; track 1 `GetItem`; \
         notify 1 `Query` + 1 `TransactWriteItems`; capture 1 `Query` + 2 `TransactWriteItems`. \
         Goals: create and notify p50 <= 1.15x, reads p50 <= 1.3x, p99 <= 1.5x.\n\n\
         | request | gateway p50 (ms) | floor p50 (ms) | p50 ratio (goal) | gateway p99 (ms) | floor p99 (ms) | p99 ratio (goal 1.5) | p99 ratio, lowest and highest round |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    for ((op, v), (low, high)) in rows.iter().zip(&spreads) {
        md += &format!(
            "| {op} | {:.2} | {:.2} | {:.2}x ({:.2}) | {:.2} | {:.2} | {:.2}x | {low:.2}x to {high:.2}x |\n",
            v[0],
            v[2],
            v[0] / v[2],
            goal(op),
            v[1],
            v[3],
            v[1] / v[3]
        );
    }
    md += "\n![gateway against floor](benches/floor.svg)\n\n";
    md += &format!(
        "Local server throughput (`local` on the embedded store, scripted provider; each client creates a payment \
         and reads it back, {seconds:.0} s per run, keep-alive):\n\n| concurrent clients | requests per second |\n|---:|---:|\n"
    );
    for (clients, rps) in &throughputs {
        md += &format!("| {clients} | {rps:.0} |\n");
    }
    let (wru, rru, sizes) = lifecycle(&app.service.store)?;
    let p50 = |op: &str| rows.iter().find(|(o, _)| *o == op).map(|(_, v)| v[0]).unwrap_or(0.0);
    // Billed Lambda time per request: the measured handler p50 rounded up to the next ms (the
    // handler waits on DynamoDB; at 128 MB the CPU share is small, so this is a floor).
    let lambda_ms: f64 = ["create", "notify", "capture", "get"].iter().map(|op| p50(op).ceil().max(1.0)).sum();
    let (wru_price, rru_price, gb_s_price, lambda_req_price, api_price) = (0.625, 0.125, 0.000_013_333_4, 0.20, 1.00);
    let per_million = |x: f64| x * 1e6;
    let dynamo = wru as f64 * wru_price + rru as f64 * rru_price;
    let lambda = per_million(lambda_ms / 1000.0 * 0.125 * gb_s_price) + 4.0 * lambda_req_price;
    let api = 4.0 * api_price;
    md.push_str(
        "\n## Cost and capacity of a payment, from the measured items and times\n\n\
         One lifecycle: create (with a key), SBPS's notification, capture (with a key), one `GET`: 4 API requests, \
         4 Lambda invocations, 4 transactions and 3 strongly consistent reads (round trips measured by the \
         round-trip test: 1 + 2 + 3 + 1). Item sizes below are the bytes of the items the store writes \
         (DynamoDB's size rule), each transaction costing 2 write units per started KB of each item, and \
         the payment item 1 more per started KB in each of the two listing indexes, a ledger entry (a capture's \
         settle: the entry, then its month's counter item, sized by its key and the values it adds) 1 more \
         in the ledger index.\n\n\
         | write | item sizes (bytes) |\n|---|---|\n",
    );
    for (name, item_sizes) in &sizes {
        md += &format!("| {name} | {} |\n", item_sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
    }
    md += &format!(
        "\nPer payment: {wru} write request units, {rru} read request units; billed Lambda time {lambda_ms:.0} ms \
         (the measured p50s above rounded up, 128 MB, arm64).\n\n\
         | one million payments (us-east-1 on-demand list prices: DynamoDB $0.625 per million write units and \
         $0.125 per million read units, Lambda arm64 $0.0000133334 per GB-second and $0.20 per million requests, \
         HTTP API $1.00 per million requests) | USD |\n|---|---:|\n\
         | DynamoDB | {dynamo:.2} |\n| Lambda | {lambda:.2} |\n| API Gateway | {api:.2} |\n| total | {:.2} |\n\n\
         Hottest keys at 1,000 payments per second for one account: every key is per payment, per order \
         reference or per idempotency key, so each takes a handful of writes in a payment's life (the payment's \
         partition: 4 transactions; its `TRACK#` and `MREF#` items: 1 to 4), never near a partition's 1,000 \
         writes per second. The busiest designed keys are the sweeper's due buckets (DESIGN §5, with the \
         webhooks issue): one item per create and per write-ahead, spread over 8 shards per minute, so about \
         1,000 / 8 = 125 writes per second per key at that rate (250 with every payment captured). The one \
         account-wide key is the listing index's (`LIST#<account>#<shard>`): each payment writes it about 4 \
         times, so an account at 1,000 payments per second is given 16 shards (`listShards`), about 250 \
         writes per second per key.\n",
        dynamo + lambda + api
    );
    print!("{md}");
    if write {
        write_section(&md)?;
        std::fs::write(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/floor.svg"), chart(&rows))?;
        eprintln!("wrote BENCHMARKS.md and benches/floor.svg");
    }
    Ok(())
}
