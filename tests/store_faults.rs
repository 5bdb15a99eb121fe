//! A DynamoDB that does not answer: the store client's limits (`app::aws_timeouts`) turn a
//! black hole (a listener that accepts and never answers) and a refused connection into a 503
//! with `Retry-After` in seconds, never a request hanging until the function's timeout, and
//! nothing is written.

mod common;

use std::time::Duration;

use common::{Call, send};
use kantan::store::{DynamoStore, Store, StoreError};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A store whose endpoint is `endpoint`, with the product's timeouts.
fn store_at(endpoint: &str) -> DynamoStore {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "faults"))
        .endpoint_url(endpoint)
        .timeout_config(kantan::app::aws_timeouts())
        .build();
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "payments")
}

/// Accepts every connection and reads what comes, answering nothing.
async fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            held.push(tokio::spawn(async move {
                let mut sink = [0u8; 4096];
                while socket.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                std::future::pending::<()>().await;
            }));
        }
    });
    url
}

/// A loopback port nothing listens on.
async fn refusing() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_never_answers_is_unavailable_not_a_hang() {
    for endpoint in [black_hole().await, refusing().await] {
        let store = store_at(&endpoint);
        let id = "3MoecWcSpNsGd3YAXkZ9mxsqckQ".parse().expect("id");
        // The guard is far above the 4 s operation limit: it only tells a hang from an answer.
        let read = tokio::time::timeout(Duration::from_secs(30), store.payment(&id)).await;
        match read {
            Err(_) => panic!("{endpoint}: the store call hung past 30 s"),
            Ok(Err(StoreError::Unavailable(_))) => {}
            Ok(other) => panic!("{endpoint}: {other:?}"),
        }

        // Through the API: a read and a create both answer 503 with Retry-After.
        let app = common::app_on(store);
        let get = tokio::time::timeout(Duration::from_secs(30), send(&app, Call::get(&format!("/v1/payments/{id}"))))
            .await
            .expect("no hang");
        assert_eq!(get.status, 503, "{endpoint}: {}", get.text);
        assert_eq!(get.code(), "service_unavailable");
        assert!(get.response.headers().get("retry-after").is_some());
        let create = tokio::time::timeout(
            Duration::from_secs(30),
            send(&app, Call::post("/v1/payments", &common::seed_body("faults-1")).idempotency("faults-1")),
        )
        .await
        .expect("no hang");
        assert_eq!(create.status, 503, "{endpoint}: {}", create.text);
    }
}
