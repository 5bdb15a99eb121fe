//! What merchants see of a payment and its operations: the seed's shapes, camelCase, amounts
//! as `{"value", "currency"}`. API answers and webhook bodies share these views; they are
//! built from the payment alone (the signed redirect, `nextStep`, is given to them ready).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::payment::{FailureReason, Operation, Payment, Status};

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

#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    pub code: String,
    pub description: String,
}

impl From<&FailureReason> for Reason {
    fn from(r: &FailureReason) -> Self {
        Reason { code: r.code.as_str().to_owned(), description: r.description.clone() }
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
    match payment.status {
        Status::Pending => Some(Reason {
            code: "required_next_step".into(),
            description: "An additional step is needed to complete the payment.".into(),
        }),
        Status::Declined => Some(Reason {
            code: "declined".into(),
            description: match &payment.sbps.err_code {
                Some(code) if !code.is_empty() => format!("au Kantan Kessai declined the payment (SBPS error {code})."),
                _ => "au Kantan Kessai declined the payment.".into(),
            },
        }),
        Status::Expired => Some(Reason {
            code: "expired".into(),
            description: "The payer did not complete the payment in time.".into(),
        }),
        _ => None,
    }
}

/// The answer to a create: the seed's fields in the seed's order, then extras.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedPayment {
    pub id: String,
    pub merchant_reference: String,
    pub status: Status,
    pub tracking_url: String,
    pub reason: Option<Reason>,
    pub next_step: Option<NextStep>,
    pub amount: Amount,
    pub created_at: String,
}

impl CreatedPayment {
    /// The view of a new `payment`, with the signed redirect it answers.
    pub fn new(payment: &Payment, next_step: Option<NextStep>) -> Self {
        CreatedPayment {
            id: payment.id.to_string(),
            merchant_reference: payment.merchant_reference.clone(),
            status: payment.status,
            tracking_url: tracking_url(payment),
            reason: reason(payment),
            next_step,
            amount: Amount::jpy(payment.amount.value()),
            created_at: timestamp(payment.created_at),
        }
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

/// The full payment, as `GET /v1/payments/{id}` answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub id: String,
    pub processing_account_id: String,
    pub merchant_reference: String,
    pub status: Status,
    pub amount: Amount,
    pub authorized_amount: Amount,
    pub captured_amount: Amount,
    pub cancelled_amount: Amount,
    pub refunded_amount: Amount,
    pub tracking_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<NextStep>,
    pub operations: Vec<OperationSummary>,
    pub created_at: String,
    pub updated_at: String,
}

impl PaymentView {
    /// The view of `payment`; `next_step` is the signed redirect while it is pending (the API
    /// answers it; a webhook, sent only for payments past pending, has none).
    pub fn new(payment: &Payment, next_step: Option<NextStep>) -> Self {
        PaymentView {
            id: payment.id.to_string(),
            processing_account_id: payment.account_id.clone(),
            merchant_reference: payment.merchant_reference.clone(),
            status: payment.status,
            amount: Amount::jpy(payment.amount.value()),
            authorized_amount: Amount::jpy(payment.authorized),
            captured_amount: Amount::jpy(payment.captured),
            cancelled_amount: Amount::jpy(payment.cancelled),
            refunded_amount: Amount::jpy(payment.refunded),
            tracking_url: tracking_url(payment),
            reason: reason(payment),
            next_step,
            operations: payment.operations.iter().map(OperationSummary::new).collect(),
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
