//! Crashes: the gateway (`local`, a process of its own) killed with `SIGKILL` at the worst
//! moments of the money path and started again on the same store, while the SBPS sandbox runs
//! as another process and outlives it, as SBPS does. Each payment converges, through a retry
//! with the same key or a read, with exactly one SBPS call's worth of money moved; the audit
//! binary then finds nothing, reconciled with the sandbox's call log. On both stores.
//!
//! The kills land where `KANTAN_CRASH_POINT` stops a request (src/crash_point.rs: the process
//! waits there and the test kills it), or, for "SBPS did it and has not answered yet", while
//! the sandbox holds a performed call's answer.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::flow::{pay_at, reply};
use common::{DEMO_KEY, seed_body};
use kantan::accounts::DEMO_HASH_KEY;
use serde_json::{Value, json};

/// The gateway's SBPS timeout; the lock window is 5 s more (service::Policy).
const SBPS_TIMEOUT_MS: u64 = 1_000;
const LOCK_WINDOW: Duration = Duration::from_millis(SBPS_TIMEOUT_MS + 5_000);

enum Store {
    Sqlite(tempfile::TempDir),
    Dynamo { endpoint: String, table: String },
}

impl Store {
    fn sqlite() -> Store {
        Store::Sqlite(tempfile::tempdir().expect("tempdir"))
    }

    fn dynamo() -> Store {
        let table = format!("crashes-{}", std::process::id());
        Store::Dynamo { endpoint: common::dynamo::endpoint(), table }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Store::Sqlite(dir) => vec![("KANTAN_DB_PATH", dir.path().join("gateway.sqlite").display().to_string())],
            Store::Dynamo { endpoint, table } => vec![
                ("TABLE_NAME", table.clone()),
                ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.clone()),
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_ACCESS_KEY_ID", "local".into()),
                ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ],
        }
    }
}

/// A child process whose output lines are kept; killed (SIGKILL) and reaped when dropped.
struct Process {
    child: Child,
}

impl Process {
    fn spawn(binary: &str, env: &[(&str, String)], lines: &Arc<Mutex<Vec<String>>>) -> Process {
        let mut command = Command::new(binary);
        command.env_clear().env("RUST_LOG", "info").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for stream in [stdout, stderr] {
            let lines = Arc::clone(lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        Process { child }
    }

    /// `SIGKILL` (what `Child::kill` sends on Unix), then reaps it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port} within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The sandbox process, the store, and the gateway process (when running).
struct World {
    store: Store,
    http: reqwest::Client,
    lines: Arc<Mutex<Vec<String>>>,
    sandbox_base: String,
    _sandbox: Process,
    gateway_port: u16,
    gateway: Option<Process>,
}

impl World {
    fn new(store: Store) -> World {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sandbox_port = free_port();
        let sandbox = Process::spawn(env!("CARGO_BIN_EXE_sandbox"), &[("PORT", sandbox_port.to_string())], &lines);
        wait_listening(sandbox_port, "the sandbox");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        World {
            store,
            http,
            lines,
            sandbox_base: format!("http://127.0.0.1:{sandbox_port}"),
            _sandbox: sandbox,
            gateway_port: free_port(),
            gateway: None,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.gateway_port)
    }

    /// What the gateway and the audit run with: the store, the sandbox, the SBPS timeout.
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.store.env();
        env.push(("PORT", self.gateway_port.to_string()));
        env.push(("SANDBOX_BASE_URL", self.sandbox_base.clone()));
        env.push(("SBPS_TIMEOUT_MS", SBPS_TIMEOUT_MS.to_string()));
        env
    }

    /// Starts the gateway, to die at `crash_point` if given; waits until it listens.
    fn start_gateway(&mut self, crash_point: Option<&str>) {
        assert!(self.gateway.is_none(), "one gateway at a time");
        let mut env = self.env();
        if let Some(point) = crash_point {
            env.push(("KANTAN_CRASH_POINT", point.to_owned()));
        }
        self.gateway = Some(Process::spawn(env!("CARGO_BIN_EXE_local"), &env, &self.lines));
        wait_listening(self.gateway_port, "the gateway");
    }

    /// `SIGKILL`s the gateway.
    fn kill_gateway(&mut self) {
        if let Some(mut gateway) = self.gateway.take() {
            gateway.kill();
        }
    }

    fn restart_gateway(&mut self, crash_point: Option<&str>) {
        self.kill_gateway();
        self.start_gateway(crash_point);
    }

    /// Waits until a request of the gateway stops at `point`.
    async fn crash_point_reached(&self, point: &str) {
        let marker = format!("crash point reached: {point}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.lines.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|l| l.contains(&marker)) {
            assert!(Instant::now() < deadline, "no request reached the crash point {point} within 20 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn create_request(&self, reference: &str, amount: u32, key: &str) -> reqwest::RequestBuilder {
        let mut body = seed_body(reference);
        body["amount"]["value"] = json!(amount);
        self.http
            .post(format!("{}/v1/payments", self.base()))
            .bearer_auth(DEMO_KEY)
            .header("idempotency-key", key)
            .json(&body)
    }

    fn op_request(&self, id: &str, kind: &str, amount: Option<u32>, key: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(format!("{}/v1/payments/{id}/{kind}", self.base()))
            .bearer_auth(DEMO_KEY)
            .header("idempotency-key", key);
        if let Some(a) = amount {
            req = req.json(&json!({"amount": {"value": a, "currency": "jpy"}}));
        }
        req
    }

    async fn payment(&self, id: &str) -> Value {
        let r = reply(self.http.get(format!("{}/v1/payments/{id}", self.base())).bearer_auth(DEMO_KEY)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }

    async fn with_reference(&self, reference: &str) -> Vec<Value> {
        let r = reply(
            self.http.get(format!("{}/v1/payments?merchantReference={reference}", self.base())).bearer_auth(DEMO_KEY),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["data"].as_array().cloned().unwrap_or_default()
    }

    /// The payer approves on the au screen (the sandbox process), which notifies the gateway.
    async fn approve(&self, created: &Value) -> String {
        let (status, page) = pay_at(&self.http, &self.sandbox_base, created, "approve").await.expect("pay");
        assert_eq!(status, 200, "{page}");
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(self.payment(&id).await["status"], "authorized");
        id
    }

    async fn authorized(&self, reference: &str, amount: u32) -> String {
        let r = reply(self.create_request(reference, amount, &format!("create-{reference}"))).await;
        assert_eq!(r.status, 201, "{}", r.text);
        self.approve(&r.json()).await
    }

    async fn sbps_calls(&self) -> Vec<Value> {
        let r = self.http.get(format!("{}/sandbox/sbps/control/calls", self.sandbox_base)).send().await.expect("calls");
        r.json::<Value>().await.expect("json")["calls"].as_array().cloned().unwrap_or_default()
    }

    /// The calls SBPS performed (money moved) among `calls`, as (function, amount; 0 for the
    /// whole of what remains).
    fn performed(calls: &[Value]) -> Vec<(String, u64)> {
        calls
            .iter()
            .filter(|c| c["performed"] == true)
            .map(|c| (c["functionId"].as_str().unwrap_or("").to_owned(), c["amount"].as_u64().unwrap_or(0)))
            .collect()
    }

    /// Waits until SBPS has seen more than `before` calls.
    async fn sbps_saw_call(&self, before: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.sbps_calls().await.len() <= before {
            assert!(Instant::now() < deadline, "SBPS saw no call within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The payment's one operation of `op_kind`, as a read answers it.
    async fn operation(&self, id: &str, op_kind: &str) -> Value {
        let payment = self.payment(id).await;
        let ops: Vec<Value> = payment["operations"]
            .as_array()
            .expect("operations")
            .iter()
            .filter(|o| o["type"] == op_kind)
            .cloned()
            .collect();
        assert_eq!(ops.len(), 1, "one {op_kind} operation: {payment}");
        ops[0].clone()
    }

    /// The audit binary over the whole store, reconciled with the sandbox's call log.
    async fn audit(&self) -> (i32, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let calls = dir.path().join("calls.json");
        std::fs::write(&calls, json!({"calls": self.sbps_calls().await}).to_string()).expect("write calls");
        let mut command = Command::new(env!("CARGO_BIN_EXE_audit"));
        command.env_clear().arg("--sbps-calls").arg(&calls);
        for (name, value) in self.env() {
            command.env(name, value);
        }
        let out = command.output().expect("run the audit");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_gateway();
    }
}

impl World {
    /// Sends `request`, kills the gateway with `SIGKILL` once the request has stopped at
    /// `crash_point`, checks that no answer came back, and starts the gateway again (without a
    /// crash point). Answers when the kill happened.
    async fn killed_at(&mut self, crash_point: &str, request: reqwest::RequestBuilder) -> Instant {
        let request = tokio::spawn(request.send());
        self.crash_point_reached(crash_point).await;
        self.killed(request).await
    }

    /// Kills the gateway while `request` waits for its answer; starts it again.
    async fn killed(&mut self, request: tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>>) -> Instant {
        let killed_at = Instant::now();
        self.kill_gateway();
        if let Ok(r) = request.await.expect("request task") {
            panic!("the killed gateway answered {}", r.status());
        }
        self.start_gateway(None);
        killed_at
    }
}

/// (c) Killed in the middle of a create, before its one write and after it.
async fn killed_in_a_create(w: &mut World) {
    // Before the write: nothing was stored; the retry creates it, once.
    w.restart_gateway(Some("create-before-write"));
    w.killed_at("create-before-write", w.create_request("crash-c1", 2_000, "key-c1")).await;
    assert!(w.with_reference("crash-c1").await.is_empty(), "nothing written before the kill");
    let retried = reply(w.create_request("crash-c1", 2_000, "key-c1")).await;
    assert_eq!(retried.status, 201, "{}", retried.text);
    let again = reply(w.create_request("crash-c1", 2_000, "key-c1")).await;
    assert_eq!((again.status, again.json()["id"].clone()), (201, retried.json()["id"].clone()));
    assert_eq!(w.with_reference("crash-c1").await.len(), 1);
    let id = w.approve(&retried.json()).await;
    let before = w.sbps_calls().await.len();
    let captured = reply(w.op_request(&id, "captures", None, "key-c1-capture")).await;
    assert_eq!(captured.status, 201, "{}", captured.text);
    assert_eq!(World::performed(&w.sbps_calls().await[before..]), [("ST02-00201-402".into(), 0)]);

    // After the write, before the answer: the retry with the key answers the stored payment.
    w.restart_gateway(Some("create-after-write"));
    w.killed_at("create-after-write", w.create_request("crash-c2", 3_000, "key-c2")).await;
    let stored = w.with_reference("crash-c2").await;
    assert_eq!(stored.len(), 1, "the create committed before the kill");
    let retried = reply(w.create_request("crash-c2", 3_000, "key-c2")).await;
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(retried.json()["id"], stored[0]["id"], "the retry answers the payment written before the kill");
    assert_eq!(w.with_reference("crash-c2").await.len(), 1);
    let id = w.approve(&retried.json()).await;
    let before = w.sbps_calls().await.len();
    let captured = reply(w.op_request(&id, "captures", Some(1_000), "key-c2-capture")).await;
    assert_eq!(captured.status, 201, "{}", captured.text);
    assert_eq!(World::performed(&w.sbps_calls().await[before..]), [("ST02-00201-402".into(), 1_000)]);
}

/// (a) Killed after the write-ahead, before the SBPS call went out: the retry with the same
/// key (once the lock window has passed) sends it, once.
async fn killed_after_the_write_ahead(w: &mut World) {
    w.restart_gateway(Some("after-write-ahead"));
    let id = w.authorized("crash-a1", 5_000).await;
    let before = w.sbps_calls().await.len();
    let killed_at = w.killed_at("after-write-ahead", w.op_request(&id, "captures", Some(3_000), "key-a1")).await;

    assert_eq!(w.operation(&id, "capture").await["status"], "pending", "written ahead");
    assert_eq!(w.sbps_calls().await.len(), before, "SBPS never heard of it");
    let early = reply(w.op_request(&id, "captures", Some(3_000), "key-a1")).await;
    assert_eq!(early.status, 409, "within the lock window the call may still be in flight: {}", early.text);
    tokio::time::sleep(LOCK_WINDOW.saturating_sub(killed_at.elapsed())).await;
    let retried = reply(w.op_request(&id, "captures", Some(3_000), "key-a1")).await;
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(retried.json()["status"], "succeeded");
    let payment = w.payment(&id).await;
    assert_eq!(
        (payment["status"].clone(), payment["capturedAmount"]["value"].clone()),
        (json!("captured"), json!(3_000))
    );
    assert_eq!(World::performed(&w.sbps_calls().await[before..]), [("ST02-00201-402".into(), 3_000)]);
}

/// (a) Killed while SBPS holds the answer of a call it performed: a read after the lock window
/// sends it again, SBPS answers "already done", and the cancel succeeds, once.
async fn killed_while_sbps_answers(w: &mut World) {
    w.restart_gateway(None);
    let id = w.authorized("crash-a2", 4_000).await;
    let before = w.sbps_calls().await.len();
    let held = w
        .http
        .post(format!("{}/sandbox/sbps/control/faults", w.sandbox_base))
        .json(&json!({"faults": [{"kind": "delay", "millis": 900}]}))
        .send()
        .await
        .expect("fault");
    assert_eq!(held.status(), 200);
    let request = tokio::spawn(w.op_request(&id, "cancels", None, "key-a2").send());
    w.sbps_saw_call(before).await;
    let killed_at = w.killed(request).await;
    assert_eq!(World::performed(&w.sbps_calls().await[before..]), [("ST02-00303-402".into(), 0)]);

    assert_eq!(w.operation(&id, "cancel").await["status"], "pending", "the answer never reached the gateway");
    tokio::time::sleep(LOCK_WINDOW.saturating_sub(killed_at.elapsed())).await;
    let read = w.payment(&id).await;
    assert_eq!(read["status"], "cancelled", "the read recovered it: {read}");
    let calls = w.sbps_calls().await;
    assert_eq!(calls.len(), before + 2, "one resend");
    assert_eq!(World::performed(&calls[before..]), [("ST02-00303-402".into(), 0)], "cancelled once");
    let retried = reply(w.op_request(&id, "cancels", None, "key-a2")).await;
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(retried.json()["status"], "succeeded");
}

/// (b) Killed after SBPS answered, before the settle: the retry with the same key sends the
/// call again, SBPS answers "already done", and the refund succeeds, once.
async fn killed_before_the_settle(w: &mut World) {
    w.restart_gateway(None);
    let id = w.authorized("crash-b", 6_000).await;
    let captured = reply(w.op_request(&id, "captures", None, "key-b-capture")).await;
    assert_eq!(captured.status, 201, "{}", captured.text);
    w.restart_gateway(Some("after-provider-answer"));
    let before = w.sbps_calls().await.len();
    let killed_at = w.killed_at("after-provider-answer", w.op_request(&id, "refunds", None, "key-b")).await;
    assert_eq!(World::performed(&w.sbps_calls().await[before..]), [("ST02-00303-402".into(), 0)]);

    assert_eq!(w.operation(&id, "refund").await["status"], "pending", "SBPS's answer was never settled");
    tokio::time::sleep(LOCK_WINDOW.saturating_sub(killed_at.elapsed())).await;
    let retried = reply(w.op_request(&id, "refunds", None, "key-b")).await;
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_eq!(retried.json()["status"], "succeeded");
    let payment = w.payment(&id).await;
    assert_eq!(
        (payment["status"].clone(), payment["refundedAmount"]["value"].clone()),
        (json!("refunded"), json!(6_000))
    );
    let calls = w.sbps_calls().await;
    assert_eq!(calls.len(), before + 2, "one resend");
    assert_eq!(World::performed(&calls[before..]), [("ST02-00303-402".into(), 0)], "refunded once");
}

async fn every_crash(store: Store) {
    let mut w = World::new(store);
    w.start_gateway(None);
    killed_in_a_create(&mut w).await;
    killed_after_the_write_ahead(&mut w).await;
    killed_while_sbps_answers(&mut w).await;
    killed_before_the_settle(&mut w).await;

    let (status, report) = w.audit().await;
    assert_eq!(status, 0, "the audit after the crashes:\n{report}");
    assert!(report.contains("audited 5 payments"), "{report}");
    w.kill_gateway();
    let lines = w.lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(lines.iter().any(|l| l.contains("listening")), "the processes' output was read");
    for secret in [DEMO_HASH_KEY, DEMO_KEY] {
        assert!(!lines.iter().any(|l| l.contains(secret)), "a secret in a log line");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_on_the_embedded_store() {
    every_crash(Store::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_on_dynamodb_local() {
    every_crash(Store::dynamo()).await;
}
