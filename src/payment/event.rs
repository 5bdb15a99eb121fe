//! The audit trail: one append-only event per change of a payment, numbered by the version it
//! produced. Merchant-visible kinds are the webhook event types of DESIGN §8.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Status;
use crate::ids::OperationId;

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "payment.created")]
    PaymentCreated,
    #[serde(rename = "payment.authorized")]
    PaymentAuthorized,
    #[serde(rename = "payment.captured")]
    PaymentCaptured,
    #[serde(rename = "payment.declined")]
    PaymentDeclined,
    #[serde(rename = "payment.expired")]
    PaymentExpired,
    #[serde(rename = "payment.cancelled")]
    PaymentCancelled,
    #[serde(rename = "payment.partially_cancelled")]
    PaymentPartiallyCancelled,
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
    #[serde(rename = "payment.partially_refunded")]
    PaymentPartiallyRefunded,
    /// An operation was written ahead of its provider call.
    #[serde(rename = "operation.requested")]
    OperationRequested,
    /// The provider refused an operation.
    #[serde(rename = "operation.failed")]
    OperationFailed,
    /// A pending operation's call is being sent again (the resend lease was taken).
    #[serde(rename = "operation.attempted")]
    OperationAttempted,
    /// A call ended with no known outcome; the operation stays pending, its lease released.
    #[serde(rename = "operation.outcome_unknown")]
    OperationOutcomeUnknown,
}

impl EventKind {
    pub const ALL: [EventKind; 13] = [
        EventKind::PaymentCreated,
        EventKind::PaymentAuthorized,
        EventKind::PaymentCaptured,
        EventKind::PaymentDeclined,
        EventKind::PaymentExpired,
        EventKind::PaymentCancelled,
        EventKind::PaymentPartiallyCancelled,
        EventKind::PaymentRefunded,
        EventKind::PaymentPartiallyRefunded,
        EventKind::OperationRequested,
        EventKind::OperationFailed,
        EventKind::OperationAttempted,
        EventKind::OperationOutcomeUnknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PaymentCreated => "payment.created",
            EventKind::PaymentAuthorized => "payment.authorized",
            EventKind::PaymentCaptured => "payment.captured",
            EventKind::PaymentDeclined => "payment.declined",
            EventKind::PaymentExpired => "payment.expired",
            EventKind::PaymentCancelled => "payment.cancelled",
            EventKind::PaymentPartiallyCancelled => "payment.partially_cancelled",
            EventKind::PaymentRefunded => "payment.refunded",
            EventKind::PaymentPartiallyRefunded => "payment.partially_refunded",
            EventKind::OperationRequested => "operation.requested",
            EventKind::OperationFailed => "operation.failed",
            EventKind::OperationAttempted => "operation.attempted",
            EventKind::OperationOutcomeUnknown => "operation.outcome_unknown",
        }
    }

    /// Whether a merchant is told of it (DESIGN §8's event types); the others are the
    /// gateway's own bookkeeping.
    pub fn is_merchant_visible(self) -> bool {
        !matches!(
            self,
            EventKind::PaymentCreated
                | EventKind::OperationRequested
                | EventKind::OperationAttempted
                | EventKind::OperationOutcomeUnknown
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An append-only record of one change, numbered by the payment version it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub seq: u64,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub operation_id: Option<OperationId>,
    pub amount: Option<u32>,
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::Value::from(kind.as_str())));
        }
    }
}
