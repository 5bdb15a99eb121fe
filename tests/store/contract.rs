//! The store contract of DESIGN §5, written once and run against every adapter.

use crate::common;

use chrono::Duration;
use common::start;
use kantan::ids::{OperationId, PaymentId, TrackId};
use kantan::money::Yen;
use kantan::payment::{CaptureMode, EntryKind, NewPayment, Outcome, Payment, Status};
use kantan::store::ledger::{LedgerFilter, MonthTotals};
use kantan::store::{
    IdempotencyRecord, IdempotencyState, NewPaymentRecord, Persistence, SqliteStore, StoreError, StoredResponse,
};

fn new_record(account: &str, reference: &str, key: Option<&str>) -> NewPaymentRecord {
    let (payment, event) = Payment::create(
        NewPayment {
            id: PaymentId::generate(),
            account_id: account.into(),
            merchant_reference: reference.into(),
            track_id: TrackId::generate(),
            amount: Yen::new(1000).expect("yen"),
            return_url: "https://merchant.site/done".into(),
            capture_mode: CaptureMode::Manual,
            limit_second: 600,
            expiry_grace: Duration::minutes(30),
            list_shard: 0,
            metadata: kantan::payment::Metadata::default(),
        },
        start(),
    );
    NewPaymentRecord { idempotency: key.map(|k| idem(account, k, "hash-1")), payment, event }
}

fn idem(account: &str, key: &str, hash: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        account_id: account.into(),
        key: key.into(),
        request_hash: hash.into(),
        state: IdempotencyState::Completed,
        response: Some(StoredResponse { status: 201, body: "{\"id\":1}".into() }),
        payment_id: None,
        operation_id: None,
        locked_until: None,
        claim_token: None,
        expires_at: start() + Duration::hours(24),
    }
}

pub async fn create_then_read_back<S: Persistence>(store: S) {
    let r = new_record("acct", "ref-1", Some("k1"));
    store.create_payment(&r, start()).await.expect("create");
    let read = store.payment(&r.payment.id).await.expect("read").expect("present");
    assert_eq!(read, r.payment);
    let by_track = store.payment_by_track(&r.payment.track_id).await.expect("read").expect("present");
    assert_eq!(by_track.id, r.payment.id);
    assert_eq!(store.idempotency("acct", "k1", start()).await.expect("idem"), r.idempotency);
    let events = store.audit_events(&r.payment.id).await.expect("events");
    assert_eq!(events, vec![r.event.clone()]);
    assert!(store.payment(&PaymentId::generate()).await.expect("read").is_none());
    assert!(store.payment_by_track(&TrackId::generate()).await.expect("read").is_none());
}

pub async fn duplicate_reference_writes_nothing<S: Persistence>(store: S) {
    let first = new_record("acct", "ref-1", None);
    store.create_payment(&first, start()).await.expect("create");
    let second = new_record("acct", "ref-1", Some("k2"));
    assert_eq!(
        store.create_payment(&second, start()).await,
        Err(StoreError::DuplicateReference(first.payment.id.clone()))
    );
    assert!(store.payment(&second.payment.id).await.expect("read").is_none());
    assert!(store.payment_by_track(&second.payment.track_id).await.expect("read").is_none());
    assert!(store.idempotency("acct", "k2", start()).await.expect("idem").is_none());
    // Another account has its own references.
    store.create_payment(&new_record("other", "ref-1", None), start()).await.expect("create");
}

pub async fn taken_idempotency_key_writes_nothing<S: Persistence>(store: S) {
    let first = new_record("acct", "ref-1", Some("k1"));
    store.create_payment(&first, start()).await.expect("create");
    let second = new_record("acct", "ref-2", Some("k1"));
    // The live record comes back with the refusal: deciding a replay costs no second read.
    assert_eq!(
        store.create_payment(&second, start()).await,
        Err(StoreError::IdempotencyKeyTaken(first.idempotency.clone().map(Box::new)))
    );
    assert!(store.payment(&second.payment.id).await.expect("read").is_none());
    // ref-2 is still free.
    store.create_payment(&new_record("acct", "ref-2", None), start()).await.expect("create");
    // An expired record is absent: the key may be used again.
    let later = start() + Duration::hours(25);
    assert!(store.idempotency("acct", "k1", later).await.expect("idem").is_none());
    let mut third = new_record("acct", "ref-3", Some("k1"));
    if let Some(i) = third.idempotency.as_mut() {
        i.expires_at = later + Duration::hours(24);
    }
    store.create_payment(&third, later).await.expect("create over an expired key");
}

pub async fn changes_are_conditioned_on_version<S: Persistence>(store: S) {
    let r = new_record("acct", "ref-1", None);
    store.create_payment(&r, start()).await.expect("create");
    let authorized =
        r.payment.authorize("00000616307348".into(), None, OperationId::generate(), start()).expect("authorize");
    store.apply(&authorized, None).await.expect("apply");
    // The same transition again is stale.
    assert_eq!(store.apply(&authorized, None).await, Err(StoreError::VersionConflict));
    // So is a different change made from the old version.
    let declined = r.payment.decline(Some("x".into()), start()).expect("decline");
    assert_eq!(store.apply(&declined, None).await, Err(StoreError::VersionConflict));
    let read = store.payment(&r.payment.id).await.expect("read").expect("present");
    assert_eq!(read.status, Status::Authorized);
    assert_eq!(read.version, 2);
}

pub async fn operations_and_events_are_written_with_the_payment<S: Persistence>(store: S) {
    let r = new_record("acct", "ref-1", None);
    store.create_payment(&r, start()).await.expect("create");
    let t = r.payment.authorize("00000616307348".into(), None, OperationId::generate(), start()).expect("authorize");
    store.apply(&t, None).await.expect("apply");
    let begun =
        t.payment.begin_capture(OperationId::generate(), Some(Yen::new(600).expect("yen")), start()).expect("capture");
    let key = idem("acct", "cap-1", "h");
    store.apply(&begun, Some(&key)).await.expect("apply");
    let op_id = begun.operation.as_ref().map(|o| o.id.clone()).expect("op");
    let settled = begun.payment.settle(&op_id, Outcome::Succeeded, start()).expect("settle");
    store.apply(&settled, None).await.expect("apply");

    let read = store.payment(&r.payment.id).await.expect("read").expect("present");
    assert_eq!(read, settled.payment);
    assert_eq!(read.operations.len(), 1);
    assert_eq!(read.captured, 600);
    let kinds: Vec<String> = store
        .audit_events(&r.payment.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect();
    assert_eq!(kinds, ["payment.created", "payment.authorized", "operation.requested", "payment.captured"]);
    assert_eq!(store.idempotency("acct", "cap-1", start()).await.expect("idem"), Some(key));
}

pub async fn ending_without_money_releases_the_reference<S: Persistence>(store: S) {
    let r = new_record("acct", "ref-1", None);
    store.create_payment(&r, start()).await.expect("create");
    let expired = r.payment.expire_if_due(start() + Duration::hours(1)).expect("due");
    store.apply(&expired, None).await.expect("apply");
    store.create_payment(&new_record("acct", "ref-1", None), start()).await.expect("reference released");
}

pub async fn invariant_breaking_writes_are_refused<S: Persistence>(store: S) {
    let r = new_record("acct", "ref-1", None);
    store.create_payment(&r, start()).await.expect("create");
    let mut t = r.payment.authorize("1".into(), None, OperationId::generate(), start()).expect("authorize");
    t.payment.captured = 2000;
    assert!(matches!(store.apply(&t, None).await, Err(StoreError::Invariant(_))));
    assert_eq!(store.payment(&r.payment.id).await.expect("read").expect("present").version, 1);
}

pub async fn idempotency_records_are_claimed_once<S: Persistence>(store: S) {
    let mut claim = idem("acct", "k", "h");
    claim.state = IdempotencyState::InProgress;
    claim.response = None;
    claim.locked_until = Some(start() + Duration::seconds(30));
    store.put_idempotency(&claim, None, start()).await.expect("claim");
    assert!(matches!(store.put_idempotency(&claim, None, start()).await, Err(StoreError::IdempotencyKeyTaken(_))));
    let done = idem("acct", "k", "h");
    store.put_idempotency(&done, Some(&claim), start()).await.expect("complete");
    assert!(matches!(
        store.put_idempotency(&done, Some(&claim), start()).await,
        Err(StoreError::IdempotencyKeyTaken(_))
    ));
    assert_eq!(store.idempotency("acct", "k", start()).await.expect("read"), Some(done));
}

pub async fn a_settle_that_moves_money_writes_one_entry_and_its_month<S: Persistence>(store: S) {
    let r = new_record("acct", "ref-1", None);
    store.create_payment(&r, start()).await.expect("create");
    let t = r.payment.authorize("00000616307348".into(), None, OperationId::generate(), start()).expect("authorize");
    assert!(t.ledger.is_none(), "an authorization moves no money");
    store.apply(&t, None).await.expect("apply");
    let begun =
        t.payment.begin_capture(OperationId::generate(), Some(Yen::new(600).expect("yen")), start()).expect("capture");
    assert!(begun.ledger.is_none(), "a write-ahead moves no money yet");
    store.apply(&begun, None).await.expect("apply");
    let op_id = begun.operation.as_ref().map(|o| o.id.clone()).expect("op");
    let settled = begun.payment.settle(&op_id, Outcome::Succeeded, start()).expect("settle");
    let entry = settled.ledger.clone().expect("a capture is an entry");
    assert_eq!((entry.kind, entry.amount, entry.month.as_str()), (EntryKind::Capture, 600, "2030-11"));
    store.apply(&settled, None).await.expect("apply");
    // The same settle again (a retry, a resend's late answer) is stale: still one entry.
    assert_eq!(store.apply(&settled, None).await, Err(StoreError::VersionConflict));
    assert_eq!(store.payment_ledger(&r.payment.id).await.expect("ledger"), vec![entry.clone()]);
    let mut want = MonthTotals::default();
    want.add(EntryKind::Capture, 600);
    assert_eq!(store.month_totals("acct", "2030-11").await.expect("totals"), want);
    // A later change that claimed the same entry again writes nothing at all.
    let read = store.payment(&r.payment.id).await.expect("read").expect("present");
    let mut again = read.begin_refund(OperationId::generate(), None, start()).expect("refund");
    again.ledger = Some(entry.clone());
    assert!(store.apply(&again, None).await.is_err());
    assert_eq!(store.payment(&r.payment.id).await.expect("read").expect("present"), read);
    assert_eq!(store.payment_ledger(&r.payment.id).await.expect("ledger").len(), 1);
    assert_eq!(store.month_totals("acct", "2030-11").await.expect("totals"), want);
    // The whole amount back in the month of the sale: a cancellation of it.
    let refund = read.begin_refund(OperationId::generate(), None, start() + Duration::days(1)).expect("refund");
    store.apply(&refund, None).await.expect("apply");
    let refund_id = refund.operation.as_ref().map(|o| o.id.clone()).expect("op");
    let back = refund.payment.settle(&refund_id, Outcome::Succeeded, start() + Duration::days(1)).expect("settle");
    store.apply(&back, None).await.expect("apply");
    want.add(EntryKind::Cancellation, -600);
    assert_eq!(store.month_totals("acct", "2030-11").await.expect("totals"), want);
    assert_eq!(want.net(), 0);
    assert_eq!(store.month_totals("acct", "2030-12").await.expect("totals"), MonthTotals::default());
    assert_eq!(store.month_totals("other", "2030-11").await.expect("totals"), MonthTotals::default());
    // Read back through the index, newest first, by kind and by account.
    let filter = |kinds: Vec<EntryKind>, account: &str| LedgerFilter {
        account_id: account.into(),
        shards: 1,
        kinds,
        from: None,
        to: None,
    };
    let page = store.ledger_page(&filter(vec![], "acct"), None, 10).await.expect("page");
    let kinds: Vec<EntryKind> = page.entries.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EntryKind::Cancellation, EntryKind::Capture]);
    assert!(page.is_last());
    let first = store.ledger_page(&filter(vec![], "acct"), None, 1).await.expect("page");
    assert_eq!(first.entries.len(), 1);
    let rest = store.ledger_page(&filter(vec![], "acct"), Some(&first.positions), 1).await.expect("page");
    assert_eq!(rest.entries, vec![entry]);
    let captures = store.ledger_page(&filter(vec![EntryKind::Capture], "acct"), None, 10).await.expect("page");
    assert_eq!(captures.entries.len(), 1);
    assert!(store.ledger_page(&filter(vec![], "other"), None, 10).await.expect("page").entries.is_empty());
}

macro_rules! contract {
    ($adapter:ident, $make:expr) => {
        mod $adapter {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test]
            async fn create_then_read_back() {
                super::create_then_read_back($make.await).await
            }
            #[tokio::test]
            async fn duplicate_reference_writes_nothing() {
                super::duplicate_reference_writes_nothing($make.await).await
            }
            #[tokio::test]
            async fn taken_idempotency_key_writes_nothing() {
                super::taken_idempotency_key_writes_nothing($make.await).await
            }
            #[tokio::test]
            async fn changes_are_conditioned_on_version() {
                super::changes_are_conditioned_on_version($make.await).await
            }
            #[tokio::test]
            async fn operations_and_events_are_written_with_the_payment() {
                super::operations_and_events_are_written_with_the_payment($make.await).await
            }
            #[tokio::test]
            async fn ending_without_money_releases_the_reference() {
                super::ending_without_money_releases_the_reference($make.await).await
            }
            #[tokio::test]
            async fn invariant_breaking_writes_are_refused() {
                super::invariant_breaking_writes_are_refused($make.await).await
            }
            #[tokio::test]
            async fn a_settle_that_moves_money_writes_one_entry_and_its_month() {
                super::a_settle_that_moves_money_writes_one_entry_and_its_month($make.await).await
            }
            #[tokio::test]
            async fn idempotency_records_are_claimed_once() {
                super::idempotency_records_are_claimed_once($make.await).await
            }
        }
    };
}

contract!(sqlite, async { SqliteStore::in_memory().expect("store") });
contract!(dynamodb, common::dynamo::store());
