//! `local` when misused, as a process of its own: people copy the demo and run `local` beside
//! real accounts. The SBPS simulator and its controls are there only for the demo account (or
//! when asked for in so many words, on loopback, with a clock of their own); `local` refuses to
//! expose them on another address; a client that never finishes its headers is cut off within
//! seconds, and such clients cannot take every connection; the demo's forms refuse cross-site
//! posts and its pages refuse framing.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REAL_KEY: &str = "sk_live_real_merchant";

/// A processing account that is not the demo one (its SBPS URLs on `sbps_base`).
fn real_accounts(sbps_base: &str) -> String {
    let mut account = kantan::accounts::demo_account(sbps_base);
    account.processing_account_id = "2HdRealMerchant000000000000".into();
    account.api_key_sha256 = hex::encode(Sha256::digest(REAL_KEY.as_bytes()));
    json!([{
        "processingAccountId": account.processing_account_id,
        "apiKeySha256": account.api_key_sha256,
        "captureMode": "manual",
        "sbps": {
            "merchantId": account.sbps.merchant_id,
            "serviceId": account.sbps.service_id,
            "hashKey": account.sbps.hash_key.expose(),
            "purchaseUrl": account.sbps.purchase_url,
            "apiUrl": account.sbps.api_url,
        }
    }])
    .to_string()
}

struct Local {
    child: tokio::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port()
}

/// Starts `local` with `env` on a free port; `None` if it exited instead of listening.
async fn start(env: &[(&str, String)], port: u16) -> Result<Local, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_local"));
    command
        .env_clear()
        .env("PORT", port.to_string())
        .env("KANTAN_DB_PATH", dir.path().join("local.sqlite"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("local starts");
    for _ in 0..300 {
        if let Ok(Some(_)) = child.try_wait() {
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                let _ = stdout.read_to_string(&mut out).await;
            }
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut out).await;
            }
            return Err(out);
        }
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(Local { child, base: format!("http://127.0.0.1:{port}"), _dir: dir });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("local neither listened nor exited");
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client")
}

/// Real accounts on a public base URL: no simulator, no controls, no demo; asking for the
/// simulator there is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_accounts_on_a_public_url_get_no_simulator() {
    let port = free_port();
    let env = [
        ("ACCOUNTS_JSON", real_accounts("https://stbfep.sps-system.com")),
        ("PUBLIC_BASE_URL", "https://gateway.example".to_owned()),
    ];
    let mut local = start(&env, port).await.unwrap_or_else(|out| panic!("local refused to start: {out}"));
    let http = http();
    for (method, path) in [
        ("POST", "/sandbox/sbps/control/clock"),
        ("GET", "/sandbox/sbps/control/calls"),
        ("POST", "/sandbox/sbps/purchase"),
        ("GET", "/sandbox/webhooks/shop"),
        ("GET", "/demo"),
    ] {
        let url = format!("{}{path}", local.base);
        let request =
            if method == "POST" { http.post(&url).body("{\"advanceSeconds\": 3456000}") } else { http.get(&url) };
        let status = request.send().await.expect("answer").status();
        assert_eq!(status, 404, "{method} {path}");
    }
    let document = http.get(format!("{}/openapi.yaml", local.base)).send().await.expect("answer");
    assert_eq!(document.status(), 200, "the gateway itself serves");
    let _ = local.child.kill().await;

    let mut env = env.to_vec();
    env.push(("SBPS_SIMULATOR", "on".to_owned()));
    let refused = start(&env, free_port()).await.err().expect("local refuses to start");
    assert!(refused.contains("SBPS_SIMULATOR"), "the refusal says why: {refused}");
}

/// Real accounts with the simulator asked for, on loopback: the simulator runs on a clock of
/// its own, so its clock control never moves the gateway's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_never_moves_a_real_gateways_clock() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [("ACCOUNTS_JSON", real_accounts(&base)), ("SBPS_SIMULATOR", "on".to_owned())];
    let mut local = start(&env, port).await.unwrap_or_else(|out| panic!("local refused to start: {out}"));
    let http = http();
    let body = json!({
        "processingAccountId": "2HdRealMerchant000000000000",
        "merchantReference": "real-1",
        "amount": {"value": 100, "currency": "jpy"},
        "paymentMethod": {"type": "au_kantan_kessai", "auKantanKessai": {"returnUrl": "https://merchant.site/done"}}
    });
    let created: Value = http
        .post(format!("{base}/v1/payments"))
        .bearer_auth(REAL_KEY)
        .json(&body)
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");
    let moved = http
        .post(format!("{base}/sandbox/sbps/control/clock"))
        .body(r#"{"advanceSeconds": 3456000}"#)
        .send()
        .await
        .expect("clock");
    assert_eq!(moved.status(), 200, "the simulator is there, on loopback");
    let payment: Value = http
        .get(format!("{base}/v1/payments/{id}"))
        .bearer_auth(REAL_KEY)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(payment["status"], "pending", "40 days on the simulator's clock expired nothing of the gateway's");
    let _ = local.child.kill().await;
}

/// A client that sends half a header line and waits is cut off within seconds, and a crowd of
/// them cannot hold every connection: past the bound, new ones are closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_bounded() {
    let port = free_port();
    let mut local = start(&[], port).await.unwrap_or_else(|out| panic!("local refused to start: {out}"));
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    slow.write_all(b"GET /v1/tracks/payments/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.expect("write");
    let mut buffer = [0u8; 512];
    let closed = tokio::time::timeout(Duration::from_secs(20), slow.read(&mut buffer)).await;
    assert!(closed.is_ok(), "a half-sent header was still open after 20 s");
    assert!(started.elapsed() < Duration::from_secs(15), "cut off after {:?}", started.elapsed());

    // A crowd of half-sent headers: beyond the bound, connections are closed at once.
    let mut crowd = Vec::new();
    for _ in 0..300 {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else { continue };
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
        crowd.push(stream);
    }
    let mut turned_away = 0;
    for stream in &mut crowd {
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(20), stream.read(&mut buffer)).await {
            turned_away += 1;
        }
    }
    assert!(turned_away >= 30, "only {turned_away} of 300 half-open connections were turned away");
    drop(crowd);
    // Once they are gone, the server answers again.
    let mut answered = false;
    for _ in 0..50 {
        if let Ok(r) = http().get(format!("{}/v1/tracks/payments/x", local.base)).send().await {
            answered = r.status() == 404;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(answered, "the server answers once the crowd is gone");
    let _ = local.child.kill().await;
}

/// The demo is what merchants copy: its state-changing forms refuse a post from another site
/// (or with no origin at all), and its pages refuse to be framed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_refuses_cross_site_posts_and_framing() {
    let port = free_port();
    let mut local = start(&[], port).await.unwrap_or_else(|out| panic!("local refused to start: {out}"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let shop = http.get(format!("{}/demo", local.base)).send().await.expect("shop");
    assert_eq!(shop.status(), 200);
    let header = |name: &str| shop.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{:?}", shop.headers());
    assert_eq!(header("x-frame-options"), "DENY");

    let checkout = format!("{}/demo/checkout", local.base);
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let mut post = http.post(&checkout).form(&[("amount", "1200")]);
        if let Some(origin) = origin {
            post = post.header("origin", origin);
        }
        let answer = post.send().await.expect("answer");
        assert_eq!(answer.status(), 403, "a checkout posted from {origin:?}");
    }
    let capture = http
        .post(format!("{}/demo/payments/3N6ZfqgkZww9ule2FT3rKz09KTz/captures", local.base))
        .header("origin", "https://evil.example")
        .form(&[("amount", "1")])
        .send()
        .await
        .expect("answer");
    assert_eq!(capture.status(), 403, "a capture posted from another site");
    let same_site = http
        .post(&checkout)
        .header("origin", local.base.as_str())
        .form(&[("amount", "1200")])
        .send()
        .await
        .expect("answer");
    assert_eq!(same_site.status(), 200, "the shop's own form still works");
    let _ = local.child.kill().await;
}
