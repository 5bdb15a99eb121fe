//! Lambda: `/v1/webhook-endpoints...`, `GET /v1/payments/{id}/events`, `POST /v1/events/{eventId}/redeliver`.
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::run_lambda(&[kantan::http::Function::Webhooks]).await
}
