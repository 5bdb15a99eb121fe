//! Every route and the SBPS sandbox on `127.0.0.1:3000` (`PORT` overrides), on the embedded
//! store (or DynamoDB with `TABLE_NAME`).
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::local::run_local().await
}
