//! Lambda: the deployed binary of the seven HTTP functions; the template's `Handler` of each
//! (`_HANDLER`) says which it serves (see `kantan::app::handler`).
#[tokio::main]
async fn main() -> Result<(), kantan::Error> {
    kantan::app::handler::run_api().await
}
