//! The local server over real HTTP: the same handlers, and data that survives a restart.

use crate::common;

use std::sync::Arc;

use common::*;
use kantan::store::SqliteStore;

async fn start_server(path: &std::path::Path) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let app = Arc::new(app_on(SqliteStore::open(path).expect("open")));
    let listener = kantan::local::server::bind(0).await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    (base, tokio::spawn(kantan::local::server::serve(app, None, listener)))
}

#[tokio::test]
async fn the_seed_request_over_http_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("nested/local.sqlite");
    let client = reqwest::Client::new();

    let (base, server) = start_server(&db).await;
    let created = client
        .post(format!("{base}/v1/payments"))
        .bearer_auth(DEMO_KEY)
        .header("content-type", "application/json")
        .body(seed_body("c5211d6b-0178-49f8-a06b-69df097a712f").to_string())
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.expect("json");
    let tracking = created["trackingUrl"].as_str().expect("trackingUrl").to_owned();
    let track = client.get(format!("{base}{tracking}")).send().await.expect("track");
    assert_eq!(track.status(), 200);

    let big = client
        .post(format!("{base}/v1/payments"))
        .bearer_auth(DEMO_KEY)
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .expect("big");
    assert_eq!(big.status(), 413);
    server.abort();
    let _ = server.await;

    let (base, server) = start_server(&db).await;
    let id = created["id"].as_str().expect("id");
    let again = client.get(format!("{base}/v1/payments/{id}")).bearer_auth(DEMO_KEY).send().await.expect("get");
    assert_eq!(again.status(), 200);
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(again["merchantReference"], "c5211d6b-0178-49f8-a06b-69df097a712f");
    server.abort();
}
