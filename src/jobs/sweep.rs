//! `sweep`: every minute (EventBridge Scheduler), the due buckets from the sweeper's cursor to
//! the last whole minute, through the service's own sweep (DESIGN §8). The schedule's payload
//! (EventBridge Scheduler's, or an EventBridge rule's) is not read: every invocation sweeps
//! what is due, and answers what it did.

use serde_json::{Value, json};

use crate::service::{Provider, Service, ServiceError};
use crate::store::Store;

/// How many whole minutes one scheduled sweep covers at most (a sweep that fell behind
/// catches up this fast; 8 queries a minute on DynamoDB).
pub const SWEEP_MINUTES_PER_RUN: u32 = 60;

/// One scheduled sweep; its report as the invocation's answer.
pub async fn sweep<S: Store, P: Provider>(service: &Service<S, P>) -> Result<Value, ServiceError> {
    let report = service.sweep(SWEEP_MINUTES_PER_RUN).await?;
    Ok(json!({
        "minutes": report.minutes,
        "expired": report.expired,
        "settled": report.settled,
        "stillPending": report.still_pending,
        "errors": report.errors,
        "lagMinutes": report.lag_minutes,
    }))
}
