//! The stored items: their own types, so that renaming a field of the domain never renames a
//! stored attribute. Both adapters keep these (DynamoDB as attributes, SQLite as JSON
//! documents); every attribute name is pinned by a test below.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{IdempotencyRecord, IdempotencyState, StoreError, StoredResponse};
use crate::ids::{OperationId, PaymentId, TrackId};
use crate::money::Yen;
use crate::payment::{
    AuditEvent, CaptureMode, EventKind, FailureCode, FailureReason, Metadata, Operation, OperationKind,
    OperationStatus, Outbox, Payment, ProviderCall, SbpsPurchase, Status,
};

fn unreadable(what: &str) -> StoreError {
    StoreError::Unavailable(format!("unreadable stored {what}"))
}

/// The payment item (DynamoDB `PAYMENT#<id>` / `PAYMENT`), without its operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentItem {
    #[serde(rename = "id")]
    pub id: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "merchantReference")]
    pub merchant_reference: String,
    #[serde(rename = "trackId")]
    pub track_id: String,
    #[serde(rename = "amount")]
    pub amount: u32,
    #[serde(rename = "returnUrl")]
    pub return_url: String,
    #[serde(rename = "captureMode")]
    pub capture_mode: CaptureMode,
    #[serde(rename = "status")]
    pub status: Status,
    #[serde(rename = "authorized")]
    pub authorized: u32,
    #[serde(rename = "captured")]
    pub captured: u32,
    #[serde(rename = "cancelled")]
    pub cancelled: u32,
    #[serde(rename = "refunded")]
    pub refunded: u32,
    #[serde(rename = "requestDate")]
    pub request_date: DateTime<Utc>,
    #[serde(rename = "limitSecond")]
    pub limit_second: u32,
    #[serde(rename = "pendingUntil")]
    pub pending_until: DateTime<Utc>,
    #[serde(rename = "sbpsTrackingId", default, skip_serializing_if = "Option::is_none")]
    pub sbps_tracking_id: Option<String>,
    #[serde(rename = "sbpsPaymentDate", default, skip_serializing_if = "Option::is_none")]
    pub sbps_payment_date: Option<String>,
    #[serde(rename = "sbpsErrCode", default, skip_serializing_if = "Option::is_none")]
    pub sbps_err_code: Option<String>,
    #[serde(rename = "capturedAt", default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<DateTime<Utc>>,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "updatedAt")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "version")]
    pub version: u64,
    #[serde(rename = "listShard", default)]
    pub list_shard: u32,
    /// A copy of the operations, so that a listing page shows them without another read (the
    /// `OP#` items stay the record; reading one payment uses them).
    #[serde(rename = "operations", default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<OperationItem>,
    /// The merchant's metadata (a map of strings; absent when empty).
    #[serde(rename = "metadata", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl PaymentItem {
    pub fn of(p: &Payment) -> Self {
        PaymentItem {
            id: p.id.to_string(),
            account_id: p.account_id.clone(),
            merchant_reference: p.merchant_reference.clone(),
            track_id: p.track_id.to_string(),
            amount: p.amount.value(),
            return_url: p.return_url.clone(),
            capture_mode: p.capture_mode,
            status: p.status,
            authorized: p.authorized,
            captured: p.captured,
            cancelled: p.cancelled,
            refunded: p.refunded,
            request_date: p.request_date,
            limit_second: p.limit_second,
            pending_until: p.pending_until,
            sbps_tracking_id: p.sbps.tracking_id.clone(),
            sbps_payment_date: p.sbps.payment_date.clone(),
            sbps_err_code: p.sbps.err_code.clone(),
            captured_at: p.captured_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
            version: p.version,
            list_shard: p.list_shard,
            operations: p.operations.iter().map(OperationItem::of).collect(),
            metadata: p.metadata.as_map().clone(),
        }
    }

    /// The payment with the copy of its operations it carries.
    pub fn into_listed_payment(mut self) -> Result<Payment, StoreError> {
        let operations = std::mem::take(&mut self.operations)
            .into_iter()
            .map(OperationItem::into_operation)
            .collect::<Result<Vec<_>, _>>()?;
        self.into_payment(operations)
    }

    /// The payment, with `operations` (oldest first).
    pub fn into_payment(self, mut operations: Vec<Operation>) -> Result<Payment, StoreError> {
        operations.sort_by_key(|op| op.sequence);
        Ok(Payment {
            id: self.id.parse::<PaymentId>().map_err(|_| unreadable("payment id"))?,
            account_id: self.account_id,
            merchant_reference: self.merchant_reference,
            track_id: self.track_id.parse::<TrackId>().map_err(|_| unreadable("track id"))?,
            amount: Yen::new(u64::from(self.amount)).map_err(|_| unreadable("amount"))?,
            return_url: self.return_url,
            capture_mode: self.capture_mode,
            status: self.status,
            authorized: self.authorized,
            captured: self.captured,
            cancelled: self.cancelled,
            refunded: self.refunded,
            request_date: self.request_date,
            limit_second: self.limit_second,
            pending_until: self.pending_until,
            sbps: SbpsPurchase {
                tracking_id: self.sbps_tracking_id,
                payment_date: self.sbps_payment_date,
                err_code: self.sbps_err_code,
            },
            captured_at: self.captured_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            operations,
            list_shard: self.list_shard,
            metadata: Metadata::stored(self.metadata),
        })
    }
}

/// An operation item (`PAYMENT#<id>` / `OP#<opId>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationItem {
    #[serde(rename = "id")]
    pub id: String,
    #[serde(rename = "paymentId")]
    pub payment_id: String,
    #[serde(rename = "sequence")]
    pub sequence: u64,
    #[serde(rename = "kind")]
    pub kind: OperationKind,
    #[serde(rename = "status")]
    pub status: OperationStatus,
    #[serde(rename = "amount")]
    pub amount: u32,
    #[serde(rename = "full")]
    pub full: bool,
    #[serde(rename = "providerCall", default, skip_serializing_if = "Option::is_none")]
    pub provider_call: Option<ProviderCall>,
    #[serde(rename = "failureCode", default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<FailureCode>,
    #[serde(rename = "failureDescription", default, skip_serializing_if = "Option::is_none")]
    pub failure_description: Option<String>,
    #[serde(rename = "failureProviderCode", default, skip_serializing_if = "Option::is_none")]
    pub failure_provider_code: Option<String>,
    #[serde(rename = "attemptedAt", default, skip_serializing_if = "Option::is_none")]
    pub attempted_at: Option<DateTime<Utc>>,
    #[serde(rename = "callInFlight", default)]
    pub call_in_flight: bool,
    #[serde(rename = "outcomeUnknown", default, skip_serializing_if = "std::ops::Not::not")]
    pub outcome_unknown: bool,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "updatedAt")]
    pub updated_at: DateTime<Utc>,
}

impl OperationItem {
    pub fn of(op: &Operation) -> Self {
        OperationItem {
            id: op.id.to_string(),
            payment_id: op.payment_id.to_string(),
            sequence: op.sequence,
            kind: op.kind,
            status: op.status,
            amount: op.amount.value(),
            full: op.full,
            provider_call: op.provider_call,
            failure_code: op.reason.as_ref().map(|r| r.code),
            failure_description: op.reason.as_ref().map(|r| r.description.clone()),
            failure_provider_code: op.reason.as_ref().and_then(|r| r.provider_code.clone()),
            attempted_at: op.attempted_at,
            call_in_flight: op.call_in_flight,
            outcome_unknown: op.outcome_unknown,
            created_at: op.created_at,
            updated_at: op.updated_at,
        }
    }

    pub fn into_operation(self) -> Result<Operation, StoreError> {
        Ok(Operation {
            id: self.id.parse::<OperationId>().map_err(|_| unreadable("operation id"))?,
            payment_id: self.payment_id.parse::<PaymentId>().map_err(|_| unreadable("payment id"))?,
            sequence: self.sequence,
            kind: self.kind,
            status: self.status,
            amount: Yen::new(u64::from(self.amount)).map_err(|_| unreadable("amount"))?,
            full: self.full,
            provider_call: self.provider_call,
            reason: self.failure_code.map(|code| FailureReason {
                code,
                description: self.failure_description.unwrap_or_default(),
                provider_code: self.failure_provider_code,
            }),
            attempted_at: self.attempted_at,
            call_in_flight: self.call_in_flight,
            outcome_unknown: self.outcome_unknown,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// An audit event item (`PAYMENT#<id>` / `EVENT#<seq>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventItem {
    #[serde(rename = "seq")]
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[serde(rename = "at")]
    pub at: DateTime<Utc>,
    #[serde(rename = "fromStatus", default, skip_serializing_if = "Option::is_none")]
    pub from_status: Option<Status>,
    #[serde(rename = "toStatus")]
    pub to_status: Status,
    #[serde(rename = "operationId", default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    #[serde(rename = "amount", default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u32>,
    #[serde(rename = "detail", default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The outbox (DESIGN §5), on merchant-visible events only: the stream filter of
    /// `dispatch` matches `webhookType`.
    #[serde(rename = "webhookType", default, skip_serializing_if = "Option::is_none")]
    pub webhook_type: Option<EventKind>,
    #[serde(rename = "webhookId", default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    #[serde(rename = "webhookBody", default, skip_serializing_if = "Option::is_none")]
    pub webhook_body: Option<String>,
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "paymentId", default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

impl EventItem {
    pub fn of(e: &AuditEvent) -> Self {
        EventItem {
            seq: e.seq,
            kind: e.kind,
            at: e.at,
            from_status: e.from_status,
            to_status: e.to_status,
            operation_id: e.operation_id.as_ref().map(ToString::to_string),
            amount: e.amount,
            detail: e.detail.clone(),
            webhook_type: e.outbox.as_ref().map(|o| o.kind),
            webhook_id: e.outbox.as_ref().map(|o| o.id.clone()),
            webhook_body: e.outbox.as_ref().map(|o| o.body.clone()),
            account_id: e.outbox.as_ref().map(|o| o.account_id.clone()),
            payment_id: e.outbox.as_ref().and_then(|o| Outbox::parse_event_id(&o.id)).map(|(p, _)| p.to_string()),
        }
    }

    pub fn into_event(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            seq: self.seq,
            kind: self.kind,
            at: self.at,
            from_status: self.from_status,
            to_status: self.to_status,
            operation_id: self.operation_id.map(|id| id.parse()).transpose().map_err(|_| unreadable("operation id"))?,
            amount: self.amount,
            detail: self.detail,
            outbox: match (self.webhook_type, self.webhook_id, self.webhook_body, self.account_id) {
                (Some(kind), Some(id), Some(body), Some(account_id)) => Some(Outbox { id, kind, account_id, body }),
                _ => None,
            },
        })
    }
}

/// An idempotency record item (`IDEM#<account>#<key>` / `IDEM`). `expiresAt` (the TTL) and
/// `lockedUntil` are epoch seconds and milliseconds, so conditions can compare them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyItem {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "key")]
    pub key: String,
    #[serde(rename = "requestHash")]
    pub request_hash: String,
    #[serde(rename = "state")]
    pub state: IdempotencyState,
    #[serde(rename = "responseStatus", default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(rename = "responseBody", default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(rename = "paymentId", default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(rename = "operationId", default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    #[serde(rename = "lockedUntil", default, skip_serializing_if = "Option::is_none")]
    pub locked_until_ms: Option<i64>,
    #[serde(rename = "claimToken", default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    #[serde(rename = "expiresAt")]
    pub expires_at_s: i64,
}

impl IdempotencyItem {
    pub fn of(r: &IdempotencyRecord) -> Self {
        IdempotencyItem {
            account_id: r.account_id.clone(),
            key: r.key.clone(),
            request_hash: r.request_hash.clone(),
            state: r.state,
            response_status: r.response.as_ref().map(|s| s.status),
            response_body: r.response.as_ref().map(|s| s.body.clone()),
            payment_id: r.payment_id.as_ref().map(ToString::to_string),
            operation_id: r.operation_id.as_ref().map(ToString::to_string),
            locked_until_ms: r.locked_until.map(|t| t.timestamp_millis()),
            claim_token: r.claim_token.clone(),
            expires_at_s: r.expires_at.timestamp(),
        }
    }

    pub fn into_record(self) -> Result<IdempotencyRecord, StoreError> {
        let response = match (self.response_status, self.response_body) {
            (Some(status), Some(body)) => Some(StoredResponse { status, body }),
            _ => None,
        };
        Ok(IdempotencyRecord {
            account_id: self.account_id,
            key: self.key,
            request_hash: self.request_hash,
            state: self.state,
            response,
            payment_id: self.payment_id.map(|id| id.parse()).transpose().map_err(|_| unreadable("payment id"))?,
            operation_id: self.operation_id.map(|id| id.parse()).transpose().map_err(|_| unreadable("operation id"))?,
            locked_until: self
                .locked_until_ms
                .map(|ms| DateTime::from_timestamp_millis(ms).ok_or_else(|| unreadable("lock time")))
                .transpose()?,
            claim_token: self.claim_token,
            expires_at: DateTime::from_timestamp(self.expires_at_s, 0).ok_or_else(|| unreadable("expiry"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use serde_json::Value;

    use super::*;
    use crate::payment::NewPayment;

    fn names(value: &impl Serialize) -> Vec<String> {
        match serde_json::to_value(value) {
            Ok(Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 11, 10, 3, 0, 0).single().unwrap_or_default()
    }

    fn payment() -> Payment {
        let (p, _) = Payment::create(
            NewPayment {
                id: PaymentId::generate(),
                account_id: "acct".into(),
                merchant_reference: "order-1".into(),
                track_id: TrackId::generate(),
                amount: Yen::new(1000).unwrap_or_else(|e| panic!("{e}")),
                return_url: "https://merchant.site/done".into(),
                capture_mode: CaptureMode::Manual,
                limit_second: 600,
                expiry_grace: Duration::minutes(30),
                list_shard: 0,
                metadata: crate::payment::Metadata::default(),
            },
            now(),
        );
        let authorized =
            p.authorize("00000616307348".into(), Some("20301110120100".into()), OperationId::generate(), now());
        authorized.map(|t| t.payment).unwrap_or(p)
    }

    /// Renaming a domain field must not rename a stored attribute: these are the names.
    #[test]
    fn attribute_names_are_pinned() {
        let mut p = payment();
        p.captured_at = Some(now());
        p.sbps.err_code = Some("402U1999".into());
        p.metadata = Metadata::parse([("order".to_owned(), "A-1".to_owned())].into()).unwrap_or_default();
        let mut item_names = names(&PaymentItem::of(&p));
        item_names.sort();
        assert_eq!(
            item_names,
            [
                "accountId",
                "amount",
                "authorized",
                "cancelled",
                "captureMode",
                "captured",
                "capturedAt",
                "createdAt",
                "id",
                "limitSecond",
                "listShard",
                "merchantReference",
                "metadata",
                "pendingUntil",
                "refunded",
                "requestDate",
                "returnUrl",
                "sbpsErrCode",
                "sbpsPaymentDate",
                "sbpsTrackingId",
                "status",
                "trackId",
                "updatedAt",
                "version",
            ]
        );

        let begun = p.begin_capture(OperationId::generate(), None, now()).unwrap_or_else(|e| panic!("{e}"));
        let mut op = begun.operation.clone().unwrap_or_else(|| panic!("an operation"));
        op.reason = Some(FailureReason {
            code: FailureCode::ProviderRefused,
            description: "no".into(),
            provider_code: Some("40299999".into()),
        });
        let mut op_names = names(&OperationItem::of(&op));
        op_names.sort();
        assert_eq!(
            op_names,
            [
                "amount",
                "attemptedAt",
                "callInFlight",
                "createdAt",
                "failureCode",
                "failureDescription",
                "failureProviderCode",
                "full",
                "id",
                "kind",
                "paymentId",
                "providerCall",
                "sequence",
                "status",
                "updatedAt",
            ]
        );
        assert_eq!(
            serde_json::to_value(op.provider_call).ok(),
            Some(serde_json::json!({"call": "capture", "amount": null}))
        );

        let mut event = begun.event.clone();
        event.detail = Some("d".into());
        let mut event_names = names(&EventItem::of(&event));
        event_names.sort();
        assert_eq!(event_names, ["amount", "at", "detail", "fromStatus", "operationId", "seq", "toStatus", "type"]);
        event.outbox = Some(Outbox {
            id: Outbox::event_id(&p.id, event.seq),
            kind: EventKind::PaymentCaptured,
            account_id: "acct".into(),
            body: "{}".into(),
        });
        let mut outbox_names = names(&EventItem::of(&event));
        outbox_names.retain(|n| !event_names.contains(n));
        outbox_names.sort();
        assert_eq!(outbox_names, ["accountId", "paymentId", "webhookBody", "webhookId", "webhookType"]);
        assert_eq!(EventItem::of(&event).into_event().ok(), Some(event.clone()));

        let record = IdempotencyRecord {
            account_id: "acct".into(),
            key: "k".into(),
            request_hash: "h".into(),
            state: IdempotencyState::InProgress,
            response: Some(StoredResponse { status: 201, body: "{}".into() }),
            payment_id: Some(p.id.clone()),
            operation_id: Some(op.id.clone()),
            locked_until: Some(now()),
            claim_token: Some("t".into()),
            expires_at: now(),
        };
        let mut idem_names = names(&IdempotencyItem::of(&record));
        idem_names.sort();
        assert_eq!(
            idem_names,
            [
                "accountId",
                "claimToken",
                "expiresAt",
                "key",
                "lockedUntil",
                "operationId",
                "paymentId",
                "requestHash",
                "responseBody",
                "responseStatus",
                "state",
            ]
        );
    }

    /// The stored values of the enums, which stored items and conditions rely on.
    #[test]
    fn stored_enum_values_are_pinned() {
        let text = |v: &dyn erased::Ser| v.json();
        assert_eq!(text(&Status::PartiallyRefunded), "\"partially_refunded\"");
        assert_eq!(text(&OperationKind::Refund), "\"refund\"");
        assert_eq!(text(&OperationStatus::Succeeded), "\"succeeded\"");
        assert_eq!(text(&CaptureMode::Automatic), "\"automatic\"");
        assert_eq!(text(&IdempotencyState::InProgress), "\"in_progress\"");
        assert_eq!(text(&FailureCode::BillingRunPending), "\"billing_run_pending\"");
        assert_eq!(text(&EventKind::PaymentPartiallyCancelled), "\"payment.partially_cancelled\"");
        for code in FailureCode::ALL {
            assert_eq!(text(&code), format!("\"{}\"", code.as_str()));
        }
    }

    mod erased {
        pub trait Ser {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap_or_default()
            }
        }
    }

    #[test]
    fn items_round_trip() {
        let p = payment();
        let begun = p.begin_capture(OperationId::generate(), None, now()).unwrap_or_else(|e| panic!("{e}"));
        let op = begun.operation.clone().unwrap_or_else(|| panic!("an operation"));
        let back = OperationItem::of(&op).into_operation();
        assert_eq!(back.as_ref().ok(), Some(&op));
        let back = PaymentItem::of(&begun.payment).into_payment(vec![op]);
        assert_eq!(back.ok(), Some(begun.payment.clone()));
        let back = EventItem::of(&begun.event).into_event();
        assert_eq!(back.ok(), Some(begun.event));
    }
}
