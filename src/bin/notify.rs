//! Lambda: `POST /v1/notifications/sbps`, SBPS's result notification.
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::run_lambda(&[kantan::http::Function::Notify]).await
}
