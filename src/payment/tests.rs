//! Stories of the state machine, then property tests over random operation sequences.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn t0() -> DateTime<Utc> {
    // 2026-11-10 12:00 JST
    Utc.with_ymd_and_hms(2026, 11, 10, 3, 0, 0).single().unwrap_or_default()
}

fn yen(v: u64) -> Yen {
    Yen::new(v).unwrap_or_else(|e| panic!("{e}"))
}

fn new_payment(amount: u64, mode: CaptureMode) -> Payment {
    Payment::create(
        NewPayment {
            id: PaymentId::generate(),
            account_id: "acct".into(),
            merchant_reference: "order-1".into(),
            track_id: TrackId::generate(),
            amount: yen(amount),
            return_url: "https://merchant.site/done".into(),
            capture_mode: mode,
            limit_second: 600,
            expiry_grace: Duration::minutes(30),
            list_shard: 0,
            metadata: crate::payment::Metadata::default(),
        },
        t0(),
    )
    .0
}

fn authorized(amount: u64) -> Payment {
    new_payment(amount, CaptureMode::Manual)
        .authorize("00000616307348".into(), None, OperationId::generate(), t0())
        .map(|t| t.payment)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn ok(r: Result<Transition, StateError>) -> Transition {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn authorization_then_partial_capture_releases_the_rest() {
    let p = authorized(1000);
    let begun = ok(p.begin_capture(OperationId::generate(), Some(yen(600)), t0()));
    let op = begun.operation.clone().unwrap_or_else(|| panic!("an operation"));
    assert_eq!(op.status, OperationStatus::Pending);
    assert_eq!(op.provider_call, Some(ProviderCall::Capture { amount: Some(600) }));
    assert_eq!(begun.payment.status, Status::Authorized);
    let done = ok(begun.payment.settle(&op.id, Outcome::Succeeded, t0()));
    assert_eq!(done.payment.status, Status::Captured);
    assert_eq!((done.payment.captured, done.payment.cancelled), (600, 0));
    assert_eq!(done.event.seq, done.payment.version);
}

#[test]
fn a_full_capture_sends_no_amount() {
    let p = authorized(1000);
    let t = ok(p.begin_capture(OperationId::generate(), None, t0()));
    assert_eq!(t.operation.and_then(|o| o.provider_call), Some(ProviderCall::Capture { amount: None }));
}

#[test]
fn a_capture_after_a_partial_cancel_sends_the_lower_amount() {
    let p = authorized(1000);
    let cancelled = ok(p.begin_cancel(OperationId::generate(), Some(yen(300)), t0()));
    assert_eq!(cancelled.payment.cancelled, 300);
    assert_eq!(cancelled.operation.as_ref().map(|o| o.status), Some(OperationStatus::Succeeded));
    let second = cancelled.payment.begin_cancel(OperationId::generate(), Some(yen(100)), t0());
    assert_eq!(second, Err(StateError::OnceOnly { kind: OperationKind::Cancel }));
    let capture = ok(cancelled.payment.begin_capture(OperationId::generate(), None, t0()));
    assert_eq!(capture.operation.and_then(|o| o.provider_call), Some(ProviderCall::Capture { amount: Some(700) }));
}

#[test]
fn cancelling_a_captured_payment_names_the_state() {
    let p = authorized(1000);
    let begun = ok(p.begin_capture(OperationId::generate(), None, t0()));
    let op_id = begun.operation.as_ref().map(|o| o.id.clone()).unwrap_or_else(OperationId::generate);
    let captured = ok(begun.payment.settle(&op_id, Outcome::Succeeded, t0())).payment;
    let err = captured.begin_cancel(OperationId::generate(), None, t0()).err();
    assert_eq!(
        err.map(|e| e.to_string()),
        Some("This payment cannot cancel because its status is captured; expected pending or authorized.".into())
    );
}

#[test]
fn a_pending_operation_blocks_everything_else() {
    let p = authorized(1000);
    let begun = ok(p.begin_capture(OperationId::generate(), None, t0()));
    assert!(matches!(
        begun.payment.begin_cancel(OperationId::generate(), None, t0()),
        Err(StateError::OperationInProgress { .. })
    ));
}

#[test]
fn a_failed_operation_does_not_count_toward_once() {
    let p = authorized(1000);
    let begun = ok(p.begin_capture(OperationId::generate(), None, t0()));
    let op_id = begun.operation.as_ref().map(|o| o.id.clone()).unwrap_or_else(OperationId::generate);
    let reason = FailureReason { code: FailureCode::ProviderRefused, description: "y".into(), provider_code: None };
    let failed = ok(begun.payment.settle(&op_id, Outcome::Failed(reason), t0()));
    assert_eq!(failed.payment.status, Status::Authorized);
    assert!(failed.payment.begin_capture(OperationId::generate(), None, t0()).is_ok());
}

#[test]
fn pending_payments_expire_after_limit_and_grace_and_release_the_reference() {
    let p = new_payment(200, CaptureMode::Manual);
    assert!(p.expire_if_due(t0() + Duration::seconds(600 + 1800)).is_none());
    let t = p.expire_if_due(t0() + Duration::seconds(600 + 1801));
    let t = t.unwrap_or_else(|| panic!("due"));
    assert_eq!(t.payment.status, Status::Expired);
    assert!(t.release_reference);
    // A late notification finds it no longer pending.
    assert!(p.authorize("1".into(), None, OperationId::generate(), t0() + Duration::hours(1)).is_err());
}

#[test]
fn automatic_sales_capture_at_authorization() {
    let p = new_payment(500, CaptureMode::Automatic);
    let t = ok(p.authorize("1".into(), None, OperationId::generate(), t0()));
    assert_eq!(t.payment.status, Status::Captured);
    assert_eq!(t.payment.captured, 500);
    assert_eq!(t.operation.map(|o| (o.kind, o.status)), Some((OperationKind::Capture, OperationStatus::Succeeded)));
    let entry = t.ledger.unwrap_or_else(|| panic!("the sale is an entry"));
    assert_eq!((entry.kind, entry.amount, entry.month.as_str()), (EntryKind::Capture, 500, "2026-11"));
}

#[test]
fn money_back_is_a_cancellation_in_the_month_of_the_sale_and_a_refund_after_it() {
    let p = authorized(1000);
    // Part of the authorization cancelled before capture, and a failed capture: no money moved.
    let part = ok(p.begin_cancel(OperationId::generate(), Some(yen(200)), t0()));
    assert_eq!(part.operation.as_ref().map(|o| o.status), Some(OperationStatus::Succeeded));
    assert_eq!(part.ledger, None);
    let begun = ok(part.payment.begin_capture(OperationId::generate(), None, t0()));
    assert_eq!(begun.ledger, None, "a capture written ahead is not money yet");
    let op_id = begun.operation.as_ref().map(|o| o.id.clone()).unwrap_or_else(OperationId::generate);
    let captured = ok(begun.payment.settle(&op_id, Outcome::Succeeded, t0()));
    let sale = captured.ledger.clone().unwrap_or_else(|| panic!("the sale"));
    assert_eq!((sale.kind, sale.amount, sale.operation_id.clone()), (EntryKind::Capture, 800, op_id));
    assert_eq!(sale.id, format!("led_{}", sale.operation_id));
    // 2026-11-30 23:59 JST: still the month of the sale.
    let last_minute = Utc.with_ymd_and_hms(2026, 11, 30, 14, 59, 0).single().unwrap_or_default();
    let back = ok(captured.payment.begin_refund(OperationId::generate(), None, last_minute));
    let back_id = back.operation.as_ref().map(|o| o.id.clone()).unwrap_or_else(OperationId::generate);
    let same_month = ok(back.payment.clone().settle(&back_id, Outcome::Succeeded, last_minute));
    let entry = same_month.ledger.unwrap_or_else(|| panic!("money back"));
    assert_eq!((entry.kind, entry.amount, entry.month.as_str()), (EntryKind::Cancellation, -800, "2026-11"));
    // Confirmed a minute later, in December (Japan time): a refund, counted in December.
    let december = Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).single().unwrap_or_default();
    let next_month = ok(back.payment.clone().settle(&back_id, Outcome::Succeeded, december));
    let entry = next_month.ledger.unwrap_or_else(|| panic!("money back"));
    assert_eq!((entry.kind, entry.amount, entry.month.as_str()), (EntryKind::Refund, -800, "2026-12"));
    // A refund SBPS refused moves nothing.
    let refused = ok(back.payment.settle(
        &back_id,
        Outcome::Failed(FailureReason {
            code: FailureCode::ProviderRefused,
            description: "refused".into(),
            provider_code: None,
        }),
        december,
    ));
    assert_eq!(refused.ledger, None);
}

#[test]
fn partial_refunds_wait_for_the_next_month_in_japan() {
    let p = authorized(1000);
    let begun = ok(p.begin_capture(OperationId::generate(), None, t0()));
    let op_id = begun.operation.as_ref().map(|o| o.id.clone()).unwrap_or_else(OperationId::generate);
    let captured = ok(begun.payment.settle(&op_id, Outcome::Succeeded, t0())).payment;
    assert!(matches!(
        captured.begin_refund(OperationId::generate(), Some(yen(100)), t0()),
        Err(StateError::PartialRefundNotYetAvailable { .. })
    ));
    // Full refunds are fine in the month of the sale.
    assert!(captured.begin_refund(OperationId::generate(), None, t0()).is_ok());
    // 2026-12-01 00:00 JST.
    let december = Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).single().unwrap_or_default();
    let refund = ok(captured.begin_refund(OperationId::generate(), Some(yen(100)), december));
    assert_eq!(
        refund.operation.and_then(|o| o.provider_call),
        Some(ProviderCall::CancelOrRefund { amount: Some(100) })
    );
    // 2027-02-01 00:00 JST: too late.
    let february = Utc.with_ymd_and_hms(2027, 1, 31, 15, 0, 0).single().unwrap_or_default();
    assert_eq!(captured.begin_refund(OperationId::generate(), None, february), Err(StateError::RefundPeriodExpired));
}

#[test]
fn amounts_over_what_remains_are_refused() {
    let p = authorized(1000);
    assert_eq!(
        p.begin_capture(OperationId::generate(), Some(yen(1001)), t0()),
        Err(StateError::AmountExceedsRemaining { requested: 1001, available: 1000 })
    );
}

// ---- properties -------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Command {
    Authorize,
    Decline,
    Capture(Option<u64>),
    Cancel(Option<u64>),
    Refund(Option<u64>),
    SettleOk,
    SettleFail,
    Wait(i64),
}

fn command() -> impl Strategy<Value = Command> {
    let amount = prop::option::of(1u64..1200);
    prop_oneof![
        Just(Command::Authorize),
        Just(Command::Decline),
        amount.clone().prop_map(Command::Capture),
        amount.clone().prop_map(Command::Cancel),
        amount.prop_map(Command::Refund),
        Just(Command::SettleOk),
        Just(Command::SettleFail),
        (0i64..40 * 24 * 3600).prop_map(Command::Wait),
    ]
}

fn run(p: &Payment, cmd: &Command, now: DateTime<Utc>) -> Option<Result<Transition, StateError>> {
    let amount = |a: &Option<u64>| a.map(yen);
    let pending = p.pending_operation().map(|o| o.id.clone());
    Some(match cmd {
        Command::Authorize => p.authorize("00000616307348".into(), None, OperationId::generate(), now),
        Command::Decline => p.decline(Some("40234999".into()), now),
        Command::Capture(a) => p.begin_capture(OperationId::generate(), amount(a), now),
        Command::Cancel(a) => p.begin_cancel(OperationId::generate(), amount(a), now),
        Command::Refund(a) => p.begin_refund(OperationId::generate(), amount(a), now),
        Command::SettleOk => p.settle(&pending?, Outcome::Succeeded, now),
        Command::SettleFail => p.settle(
            &pending?,
            Outcome::Failed(FailureReason {
                code: FailureCode::ProviderRefused,
                description: "refused".into(),
                provider_code: None,
            }),
            now,
        ),
        Command::Wait(_) => return None,
    })
}

proptest! {
    // 3,000 in CI; `PROPTEST_CASES` (scripts/long: 10,000) for more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn invariants_hold_over_any_sequence(
        amount in 1u64..1000,
        automatic in any::<bool>(),
        commands in prop::collection::vec(command(), 1..25),
    ) {
        let mode = if automatic { CaptureMode::Automatic } else { CaptureMode::Manual };
        let mut p = new_payment(amount, mode);
        let mut now = t0();
        let mut released = false;
        let mut entries: Vec<LedgerEntry> = Vec::new();
        for cmd in &commands {
            if let Command::Wait(s) = cmd {
                now += Duration::seconds(*s);
            }
            if let Some(t) = p.expire_if_due(now) {
                released |= t.release_reference;
                p = t.payment;
            }
            let Some(result) = run(&p, cmd, now) else { continue };
            let Ok(t) = result else { continue };
            let before = p.clone();
            prop_assert!(!before.status.is_terminal(), "terminal {} changed by {:?}", before.status, cmd);
            prop_assert_eq!(t.payment.version, before.version + 1);
            prop_assert_eq!(t.event.seq, t.payment.version);
            prop_assert!(t.payment.check_invariants().is_ok(), "{:?}", t.payment.check_invariants());
            // Every amount change comes with exactly one operation record.
            let amounts = |q: &Payment| (q.captured, q.cancelled, q.refunded);
            if amounts(&before) != amounts(&t.payment) {
                prop_assert!(t.operation.is_some(), "amounts changed without an operation: {:?}", cmd);
            }
            // Money moved exactly when the transition carries a ledger entry, of that movement.
            let moved = i64::from(t.payment.captured) - i64::from(t.payment.refunded)
                - (i64::from(before.captured) - i64::from(before.refunded));
            prop_assert_eq!(t.ledger.as_ref().map_or(0, |e| e.amount), moved, "{:?}", cmd);
            if let Some(entry) = &t.ledger {
                prop_assert!(entry.amount != 0);
                prop_assert_eq!(Some(&entry.operation_id), t.operation.as_ref().map(|o| &o.id));
                entries.push(entry.clone());
            }
            prop_assert!(!(released && t.release_reference), "reference released twice");
            released |= t.release_reference;
            p = t.payment;
        }
        // Totals equal the succeeded operations that made them.
        let sum = |kind: OperationKind| -> u32 {
            p.operations.iter()
                .filter(|o| o.kind == kind && o.status == OperationStatus::Succeeded)
                .map(|o| o.amount.value())
                .sum()
        };
        prop_assert_eq!(p.captured, sum(OperationKind::Capture));
        prop_assert_eq!(p.cancelled_total(), sum(OperationKind::Cancel));
        if p.status == Status::Cancelled && p.authorized == 0 {
            prop_assert_eq!(p.cancelled_total(), p.amount.value(), "a cancelled pending payment shows its amount cancelled");
        }
        prop_assert_eq!(p.refunded, sum(OperationKind::Refund));
        if p.authorized > 0 {
            prop_assert_eq!(p.cancelled, sum(OperationKind::Cancel));
        }
        prop_assert_eq!(released, p.status.releases_reference());
        prop_assert!(u64::from(p.authorized) <= amount);
        // One entry per succeeded capture and refund, and they sum to what the payment holds.
        let moving = p.operations.iter()
            .filter(|o| o.status == OperationStatus::Succeeded && matches!(o.kind, OperationKind::Capture | OperationKind::Refund))
            .count();
        prop_assert_eq!(entries.len(), moving);
        prop_assert_eq!(entries.iter().map(|e| e.amount).sum::<i64>(), i64::from(p.captured) - i64::from(p.refunded));
    }
}
