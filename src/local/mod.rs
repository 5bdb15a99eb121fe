//! What only a laptop runs (feature `sandbox`): the local server with every route on one port
//! ([`server`]), what runs beside it on the app clock (the outbox, deliveries and the sweeper,
//! [`background`]), the SBPS simulator ([`sandbox`]), the demo shop ([`demo`]), the merchant's
//! webhook receiver that the demo and the tests use ([`receiver`]), and DynamoDB Local's stream
//! read as Lambda reads it ([`dynamodb_stream`]). None of it is compiled into a Lambda function.

pub mod background;
pub mod demo;
pub mod dynamodb_stream;
pub mod fuzzing;
pub mod receiver;
pub mod sandbox;
pub mod server;
pub mod simulator_gate;

use std::sync::Arc;

use crate::Error;
use crate::app::{build_app, dynamo_store, init_tracing, load_accounts, sdk_config};
use crate::clock::Clock;
use crate::config::{Settings, StoreConfig};
use crate::http::App;
use crate::store::SqliteStore;
use sandbox::Sandbox;
use simulator_gate::Simulator;

/// Runs every route on `127.0.0.1:$PORT`, and the SBPS simulator where
/// [`simulator_gate::simulator`] allows it.
pub async fn run_local() -> Result<(), Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    match settings.store.clone() {
        StoreConfig::Sqlite { path } => serve_local(build_app(settings, SqliteStore::open(&path)?, None).await?).await,
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
pub async fn run_sandbox() -> Result<(), Error> {
    init_tracing();
    let settings = Settings::from_env()?;
    let accounts = load_accounts(&settings, None).await?;
    let sandbox = Sandbox::new(Clock::system(), Sandbox::merchants_of(&accounts))?;
    let listener = server::bind(settings.port).await?;
    tracing::info!(address = %listener.local_addr()?, "SBPS sandbox listening");
    server::serve_sandbox(Arc::new(sandbox), listener).await?;
    Ok(())
}

async fn serve_local<S: background::LocalOutbox>(app: App<S>) -> Result<(), Error> {
    let simulator = simulator_gate::simulator(&app.settings, app.service.accounts.all()).map_err(|why| {
        tracing::error!(reason = %why, "refusing to start");
        Error::from(why)
    })?;
    app.service.provider.warm()?;
    let app = background::with_local_webhooks(app).await?;
    let merchants = || Sandbox::merchants_of(&app.service.accounts);
    let sandbox = match simulator {
        Simulator::Off => None,
        Simulator::SharedClock => Some(Arc::new(Sandbox::new(app.service.clock.clone(), merchants())?)),
        Simulator::OwnClock => Some(Arc::new(Sandbox::new(Clock::system(), merchants())?)),
    };
    let listener = server::bind(app.settings.port).await?;
    tracing::info!(address = %listener.local_addr()?, store = ?app.settings.store, simulator = ?simulator, "local gateway listening");
    let app = Arc::new(app);
    let background = tokio::spawn(background::run(Arc::clone(&app)));
    let served = server::serve(app, sandbox, listener).await;
    background.abort();
    served?;
    Ok(())
}
