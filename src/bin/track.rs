//! Lambda: `GET /v1/payments/{id}` and `GET /v1/tracks/payments/{trackId}`.
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::run_lambda(&[kantan::http::Function::Track]).await
}
