//! moto's AWS emulator (PyPI `moto[sqs]` with its server, installed by `./scripts/test` in
//! `.tools/moto`) for the SQS side of webhook delivery: started once per test binary on a
//! free port and stopped when the test process ends. `MOTO_ENDPOINT` points the tests at one
//! already running. Never skipped: without it the test fails and says why.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Emulator {
    endpoint: String,
    _keepalive: Mutex<Option<(Child, ChildStdin)>>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

fn start() -> Emulator {
    if let Some(endpoint) = std::env::var("MOTO_ENDPOINT").ok().filter(|e| !e.trim().is_empty()) {
        return Emulator { endpoint, _keepalive: Mutex::new(None) };
    }
    let server = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/moto/bin/moto_server");
    assert!(
        server.exists(),
        "moto is not installed ({}): run ./scripts/test, or `python3 -m venv .tools/moto && \
         .tools/moto/bin/pip install 'moto[sqs]==5.1.22' 'flask==3.*' 'flask-cors==6.*'`, or set MOTO_ENDPOINT",
        server.display()
    );
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
    let script =
        format!("'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; cat >/dev/null; kill $m", server.display());
    let mut child = Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().expect("start moto");
    let stdin = child.stdin.take().expect("stdin");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start on port {port} within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Emulator { endpoint: format!("http://127.0.0.1:{port}"), _keepalive: Mutex::new(Some((child, stdin))) }
}

pub fn endpoint() -> String {
    EMULATOR.get_or_init(start).endpoint.clone()
}

pub fn sqs() -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "test"));
    aws_sdk_sqs::Client::from_conf(config.build())
}
