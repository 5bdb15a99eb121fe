//! Lambda: `dispatch` (see `kantan::jobs` and DESIGN §8).
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::run_job(kantan::app::Job::Dispatch).await
}
