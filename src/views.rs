//! What the API answers and webhooks carry: the seed's shapes, camelCase, amounts as
//! `{"value", "currency"}`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::Account;
use crate::payment::{FailureReason, Operation, OperationStatus, Payment, Status};
use crate::sbps::purchase::{PurchaseRequest, purchase_form};
use crate::service::OperationResult;

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

/// The signed POST redirect to the au payment screen, while the payment is pending.
pub fn next_step(payment: &Payment, account: &Account, notification_url: &str) -> Option<NextStep> {
    if payment.status != Status::Pending {
        return None;
    }
    let request = PurchaseRequest {
        merchant_id: &account.sbps.merchant_id,
        service_id: &account.sbps.service_id,
        payment_id: payment.id.as_str(),
        amount: payment.amount,
        return_url: &payment.return_url,
        pagecon_url: notification_url,
        request_date: payment.request_date,
        limit_second: payment.limit_second,
    };
    // Every value is validated printable ASCII, so signing cannot fail; if it ever did, the
    // payment is shown without a redirect rather than with a wrong one.
    let form = purchase_form(&request, account.sbps.hash_key.expose()).ok()?;
    Some(NextStep {
        kind: "redirect",
        redirect: Redirect {
            method: "post",
            url: account.sbps.purchase_url.clone(),
            params: form.into_iter().map(|(name, value)| Param { name, value }).collect(),
        },
    })
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
    pub fn new(payment: &Payment, account: &Account, notification_url: &str) -> Self {
        CreatedPayment {
            id: payment.id.to_string(),
            merchant_reference: payment.merchant_reference.clone(),
            status: payment.status,
            tracking_url: tracking_url(payment),
            reason: reason(payment),
            next_step: next_step(payment, account, notification_url),
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
    pub fn new(payment: &Payment, account: &Account, notification_url: &str) -> Self {
        TrackView {
            id: payment.id.to_string(),
            status: payment.status,
            reason: reason(payment),
            amount: Amount::jpy(payment.amount.value()),
            next_step: next_step(payment, account, notification_url),
            updated_at: timestamp(payment.updated_at),
        }
    }
}

/// The answer to a capture, cancel or refund.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationAnswer {
    pub id: String,
    pub payment_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: &'static str,
    pub amount: Amount,
    pub payment_status: Status,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

impl OperationAnswer {
    pub fn new(result: &OperationResult) -> Self {
        let op = &result.operation;
        let reason = match (&op.reason, op.status, &result.unknown) {
            (Some(r), _, _) => Some(Reason::from(r)),
            (None, OperationStatus::Pending, unknown) => Some(Reason {
                code: "provider_unavailable".into(),
                description: format!(
                    "{} The {} is pending; retry later.",
                    unknown.as_deref().unwrap_or("The outcome is not known yet."),
                    op.kind.as_str()
                ),
            }),
            _ => None,
        };
        OperationAnswer {
            id: op.id.to_string(),
            payment_id: op.payment_id.to_string(),
            kind: op.kind.as_str(),
            status: op.status.as_str(),
            amount: Amount::jpy(op.amount.value()),
            payment_status: result.payment_status,
            created_at: timestamp(op.created_at),
            reason,
        }
    }
}
