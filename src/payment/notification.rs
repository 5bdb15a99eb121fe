//! The state rule of SBPS's result notification (DESIGN §4): what a verified notification does
//! to a payment. The wire checks (checksum, merchant, form fields) are `sbps::result`'s.

use chrono::{DateTime, Utc};

use super::{Payment, Status, Transition};
use crate::ids::OperationId;

/// What a verified result notification says of the purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseResult {
    /// `res_result=OK`: the payer approved; `tracking_id` keys every later SBPS call.
    Approved { tracking_id: String, payment_date: Option<String> },
    /// Anything else: not paid (spec §7.4), with SBPS's error code if it gave one.
    Declined { err_code: Option<String> },
}

/// What applying a notification comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultDecision {
    /// A change to persist.
    Apply(Box<Transition>),
    /// The same result was applied before: answer OK and write nothing.
    AlreadyApplied,
}

/// Why a notification is refused (SBPS is then told `NG,` and does not complete the purchase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotificationRefusal {
    #[error("amount error")]
    Amount,
    #[error("order is no longer pending")]
    NotPending,
}

impl Payment {
    /// Applies a verified notification for `amount` yen. `capture_id` names the capture an
    /// automatic-sales account records with the authorization.
    pub fn apply_result(
        &self,
        amount: u32,
        result: &PurchaseResult,
        capture_id: OperationId,
        now: DateTime<Utc>,
    ) -> Result<ResultDecision, NotificationRefusal> {
        if amount != self.amount.value() {
            return Err(NotificationRefusal::Amount);
        }
        let pending = self.status == Status::Pending && !self.is_due_for_expiry(now);
        let apply = |t: Transition| ResultDecision::Apply(Box::new(t));
        match result {
            PurchaseResult::Approved { tracking_id, payment_date } => {
                if pending {
                    return self
                        .authorize(tracking_id.clone(), payment_date.clone(), capture_id, now)
                        .map(apply)
                        .map_err(|_| NotificationRefusal::NotPending);
                }
                if self.sbps.tracking_id.as_ref() == Some(tracking_id) {
                    return Ok(ResultDecision::AlreadyApplied);
                }
                Err(NotificationRefusal::NotPending)
            }
            PurchaseResult::Declined { err_code } => {
                if pending {
                    return self.decline(err_code.clone(), now).map(apply).map_err(|_| NotificationRefusal::NotPending);
                }
                if self.status == Status::Declined {
                    return Ok(ResultDecision::AlreadyApplied);
                }
                Err(NotificationRefusal::NotPending)
            }
        }
    }
}
