//! SBPS's result notification, verified at the wire by `sbps::result`, applied to its payment
//! by the domain's rule.

use super::conflict_retry::retry_on_conflict;
use super::{Provider, Service, ServiceError};
use crate::ids::OperationId;
use crate::payment::{NotificationRefusal, ResultDecision, Status};
use crate::sbps::result_notification::ResultNotification;
use crate::store::Store;

/// How a verified notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationOutcome {
    /// Applied now: the payment is in this status.
    Applied(Status),
    /// The same result was applied before; nothing was written.
    AlreadyApplied,
    /// Refused by the state rule (amount, no longer pending).
    Refused(NotificationRefusal),
    /// No such payment for the notifying merchant.
    UnknownOrder,
}

impl<S: Store, P: Provider> Service<S, P> {
    pub async fn apply_notification(
        &self,
        notification: &ResultNotification<'_>,
    ) -> Result<NotificationOutcome, ServiceError> {
        retry_on_conflict(|| async move {
            let payment = match self.store.payment(&notification.payment_id).await? {
                Some(p) if p.account_id == notification.account.processing_account_id => p,
                _ => return Ok(NotificationOutcome::UnknownOrder),
            };
            let payment = self.expire_if_due(payment).await?;
            let now = self.clock.now();
            let decision =
                payment.apply_result(notification.amount, &notification.result, OperationId::generate(), now);
            match decision {
                Ok(ResultDecision::Apply(transition)) => {
                    self.commit(&transition, None).await?;
                    tracing::info!(payment_id = %payment.id, status = %transition.payment.status, "notification applied");
                    Ok(NotificationOutcome::Applied(transition.payment.status))
                }
                Ok(ResultDecision::AlreadyApplied) => Ok(NotificationOutcome::AlreadyApplied),
                Err(refusal) => Ok(NotificationOutcome::Refused(refusal)),
            }
        })
        .await
    }
}
