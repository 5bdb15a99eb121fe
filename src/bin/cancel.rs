//! Lambda: `POST /v1/payments/{id}/cancels`.
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::run_lambda(&[kantan::http::Function::Cancel]).await
}
