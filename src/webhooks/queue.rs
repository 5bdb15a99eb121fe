//! Where deliveries wait for their attempt: an SQS queue on AWS (its message is the
//! [`DeliveryKey`]; a message's visibility is its wait), an in-process queue on the app clock in
//! `local`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::DeliveryKey;
use crate::clock::Clock;

/// SQS holds a message back at most 15 minutes on send, and hides one at most 12 hours.
pub const SQS_MAX_DELAY_SECONDS: i64 = 900;
pub const SQS_MAX_VISIBILITY_SECONDS: i64 = 12 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue unavailable: {0}")]
pub struct QueueError(pub String);

pub trait Queue: Send + Sync + 'static {
    /// Enqueues `key` to be attempted after `delay` (at once when zero).
    fn send(&self, key: &DeliveryKey, delay: Duration) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// The SQS queue of the `deliver` function.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue { client, url: url.into() }
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Queue for SqsQueue {
    async fn send(&self, key: &DeliveryKey, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(key).map_err(|e| QueueError(e.to_string()))?;
        let seconds = delay.num_seconds().clamp(0, SQS_MAX_DELAY_SECONDS) as i32;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// The queue a deployment uses: SQS on AWS, in-process in `local`.
#[derive(Debug, Clone)]
pub enum DeliveryQueue {
    Sqs(SqsQueue),
    Local(LocalQueue),
}

impl Queue for DeliveryQueue {
    async fn send(&self, key: &DeliveryKey, delay: Duration) -> Result<(), QueueError> {
        match self {
            DeliveryQueue::Sqs(q) => q.send(key, delay).await,
            DeliveryQueue::Local(q) => q.send(key, delay).await,
        }
    }
}

/// Waiting keys by due time (and arrival order, for keys due at the same instant).
type Waiting = BTreeMap<(DateTime<Utc>, u64), DeliveryKey>;

/// The in-process queue of `local`: keys by due time on the app clock.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    clock: Clock,
    waiting: Arc<Mutex<Waiting>>,
    counter: Arc<std::sync::atomic::AtomicU64>,
}

impl LocalQueue {
    pub fn new(clock: Clock) -> Self {
        LocalQueue { clock, waiting: Arc::default(), counter: Arc::default() }
    }

    /// Enqueues `key` for `at` (app time).
    pub fn push_at(&self, key: DeliveryKey, at: DateTime<Utc>) {
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut w) = self.waiting.lock() {
            w.insert((at, n), key);
        }
    }

    /// Takes every key due at `now`.
    pub fn take_due(&self, now: DateTime<Utc>) -> Vec<DeliveryKey> {
        let Ok(mut w) = self.waiting.lock() else { return Vec::new() };
        let later = w.split_off(&(now, u64::MAX));
        std::mem::replace(&mut *w, later).into_values().collect()
    }

    pub fn len(&self) -> usize {
        self.waiting.lock().map(|w| w.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Queue for LocalQueue {
    async fn send(&self, key: &DeliveryKey, delay: Duration) -> Result<(), QueueError> {
        self.push_at(key.clone(), self.clock.now() + delay.max(Duration::zero()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EndpointId, PaymentId};

    #[test]
    fn the_local_queue_hands_out_what_is_due_in_order() {
        let start = DateTime::<Utc>::UNIX_EPOCH + Duration::days(1);
        let q = LocalQueue::new(Clock::manual(start));
        let key = |seq| DeliveryKey { payment_id: PaymentId::generate(), seq, endpoint_id: EndpointId::generate() };
        let (a, b, c) = (key(1), key(2), key(3));
        q.push_at(b.clone(), start + Duration::seconds(5));
        q.push_at(a.clone(), start);
        q.push_at(c.clone(), start + Duration::seconds(60));
        assert_eq!(q.take_due(start + Duration::seconds(5)), vec![a, b]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.take_due(start + Duration::seconds(59)), Vec::<DeliveryKey>::new());
        assert_eq!(q.take_due(start + Duration::seconds(60)), vec![c]);
        assert!(q.is_empty());
    }
}
