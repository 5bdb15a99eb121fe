//! The audit trail: one append-only event per change of a payment, numbered by the version it
//! produced. Merchant-visible kinds are the webhook event types of DESIGN §8.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Status;
use crate::ids::{OperationId, PaymentId};

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
    /// SBPS refused a call because the authorization is gone: the payment ended, voided.
    #[serde(rename = "payment.voided")]
    PaymentVoided,
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
    pub const ALL: [EventKind; 14] = [
        EventKind::PaymentCreated,
        EventKind::PaymentAuthorized,
        EventKind::PaymentCaptured,
        EventKind::PaymentDeclined,
        EventKind::PaymentExpired,
        EventKind::PaymentCancelled,
        EventKind::PaymentPartiallyCancelled,
        EventKind::PaymentRefunded,
        EventKind::PaymentPartiallyRefunded,
        EventKind::PaymentVoided,
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
            EventKind::PaymentVoided => "payment.voided",
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
    /// The webhook of a merchant-visible event (the outbox): filled in by the service, which
    /// renders the payment view, and written with the event.
    pub outbox: Option<Outbox>,
}

/// A merchant-visible event's webhook, kept on its audit event (the outbox, DESIGN §5): written
/// in the same write as the change it reports, so it exists if and only if the change committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    /// `evt_<paymentId>_<seq>`: the `webhook-id` of every attempt and redelivery.
    pub id: String,
    pub kind: EventKind,
    /// The account whose endpoints receive it.
    pub account_id: String,
    /// The exact bytes to sign and send.
    pub body: String,
}

impl Outbox {
    pub fn event_id(payment_id: &PaymentId, seq: u64) -> String {
        format!("evt_{payment_id}_{seq}")
    }

    /// The payment and sequence an event id names, if it is one of ours.
    pub fn parse_event_id(id: &str) -> Option<(PaymentId, u64)> {
        let rest = id.strip_prefix("evt_")?;
        let (payment, text) = rest.split_once('_')?;
        let seq: u64 = text.parse().ok().filter(|s| *s > 0)?;
        // The canonical form only: no sign, no leading zero.
        (seq.to_string() == text).then_some(())?;
        Some((payment.parse().ok()?, seq))
    }
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

    #[test]
    fn event_ids_round_trip_and_refuse_other_forms() {
        let id = PaymentId::generate();
        let event = Outbox::event_id(&id, 7);
        assert_eq!(event, format!("evt_{id}_7"));
        assert_eq!(Outbox::parse_event_id(&event), Some((id.clone(), 7)));
        for bad in [
            format!("evt_{id}_07"),
            format!("evt_{id}_0"),
            format!("evt_{id}_+7"),
            format!("evt_{id}"),
            format!("ev_{id}_7"),
            "evt__7".into(),
        ] {
            assert_eq!(Outbox::parse_event_id(&bad), None, "{bad}");
        }
    }
}
