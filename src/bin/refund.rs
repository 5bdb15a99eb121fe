//! Lambda: `POST /v1/payments/{id}/refunds`.
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::run_lambda(&[kantan::http::Function::Refund]).await
}
