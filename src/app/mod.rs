//! The composition root: reads the settings once per cold start, builds the store, the SBPS
//! client, the service and the webhook machinery, and runs a Lambda function (an HTTP route's,
//! or a job's). Binaries are wiring only. Beside it: the AWS SDK's set-up ([`aws`]), the secrets
//! read at cold start ([`secrets`]), the JSON logs ([`logs`]) and which function a deployed
//! binary serves ([`handler`]). `local` composes its own app from the same parts
//! ([`crate::local`]).

pub mod aws;
pub mod handler;
pub mod logs;
pub mod secrets;

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::clock::Clock;
use crate::config::{AccountSource, Settings, StoreConfig};
use crate::http::{App, Function, handle};
use crate::metrics::Metrics;
use crate::sbps::api::SbpsClient;
use crate::service::webhooks::Webhooks;
use crate::service::{Policy, Service};
use crate::store::{DynamoStore, Persistence};
use crate::webhooks::queue::{DeliveryQueue, SqsQueue};
use crate::webhooks::{AddressPolicy, Sender};

use crate::Error;
pub use aws::{aws_timeouts, sdk_config};
pub use logs::{init_tracing, json_logs};
pub use secrets::{load_accounts, load_master_key};

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
    let policy = AddressPolicy::for_gateway(settings.is_local(), settings.webhook_loopback_only);
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
            lambda_runtime::run(lambda_runtime::service_fn(move |_: LambdaEvent<serde_json::Value>| {
                let app = Arc::clone(&app);
                async move { crate::jobs::sweep::sweep(&app.service).await.map_err(|e| Error::from(e.to_string())) }
            }))
            .await
        }
    }
}
