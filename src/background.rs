//! What runs beside `local`'s server, in process and on the app clock, so the sandbox's clock
//! control drives it: the outbox is dispatched (the embedded store's outbox rows, or DynamoDB
//! Local's stream through the same `dispatch` handler as on AWS), due deliveries are attempted
//! from an in-process queue, and the sweeper runs whenever the clock passes a whole minute.
//! Every tick is 200 ms of real time, so anything due is acted on well within 2 seconds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::app::{Error, load_master_key};
use crate::http::App;
use crate::jobs::dispatch::dispatch_batch;
use crate::service::Provider;
use crate::store::dynamodb::stream::StreamReader;
use crate::store::{DynamoStore, Persistence, SqliteStore, due_minute};
use crate::webhooks::deliver::Next;
use crate::webhooks::queue::{DeliveryQueue, LocalQueue};
use crate::webhooks::{AddressPolicy, Sender, Webhooks};

const TICK: Duration = Duration::from_millis(200);
/// Most outbox events dispatched per tick.
const OUTBOX_BATCH: usize = 100;

/// Where `local` finds new outbox events.
pub enum OutboxSource {
    /// The embedded store's `outbox_pending` rows.
    Table(SqliteStore),
    /// DynamoDB Local's stream.
    Stream(Box<StreamReader>),
}

/// A store `local` can run on.
pub trait LocalOutbox: Persistence {
    fn outbox_source(&self) -> impl std::future::Future<Output = OutboxSource> + Send;
}

impl LocalOutbox for SqliteStore {
    async fn outbox_source(&self) -> OutboxSource {
        OutboxSource::Table(self.clone())
    }
}

impl LocalOutbox for DynamoStore {
    async fn outbox_source(&self) -> OutboxSource {
        let aws = crate::app::sdk_config().await;
        let mut config = aws_sdk_dynamodbstreams::config::Builder::from(&aws);
        // DynamoDB Local serves the stream API at its own endpoint.
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            config = config.endpoint_url(endpoint);
        }
        let streams = aws_sdk_dynamodbstreams::Client::from_conf(config.build());
        OutboxSource::Stream(Box::new(StreamReader::new(streams, self.client().clone(), self.table())))
    }
}

/// Gives `app` its webhook machinery for `local`: the in-process queue, the demo key (or the
/// one configured), plain http to loopback allowed when the gateway itself runs on loopback.
pub async fn with_local_webhooks<S: Persistence, P: Provider>(app: App<S, P>) -> Result<App<S, P>, Error> {
    let master_key = load_master_key(&app.settings, None, true).await?;
    let clock = app.service.clock.clone();
    let policy = if app.settings.is_local() { AddressPolicy::LOCAL } else { AddressPolicy::PRODUCTION };
    let webhooks = Webhooks {
        store: app.service.store.clone(),
        queue: DeliveryQueue::Local(LocalQueue::new(clock.clone())),
        sender: Sender::new(policy),
        master_key,
        clock,
        metrics: app.service.metrics.clone(),
    };
    Ok(app.with_webhooks(webhooks))
}

/// Runs the outbox, the deliveries and the sweeper until the task is dropped.
pub async fn run<S: LocalOutbox, P: Provider>(app: Arc<App<S, P>>) {
    let Some(DeliveryQueue::Local(queue)) = app.webhooks.as_ref().map(|w| w.queue.clone()) else {
        tracing::error!("background runner started without the local queue");
        return;
    };
    let source = Arc::new(Mutex::new(app.service.store.outbox_source().await));
    if let OutboxSource::Table(store) = &*source.lock().await {
        requeue_pending(store, &queue).await;
    }
    let mut swept_minute = None;
    loop {
        let now = app.service.clock.now();
        dispatch_outbox(&app, &source).await;
        for key in queue.take_due(now) {
            let (app, queue) = (Arc::clone(&app), queue.clone());
            tokio::spawn(async move {
                let Some(hooks) = &app.webhooks else { return };
                match hooks.deliver(&key).await {
                    Ok(Next::Done) => {}
                    Ok(Next::RetryAt(at)) => queue.push_at(key, at),
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery failed; retried in 5 s");
                        queue.push_at(key, hooks.clock.now() + chrono::Duration::seconds(5));
                    }
                }
            });
        }
        let minute = due_minute(now);
        if swept_minute != Some(minute) {
            match app.service.sweep(u32::MAX).await {
                Ok(_) => swept_minute = Some(minute),
                Err(e) => tracing::warn!(error = %e, "sweep failed; retried next tick"),
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn requeue_pending(store: &SqliteStore, queue: &LocalQueue) {
    match store.pending_deliveries().await {
        Ok(pending) => {
            for d in pending {
                let at = d.next_attempt_at.unwrap_or(d.created_at);
                queue.push_at(d.key, at);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not requeue pending deliveries"),
    }
}

async fn dispatch_outbox<S: LocalOutbox, P: Provider>(app: &App<S, P>, source: &Mutex<OutboxSource>) {
    let Some(hooks) = &app.webhooks else { return };
    let mut source = source.lock().await;
    match &mut *source {
        OutboxSource::Table(store) => {
            let batch = match store.undispatched(OUTBOX_BATCH).await {
                Ok(batch) => batch,
                Err(e) => return tracing::warn!(error = %e, "could not read the outbox"),
            };
            for (payment, event) in batch {
                match hooks.dispatch(&payment, &event).await {
                    Ok(_) => {
                        if let Err(e) = store.mark_dispatched(&payment, event.seq).await {
                            tracing::warn!(error = %e, "could not mark an outbox event dispatched");
                        }
                    }
                    // Left in the outbox: tried again next tick.
                    Err(e) => return tracing::warn!(error = %e, "dispatch failed"),
                }
            }
        }
        OutboxSource::Stream(reader) => match reader.next_batch().await {
            Ok(batch) if !batch.records.is_empty() => {
                let answer = dispatch_batch(hooks, &batch).await;
                if !answer.batch_item_failures.is_empty() {
                    tracing::warn!("a stream record failed to dispatch (local mode does not retry it)");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the table's stream"),
        },
    }
}
