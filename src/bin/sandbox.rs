//! The SBPS sandbox alone, on `127.0.0.1:$PORT` (default 3000), for the accounts the
//! environment configures: a gateway killed and restarted meets the same SBPS state again.
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::local::run_sandbox().await
}
