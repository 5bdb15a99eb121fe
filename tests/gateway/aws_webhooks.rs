//! The AWS path of webhooks against real engines: DynamoDB Local's stream (DescribeStream,
//! GetShardIterator, GetRecords with real INSERT images) handed to `dispatch` as Lambda's
//! event source mapping would (with the template's filter), and `dispatch` / `deliver` sending
//! to, receiving from and changing the visibility of an SQS queue on moto, dead-letter queue
//! and redrive included.

use crate::common;

use std::time::Duration as StdDuration;

use aws_lambda_events::event::dynamodb::Event as StreamBatch;
use aws_lambda_events::event::sqs::SqsEvent;
use common::hooks::{Hooked, hooked_dynamo};
use common::{dynamo, moto};
use kantan::ids::{EndpointId, PaymentId};
use kantan::jobs::deliver::deliver_batch;
use kantan::jobs::dispatch::dispatch_batch;
use kantan::payment::AuditEvent;
use kantan::service::webhooks::Webhooks;
use kantan::store::{DynamoStore, StoreError, WebhookStore};
use kantan::webhooks::queue::{DeliveryQueue, SqsQueue};
use kantan::webhooks::{AddressPolicy, Delivery, DeliveryKey, Endpoint, MasterKey, Sender};
use serde_json::{Value, json};

/// The template's event source filter: inserts of merchant-visible audit events only.
fn filtered(batch: StreamBatch) -> StreamBatch {
    let mut batch = batch;
    batch.records.retain(|r| r.event_name == "INSERT" && r.change.new_image.get("webhookType").is_some());
    batch
}

struct Queues {
    sqs: aws_sdk_sqs::Client,
    main: String,
    main_arn: String,
    dead: String,
}

async fn queues(name: &str) -> Queues {
    let sqs = moto::sqs();
    static QUEUES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = QUEUES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let suffix = format!("{name}-{}-{n}", std::process::id());
    let dead = sqs.create_queue().queue_name(format!("dlq-{suffix}")).send().await.expect("dlq");
    let dead = dead.queue_url().expect("url").to_owned();
    let dead_arn = arn(&sqs, &dead).await;
    let main = sqs
        .create_queue()
        .queue_name(format!("deliveries-{suffix}"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "1")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "2"}).to_string(),
        )
        .send()
        .await
        .expect("queue");
    let main = main.queue_url().expect("url").to_owned();
    let main_arn = arn(&sqs, &main).await;
    Queues { sqs, main, main_arn, dead }
}

async fn arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes");
    attrs.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)).expect("arn").clone()
}

/// Receives what is visible now, as the event Lambda would hand `deliver`.
async fn receive(q: &Queues, url: &str) -> SqsEvent {
    let out = q.sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("receive");
    let records: Vec<Value> = out
        .messages()
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "md5OfBody": m.md5_of_body(),
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": q.main_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}

/// What Lambda does with a batch's answer: deletes every message not reported as failed.
async fn acknowledge(q: &Queues, batch: &SqsEvent, failed: &[String]) {
    for m in &batch.records {
        let id = m.message_id.clone().unwrap_or_default();
        if !failed.contains(&id) {
            q.sqs
                .delete_message()
                .queue_url(&q.main)
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

fn aws_hooks<S: WebhookStore>(h_clock: &kantan::clock::Clock, store: S, q: &Queues) -> Webhooks<S, DeliveryQueue> {
    Webhooks {
        store,
        queue: DeliveryQueue::Sqs(SqsQueue::new(q.sqs.clone(), q.main.clone())),
        sender: Sender::new(AddressPolicy::LOCAL),
        master_key: Some(MasterKey::demo()),
        clock: h_clock.clone(),
        metrics: kantan::metrics::Metrics::silent(),
    }
}

fn sqs_queue(q: &Queues) -> SqsQueue {
    SqsQueue::new(q.sqs.clone(), q.main.clone())
}

async fn setup() -> (Hooked<DynamoStore>, Queues, kantan::local::dynamodb_stream::StreamReader) {
    let h = hooked_dynamo().await;
    let q = queues("flow").await;
    let reader = dynamo::stream_reader(&h.local.app.service.store);
    (h, q, reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_to_queue_to_receiver_with_a_retry_hidden_until_due() {
    let (h, q, mut reader) = setup().await;
    h.register("aws", &["payment.authorized"]).await;
    h.answer("aws", 500, 1).await;
    let hooks = aws_hooks(&h.local.app.service.clock, h.local.app.service.store.clone(), &q);
    let id = h.local.authorized("aws-1", 1000).await;

    let batch = filtered(reader.next_batch().await.expect("stream"));
    assert_eq!(batch.records.len(), 1, "one merchant-visible insert (payment.authorized)");
    assert!(dispatch_batch(&hooks, &batch).await.batch_item_failures.is_empty());

    // The first attempt fails (500): the message is hidden until the next attempt is due.
    let first = receive(&q, &q.main).await;
    assert_eq!(first.records.len(), 1);
    let answer = deliver_batch(&hooks, &sqs_queue(&q), &first).await;
    let failed: Vec<String> = answer.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed.len(), 1, "kept for its retry");
    acknowledge(&q, &first, &failed).await;
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    assert!(receive(&q, &q.main).await.records.is_empty(), "hidden beyond the queue's 1 s visibility timeout");

    // About 5 s later (the schedule's first wait) it is back, and delivered.
    let pid: PaymentId = id.parse().expect("id");
    let delivery = hooks.store.deliveries(&pid).await.expect("deliveries").pop().expect("delivery");
    h.local.app.service.clock.set(delivery.next_attempt_at.expect("next attempt"));
    let mut second = SqsEvent::default();
    for _ in 0..40 {
        tokio::time::sleep(StdDuration::from_millis(250)).await;
        second = receive(&q, &q.main).await;
        if !second.records.is_empty() {
            break;
        }
    }
    assert_eq!(second.records.len(), 1, "visible again when its attempt is due");
    let answer = deliver_batch(&hooks, &sqs_queue(&q), &second).await;
    assert!(answer.batch_item_failures.is_empty());
    acknowledge(&q, &second, &[]).await;
    let arrivals = h.arrivals("aws").await;
    assert_eq!(arrivals.len(), 2);
    assert_eq!(arrivals[0]["id"], arrivals[1]["id"]);
    assert_eq!(arrivals[1]["answered"], 200);
    assert_eq!(arrivals[1]["verified"], true);

    // The stream record replayed (Lambda retries a batch): no second delivery, no message.
    assert!(dispatch_batch(&hooks, &batch).await.batch_item_failures.is_empty());
    assert_eq!(hooks.store.deliveries(&pid).await.expect("deliveries").len(), 1);
    assert!(receive(&q, &q.main).await.records.is_empty());
}

/// A store whose delivery reads fail, as during an outage.
struct Outage<S>(S);

impl<S: WebhookStore> WebhookStore for Outage<S> {
    async fn event(&self, p: &PaymentId, seq: u64) -> Result<Option<AuditEvent>, StoreError> {
        self.0.event(p, seq).await
    }
    async fn create_endpoint(&self, e: &Endpoint, max: usize) -> Result<(), StoreError> {
        self.0.create_endpoint(e, max).await
    }
    async fn endpoints(&self, account: &str) -> Result<Vec<Endpoint>, StoreError> {
        self.0.endpoints(account).await
    }
    async fn endpoint(&self, account: &str, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        self.0.endpoint(account, id).await
    }
    async fn update_endpoint(&self, e: &Endpoint) -> Result<(), StoreError> {
        self.0.update_endpoint(e).await
    }
    async fn delete_endpoint(&self, account: &str, id: &EndpointId) -> Result<bool, StoreError> {
        self.0.delete_endpoint(account, id).await
    }
    async fn insert_delivery(&self, d: &Delivery) -> Result<bool, StoreError> {
        self.0.insert_delivery(d).await
    }
    async fn delivery(&self, _: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
        Err(StoreError::Unavailable("outage".into()))
    }
    async fn update_delivery(&self, d: &Delivery, expected: u32) -> Result<(), StoreError> {
        self.0.update_delivery(d, expected).await
    }
    async fn deliveries(&self, p: &PaymentId) -> Result<Vec<Delivery>, StoreError> {
        self.0.deliveries(p).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_messages_go_to_the_dead_letter_queue_and_redrive_delivers_them() {
    let (h, q, mut reader) = setup().await;
    h.register("dlq", &["payment.authorized"]).await;
    let clock = h.local.app.service.clock.clone();
    let healthy = aws_hooks(&clock, h.local.app.service.store.clone(), &q);
    let broken = aws_hooks(&clock, Outage(h.local.app.service.store.clone()), &q);
    h.local.authorized("dlq-1", 1000).await;
    let batch = filtered(reader.next_batch().await.expect("stream"));
    assert!(dispatch_batch(&healthy, &batch).await.batch_item_failures.is_empty());

    // During the outage every receive fails; after maxReceiveCount (2) SQS moves it aside.
    let mut receives = 0;
    for _ in 0..40 {
        let got = receive(&q, &q.main).await;
        if !got.records.is_empty() {
            receives += 1;
            let answer = deliver_batch(&broken, &sqs_queue(&q), &got).await;
            assert_eq!(answer.batch_item_failures.len(), 1, "reported, so Lambda keeps it");
        }
        let dead = q.sqs.receive_message().queue_url(&q.dead).visibility_timeout(0).send().await.expect("dlq");
        if !dead.messages().is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(300)).await;
    }
    assert_eq!(receives, 2, "received maxReceiveCount times");
    assert!(h.arrivals("dlq").await.is_empty());

    // Redrive (what `aws sqs start-message-move-task` does): back to the queue, delivered.
    let dead = q.sqs.receive_message().queue_url(&q.dead).max_number_of_messages(10).send().await.expect("dlq");
    assert_eq!(dead.messages().len(), 1);
    for m in dead.messages() {
        q.sqs.send_message().queue_url(&q.main).message_body(m.body().unwrap_or_default()).send().await.expect("send");
        q.sqs
            .delete_message()
            .queue_url(&q.dead)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("delete");
    }
    let again = receive(&q, &q.main).await;
    assert_eq!(again.records.len(), 1);
    assert!(deliver_batch(&healthy, &sqs_queue(&q), &again).await.batch_item_failures.is_empty());
    acknowledge(&q, &again, &[]).await;
    let arrivals = h.arrivals("dlq").await;
    assert_eq!(arrivals.len(), 1);
    assert_eq!(arrivals[0]["verified"], true);
}
