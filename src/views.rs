//! What merchants see of a payment and its operations: the seed's shapes, camelCase, amounts
//! as `{"value", "currency"}`. API answers and webhook bodies share these views; they are
//! built from the payment alone (the signed redirect, `nextStep`, is given to them ready).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::payment::{FailureReason, LedgerEntry, Operation, Payment, Status};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Amount {
    pub value: u32,
    pub currency: &'static str,
}

impl Amount {
    pub fn jpy(value: u32) -> Self {
        Amount { value, currency: "jpy" }
    }
}

/// Why a payment or an operation stands where it does: a stable code, a sentence, and SBPS's own
/// error code when SBPS's answer is the reason (a decline, a refusal).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub code: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
}

impl From<&FailureReason> for Reason {
    fn from(r: &FailureReason) -> Self {
        Reason {
            code: r.code.as_str().to_owned(),
            description: r.description.clone(),
            provider_code: r.provider_code.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Redirect {
    pub method: &'static str,
    pub url: String,
    pub params: Vec<Param>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NextStep {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub redirect: Redirect,
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn tracking_url(payment: &Payment) -> String {
    format!("/v1/tracks/payments/{}", payment.track_id)
}

/// The reason a payment shows: what is expected next, or why it ended.
pub fn reason(payment: &Payment) -> Option<Reason> {
    let reason = |code: &str, description: String, provider_code: Option<String>| {
        Some(Reason { code: code.to_owned(), description, provider_code })
    };
    match payment.status {
        Status::Pending => {
            reason("required_next_step", "An additional step is needed to complete the payment.".into(), None)
        }
        Status::Declined => match payment.sbps.err_code.as_deref().filter(|code| !code.is_empty()) {
            Some(code) => reason(
                "declined",
                format!("au Kantan Kessai declined the payment (SBPS error {code})."),
                Some(code.to_owned()),
            ),
            None => reason("declined", "au Kantan Kessai declined the payment.".into(), None),
        },
        Status::Expired => reason("expired", "The payer did not complete the payment in time.".into(), None),
        // The refusal that ended it: SBPS's word that the authorization is gone.
        Status::Voided => payment
            .operations
            .iter()
            .rev()
            .filter_map(|op| op.reason.as_ref())
            .find(|r| r.code.ends_authorization())
            .map(Reason::from),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: &'static str,
    pub amount: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub created_at: String,
    pub updated_at: String,
}

impl OperationSummary {
    pub fn new(op: &Operation) -> Self {
        OperationSummary {
            id: op.id.to_string(),
            kind: op.kind.as_str(),
            status: op.status.as_str(),
            amount: Amount::jpy(op.amount.value()),
            reason: op.reason.as_ref().map(Reason::from),
            created_at: timestamp(op.created_at),
            updated_at: timestamp(op.updated_at),
        }
    }
}

/// A payment as merchants see it: the create answer (with `nextStep`), `GET
/// /v1/payments/{id}`, every list item and every webhook body. The seed's fields come first, in
/// the seed's order (`id`, `merchantReference`, `status`, `trackingUrl`, `reason`, `nextStep`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: String,
    pub merchant_reference: String,
    pub status: Status,
    pub tracking_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<NextStep>,
    pub track_id: String,
    pub processing_account_id: String,
    pub amount: Amount,
    pub authorized_amount: Amount,
    pub captured_amount: Amount,
    pub cancelled_amount: Amount,
    pub refunded_amount: Amount,
    pub operations: Vec<OperationSummary>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

impl PaymentView {
    /// The view of `payment`; `next_step` is the signed redirect while it is pending (the API
    /// answers it; a webhook, sent only for payments past pending, has none).
    pub fn new(payment: &Payment, next_step: Option<NextStep>) -> Self {
        PaymentView {
            id: payment.id.to_string(),
            merchant_reference: payment.merchant_reference.clone(),
            status: payment.status,
            tracking_url: tracking_url(payment),
            reason: reason(payment),
            next_step,
            track_id: payment.track_id.to_string(),
            processing_account_id: payment.account_id.clone(),
            amount: Amount::jpy(payment.amount.value()),
            authorized_amount: Amount::jpy(payment.authorized),
            captured_amount: Amount::jpy(payment.captured),
            cancelled_amount: Amount::jpy(payment.cancelled_total()),
            refunded_amount: Amount::jpy(payment.refunded),
            operations: payment.operations.iter().map(OperationSummary::new).collect(),
            metadata: payment.metadata.as_map().clone(),
            created_at: timestamp(payment.created_at),
            updated_at: timestamp(payment.updated_at),
        }
    }
}

/// The browser-safe subset of the public tracking route.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackView {
    pub id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub amount: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<NextStep>,
    pub updated_at: String,
}

impl TrackView {
    /// The tracking view of `payment`, with its redirect while it is pending.
    pub fn new(payment: &Payment, next_step: Option<NextStep>) -> Self {
        TrackView {
            id: payment.id.to_string(),
            status: payment.status,
            reason: reason(payment),
            amount: Amount::jpy(payment.amount.value()),
            next_step,
            updated_at: timestamp(payment.updated_at),
        }
    }
}

/// A signed amount: money in positive, money back negative.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SignedAmount {
    pub value: i64,
    pub currency: &'static str,
}

impl SignedAmount {
    pub fn jpy(value: i64) -> Self {
        SignedAmount { value, currency: "jpy" }
    }
}

/// One ledger entry, as `GET /v1/ledger` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntryView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub amount: SignedAmount,
    pub confirmed_at: String,
    pub month: String,
    pub payment_id: String,
    pub merchant_reference: String,
    pub operation_id: String,
    pub metadata: BTreeMap<String, String>,
}

impl LedgerEntryView {
    pub fn new(entry: &LedgerEntry) -> Self {
        LedgerEntryView {
            id: entry.id.clone(),
            kind: entry.kind.as_str(),
            amount: SignedAmount::jpy(entry.amount),
            confirmed_at: timestamp(entry.confirmed_at),
            month: entry.month.clone(),
            payment_id: entry.payment_id.to_string(),
            merchant_reference: entry.merchant_reference.clone(),
            operation_id: entry.operation_id.to_string(),
            metadata: entry.metadata.as_map().clone(),
        }
    }
}
