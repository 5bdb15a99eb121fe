//! The one idempotency decision (DESIGN §3), in the manner of zero-to-production's
//! `try_processing`, Stripe's keys and the Lambda Powertools utility: every request that
//! carries a key asks [`decide`] once and branches on the answer.

use chrono::{DateTime, Duration, DurationRound, Utc};
use sha2::{Digest, Sha256};

use crate::ids::{OperationId, PaymentId};
use crate::store::{IdempotencyRecord, IdempotencyState, StoredResponse};

/// How long a key is remembered.
pub const KEY_TTL: Duration = Duration::hours(24);

/// A key as a request presents it, scoped to its processing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub account_id: String,
    pub key: String,
    /// SHA-256 (hex) of method, API path and body.
    pub request_hash: String,
}

impl IdempotencyKey {
    pub fn new(account_id: &str, key: String, method: &str, api_path: &str, body: &[u8]) -> Self {
        IdempotencyKey { account_id: account_id.to_owned(), key, request_hash: request_hash(method, api_path, body) }
    }

    /// What identifies this request whatever became of its attempts: account, key and
    /// fingerprint hashed (SHA-256, hex). Work that must not be done twice records it.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.account_id.as_str(), self.key.as_str(), self.request_hash.as_str()] {
            h.update(part.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    /// The claim of a request that started operation `operation_id` and is calling the provider.
    pub fn in_progress(
        &self,
        payment_id: &PaymentId,
        operation_id: &OperationId,
        locked_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> IdempotencyRecord {
        IdempotencyRecord {
            state: IdempotencyState::InProgress,
            operation_id: Some(operation_id.clone()),
            locked_until: Some(locked_until),
            ..self.record(payment_id, now)
        }
    }

    /// The record of a request that completed with `response`.
    pub fn completed(
        &self,
        response: StoredResponse,
        payment_id: &PaymentId,
        operation_id: Option<&OperationId>,
        now: DateTime<Utc>,
    ) -> IdempotencyRecord {
        IdempotencyRecord {
            response: Some(response),
            operation_id: operation_id.cloned(),
            ..self.record(payment_id, now)
        }
    }

    /// The claim of a request that moves no money (a webhook endpoint's change): no payment,
    /// no operation, locked for a little while.
    pub fn claim(&self, locked_until: DateTime<Utc>, now: DateTime<Utc>) -> IdempotencyRecord {
        // Stored to the millisecond: the claim must compare equal to itself read back.
        let locked_until = locked_until.duration_trunc(Duration::milliseconds(1)).unwrap_or(locked_until);
        IdempotencyRecord {
            state: IdempotencyState::InProgress,
            payment_id: None,
            locked_until: Some(locked_until),
            claim_token: Some(crate::ids::random_token()),
            ..self.record_of(None, now)
        }
    }

    /// The completed record of such a request.
    pub fn answered(&self, response: StoredResponse, now: DateTime<Utc>) -> IdempotencyRecord {
        IdempotencyRecord { response: Some(response), ..self.record_of(None, now) }
    }

    /// A completed record of this key for `payment_id`, with no answer, operation or lock yet.
    fn record(&self, payment_id: &PaymentId, now: DateTime<Utc>) -> IdempotencyRecord {
        self.record_of(Some(payment_id), now)
    }

    fn record_of(&self, payment_id: Option<&PaymentId>, now: DateTime<Utc>) -> IdempotencyRecord {
        IdempotencyRecord {
            account_id: self.account_id.clone(),
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            state: IdempotencyState::Completed,
            response: None,
            payment_id: payment_id.cloned(),
            operation_id: None,
            locked_until: None,
            claim_token: None,
            expires_at: now + KEY_TTL,
        }
    }
}

/// The fingerprint of a request: method, API path and body.
pub fn request_hash(method: &str, api_path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(api_path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// What to do with a request, given the live record of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No record: do the work.
    Start,
    /// The same request completed before: answer what was answered, byte for byte.
    Replay(StoredResponse),
    /// The same request is still being processed: 409 with `Retry-After`.
    InProgress,
    /// The key was used with another request: 422.
    KeyReused,
    /// The same request started an operation whose outcome was unknown and nobody holds the
    /// key any more: send the same call again, never a second operation.
    Resume { payment_id: PaymentId, operation_id: OperationId },
}

pub fn decide(record: Option<&IdempotencyRecord>, key: &IdempotencyKey, now: DateTime<Utc>) -> Decision {
    let Some(record) = record else { return Decision::Start };
    if record.request_hash != key.request_hash {
        return Decision::KeyReused;
    }
    match (&record.state, &record.response) {
        (IdempotencyState::Completed, Some(response)) => Decision::Replay(response.clone()),
        (IdempotencyState::Completed, None) => Decision::InProgress,
        (IdempotencyState::InProgress, _) if record.locked_until.is_some_and(|until| until > now) => {
            Decision::InProgress
        }
        (IdempotencyState::InProgress, _) => match (&record.payment_id, &record.operation_id) {
            (Some(payment_id), Some(operation_id)) => {
                Decision::Resume { payment_id: payment_id.clone(), operation_id: operation_id.clone() }
            }
            _ => Decision::InProgress,
        },
    }
}

/// How long a request that moves no money holds its key while it runs.
const CLAIM_WINDOW: Duration = Duration::seconds(30);

/// Runs `work` once per key, for requests that move no money (webhook endpoints): the key is
/// claimed first, `work` runs, and a successful answer is kept for replay; a failed one
/// releases the key. A replay of the same request answers the kept bytes; another request
/// with the key is `KeyReused`; one still running is `InProgress`.
pub async fn run_once<S, F, Fut, E>(
    store: &S,
    key: &IdempotencyKey,
    now: DateTime<Utc>,
    work: F,
) -> Result<super::Answered<StoredResponse>, E>
where
    S: crate::store::Store,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<StoredResponse, E>>,
    E: From<super::ServiceError>,
{
    use super::{Answered, ServiceError};
    use crate::store::StoreError;
    let claim = key.claim(now + CLAIM_WINDOW, now);
    let mut expected = None;
    loop {
        match store.put_idempotency(&claim, expected.as_ref(), now).await {
            Ok(()) => break,
            Err(StoreError::IdempotencyKeyTaken(_)) => {
                let record = store.idempotency(&key.account_id, &key.key, now).await.map_err(ServiceError::from)?;
                // Our own claim: it was written, its answer lost, and the store's retry refused.
                if record.as_ref().is_some_and(|r| r.claim_token.is_some() && r.claim_token == claim.claim_token) {
                    break;
                }
                match (decide(record.as_ref(), key, now), record) {
                    (Decision::Replay(stored), _) => return Ok(Answered::Replayed(stored)),
                    (Decision::KeyReused, _) => return Err(ServiceError::IdempotencyKeyReused.into()),
                    // A claim whose holder died: taken over once its lock has passed.
                    (Decision::InProgress, Some(r))
                        if expected.is_none()
                            && r.operation_id.is_none()
                            && r.locked_until.is_some_and(|until| until <= now) =>
                    {
                        expected = Some(r);
                    }
                    _ => return Err(ServiceError::IdempotencyInProgress.into()),
                }
            }
            Err(e) => return Err(ServiceError::from(e).into()),
        }
    }
    match work().await {
        Ok(answer) => {
            let done = key.answered(answer.clone(), now);
            match store.put_idempotency(&done, Some(&claim), now).await {
                Ok(()) => {}
                // Refused because it is already there: our own write, its answer lost.
                Err(StoreError::IdempotencyKeyTaken(_))
                    if store.idempotency(&key.account_id, &key.key, now).await.ok().flatten().as_ref()
                        == Some(&done) => {}
                Err(e) => return Err(ServiceError::from(e).into()),
            }
            Ok(Answered::Fresh(answer))
        }
        Err(e) => {
            let released = IdempotencyRecord { expires_at: now, ..claim.clone() };
            if let Err(release) = store.put_idempotency(&released, Some(&claim), now).await {
                tracing::warn!(error = %release, "could not release an idempotency key");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap_or_default()
    }

    /// A request that moves no money, run once per key on a clock with nanoseconds (the
    /// stored lock has milliseconds): done, then replayed.
    #[cfg(feature = "embedded")]
    #[tokio::test]
    async fn run_once_completes_and_replays_on_a_real_clock() {
        use crate::service::{Answered, ServiceError};
        let store = crate::store::SqliteStore::in_memory().unwrap_or_else(|e| panic!("{e}"));
        let key = IdempotencyKey::new("acct", "k".into(), "POST", "/v1/webhook-endpoints", b"{}");
        let now = now() + Duration::nanoseconds(123_456_789);
        let answer = StoredResponse { status: 201, body: "{}".into() };
        let work = || async { Ok::<_, ServiceError>(answer.clone()) };
        let first = run_once(&store, &key, now, work).await;
        assert_eq!(first, Ok(Answered::Fresh(answer.clone())));
        let again = run_once(&store, &key, now + Duration::seconds(1), work).await;
        assert_eq!(again, Ok(Answered::Replayed(answer)));
    }

    #[test]
    fn each_record_gets_one_decision() {
        let key = IdempotencyKey::new("acct", "k".into(), "POST", "/v1/payments", b"{}");
        let other = IdempotencyKey::new("acct", "k".into(), "POST", "/v1/payments", b"{ }");
        let pid = PaymentId::generate();
        let oid = OperationId::generate();
        let answer = StoredResponse { status: 201, body: "{}".into() };
        assert_eq!(decide(None, &key, now()), Decision::Start);
        let done = key.completed(answer.clone(), &pid, None, now());
        assert_eq!(decide(Some(&done), &key, now()), Decision::Replay(answer));
        assert_eq!(decide(Some(&done), &other, now()), Decision::KeyReused);
        let locked = key.in_progress(&pid, &oid, now() + Duration::seconds(20), now());
        assert_eq!(decide(Some(&locked), &key, now()), Decision::InProgress);
        assert_eq!(decide(Some(&locked), &other, now()), Decision::KeyReused);
        assert_eq!(
            decide(Some(&locked), &key, now() + Duration::seconds(20)),
            Decision::Resume { payment_id: pid, operation_id: oid }
        );
    }
}
