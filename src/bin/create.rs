//! Lambda: `POST /v1/payments`.
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::run_lambda(&[kantan::http::Function::Create]).await
}
