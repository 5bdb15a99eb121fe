//! `deliver`: a batch of delivery-queue messages. Each is one [`DeliveryKey`]; the attempt it
//! is due for is made, and then the message is either done (deleted: not reported) or hidden
//! until its next attempt (its visibility changed, and reported as a batch item failure so
//! Lambda leaves it in the queue). Waits beyond SQS's 12 hours are re-hidden when the message
//! comes back early. A message that fails for another reason is reported and comes back after
//! the queue's visibility timeout; after `maxReceiveCount` it goes to the dead-letter queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::service::webhooks::Webhooks;
use crate::service::webhooks::deliver::Next;
use crate::store::WebhookStore;
use crate::webhooks::queue::{SQS_MAX_VISIBILITY_SECONDS, SqsQueue};
use crate::webhooks::{DeliveryKey, Queue};

/// Delivers a batch, its messages side by side (one slow receiver does not hold the others
/// back); the answer names the messages to keep.
pub async fn deliver_batch<S: WebhookStore, Q: Queue>(
    webhooks: &Webhooks<S, Q>,
    queue: &SqsQueue,
    batch: &SqsEvent,
) -> SqsBatchResponse {
    let outcomes = futures_util::future::join_all(batch.records.iter().map(|m| deliver_one(webhooks, queue, m))).await;
    let mut response = SqsBatchResponse::default();
    for (message, keep) in batch.records.iter().zip(outcomes) {
        if keep {
            response.add_failure(message.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// Whether the message is to be kept (reported as a batch item failure).
async fn deliver_one<S: WebhookStore, Q: Queue>(
    webhooks: &Webhooks<S, Q>,
    queue: &SqsQueue,
    message: &SqsMessage,
) -> bool {
    let id = message.message_id.clone().unwrap_or_default();
    let key = match message.body.as_deref().map(serde_json::from_str::<DeliveryKey>) {
        Some(Ok(key)) => key,
        _ => {
            // Not ours: keeping it would only fill the dead-letter queue with it later.
            tracing::error!(message_id = %id, "unreadable delivery message dropped");
            return false;
        }
    };
    match webhooks.deliver(&key).await {
        Ok(Next::Done) => false,
        Ok(Next::RetryAt(at)) => {
            let wait = (at - webhooks.clock.now()).num_seconds().clamp(0, SQS_MAX_VISIBILITY_SECONDS) as i32;
            let hidden = match &message.receipt_handle {
                Some(handle) => queue
                    .client()
                    .change_message_visibility()
                    .queue_url(queue.url())
                    .receipt_handle(handle)
                    .visibility_timeout(wait)
                    .send()
                    .await
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string()),
                None => Err("no receipt handle".to_owned()),
            };
            if let Err(e) = hidden {
                // Kept anyway: it comes back after the queue's visibility timeout, and an
                // early message is simply hidden again.
                tracing::warn!(message_id = %id, error = %e, "could not hide a delivery until its next attempt");
            }
            true
        }
        Err(e) => {
            tracing::error!(message_id = %id, error = %e, "delivery failed; the message comes back");
            true
        }
    }
}
