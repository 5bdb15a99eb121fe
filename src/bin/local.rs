//! Every route (and, with the SBPS flow, the sandbox) on `127.0.0.1:3000` (`PORT` overrides),
//! on the embedded store.
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), kantan::app::Error> {
    kantan::app::init_tracing();
    let app = kantan::app::app_from_env().await?;
    let sandbox = kantan::sbps::sandbox::Sandbox::new(
        app.clock.clone(),
        kantan::sbps::sandbox::Sandbox::merchants_of(&app.accounts),
    )?;
    let listener = kantan::local::bind(app.settings.port).await?;
    tracing::info!(address = %listener.local_addr()?, "local gateway and SBPS sandbox listening");
    kantan::local::serve(Arc::new(app), Some(Arc::new(sandbox)), listener).await?;
    Ok(())
}
