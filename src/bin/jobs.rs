//! Lambda: the deployed binary of dispatch, deliver and sweep; the template's `Handler` of each
//! (`_HANDLER`) says which it serves (see `kantan::app::handler`).
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::handler::run_jobs().await
}
