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

/// Why the provider refused an operation: the stable codes of DESIGN §3, serialized (and
/// stored) as snake_case. Their HTTP statuses are mapped once, in `src/http/error.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The amount is more than what remains at SBPS (402 22/75).
    AmountExceedsRemaining,
    /// A partial refund in the month of the sale (402 28).
    PartialRefundNotYetAvailable,
    /// The refund period has ended (402 31).
    RefundPeriodExpired,
    /// The capture period has ended (402 33): the authorization is gone.
    CapturePeriodExpired,
    /// This service captures only the whole authorized amount (402 42).
    WholeAmountCaptureRequired,
    /// The authorization was cancelled at SBPS (402 21).
    AuthorizationCancelled,
    /// The authorization was cancelled at the payer's request (402 43).
    AuthorizationCancelledByPayer,
    /// SBPS has no authorization for the payment's tracking id (402 20): our record and SBPS's
    /// disagree, which an operator looks into.
    AuthorizationNotFound,
    /// au's billing run is not done yet; the same request may succeed later (402 29).
    BillingRunPending,
    /// SBPS refused the gateway's checksum, ids or credentials: a configuration fault.
    ProviderConfigurationError,
    /// Any other refusal.
    ProviderRefused,
}

impl FailureCode {
    pub const ALL: [FailureCode; 11] = [
        FailureCode::AmountExceedsRemaining,
        FailureCode::PartialRefundNotYetAvailable,
        FailureCode::RefundPeriodExpired,
        FailureCode::CapturePeriodExpired,
        FailureCode::WholeAmountCaptureRequired,
        FailureCode::AuthorizationCancelled,
        FailureCode::AuthorizationCancelledByPayer,
        FailureCode::AuthorizationNotFound,
        FailureCode::BillingRunPending,
        FailureCode::ProviderConfigurationError,
        FailureCode::ProviderRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::AmountExceedsRemaining => "amount_exceeds_remaining",
            FailureCode::PartialRefundNotYetAvailable => "partial_refund_not_yet_available",
            FailureCode::RefundPeriodExpired => "refund_period_expired",
            FailureCode::CapturePeriodExpired => "capture_period_expired",
            FailureCode::WholeAmountCaptureRequired => "whole_amount_capture_required",
            FailureCode::AuthorizationCancelled => "authorization_cancelled",
            FailureCode::AuthorizationCancelledByPayer => "authorization_cancelled_by_payer",
            FailureCode::AuthorizationNotFound => "authorization_not_found",
            FailureCode::BillingRunPending => "billing_run_pending",
            FailureCode::ProviderConfigurationError => "provider_configuration_error",
            FailureCode::ProviderRefused => "provider_refused",
        }
    }

    /// A refusal that is not final: the same request may be sent again later with the same
    /// key (the idempotency record is not completed).
    pub fn is_retryable(self) -> bool {
        self == FailureCode::BillingRunPending
    }

    /// A refusal caused by the gateway's own configuration: worth an alarm.
    pub fn is_configuration_fault(self) -> bool {
        self == FailureCode::ProviderConfigurationError
    }

    /// SBPS's word that the authorization is gone (cancelled at SBPS, by the payer, or past its
    /// capture period): the payment ends, voided, with this as its reason.
    pub fn ends_authorization(self) -> bool {
        matches!(
            self,
            FailureCode::AuthorizationCancelled
                | FailureCode::AuthorizationCancelledByPayer
                | FailureCode::CapturePeriodExpired
        )
    }

    /// A refusal an operator must look into: SBPS and the gateway disagree about the payment.
    pub fn needs_operator(self) -> bool {
        self == FailureCode::AuthorizationNotFound
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a provider call ended, as the gateway understands it. Anything not understood is
/// `Unknown` (the operation stays pending), never success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderAnswer {
    /// Done now, or found already done (our record says we asked).
    Succeeded,
    /// Refused; nothing happened at the provider.
    Refused(FailureReason),
    /// The outcome is not known: timeout, connection failure, 5xx, in progress, an answer not
    /// understood.
    Unknown { description: String },
}

/// Why an operation failed, as a stable code and a sentence for the merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReason {
    pub code: FailureCode,
    pub description: String,
    /// SBPS's own error code (`res_err_code`), when its answer is the reason.
    pub provider_code: Option<String>,
}

/// A capture, cancel or refund: one record per amount change.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// When its provider call was last sent while it is pending: readers and the sweeper
    /// send it again only once a lock window has passed since.
    pub attempted_at: Option<DateTime<Utc>>,
    /// Whether a sender may still be waiting for the provider's answer. Cleared by a sender
    /// that got no known outcome, so the merchant's retry with the same key may resume at once.
    pub call_in_flight: bool,
    /// An earlier call ended with no known outcome: SBPS may have done it. A refusal of a later
    /// call that SBPS gives before it looks at the purchase (a configuration fault) then says
    /// nothing about that earlier call, and does not settle the operation.
    pub outcome_unknown: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who asks to send a pending operation's call again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resender {
    /// A read or the sweeper: once per lock window.
    Recovery,
    /// The merchant's retry with the request's own key: at once, unless a call is in flight.
    KeyRetry,
}

impl Operation {
    /// Whether `resender` may take the resend lease now.
    pub fn may_resend(&self, resender: Resender, lock_window: chrono::Duration, now: DateTime<Utc>) -> bool {
        let window_passed = self.attempted_at.is_none_or(|at| at + lock_window <= now);
        self.status == OperationStatus::Pending
            && match resender {
                Resender::Recovery => window_passed,
                Resender::KeyRetry => window_passed || !self.call_in_flight,
            }
    }
}
