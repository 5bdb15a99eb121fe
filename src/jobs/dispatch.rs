//! `dispatch`: a batch of the table's stream records (new images), filtered by the event
//! source mapping to merchant-visible event inserts (and filtered again here). Records are
//! taken in order; the first that fails is reported as the batch item failure, so Lambda
//! retries from it (and bisects on error): nothing after it is lost, nothing before it is
//! dispatched twice (and a replay would make no second delivery anyway).

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::ids::PaymentId;
use crate::payment::AuditEvent;
use crate::service::webhooks::Webhooks;
use crate::store::WebhookStore;
use crate::store::item::EventItem;
use crate::webhooks::Queue;

/// What one record is to `dispatch`.
#[derive(Debug)]
pub enum Record {
    /// A merchant-visible audit event, new in the table.
    Outbox(PaymentId, AuditEvent),
    /// Anything else the filter let through: nothing to do.
    Other,
}

/// Reads a stream record.
pub fn read_record(record: &EventRecord) -> Result<Record, String> {
    if record.event_name != "INSERT" {
        return Ok(Record::Other);
    }
    let image = &record.change.new_image;
    let is_outbox = image.get("webhookType").is_some()
        && matches!(image.get("SK"), Some(serde_dynamo::AttributeValue::S(sk)) if sk.starts_with("EVENT#"));
    if !is_outbox {
        return Ok(Record::Other);
    }
    let item: EventItem = serde_dynamo::from_item(image.clone()).map_err(|e| format!("unreadable event: {e}"))?;
    let payment: PaymentId = match &item.payment_id {
        Some(id) => id.parse().map_err(|_| "unreadable payment id".to_owned())?,
        None => return Err("an outbox event without its payment id".into()),
    };
    let event = item.into_event().map_err(|e| e.to_string())?;
    Ok(Record::Outbox(payment, event))
}

/// Dispatches a batch; the answer names the first record that failed, if any.
pub async fn dispatch_batch<S: WebhookStore, Q: Queue>(
    webhooks: &Webhooks<S, Q>,
    batch: &Event,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in &batch.records {
        let outcome = match read_record(record) {
            Ok(Record::Outbox(payment, event)) => {
                webhooks.dispatch(&payment, &event).await.map(Some).map_err(|e| e.to_string())
            }
            Ok(Record::Other) => Ok(None),
            Err(e) => {
                // A record that can never be read is skipped (and logged), or it would block
                // its shard until it expires.
                tracing::error!(error = %e, event_id = %record.event_id, "unreadable stream record skipped");
                Ok(None)
            }
        };
        match outcome {
            Ok(Some(done)) => tracing::info!(
                event_id = %record.event_id,
                enqueued = done.enqueued,
                skipped = done.skipped,
                existing = done.existing,
                "dispatched"
            ),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, event_id = %record.event_id, "dispatch failed; the batch is retried from here");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    response
}
