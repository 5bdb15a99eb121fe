//! The payer's journey in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by scripts/test) driven over WebDriver through the demo shop of
//! `local`, the sandbox's au screen and back. Stories: pay, approve, capture part; decline;
//! cancel on the au screen and come back to a pending payment; a payment that expires on the
//! sandbox clock. The browser resolves no name but loopback, and every process it started is
//! killed with its process group when a story ends. Screenshots go to target/browser/.

use crate::common;

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::hooks::Hooked;
use fantoccini::{Client, ClientBuilder, Locator};
use kantan::local::background::LocalOutbox;
use serde_json::json;

type Result<T> = std::result::Result<T, String>;

/// chromedriver in its own process group: dropping it kills the driver and every browser it
/// started, whatever the story did.
struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver (Debian: apt-get install chromium chromium-driver; ./scripts/test installs them)");
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, url: format!("http://127.0.0.1:{port}"), profile: tempfile::tempdir().expect("profile dir") }
    }

    async fn browser(&self) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--window-size=420,900",
            &format!("--user-data-dir={}", self.profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), json!({"binary": "/usr/bin/chromium", "args": args}));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        // Until the last process of the group is gone (the browsers die a moment later).
        for _ in 0..100 {
            let alive = Command::new("kill").args(["-0", "--", &group]).stderr(Stdio::null()).status();
            if !alive.is_ok_and(|s| s.success()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&dir).expect("target/browser");
    dir
}

async fn screenshot(b: &Client, name: &str) -> Result<()> {
    let png = b.screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
    std::fs::write(shots().join(format!("{name}.png")), png).map_err(|e| e.to_string())
}

/// The text of `css` once the page has one; a page that navigates away under the read (an
/// auto-submitting form) is read again.
async fn text_of(b: &Client, css: &str) -> Result<String> {
    let mut last = String::new();
    for _ in 0..100 {
        match b.find(Locator::Css(css)).await {
            Ok(element) => match element.text().await {
                Ok(text) => return Ok(text),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{css}: {last}"))
}

/// The element `css` once the page has it (10 s at most).
async fn element(b: &Client, css: &str) -> Result<fantoccini::elements::Element> {
    b.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))
}

async fn click(b: &Client, css: &str) -> Result<()> {
    element(b, css).await?.click().await.map_err(|e| format!("click {css}: {e}"))
}

async fn type_into(b: &Client, css: &str, text: &str) -> Result<()> {
    let element = element(b, css).await?;
    element.clear().await.map_err(|e| format!("clear {css}: {e}"))?;
    element.send_keys(text).await.map_err(|e| format!("type into {css}: {e}"))
}

/// The shop, an amount, "Pay with au PAY": the browser runs the merchant's auto-submitting form
/// and lands on the sandbox's au screen. Answers the return URL the au screen will send the
/// payer to.
async fn pay<S: LocalOutbox>(b: &Client, h: &Hooked<S>, amount: &str) -> Result<String> {
    b.goto(&format!("{}/demo", h.local.base)).await.map_err(|e| e.to_string())?;
    type_into(b, "#amount", amount).await?;
    click(b, "#pay").await?;
    // The merchant's page posts itself on; the au screen is the one with the decision buttons.
    element(b, "button[value=approve]").await.map_err(|e| format!("the au screen: {e}"))?;
    let screen = text_of(b, "h1").await?;
    if !screen.contains("au かんたん決済") {
        return Err(format!("not the au screen: {screen}"));
    }
    let return_url = b
        .find(Locator::Css("input[name=success_url]"))
        .await
        .map_err(|e| e.to_string())?
        .attr("value")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no success_url")?;
    if !return_url.starts_with(&format!("{}/demo/return?order=demo-", h.local.base)) {
        return Err(format!("the return URL is not the demo's on loopback: {return_url}"));
    }
    Ok(return_url)
}

async fn status_is(b: &Client, expected: &str) -> Result<()> {
    let status = text_of(b, "#status").await?;
    if status == expected { Ok(()) } else { Err(format!("status {status}, expected {expected}")) }
}

async fn pay_approve_and_capture_part<S: LocalOutbox>(b: &Client, h: &Hooked<S>) -> Result<()> {
    pay(b, h, "1200").await?;
    screenshot(b, "au-screen").await?;
    click(b, "button[value=approve]").await?;
    status_is(b, "authorized").await?;
    type_into(b, "#capture-amount", "1000").await?;
    click(b, "#capture").await?;
    let answer = text_of(b, "#answer h2").await?;
    if answer != "Capture answered HTTP 201" {
        return Err(format!("capture: {answer}"));
    }
    status_is(b, "captured").await?;
    let page = text_of(b, "body").await?;
    if !page.contains("captured 1,000 円") || !page.contains("ご注文ありがとうございます") {
        return Err(format!("the return page does not show the capture: {page}"));
    }
    screenshot(b, "return-page").await?;
    // The shop lists it, with its operation and its webhook deliveries.
    h.settle().await;
    b.goto(&format!("{}/demo", h.local.base)).await.map_err(|e| e.to_string())?;
    let recent = text_of(b, "#recent").await?;
    for expected in
        ["captured", "capture 1,000 円 succeeded", "payment.authorized: succeeded", "payment.captured: succeeded"]
    {
        if !recent.contains(expected) {
            return Err(format!("the shop's list lacks {expected:?}: {recent}"));
        }
    }
    screenshot(b, "shop").await
}

async fn decline<S: LocalOutbox>(b: &Client, h: &Hooked<S>) -> Result<()> {
    pay(b, h, "500").await?;
    click(b, "button[value=decline]").await?;
    status_is(b, "declined").await?;
    screenshot(b, "declined").await
}

async fn cancel_on_the_au_screen<S: LocalOutbox>(b: &Client, h: &Hooked<S>) -> Result<()> {
    pay(b, h, "800").await?;
    click(b, "button[value=cancel]").await?;
    status_is(b, "pending").await?;
    screenshot(b, "cancelled-on-au-screen").await
}

async fn expire_on_the_sandbox_clock<S: LocalOutbox>(b: &Client, h: &Hooked<S>) -> Result<()> {
    let return_url = pay(b, h, "300").await?;
    // The payer walks away; the sandbox clock (the gateway's too) moves two hours on.
    let moved = h
        .local
        .http
        .post(format!("{}/sandbox/sbps/control/clock", h.local.base))
        .json(&json!({"advanceSeconds": 7200}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !moved.status().is_success() {
        return Err(format!("clock: {}", moved.status()));
    }
    b.goto(&return_url).await.map_err(|e| e.to_string())?;
    status_is(b, "expired").await?;
    screenshot(b, "expired").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payers_journeys_through_the_demo_shop_in_a_real_browser() {
    let h = common::hooks::hooked().await;
    h.register("shop", &[]).await;
    let driver = Driver::start();
    let mut failures = Vec::new();
    for (name, story) in [
        ("pay, approve, capture part", 0),
        ("decline", 1),
        ("cancel on the au screen", 2),
        ("expire on the sandbox clock", 3),
    ] {
        let b = driver.browser().await;
        let outcome = match story {
            0 => pay_approve_and_capture_part(&b, &h).await,
            1 => decline(&b, &h).await,
            2 => cancel_on_the_au_screen(&b, &h).await,
            _ => expire_on_the_sandbox_clock(&b, &h).await,
        };
        let _ = b.close().await;
        if let Err(why) = outcome {
            failures.push(format!("{name}: {why}"));
        }
    }
    drop(driver);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_keeps_the_api_key_out_of_every_page() {
    let h = common::hooks::hooked().await;
    let base = &h.local.base;
    let shop = h.local.http.get(format!("{base}/demo")).send().await.expect("shop").text().await.expect("body");
    let checkout =
        // As the shop's own page posts it (the demo refuses posts from other sites).
        h.local.http.post(format!("{base}/demo/checkout")).header("origin", base.as_str()).form(&[("amount", "1200")]).send().await.expect("checkout");
    assert_eq!(checkout.status(), 200);
    let checkout = checkout.text().await.expect("body");
    assert!(checkout.contains("document.getElementById('to-au').submit()") && checkout.contains("<noscript>"));
    for page in [&shop, &checkout] {
        assert!(!page.contains(common::DEMO_KEY), "a demo page carries the API key");
        assert!(!page.contains("<link") && !page.contains(" src="), "no outside assets, no script files");
    }

    // Outside local mode (a public base URL), there is no demo.
    let public = kantan::config::Settings::from_lookup(|name| {
        (name == "PUBLIC_BASE_URL").then(|| "https://api.example.com".to_owned())
    })
    .expect("settings");
    let app = common::app_with(kantan::store::SqliteStore::in_memory().expect("store"), public);
    for (method, path) in [("GET", "/demo"), ("POST", "/demo/checkout")] {
        let request = lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .body(lambda_http::Body::Text("amount=1200".into()))
            .expect("request");
        let answer = kantan::local::demo::handle(&app, request).await;
        assert_eq!(answer.status(), 404, "{method} {path}");
    }
}
