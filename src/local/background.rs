//! What runs beside `local`'s server, in process and on the app clock, so the sandbox's clock
//! control drives it: the outbox is dispatched (the embedded store's outbox rows, or DynamoDB
//! Local's stream through the same `dispatch` handler as on AWS), due deliveries are attempted
//! from an in-process queue, and the sweeper runs whenever the clock passes a whole minute.
//! Every tick is 200 ms of real time, so anything due is acted on well within 2 seconds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::Error;
use crate::app::load_master_key;
use crate::http::App;
use crate::jobs::dispatch::dispatch_batch;
use crate::local::dynamodb_stream::StreamReader;
use crate::service::Provider;
use crate::service::webhooks::Webhooks;
use crate::service::webhooks::deliver::Next;
use crate::store::{DynamoStore, Persistence, SqliteStore, due_minute};
use crate::webhooks::queue::{DeliveryQueue, LocalQueue};
use crate::webhooks::{AddressPolicy, Sender};

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
    let policy = AddressPolicy::for_gateway(app.settings.is_local(), app.settings.webhook_loopback_only);
    let webhooks = Webhooks {
        store: app.service.store.clone(),
        queue: DeliveryQueue::Local(LocalQueue::new(clock.clone())),
        sender: Sender::new(policy),
        master_key: Some(master_key),
        clock,
        metrics: app.service.metrics.clone(),
    };
    Ok(app.with_webhooks(webhooks))
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Outbox events dispatched.
    pub dispatched: usize,
    /// Delivery attempts made (or found not due).
    pub delivered: usize,
    /// Whether the sweeper ran.
    pub swept: bool,
}

/// The background work of `local`, one tick at a time.
pub struct Runner<S, P> {
    app: Arc<App<S, P>>,
    queue: LocalQueue,
    source: Mutex<OutboxSource>,
    swept_minute: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// Whole minutes one tick sweeps at most: every minute on the embedded store (one indexed
    /// read each); five on DynamoDB (eight queries a minute), so that a tick stays short and
    /// a clock moved by days is caught up over many ticks (a minute or two of real time
    /// per day moved) rather than in one long one.
    sweep_minutes: u32,
}

impl<S: LocalOutbox, P: Provider> Runner<S, P> {
    /// A runner for `app` (which has its local webhooks), with the deliveries still pending in
    /// the embedded store queued again.
    pub async fn new(app: Arc<App<S, P>>) -> Result<Self, Error> {
        let source = app.service.store.outbox_source().await;
        Self::with_source(app, source).await
    }

    /// A runner reading the outbox from `source`.
    pub async fn with_source(app: Arc<App<S, P>>, source: OutboxSource) -> Result<Self, Error> {
        let Some(DeliveryQueue::Local(queue)) = app.webhooks.as_ref().map(|w| w.queue.clone()) else {
            return Err("the background runner needs the app's local webhook queue".into());
        };
        let sweep_minutes = match &source {
            OutboxSource::Table(store) => {
                requeue_pending(store, &queue).await;
                u32::MAX
            }
            OutboxSource::Stream(_) => 5,
        };
        Ok(Runner { app, queue, source: Mutex::new(source), swept_minute: Mutex::new(None), sweep_minutes })
    }

    /// Dispatches the outbox, makes every delivery attempt that is due, and sweeps if the
    /// app clock entered a new minute since the last sweep.
    pub async fn tick(&self) -> Tick {
        let mut tick = Tick { dispatched: dispatch_outbox(&self.app, &self.source).await, ..Tick::default() };
        let now = self.app.service.clock.now();
        let mut attempts = tokio::task::JoinSet::new();
        for key in self.queue.take_due(now) {
            let (app, queue) = (Arc::clone(&self.app), self.queue.clone());
            attempts.spawn(async move {
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
        while attempts.join_next().await.is_some() {
            tick.delivered += 1;
        }
        let minute = due_minute(now);
        let mut swept = self.swept_minute.lock().await;
        if *swept != Some(minute) {
            match self.app.service.sweep(self.sweep_minutes).await {
                // Caught up: nothing more until the clock enters another minute.
                Ok(report) if report.lag_minutes == 0 => {
                    *swept = Some(minute);
                    tick.swept = true;
                }
                Ok(_) => tick.swept = true,
                Err(e) => tracing::warn!(error = %e, "sweep failed; retried next tick"),
            }
        }
        tick
    }

    /// Ticks every 200 ms until the task is dropped.
    pub async fn run(self) {
        loop {
            self.tick().await;
            tokio::time::sleep(TICK).await;
        }
    }
}

/// Runs the outbox, the deliveries and the sweeper until the task is dropped.
pub async fn run<S: LocalOutbox, P: Provider>(app: Arc<App<S, P>>) {
    match Runner::new(app).await {
        Ok(runner) => runner.run().await,
        Err(e) => tracing::error!(error = %e, "background runner not started"),
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

/// Dispatches what the outbox holds; how many events.
async fn dispatch_outbox<S: LocalOutbox, P: Provider>(app: &App<S, P>, source: &Mutex<OutboxSource>) -> usize {
    let Some(hooks) = &app.webhooks else { return 0 };
    let mut source = source.lock().await;
    let mut dispatched = 0;
    match &mut *source {
        OutboxSource::Table(store) => {
            let batch = match store.undispatched(OUTBOX_BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the outbox");
                    return 0;
                }
            };
            for (payment, event) in batch {
                match hooks.dispatch(&payment, &event).await {
                    Ok(_) => {
                        dispatched += 1;
                        if let Err(e) = store.mark_dispatched(&payment, event.seq).await {
                            tracing::warn!(error = %e, "could not mark an outbox event dispatched");
                        }
                    }
                    // Left in the outbox: tried again next tick.
                    Err(e) => {
                        tracing::warn!(error = %e, "dispatch failed");
                        break;
                    }
                }
            }
        }
        OutboxSource::Stream(reader) => match reader.next_batch().await {
            Ok(batch) if !batch.records.is_empty() => {
                let answer = dispatch_batch(hooks, &batch).await;
                if !answer.batch_item_failures.is_empty() {
                    tracing::warn!("a stream record failed to dispatch (local mode does not retry it)");
                }
                dispatched = batch.records.len();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the table's stream"),
        },
    }
    dispatched
}
