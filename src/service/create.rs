//! Create: one atomic write of the pending payment with its reference guard, track pointer,
//! creation event and (with a key) the answer to replay.

use std::sync::atomic::{AtomicBool, Ordering};

use super::conflict_retry::retry_on_conflict;
use super::idempotency::{Decision, IdempotencyKey};
use super::operate::answer_without_work;
use super::read::SweepOutcome;
use super::{Answered, Provider, Render, Service, ServiceError};
use crate::accounts::Account;
use crate::crash_point::{CrashPoint, reach};
use crate::ids::{PaymentId, TrackId};
use crate::money::Yen;
use crate::payment::{Metadata, NewPayment, Payment};
use crate::sbps::purchase::LIMIT_SECOND;
use crate::store::{NewPaymentRecord, Store, StoreError};

/// A create request that passed validation, for the authenticated account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePayment {
    pub merchant_reference: String,
    pub amount: Yen,
    /// The canonical serialization of the merchant's return URL.
    pub return_url: String,
    pub metadata: Metadata,
}

impl<S: Store, P: Provider> Service<S, P> {
    pub async fn create(
        &self,
        account: &Account,
        request: CreatePayment,
        key: Option<&IdempotencyKey>,
        render: &dyn Render,
    ) -> Result<Answered<Payment>, ServiceError> {
        // Written first, in one round trip: the key's `attribute_not_exists` decides, and a
        // refusal carries the record that holds the key.
        let now = self.clock.now();
        let id = PaymentId::generate();
        let list_shard = crate::store::listing::list_shard_of(&id, account.list_shards);
        let (payment, event) = Payment::create(
            NewPayment {
                id,
                account_id: account.processing_account_id.clone(),
                merchant_reference: request.merchant_reference,
                track_id: TrackId::generate(),
                amount: request.amount,
                return_url: request.return_url,
                capture_mode: account.capture_mode,
                limit_second: LIMIT_SECOND,
                expiry_grace: self.policy.expiry_grace,
                list_shard,
                metadata: request.metadata,
            },
            now,
        );
        let idempotency = match key {
            Some(k) => Some(k.completed(render.payment_created(&payment, account)?, &payment.id, None, now)),
            None => None,
        };
        let record = NewPaymentRecord { payment, event, idempotency };
        // The reference may belong to a pending payment whose time is up: it is expired (which
        // releases the reference) once, and the create tried again.
        let expired_holder = AtomicBool::new(false);
        let (record, expired_holder) = (&record, &expired_holder);
        retry_on_conflict(|| async move {
            reach(CrashPoint::CreateBeforeWrite).await;
            match self.store.create_payment(record, now).await {
                Ok(()) => {
                    reach(CrashPoint::CreateAfterWrite).await;
                    self.metrics.payment_created();
                    Ok(Answered::Fresh(record.payment.clone()))
                }
                Err(StoreError::IdempotencyKeyTaken(holder)) => {
                    let key = key.ok_or(ServiceError::Internal("a key was taken without a key"))?;
                    match self.decision_on(holder, key, now).await? {
                        // It expired in between: write again.
                        Decision::Start => Err(ServiceError::Conflict),
                        other => answer_without_work(other),
                    }
                }
                Err(StoreError::DuplicateReference(holder)) if !expired_holder.swap(true, Ordering::SeqCst) => {
                    match self.expire_due(&holder).await? {
                        SweepOutcome::Expired | SweepOutcome::Gone => Err(ServiceError::Conflict),
                        _ => Err(ServiceError::DuplicateReference(holder)),
                    }
                }
                // Released in between (DynamoDB): try again.
                Err(StoreError::VersionConflict) => Err(ServiceError::Conflict),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}
