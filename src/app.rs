//! The composition root: reads the settings once, builds the store, the SBPS client and the
//! app, and runs it as a Lambda function or as the local server. Binaries are wiring only.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::clock::Clock;
use crate::config::{Settings, StoreConfig};
use crate::http::{App, Function, handle};
use crate::metrics::Metrics;
use crate::sbps::api::SbpsClient;
use crate::sbps::sandbox::Sandbox;
use crate::store::{DynamoStore, SqliteStore, Store};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// JSON logs, one line per event; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_ansi(false)
        .try_init();
}

/// Builds the app on `store` from `settings`.
pub async fn build_app<S: Store>(settings: Settings, store: S) -> Result<App<S>, Error> {
    let accounts = settings.load_local_accounts()?;
    let metrics = Metrics::default();
    let sbps = SbpsClient::new(settings.sbps_connect_timeout, settings.sbps_timeout, metrics.clone())?;
    Ok(App { store, accounts, settings, clock: Clock::system(), metrics, sbps })
}

/// The DynamoDB store of `table`; against a local endpoint (DynamoDB Local) the table is
/// created if it is missing.
pub async fn dynamo_store(table: &str) -> Result<DynamoStore, Error> {
    let store = DynamoStore::new(DynamoStore::client_from_env().await, table);
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        store.ensure_table().await?;
    }
    Ok(store)
}

/// Runs a Lambda function serving `functions`' routes, on the store the environment selects.
pub async fn run_lambda(functions: &'static [Function]) -> Result<(), Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    match settings.store.clone() {
        StoreConfig::Sqlite { path } => {
            serve_lambda(build_app(settings, SqliteStore::open(&path)?).await?, functions).await
        }
        StoreConfig::DynamoDb { table } => {
            serve_lambda(build_app(settings, dynamo_store(&table).await?).await?, functions).await
        }
    }
}

async fn serve_lambda<S: Store>(app: App<S>, functions: &'static [Function]) -> Result<(), Error> {
    let app = Arc::new(app);
    lambda_http::run(service_fn(move |req: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(handle(&app, req, Some(functions)).await) }
    }))
    .await
}

/// Runs every route and the SBPS sandbox on `127.0.0.1:$PORT`.
pub async fn run_local() -> Result<(), Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    match settings.store.clone() {
        StoreConfig::Sqlite { path } => serve_local(build_app(settings, SqliteStore::open(&path)?).await?).await,
        StoreConfig::DynamoDb { table } => serve_local(build_app(settings, dynamo_store(&table).await?).await?).await,
    }
}

async fn serve_local<S: Store>(app: App<S>) -> Result<(), Error> {
    let sandbox = Sandbox::new(app.clock.clone(), Sandbox::merchants_of(&app.accounts))?;
    let listener = crate::local::bind(app.settings.port).await?;
    tracing::info!(address = %listener.local_addr()?, store = ?app.settings.store, "local gateway and SBPS sandbox listening");
    crate::local::serve(Arc::new(app), Some(Arc::new(sandbox)), listener).await?;
    Ok(())
}
