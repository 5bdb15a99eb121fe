//! The composition root: reads the settings once, builds the store, the SBPS client and the
//! app, and runs it as a Lambda function or as the local server. Binaries are wiring only.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::clock::Clock;
use crate::config::{AccountSource, Accounts, Settings, StoreConfig, WebhookKeySource};
use crate::http::{App, Function, handle};
use crate::metrics::Metrics;
use crate::sbps::api::SbpsClient;
use crate::service::{Policy, Service};
use crate::store::{DynamoStore, Persistence};
use crate::webhooks::queue::{DeliveryQueue, SqsQueue};
use crate::webhooks::{MasterKey, Sender, Webhooks};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// JSON logs, one line per event; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = json_logs(std::io::stdout, "info").try_init();
    // A panic's text and source location never reach the logs: a request must not be able to
    // write either there. (Handlers do not panic on input; this is the last line.)
    std::panic::set_hook(Box::new(|_| tracing::error!("a task panicked; details withheld")));
}

/// One JSON line per event, its fields at the top level, and the current span's fields under
/// `span`. Inside a Lambda invocation that span is the runtime's own ("Lambda runtime
/// invoke"), so every line a request writes carries `span.requestId` (what the API's access
/// log calls `lambdaRequestId`) and `span.xrayTraceId` (the X-Ray trace). `RUST_LOG` filters,
/// else `default_level`.
pub fn json_logs<W>(writer: W, default_level: &str) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_ansi(false)
        .with_writer(writer)
        .finish()
        .with(log_filter(std::env::var("RUST_LOG").ok().as_deref(), default_level))
}

/// `RUST_LOG`'s directives (`info`, `kantan=debug,warn`: a level per target, as `env_logger`
/// reads them), else `default_level`. Span and field filters are not taken: the regex engine
/// they need would be the largest part of the logger in every function's binary.
fn log_filter(rust_log: Option<&str>, default_level: &str) -> tracing_subscriber::filter::Targets {
    rust_log
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| directives.parse().ok())
        .or_else(|| default_level.parse().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO))
}

/// The AWS SDK configuration, loaded once per cold start. With `AWS_ENDPOINT_URL_DYNAMODB`
/// (DynamoDB Local) a region and dummy credentials are set when none are given, so the SDK
/// never wanders off to SSO or the instance metadata address.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_http_client())
        .timeout_config(aws_timeouts());
    // Lambda hands a function its region and its role's credentials in the environment: the
    // SDK's provider chains (profiles, SSO, web identity, container and instance metadata) would
    // only be set up at cold start to find them there.
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() && std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
        if let Ok(region) = std::env::var("AWS_REGION") {
            loader = loader.region(aws_config::Region::new(region));
        }
    }
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "local",
            ));
        }
    }
    loader.load().await
}

/// Every AWS call's limits. DynamoDB answers in milliseconds; a store that accepts a connection
/// and never answers must cost a request seconds, not the function's whole timeout: 1 s to
/// connect, 2 s per attempt, 4 s per operation with its retries. A capture's three store calls
/// and its SBPS call (`SBPS_TIMEOUT_MS`, 15 s) then fit the operation functions' 30 s.
pub fn aws_timeouts() -> aws_config::timeout::TimeoutConfig {
    use std::time::Duration;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(4))
        .build()
}

/// The AWS SDK's HTTPS client, trusting the roots every AWS endpoint chains to (Amazon Trust
/// Services: Amazon Root CA 1 to 4 and its Starfield Services G2 cross-sign), compiled in. The
/// SDK's default reads the whole system certificate store at every cold start (about half of
/// a function's init, BENCHMARKS.md); AWS API traffic needs none of the other roots.
pub fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let mut trust = TrustStore::empty();
    for der in amazon_roots() {
        trust = trust.with_pem_certificate(pem(der));
    }
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Cannot happen with a non-empty store; the SDK's default trust is the fallback.
        Err(_) => {
            aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc)).build_https()
        }
    }
}

/// Amazon Trust Services' roots among Mozilla's (webpki-root-certs), by their subject names.
pub fn amazon_roots() -> impl Iterator<Item = &'static [u8]> {
    const NAMES: [&[u8]; 2] = [b"Amazon Root CA ", b"Starfield Services Root Certificate Authority - G2"];
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| c.as_ref())
        // memmem, not a memcmp per window: ~150 roots of ~1.5 KB each were ~0.5 M comparisons
        // at every cold start (the biggest single cost of init beyond hello-world).
        .filter(|der| NAMES.iter().any(|name| memchr::memmem::find(der, name).is_some()))
}

fn pem(der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out.into_bytes()
}

/// The processing accounts: from Secrets Manager (`ACCOUNTS_SECRET_ID`, the secret string is
/// the JSON list of accounts), a file, inline JSON, or the demo account.
pub async fn load_accounts(settings: &Settings, aws: Option<&aws_config::SdkConfig>) -> Result<Accounts, Error> {
    let AccountSource::Secret(secret_id) = &settings.accounts else {
        return Ok(settings.load_local_accounts()?);
    };
    let json = read_secret(aws, secret_id, "the accounts secret").await?;
    let accounts = Accounts::from_json(&json)?;
    tracing::info!(secret = %secret_id, accounts = accounts.all().count(), "accounts loaded from Secrets Manager");
    Ok(accounts)
}

/// The webhook master key: from Secrets Manager (`WEBHOOK_MASTER_SECRET_ID`, the secret
/// string is the key), inline (`WEBHOOK_MASTER_KEY`), or the published demo key, which only
/// `local` may use (`allow_demo`). At least 32 characters.
pub async fn load_master_key(
    settings: &Settings,
    aws: Option<&aws_config::SdkConfig>,
    allow_demo: bool,
) -> Result<MasterKey, Error> {
    // The key is the secret's text itself (the template generates 64 random letters and
    // digits), at least 32 bytes of it.
    let decode = |text: &str| -> Result<MasterKey, Error> { Ok(MasterKey::new(text.trim().as_bytes().to_vec())?) };
    match &settings.webhook_key {
        WebhookKeySource::Inline(key) => decode(key.expose()),
        WebhookKeySource::Demo if allow_demo => {
            tracing::info!("no WEBHOOK_MASTER_SECRET_ID or WEBHOOK_MASTER_KEY: signing webhooks with the demo key");
            Ok(MasterKey::demo())
        }
        WebhookKeySource::Demo => {
            let why = "no WEBHOOK_MASTER_SECRET_ID (or WEBHOOK_MASTER_KEY): a Lambda function never signs with the \
                       published demo key";
            tracing::error!(reason = why, "refusing to start");
            Err(why.into())
        }
        WebhookKeySource::Secret(id) => decode(&read_secret(aws, id, "the webhook master key secret").await?),
    }
}

/// The string of Secrets Manager secret `id` (`what` names it in errors), with `aws` or the
/// SDK configuration loaded here.
async fn read_secret(aws: Option<&aws_config::SdkConfig>, id: &str, what: &str) -> Result<String, Error> {
    let loaded;
    let aws = match aws {
        Some(c) => c,
        None => {
            loaded = sdk_config().await;
            &loaded
        }
    };
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let secret = client.get_secret_value().secret_id(id).send().await.map_err(|e| {
        format!("could not read {what} {id}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
    })?;
    Ok(secret.secret_string().ok_or_else(|| format!("{what} has no SecretString"))?.to_owned())
}

/// The webhook machinery on `store`, queueing to SQS (`WEBHOOK_QUEUE_URL`) on AWS.
pub async fn aws_webhooks<S: Persistence>(
    settings: &Settings,
    store: S,
    aws: &aws_config::SdkConfig,
    clock: Clock,
    metrics: Metrics,
    signs: bool,
) -> Result<Webhooks<S, DeliveryQueue>, Error> {
    let Some(url) = settings.webhook_queue_url.clone() else {
        let why = "no WEBHOOK_QUEUE_URL: the webhook functions need the delivery queue";
        tracing::error!(reason = why, "refusing to start");
        return Err(why.into());
    };
    // Only the functions that show or use endpoint secrets read the master key.
    let master_key = if signs { Some(load_master_key(settings, Some(aws), false).await?) } else { None };
    let queue = DeliveryQueue::Sqs(SqsQueue::new(aws_sdk_sqs::Client::new(aws), url));
    let policy = settings.webhook_address_policy();
    Ok(Webhooks { store, queue, sender: Sender::new(policy), master_key, clock, metrics })
}

/// Builds the app on `store` from `settings`.
pub async fn build_app<S: Persistence>(
    settings: Settings,
    store: S,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<App<S>, Error> {
    let accounts = load_accounts(&settings, aws).await?;
    let metrics = Metrics::default();
    let sbps = SbpsClient::new(settings.sbps_connect_timeout, settings.sbps_timeout, metrics.clone());
    let policy = Policy::new(settings.sbps_timeout, settings.expiry_grace);
    let service = Service { store, provider: sbps, accounts, clock: Clock::system(), metrics, policy };
    Ok(App::new(service, settings))
}

/// A Lambda function never serves the demo account (its keys are published): with no
/// accounts source it refuses to start, and says why.
pub fn require_accounts_source(settings: &Settings) -> Result<(), Error> {
    if settings.accounts == AccountSource::Demo {
        let why = "no accounts source: set ACCOUNTS_SECRET_ID (or ACCOUNTS_FILE / ACCOUNTS_JSON); \
                   a Lambda function never serves the local demo account";
        tracing::error!(reason = why, "refusing to start");
        return Err(why.into());
    }
    Ok(())
}

/// The DynamoDB store of `table` for `local` and tools; against a local endpoint (DynamoDB
/// Local) the table is created if it is missing.
pub async fn dynamo_store(table: &str, aws: &aws_config::SdkConfig) -> Result<DynamoStore, Error> {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), table);
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        store.ensure_table().await?;
    }
    Ok(store)
}

/// Runs a Lambda function serving `functions`' routes, on the store the environment selects.
pub async fn run_lambda(functions: &'static [Function]) -> Result<(), Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    require_accounts_source(&settings)?;
    match settings.store.clone() {
        #[cfg(feature = "embedded")]
        StoreConfig::Sqlite { path } => {
            let store = crate::store::SqliteStore::open(&path)?;
            let mut app = build_app(settings.clone(), store.clone(), None).await?;
            if functions.contains(&Function::Webhooks) {
                let (clock, metrics) = (app.service.clock.clone(), app.service.metrics.clone());
                app =
                    app.with_webhooks(aws_webhooks(&settings, store, &sdk_config().await, clock, metrics, true).await?);
            }
            serve_lambda(app, functions).await
        }
        #[cfg(not(feature = "embedded"))]
        StoreConfig::Sqlite { .. } => {
            let why = "no TABLE_NAME, and this build has no embedded store (cargo feature `embedded`)";
            tracing::error!(reason = why, "refusing to start");
            Err(why.into())
        }
        StoreConfig::DynamoDb { table } => {
            // The table is the template's: a function never creates it.
            let aws = sdk_config().await;
            let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
            let mut app = build_app(settings.clone(), store.clone(), Some(&aws)).await?;
            if functions.contains(&Function::Webhooks) {
                let (clock, metrics) = (app.service.clock.clone(), app.service.metrics.clone());
                app = app.with_webhooks(aws_webhooks(&settings, store, &aws, clock, metrics, true).await?);
            }
            serve_lambda(app, functions).await
        }
    }
}

async fn serve_lambda<S: Persistence>(app: App<S>, functions: &'static [Function]) -> Result<(), Error> {
    // The SBPS client is built on first use, not at cold start: most invocations of capture,
    // cancel, refund and track never call SBPS before their process is recycled, and the build
    // (Mozilla's roots parsed into a TLS config, about 0.5 ms, BENCHMARKS.md) is small beside the
    // first call's own TLS handshake with SBPS.
    let app = Arc::new(app);
    lambda_http::run(service_fn(move |req: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(handle(&app, req, Some(functions)).await) }
    }))
    .await
}

/// The functions that are not HTTP routes, and what each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The table's stream: outbox events become deliveries.
    Dispatch,
    /// The delivery queue: one attempt per message.
    Deliver,
    /// Every minute: expire and recover what is due.
    Sweep,
}

/// The audit (`audit` binary, infra/RUNBOOK.md) of every payment on the store the environment
/// selects, as of now, reconciled with SBPS's call log when given. Reads only.
pub async fn run_audit(sbps_calls: Option<&[crate::audit::SbpsCall]>) -> Result<crate::audit::Report, Error> {
    let settings = Settings::from_env()?;
    let lock_window = Policy::new(settings.sbps_timeout, settings.expiry_grace).lock_window;
    let now = Clock::system().now();
    match settings.store.clone() {
        #[cfg(feature = "embedded")]
        StoreConfig::Sqlite { path } => {
            if !path.exists() {
                return Err(format!("no embedded store at {}", path.display()).into());
            }
            let store = crate::store::SqliteStore::open(&path)?;
            let accounts = load_accounts(&settings, None).await?;
            Ok(crate::audit::run(&store, &accounts, lock_window, now, sbps_calls).await?)
        }
        #[cfg(not(feature = "embedded"))]
        StoreConfig::Sqlite { .. } => {
            Err("no TABLE_NAME, and this build has no embedded store (cargo feature `embedded`)".into())
        }
        StoreConfig::DynamoDb { table } => {
            let aws = sdk_config().await;
            let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
            let accounts = load_accounts(&settings, Some(&aws)).await?;
            Ok(crate::audit::run(&store, &accounts, lock_window, now, sbps_calls).await?)
        }
    }
}

/// Runs the Lambda function of `job` on the store the environment selects.
pub async fn run_job(job: Job) -> Result<(), Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    match settings.store.clone() {
        #[cfg(feature = "embedded")]
        StoreConfig::Sqlite { path } => {
            let store = crate::store::SqliteStore::open(&path)?;
            serve_job(job, settings, store, None).await
        }
        #[cfg(not(feature = "embedded"))]
        StoreConfig::Sqlite { .. } => {
            let why = "no TABLE_NAME, and this build has no embedded store (cargo feature `embedded`)";
            tracing::error!(reason = why, "refusing to start");
            Err(why.into())
        }
        StoreConfig::DynamoDb { table } => {
            let aws = sdk_config().await;
            let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
            serve_job(job, settings, store, Some(aws)).await
        }
    }
}

async fn serve_job<S: Persistence>(
    job: Job,
    settings: Settings,
    store: S,
    aws: Option<aws_config::SdkConfig>,
) -> Result<(), Error> {
    use aws_lambda_events::event::dynamodb::Event as StreamBatch;
    use aws_lambda_events::event::sqs::SqsEvent;
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    let aws = match aws {
        Some(aws) => aws,
        None => sdk_config().await,
    };
    match job {
        Job::Dispatch => {
            let hooks =
                Arc::new(aws_webhooks(&settings, store, &aws, Clock::system(), Metrics::default(), false).await?);
            lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<StreamBatch>| {
                let hooks = Arc::clone(&hooks);
                async move { Ok::<_, Error>(crate::jobs::dispatch::dispatch_batch(&hooks, &event.payload).await) }
            }))
            .await
        }
        Job::Deliver => {
            let hooks = aws_webhooks(&settings, store, &aws, Clock::system(), Metrics::default(), true).await?;
            let DeliveryQueue::Sqs(queue) = hooks.queue.clone() else {
                return Err("deliver needs the SQS queue".into());
            };
            hooks.sender.warm()?;
            let (hooks, queue) = (Arc::new(hooks), Arc::new(queue));
            lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<SqsEvent>| {
                let (hooks, queue) = (Arc::clone(&hooks), Arc::clone(&queue));
                async move { Ok::<_, Error>(crate::jobs::deliver::deliver_batch(&hooks, &queue, &event.payload).await) }
            }))
            .await
        }
        Job::Sweep => {
            require_accounts_source(&settings)?;
            let app = Arc::new(build_app(settings, store, Some(&aws)).await?);
            app.service.provider.warm()?;
            // The schedule's payload (EventBridge Scheduler's, or an EventBridge rule's) is not
            // read: every invocation sweeps what is due.
            lambda_runtime::run(lambda_runtime::service_fn(move |_: LambdaEvent<serde_json::Value>| {
                let app = Arc::clone(&app);
                async move {
                    let report = app.service.sweep(SWEEP_MINUTES_PER_RUN).await.map_err(|e| e.to_string())?;
                    Ok::<_, Error>(serde_json::json!({
                        "minutes": report.minutes,
                        "expired": report.expired,
                        "settled": report.settled,
                        "stillPending": report.still_pending,
                        "errors": report.errors,
                        "lagMinutes": report.lag_minutes,
                    }))
                }
            }))
            .await
        }
    }
}

/// How many whole minutes one scheduled sweep covers at most (a sweep that fell behind
/// catches up this fast; 8 queries a minute on DynamoDB).
pub const SWEEP_MINUTES_PER_RUN: u32 = 60;

/// Runs every route and the SBPS sandbox on `127.0.0.1:$PORT`.
#[cfg(feature = "sandbox")]
pub async fn run_local() -> Result<(), Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    match settings.store.clone() {
        StoreConfig::Sqlite { path } => {
            serve_local(build_app(settings, crate::store::SqliteStore::open(&path)?, None).await?).await
        }
        StoreConfig::DynamoDb { table } => {
            let aws = sdk_config().await;
            let store = dynamo_store(&table, &aws).await?;
            serve_local(build_app(settings, store, Some(&aws)).await?).await
        }
    }
}

/// Runs the SBPS sandbox alone on `127.0.0.1:$PORT`, for the accounts the environment
/// configures (as `local` reads them), on the system clock. A gateway points at it with
/// `SANDBOX_BASE_URL` (the demo account) or its accounts' SBPS URLs.
#[cfg(feature = "sandbox")]
pub async fn run_sandbox() -> Result<(), Error> {
    use crate::sbps::sandbox::Sandbox;
    init_tracing();
    let settings = Settings::from_env()?;
    let accounts = load_accounts(&settings, None).await?;
    let sandbox = Sandbox::new(crate::clock::Clock::system(), Sandbox::merchants_of(&accounts))?;
    let listener = crate::local::bind(settings.port).await?;
    tracing::info!(address = %listener.local_addr()?, "SBPS sandbox listening");
    crate::local::serve_sandbox(Arc::new(sandbox), listener).await?;
    Ok(())
}

#[cfg(feature = "sandbox")]
async fn serve_local<S: crate::background::LocalOutbox>(app: App<S>) -> Result<(), Error> {
    use crate::sbps::sandbox::Sandbox;
    app.service.provider.warm()?;
    let app = crate::background::with_local_webhooks(app).await?;
    let sandbox = Sandbox::new(app.service.clock.clone(), Sandbox::merchants_of(&app.service.accounts))?;
    let listener = crate::local::bind(app.settings.port).await?;
    tracing::info!(address = %listener.local_addr()?, store = ?app.settings.store, "local gateway and SBPS sandbox listening");
    let app = Arc::new(app);
    let background = tokio::spawn(crate::background::run(Arc::clone(&app)));
    let served = crate::local::serve(app, Some(Arc::new(sandbox)), listener).await;
    background.abort();
    served?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_written_inside_an_invocation_carries_its_request_and_trace_ids() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = super::json_logs(move || writer.clone(), "info");
        let mut context = lambda_http::Context::default();
        context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
        context.xray_trace_id =
            Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before any invocation");
            let span = lambda_http::lambda_runtime::layers::trace::request_span(&context);
            let _inside = span.enter();
            tracing::info!(route = "capture", status = 201u16, "request");
        });
        let text = String::from_utf8(captured.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0].get("span"), None, "no invocation, no span");
        let request = &lines[1];
        assert_eq!(request["message"], "request");
        assert_eq!(request["route"], "capture", "event fields stay at the top level");
        assert_eq!(request["span"]["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(
            request["span"]["xrayTraceId"],
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
        );
        assert_eq!(request.get("spans"), None, "one span object, not the list");
    }

    #[test]
    fn the_aws_trust_store_holds_amazon_trust_services_roots() {
        let roots: Vec<&[u8]> = super::amazon_roots().collect();
        assert_eq!(roots.len(), 5, "Amazon Root CA 1-4 and Starfield Services Root CA G2");
        for n in 1..=4 {
            let name = format!("Amazon Root CA {n}");
            assert!(roots.iter().any(|d| d.windows(name.len()).any(|w| w == name.as_bytes())), "{name}");
        }
    }

    #[test]
    fn pem_frames_the_der_exactly() {
        use base64::Engine;
        for der in super::amazon_roots() {
            let pem = String::from_utf8(super::pem(der)).unwrap_or_default();
            let lines: Vec<&str> = pem.lines().collect();
            assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
            assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
            assert!(lines.iter().all(|l| l.len() <= 64));
            let body: String = lines[1..lines.len() - 1].concat();
            assert_eq!(base64::engine::general_purpose::STANDARD.decode(body).ok().as_deref(), Some(der));
        }
    }

    #[test]
    fn rust_log_takes_a_level_per_target_and_falls_back_to_the_default() {
        use tracing::Level;
        let filter = |rust_log: Option<&str>| super::log_filter(rust_log, "info");
        let info = filter(None);
        assert!(info.would_enable("kantan::http", &Level::INFO) && !info.would_enable("kantan::http", &Level::DEBUG));
        assert!(filter(Some("debug")).would_enable("kantan::service", &Level::DEBUG));
        let scoped = filter(Some("kantan=warn,aws_smithy_runtime=debug"));
        assert!(
            !scoped.would_enable("kantan::http", &Level::INFO) && scoped.would_enable("kantan::http", &Level::WARN)
        );
        assert!(scoped.would_enable("aws_smithy_runtime::client", &Level::DEBUG));
        assert!(!scoped.would_enable("hyper", &Level::ERROR), "a target not named is off, as with env_logger");
        for unusable in [Some(""), Some("  "), Some("kantan=loud")] {
            let f = filter(unusable);
            assert!(f.would_enable("kantan", &Level::INFO) && !f.would_enable("kantan", &Level::DEBUG), "{unusable:?}");
        }
    }
}
