//! The service on the embedded store (in memory) with the scripted provider: every path of
//! the money logic, in milliseconds, with no sandbox and no HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::accounts::{DEMO_ACCOUNT_ID, demo_account};
use crate::ids::{OperationId, TrackId};
use crate::money::Yen;
use crate::payment::{
    AuditEvent, EventKind, FailureCode, FailureReason, NotificationRefusal, OperationKind, OperationStatus,
    ProviderAnswer, PurchaseResult,
};
use crate::sbps::result_notification::ResultNotification;
use crate::store::{IdempotencyRecord, NewPaymentRecord, SqliteStore};

type TestService = Service<SqliteStore, ScriptedProvider>;

const TRACKING_ID: &str = "00000616307348";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 11, 10, 3, 0, 0).single().unwrap_or_default()
}

fn service_on<S: Store>(store: S) -> (Service<S, ScriptedProvider>, ScriptedProvider) {
    let provider = ScriptedProvider::new();
    let accounts = Accounts::new(vec![demo_account("http://127.0.0.1:3000")]).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy { lock_window: Duration::seconds(20), expiry_grace: Duration::minutes(30) };
    let service = Service {
        store,
        provider: provider.clone(),
        accounts,
        clock: Clock::manual(start()),
        metrics: Metrics::silent(),
        policy,
    };
    (service, provider)
}

fn service() -> (TestService, ScriptedProvider) {
    service_on(SqliteStore::in_memory().unwrap_or_else(|e| panic!("{e}")))
}

fn account(s: &TestService) -> &Account {
    s.accounts.get(DEMO_ACCOUNT_ID).unwrap_or_else(|| panic!("the demo account"))
}

/// Answers as tests read them: the status, and a body naming what was answered.
struct TestRender;

impl Render for TestRender {
    fn payment_created(&self, payment: &Payment, _: &Account) -> Result<StoredResponse, ServiceError> {
        Ok(StoredResponse { status: 201, body: format!("created {}", payment.id) })
    }
    fn operation(&self, r: &OperationResult) -> Result<StoredResponse, ServiceError> {
        let code = r.operation.reason.as_ref().map(|x| x.code.as_str()).unwrap_or("-");
        let status = match r.operation.status {
            OperationStatus::Succeeded => 201,
            OperationStatus::Failed => 422,
            OperationStatus::Pending => 503,
        };
        Ok(StoredResponse { status, body: format!("{} {} {code}", r.operation.id, r.operation.status.as_str()) })
    }
}

fn yen(v: u64) -> Yen {
    Yen::new(v).unwrap_or_else(|e| panic!("{e}"))
}

fn key(k: &str, body: &str) -> IdempotencyKey {
    IdempotencyKey::new(DEMO_ACCOUNT_ID, k.into(), "POST", "/v1/payments/x/captures", body.as_bytes())
}

fn ok<T>(r: Result<T, ServiceError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn fresh<T: std::fmt::Debug>(a: Answered<T>) -> T {
    match a {
        Answered::Fresh(t) => t,
        other => panic!("expected a fresh answer, got {other:?}"),
    }
}

async fn created(s: &TestService, reference: &str, amount: u64) -> Payment {
    let request = CreatePayment {
        merchant_reference: reference.into(),
        amount: yen(amount),
        return_url: "https://merchant.site/done".into(),
        metadata: Default::default(),
    };
    fresh(ok(s.create(account(s), request, None, &TestRender).await))
}

fn approval<'a>(s: &'a TestService, payment: &Payment) -> ResultNotification<'a> {
    ResultNotification {
        account: account(s),
        payment_id: payment.id.clone(),
        amount: payment.amount.value(),
        result: PurchaseResult::Approved { tracking_id: TRACKING_ID.into(), payment_date: None },
    }
}

async fn authorized(s: &TestService, reference: &str, amount: u64) -> Payment {
    let p = created(s, reference, amount).await;
    let applied = ok(s.apply_notification(&approval(s, &p)).await);
    assert_eq!(applied, NotificationOutcome::Applied(Status::Authorized));
    stored(s, &p.id).await
}

async fn stored(s: &TestService, id: &PaymentId) -> Payment {
    ok(s.store.payment(id).await.map_err(ServiceError::from)).unwrap_or_else(|| panic!("stored payment"))
}

async fn events(s: &TestService, id: &PaymentId) -> Vec<EventKind> {
    let events: Vec<AuditEvent> = ok(s.store.audit_events(id).await.map_err(ServiceError::from));
    events.into_iter().map(|e| e.kind).collect()
}

async fn capture(
    s: &TestService,
    p: &Payment,
    amount: Option<u64>,
    k: Option<&IdempotencyKey>,
) -> Result<Answered<OperationResult>, ServiceError> {
    s.operate(account(s), &p.id, OperationKind::Capture, amount.map(yen), k, &TestRender).await
}

#[tokio::test]
async fn a_capture_writes_ahead_calls_once_and_settles() {
    let (s, provider) = service();
    let p = authorized(&s, "order-1", 1000).await;
    let result = fresh(ok(capture(&s, &p, Some(600), None).await));
    assert_eq!(result.operation.status, OperationStatus::Succeeded);
    assert_eq!(result.payment_status, Status::Captured);
    let sent = provider.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].tracking_id, TRACKING_ID);
    assert_eq!(sent[0].operation.status, OperationStatus::Pending, "the call is sent after the write-ahead");
    let after = stored(&s, &p.id).await;
    assert_eq!((after.captured, after.status), (600, Status::Captured));
    assert_eq!(
        events(&s, &p.id).await,
        [
            EventKind::PaymentCreated,
            EventKind::PaymentAuthorized,
            EventKind::OperationRequested,
            EventKind::PaymentCaptured
        ]
    );
}

#[tokio::test]
async fn each_refusal_fails_the_operation_and_changes_no_amount() {
    for code in FailureCode::ALL {
        let (s, provider) = service();
        let p = authorized(&s, "order-1", 1000).await;
        provider.script([ProviderAnswer::Refused(FailureReason {
            code,
            description: "no".into(),
            provider_code: None,
        })]);
        let k = key("refused", "");
        let result = fresh(ok(capture(&s, &p, None, Some(&k)).await));
        assert_eq!(result.operation.status, OperationStatus::Failed, "{code}");
        assert_eq!(result.operation.reason.as_ref().map(|r| r.code), Some(code));
        let after = stored(&s, &p.id).await;
        // SBPS's word that the authorization is gone ends the payment; any other refusal leaves
        // it authorized.
        let (status, event) = if code.ends_authorization() {
            (Status::Voided, EventKind::PaymentVoided)
        } else {
            (Status::Authorized, EventKind::OperationFailed)
        };
        assert_eq!((after.status, after.captured), (status, 0), "{code}");
        assert_eq!(events(&s, &p.id).await.last(), Some(&event));
        // A final refusal is remembered; one worth retrying leaves the key free.
        let again = ok(capture(&s, &p, None, Some(&k)).await);
        match (code.is_retryable(), again) {
            (false, Answered::Replayed(r)) => assert!(r.body.contains(code.as_str()), "{code}"),
            (true, Answered::Fresh(r)) => assert_eq!(r.operation.status, OperationStatus::Succeeded),
            (_, other) => panic!("{code}: {other:?}"),
        }
        assert_eq!(provider.sent().len(), if code.is_retryable() { 2 } else { 1 }, "{code}");
    }
}

#[tokio::test]
async fn an_unknown_outcome_is_resumed_by_the_same_key_with_the_same_operation() {
    let (s, provider) = service();
    let p = authorized(&s, "order-1", 1000).await;
    provider.script([ProviderAnswer::Unknown { description: "SBPS did not answer in time.".into() }]);
    let k = key("cap-1", "");
    let first = fresh(ok(capture(&s, &p, None, Some(&k)).await));
    assert_eq!(first.operation.status, OperationStatus::Pending);
    assert_eq!(first.unknown.as_deref(), Some("SBPS did not answer in time."));
    // Meanwhile another capture is refused: the payment is locked by the pending one.
    let other = capture(&s, &p, None, None).await;
    assert!(matches!(other, Err(ServiceError::NotAllowed(StateError::OperationInProgress { .. }))), "{other:?}");

    let second = fresh(ok(capture(&s, &p, None, Some(&k)).await));
    assert_eq!(second.operation.id, first.operation.id, "the same operation, never a second one");
    assert_eq!(second.operation.status, OperationStatus::Succeeded);
    let sent = provider.sent();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|c| c.operation.id == first.operation.id));
    let replay = ok(capture(&s, &p, None, Some(&k)).await);
    assert!(matches!(replay, Answered::Replayed(StoredResponse { status: 201, .. })), "{replay:?}");
    assert_eq!(provider.sent().len(), 2);
    let after = stored(&s, &p.id).await;
    assert_eq!((after.status, after.captured, after.operations.len()), (Status::Captured, 1000, 1));
    assert_eq!(
        events(&s, &p.id).await[2..],
        [
            EventKind::OperationRequested,
            EventKind::OperationOutcomeUnknown,
            EventKind::OperationAttempted,
            EventKind::PaymentCaptured
        ]
    );
}

#[tokio::test]
async fn an_unknown_outcome_is_recovered_by_the_next_read() {
    let (s, provider) = service();
    let p = authorized(&s, "order-1", 1000).await;
    provider.script([ProviderAnswer::Unknown { description: "reset".into() }]);
    let first = fresh(ok(capture(&s, &p, None, None).await));
    assert_eq!(first.operation.status, OperationStatus::Pending);
    // Within the lock window of the last attempt, a read leaves it alone.
    assert_eq!(ok(s.payment(account(&s), &p.id).await).status, Status::Authorized);
    assert_eq!(provider.sent().len(), 1);
    s.clock.advance(Duration::seconds(20));
    let read = ok(s.payment(account(&s), &p.id).await);
    assert_eq!((read.status, read.captured), (Status::Captured, 1000));
    assert_eq!(provider.sent().len(), 2);
    // Nothing is pending any more: reads send nothing.
    ok(s.payment(account(&s), &p.id).await);
    assert_eq!(provider.sent().len(), 2);
}

/// A write-ahead whose sender died (no settle, no release): the lease holds for one lock
/// window, then exactly one of many concurrent readers sends the call again.
#[tokio::test]
async fn twenty_concurrent_reads_after_a_crash_send_one_call() {
    let (s, provider) = service();
    let p = authorized(&s, "order-1", 1000).await;
    let begun = p.begin_capture(OperationId::generate(), None, s.clock.now()).unwrap_or_else(|e| panic!("{e}"));
    ok(s.store.apply(&begun, None).await.map_err(ServiceError::from));

    ok(s.payment(account(&s), &p.id).await);
    assert!(provider.sent().is_empty(), "within the lock window nobody resends");

    s.clock.advance(Duration::seconds(21));
    let s = Arc::new(s);
    let gate = provider.hold().await;
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let s = Arc::clone(&s);
        let id = p.id.clone();
        reads.spawn(async move { s.payment(account(&s), &id).await.map(|p| p.status) });
    }
    // Let every reader race for the lease before the one call is answered.
    while provider.sent().is_empty() {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(gate);
    while let Some(read) = reads.join_next().await {
        let status = read.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(status, Ok(Status::Authorized | Status::Captured)), "{status:?}");
    }
    assert_eq!(provider.sent().len(), 1);
    assert_eq!(stored(&s, &p.id).await.status, Status::Captured);
}

#[tokio::test]
async fn the_sweeper_recovers_a_due_operation_and_expires_a_due_payment() {
    let (s, provider) = service();
    let p = authorized(&s, "order-1", 1000).await;
    let begun = p.begin_capture(OperationId::generate(), None, s.clock.now()).unwrap_or_else(|e| panic!("{e}"));
    let op_id = begun.operation.as_ref().map(|o| o.id.clone()).unwrap_or_else(OperationId::generate);
    ok(s.store.apply(&begun, None).await.map_err(ServiceError::from));
    assert_eq!(ok(s.recover_due(&p.id, &op_id).await), SweepOutcome::StillPending, "its lease still holds");
    s.clock.advance(Duration::seconds(21));
    assert_eq!(ok(s.recover_due(&p.id, &op_id).await), SweepOutcome::Settled(OperationStatus::Succeeded));
    assert_eq!(ok(s.recover_due(&p.id, &op_id).await), SweepOutcome::NothingDue);
    assert_eq!(provider.sent().len(), 1);

    let pending = created(&s, "order-2", 500).await;
    assert_eq!(ok(s.expire_due(&pending.id).await), SweepOutcome::NothingDue);
    s.clock.advance(Duration::seconds(600 + 1800 + 1));
    assert_eq!(ok(s.expire_due(&pending.id).await), SweepOutcome::Expired);
    assert_eq!(ok(s.expire_due(&pending.id).await), SweepOutcome::NothingDue);
    assert_eq!(ok(s.expire_due(&PaymentId::generate()).await), SweepOutcome::Gone);
    // The reference is free again.
    created(&s, "order-2", 500).await;
}

#[tokio::test]
async fn each_idempotency_decision() {
    let (s, provider) = service();
    let p = authorized(&s, "order-1", 1000).await;
    let k = key("cap-1", r#"{"amount":{"value":600,"currency":"jpy"}}"#);

    // Start.
    let first = fresh(ok(capture(&s, &p, Some(600), Some(&k)).await));
    // Replay: byte for byte, no call.
    let replay = ok(capture(&s, &p, Some(600), Some(&k)).await);
    let Answered::Replayed(stored_answer) = replay else { panic!("{replay:?}") };
    assert_eq!(stored_answer, ok(TestRender.operation(&first)));
    // Key reused with another body: refused, nothing written.
    let before = events(&s, &p.id).await.len();
    let other = key("cap-1", r#"{"amount":{"value":500,"currency":"jpy"}}"#);
    assert_eq!(capture(&s, &p, Some(500), Some(&other)).await, Err(ServiceError::IdempotencyKeyReused));
    assert_eq!(events(&s, &p.id).await.len(), before);
    assert_eq!(provider.sent().len(), 1);

    // In progress: a second request while the first is calling.
    let q = authorized(&s, "order-2", 1000).await;
    let k2 = key("cap-2", "");
    let s = Arc::new(s);
    let gate = provider.hold().await;
    let running = {
        let (s, q, k2) = (Arc::clone(&s), q.clone(), k2.clone());
        tokio::spawn(async move { capture(&s, &q, None, Some(&k2)).await })
    };
    while provider.sent().len() < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(capture(&s, &q, None, Some(&k2)).await, Err(ServiceError::IdempotencyInProgress));
    drop(gate);
    let done = running.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fresh(ok(done)).operation.status, OperationStatus::Succeeded);
    assert!(matches!(ok(capture(&s, &q, None, Some(&k2)).await), Answered::Replayed(_)));
    assert_eq!(provider.sent().len(), 2);
}

#[tokio::test]
async fn thirty_concurrent_captures_with_one_key_call_once() {
    let (s, provider) = service();
    let p = authorized(&s, "order-1", 1000).await;
    let s = Arc::new(s);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (s, p) = (Arc::clone(&s), p.clone());
        requests.spawn(async move {
            let k = key("same", "");
            capture(&s, &p, None, Some(&k)).await
        });
    }
    let mut fresh_answers = 0;
    while let Some(done) = requests.join_next().await {
        match done.unwrap_or_else(|e| panic!("{e}")) {
            Ok(Answered::Fresh(r)) => {
                fresh_answers += 1;
                assert_eq!(r.operation.status, OperationStatus::Succeeded);
            }
            Ok(Answered::Replayed(r)) => assert_eq!(r.status, 201),
            Err(ServiceError::IdempotencyInProgress) => {}
            Err(e) => panic!("no other answer: {e}"),
        }
    }
    assert_eq!(fresh_answers, 1);
    assert_eq!(provider.sent().len(), 1);
}

/// A store that lets a competing change land just before the service's first write.
struct Meddling<S> {
    inner: S,
    meddle: std::sync::Mutex<Option<crate::payment::Transition>>,
    meddled: AtomicBool,
}

impl<S: Store> Store for Meddling<S> {
    async fn create_payment(&self, record: &NewPaymentRecord, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.create_payment(record, now).await
    }
    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
        self.inner.payment(id).await
    }
    async fn payment_by_track(&self, track_id: &TrackId) -> Result<Option<Payment>, StoreError> {
        self.inner.payment_by_track(track_id).await
    }
    async fn apply(&self, t: &crate::payment::Transition, i: Option<&IdempotencyRecord>) -> Result<(), StoreError> {
        let competing = self.meddle.lock().ok().and_then(|mut m| m.take());
        if let Some(competing) = competing {
            self.inner.apply(&competing, None).await?;
            self.meddled.store(true, Ordering::SeqCst);
        }
        self.inner.apply(t, i).await
    }
    async fn idempotency(&self, a: &str, k: &str, now: DateTime<Utc>) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency(a, k, now).await
    }
    async fn put_idempotency(
        &self,
        r: &IdempotencyRecord,
        e: Option<&IdempotencyRecord>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.put_idempotency(r, e, now).await
    }
    async fn audit_events(&self, id: &PaymentId) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit_events(id).await
    }
    async fn due(&self, minute: DateTime<Utc>) -> Result<Vec<crate::store::DueEntry>, StoreError> {
        self.inner.due(minute).await
    }
    async fn sweep_cursor(&self) -> Result<Option<crate::store::SweepCursor>, StoreError> {
        self.inner.sweep_cursor().await
    }
    async fn save_sweep_cursor(&self, minute: DateTime<Utc>, expected: Option<u64>) -> Result<(), StoreError> {
        self.inner.save_sweep_cursor(minute, expected).await
    }
    async fn list_payments(
        &self,
        filter: &crate::store::listing::ListFilter,
        positions: Option<&[crate::store::listing::ShardPosition]>,
        limit: usize,
    ) -> Result<crate::store::listing::ListPage, StoreError> {
        self.inner.list_payments(filter, positions, limit).await
    }
}

#[tokio::test]
async fn a_conflict_is_retried_from_a_fresh_read() {
    let (setup, _) = service();
    let p = authorized(&setup, "order-1", 1000).await;
    // A partial cancel of 100 lands between the capture's read and its write-ahead.
    let cancel = p.begin_cancel(OperationId::generate(), Some(yen(100)), setup.clock.now());
    let meddling = Meddling {
        inner: setup.store.clone(),
        meddle: std::sync::Mutex::new(cancel.ok()),
        meddled: AtomicBool::new(false),
    };
    let (s, provider) = service_on(meddling);
    let result = fresh(ok(s.operate(account(&setup), &p.id, OperationKind::Capture, None, None, &TestRender).await));
    assert!(s.store.meddled.load(Ordering::SeqCst));
    assert_eq!(result.operation.amount.value(), 900, "the capture was re-decided on the new version");
    assert_eq!(provider.sent().len(), 1);
    let after = ok(setup.store.payment(&p.id).await.map_err(ServiceError::from)).unwrap_or_else(|| panic!("payment"));
    assert_eq!((after.captured, after.cancelled), (900, 100));
}

#[tokio::test]
async fn operations_without_a_provider_call_settle_at_once() {
    let (s, provider) = service();
    let p = authorized(&s, "order-1", 1000).await;
    let partial =
        fresh(ok(s.operate(account(&s), &p.id, OperationKind::Cancel, Some(yen(300)), None, &TestRender).await));
    assert_eq!((partial.operation.status, partial.payment_status), (OperationStatus::Succeeded, Status::Authorized));
    assert_eq!(events(&s, &p.id).await.last(), Some(&EventKind::PaymentPartiallyCancelled));
    let pending = created(&s, "order-2", 500).await;
    let cancelled =
        fresh(ok(s.operate(account(&s), &pending.id, OperationKind::Cancel, None, None, &TestRender).await));
    assert_eq!(cancelled.payment_status, Status::Cancelled);
    assert!(provider.sent().is_empty());
}

#[tokio::test]
async fn creates_decide_by_key_and_reference() {
    let (s, _) = service();
    let request = CreatePayment {
        merchant_reference: "order-1".into(),
        amount: yen(200),
        return_url: "https://merchant.site/done".into(),
        metadata: Default::default(),
    };
    let k = IdempotencyKey::new(DEMO_ACCOUNT_ID, "c1".into(), "POST", "/v1/payments", b"a");
    let first = fresh(ok(s.create(account(&s), request.clone(), Some(&k), &TestRender).await));
    let replay = ok(s.create(account(&s), request.clone(), Some(&k), &TestRender).await);
    assert_eq!(replay, Answered::Replayed(StoredResponse { status: 201, body: format!("created {}", first.id) }));
    let other = IdempotencyKey::new(DEMO_ACCOUNT_ID, "c1".into(), "POST", "/v1/payments", b"b");
    assert_eq!(
        s.create(account(&s), request.clone(), Some(&other), &TestRender).await,
        Err(ServiceError::IdempotencyKeyReused)
    );
    assert_eq!(
        s.create(account(&s), request.clone(), None, &TestRender).await,
        Err(ServiceError::DuplicateReference(first.id.clone()))
    );
    // Once the holder is due, a create expires it and takes the reference.
    s.clock.advance(Duration::seconds(600 + 1800 + 1));
    let second = fresh(ok(s.create(account(&s), request, None, &TestRender).await));
    assert_ne!(second.id, first.id);
    assert_eq!(stored(&s, &first.id).await.status, Status::Expired);
}

#[tokio::test]
async fn notifications_follow_the_state_rule() {
    let (s, _) = service();
    let p = created(&s, "order-1", 1000).await;
    let mut wrong = approval(&s, &p);
    wrong.amount = 999;
    assert_eq!(ok(s.apply_notification(&wrong).await), NotificationOutcome::Refused(NotificationRefusal::Amount));
    assert_eq!(ok(s.apply_notification(&approval(&s, &p)).await), NotificationOutcome::Applied(Status::Authorized));
    assert_eq!(ok(s.apply_notification(&approval(&s, &p)).await), NotificationOutcome::AlreadyApplied);
    let mut unknown = approval(&s, &p);
    unknown.payment_id = PaymentId::generate();
    assert_eq!(ok(s.apply_notification(&unknown).await), NotificationOutcome::UnknownOrder);

    let q = created(&s, "order-2", 1000).await;
    ok(s.operate(account(&s), &q.id, OperationKind::Cancel, None, None, &TestRender).await);
    assert_eq!(
        ok(s.apply_notification(&approval(&s, &q)).await),
        NotificationOutcome::Refused(NotificationRefusal::NotPending)
    );
    let r = created(&s, "order-3", 1000).await;
    let mut declined = approval(&s, &r);
    declined.result = PurchaseResult::Declined { err_code: Some("402U1999".into()) };
    assert_eq!(ok(s.apply_notification(&declined).await), NotificationOutcome::Applied(Status::Declined));
    assert_eq!(ok(s.apply_notification(&declined).await), NotificationOutcome::AlreadyApplied);
}

#[tokio::test]
async fn another_accounts_payment_is_not_found() {
    let (s, _) = service();
    let p = authorized(&s, "order-1", 1000).await;
    let mut stranger = account(&s).clone();
    stranger.processing_account_id = "2HdOtherAccount000000000000".into();
    assert_eq!(s.payment(&stranger, &p.id).await, Err(ServiceError::PaymentNotFound));
    let refused = s.operate(&stranger, &p.id, OperationKind::Capture, None, None, &TestRender).await;
    assert_eq!(refused, Err(ServiceError::PaymentNotFound));
}
