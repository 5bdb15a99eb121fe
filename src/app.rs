//! The composition root: reads the settings once, builds the store and the app, and runs it as
//! a Lambda function or as the local server. Binaries are wiring only.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

use crate::clock::Clock;
use crate::config::{Settings, StoreConfig};
use crate::http::{App, Function, handle};
use crate::metrics::Metrics;
use crate::sbps::api::SbpsClient;
use crate::store::SqliteStore;

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

/// Builds the app from the environment.
pub async fn app_from_env() -> Result<App<SqliteStore>, Error> {
    let settings = Settings::from_env()?;
    let accounts = settings.load_local_accounts()?;
    let store = match &settings.store {
        StoreConfig::Sqlite { path } => SqliteStore::open(path)?,
        StoreConfig::DynamoDb { table } => {
            return Err(format!("TABLE_NAME={table}: the DynamoDB store is not available in this build").into());
        }
    };
    let metrics = Metrics::default();
    let sbps = SbpsClient::new(settings.sbps_connect_timeout, settings.sbps_timeout, metrics.clone())?;
    Ok(App { store, accounts, settings, clock: Clock::system(), metrics, sbps })
}

/// Runs a Lambda function serving `functions`' routes.
pub async fn run_lambda(functions: &'static [Function]) -> Result<(), Error> {
    init_tracing();
    let app = Arc::new(app_from_env().await?);
    lambda_http::run(service_fn(move |req: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(handle(&app, req, Some(functions)).await) }
    }))
    .await
}
