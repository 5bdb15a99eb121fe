use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{OperationId, PaymentId};
use crate::money::Yen;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Capture,
    Cancel,
    Refund,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Capture => "capture",
            OperationKind::Cancel => "cancel",
            OperationKind::Refund => "refund",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Written ahead of the provider call; the outcome is not known yet.
    Pending,
    Succeeded,
    Failed,
}

impl OperationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Pending => "pending",
            OperationStatus::Succeeded => "succeeded",
            OperationStatus::Failed => "failed",
        }
    }
}

/// What the provider must be asked to do for an operation, in the payment's terms. The SBPS
/// module turns it into `ST02-00201-402` or `ST02-00303-402`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum ProviderCall {
    /// Capture the authorization; `amount` only when it differs from the authorized amount.
    Capture { amount: Option<u32> },
    /// Void the authorization or cancel/refund the sale; `amount` = what to give back, only
    /// for a partial refund.
    CancelOrRefund { amount: Option<u32> },
}

/// Why an operation failed, as a stable code and a sentence for the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReason {
    pub code: String,
    pub description: String,
}

/// A capture, cancel or refund: one record per amount change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub id: OperationId,
    pub payment_id: PaymentId,
    /// The payment version that created it: orders a payment's operations.
    pub sequence: u64,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub amount: Yen,
    /// Whether it covers everything that remained (a full capture, cancel or refund).
    pub full: bool,
    /// `None` when no provider call is needed (cancel of a pending payment, partial cancel,
    /// capture recorded by an automatic-sales authorization).
    pub provider_call: Option<ProviderCall>,
    pub reason: Option<FailureReason>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
