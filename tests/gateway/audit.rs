//! The audit (src/audit.rs, the `audit` binary) on both stores: a whole lifecycle audits
//! clean; loose ends left with the sweeper stopped (a pending payment past its expiry, a
//! capture pending past its lock window, a delivery overdue) are each found, and gone once the
//! sweeper and the deliveries ran; an amount written without its operation is found; the
//! binary answers 0, 1 or 2 as the runbook says.

use crate::common;

use chrono::Duration;
use common::hooks::Hooked;
use kantan::audit::{FindingKind, Report, SbpsCall};
use kantan::local::background::LocalOutbox;
use kantan::local::sandbox::Fault;
use kantan::payment::{EventKind, Payment, Status};
use kantan::store::{SqliteStore, Store};

/// The audit as of the app clock, reconciled with the sandbox's SBPS call log.
async fn audit<S: LocalOutbox>(h: &Hooked<S>) -> Report {
    audit_with(h, &h.local.sbps_calls()).await
}

async fn audit_with<S: LocalOutbox>(h: &Hooked<S>, calls: &[SbpsCall]) -> Report {
    let service = &h.local.app.service;
    kantan::audit::run(&service.store, &service.accounts, service.policy.lock_window, service.clock.now(), Some(calls))
        .await
        .expect("the audit reads the store")
}

fn kinds(report: &Report) -> Vec<FindingKind> {
    report.findings.iter().map(|f| f.kind).collect()
}

/// A capture of `amount` written straight to the store, with its event but no operation: what
/// a bug in the money path would leave.
async fn capture_without_operation<S: Store>(store: &S, payment: &Payment, amount: u32) {
    let mut next = payment.clone();
    next.version += 1;
    next.captured = amount;
    next.status = Status::Captured;
    let event = kantan::payment::AuditEvent {
        seq: next.version,
        kind: EventKind::PaymentCaptured,
        at: payment.updated_at,
        from_status: Some(payment.status),
        to_status: Status::Captured,
        operation_id: None,
        amount: Some(amount),
        detail: None,
        outbox: None,
    };
    let transition = kantan::payment::Transition {
        payment: next,
        operation: None,
        event,
        release_reference: false,
        wake_at: None,
        ledger: None,
    };
    store.apply(&transition, None).await.expect("the store takes it: no stored invariant is broken");
}

on_both_stores!(loose_ends_are_found_until_the_sweeper_ties_them);
async fn loose_ends_are_found_until_the_sweeper_ties_them<S: LocalOutbox>(h: Hooked<S>) {
    h.register("shop", &[]).await;
    h.register("down", &[]).await;
    h.answer("down", 500, 1000).await;

    // A whole lifecycle, and a cancelled payment: clean.
    let sold = h.local.authorized("audit-sold", 1000).await;
    assert_eq!(h.local.op(&sold, "captures", Some(600), None).await.status, 201);
    assert_eq!(h.local.op(&sold, "refunds", None, None).await.status, 201);
    let voided = h.local.authorized("audit-voided", 500).await;
    assert_eq!(h.local.op(&voided, "cancels", Some(200), None).await.status, 201, "partial cancel");
    assert_eq!(h.local.op(&voided, "cancels", None, None).await.status, 201);
    h.run_until_idle().await;
    let report = audit(&h).await;
    assert!(report.is_clean(), "{}", report.to_text());
    assert_eq!(report.payments, 2);
    assert!(report.operations >= 4 && report.deliveries >= 8, "{report:?}");

    // Loose ends, with nothing running in the background for an hour: an unpaid payment past
    // its expiry, a capture left pending by an SBPS timeout, deliveries to `down` overdue.
    let unpaid = h.local.create("audit-unpaid", 300).await["id"].as_str().expect("id").to_owned();
    let late = h.local.authorized("audit-late", 700).await;
    h.local.sandbox.inject(vec![Fault::Delay { millis: 1500 }]);
    assert_eq!(h.local.op(&late, "captures", None, None).await.status, 202);
    h.run_until_idle().await;
    let pending_until = h.stored(&unpaid).await.pending_until;
    h.local.app.service.clock.set(pending_until + Duration::hours(1));
    let report = audit(&h).await;
    let found = kinds(&report);
    assert!(found.contains(&FindingKind::PendingPastExpiry), "{}", report.to_text());
    assert!(found.contains(&FindingKind::OperationPastLockWindow), "{}", report.to_text());
    assert!(found.contains(&FindingKind::EventNotDelivered), "{}", report.to_text());
    let of = |kind: FindingKind| {
        report.findings.iter().filter(|f| f.kind == kind).map(|f| f.payment_id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(of(FindingKind::PendingPastExpiry), vec![unpaid.clone()]);
    assert_eq!(of(FindingKind::OperationPastLockWindow), vec![late.clone()]);
    assert!(
        !found.iter().any(|k| matches!(
            k,
            FindingKind::BrokenInvariant
                | FindingKind::AmountWithoutOperation
                | FindingKind::AmountWithoutEvent
                | FindingKind::EventWithoutOperation
                | FindingKind::BrokenEventChain
        )),
        "loose ends are not broken money: {}",
        report.to_text()
    );

    // The sweeper and the deliveries catch up: expired, captured, retried (and still failing,
    // but on schedule).
    h.run_until_idle().await;
    assert_eq!(h.stored(&unpaid).await.status, Status::Expired);
    assert_eq!(h.stored(&late).await.status, Status::Captured);
    let report = audit(&h).await;
    assert!(report.is_clean(), "{}", report.to_text());

    // SBPS's books against ours: a call SBPS performed that no operation asked for, and an
    // operation whose call is missing from the log.
    let calls = h.local.sbps_calls();
    let sold_tracking = h.stored(&sold).await.sbps.tracking_id.expect("tracking id");
    let mut doubled = calls.clone();
    doubled.push(SbpsCall {
        function_id: "ST02-00201-402".into(),
        tracking_id: sold_tracking.clone(),
        amount: Some(600),
        performed: true,
    });
    let report = audit_with(&h, &doubled).await;
    assert_eq!(kinds(&report), [FindingKind::SbpsCallWithoutOperation], "{}", report.to_text());
    assert_eq!(report.findings[0].payment_id, sold);
    let missing: Vec<SbpsCall> = calls
        .iter()
        .filter(|c| !(c.tracking_id == sold_tracking && c.function_id == "ST02-00303-402"))
        .cloned()
        .collect();
    let report = audit_with(&h, &missing).await;
    assert_eq!(kinds(&report), [FindingKind::OperationWithoutSbpsCall], "the refund's call: {}", report.to_text());

    // An amount written without its operation.
    let voided_payment = h.stored(&voided).await;
    let authorized = h.local.authorized("audit-forged", 900).await;
    capture_without_operation(&h.local.app.service.store, &h.stored(&authorized).await, 900).await;
    let report = audit(&h).await;
    let found = kinds(&report);
    assert!(found.contains(&FindingKind::AmountWithoutOperation), "{}", report.to_text());
    assert!(found.contains(&FindingKind::EventWithoutOperation), "{}", report.to_text());
    assert!(
        report.findings.iter().all(|f| f.payment_id == authorized),
        "only the forged payment: {}",
        report.to_text()
    );
    assert_eq!(voided_payment.status, Status::Cancelled);
}

fn audit_binary(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(args)
        .env_remove("TABLE_NAME")
        .env_remove("ACCOUNTS_SECRET_ID")
        .env_remove("ACCOUNTS_FILE")
        .env_remove("ACCOUNTS_JSON")
        .env("KANTAN_DB_PATH", db)
        .output()
        .expect("the audit binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_binary_answers_0_clean_1_findings_2_unreadable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("audit.sqlite");
    let app = common::app_on(SqliteStore::open(&db).expect("store"));
    let created = common::create(&app, "binary-1").await;
    let id = created["id"].as_str().expect("id").to_owned();

    let clean = audit_binary(&db, &["--json"]);
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stderr));
    let report: serde_json::Value = serde_json::from_slice(&clean.stdout).expect("JSON report");
    assert_eq!(report["payments"], 1);
    assert_eq!(report["findings"], serde_json::json!([]));

    // A pending payment cannot be captured: force one that is, with no operation.
    let mut payment = app.service.store.payment(&id.parse().expect("id")).await.expect("read").expect("payment");
    payment.status = Status::Authorized;
    payment.authorized = payment.amount.value();
    capture_without_operation(&app.service.store, &payment, 100).await;
    let found = audit_binary(&db, &[]);
    assert_eq!(found.status.code(), Some(1));
    let text = String::from_utf8_lossy(&found.stdout);
    assert!(
        text.contains(&format!("amount_without_operation account=2HdN2jq6XWmlkhqRC2gDTNYCvNH payment={id}")),
        "{text}"
    );
    assert!(text.lines().last().is_some_and(|l| l.starts_with("audited 1 payments")), "{text}");

    assert_eq!(audit_binary(&dir.path().join("missing.sqlite"), &[]).status.code(), Some(2));
    assert_eq!(audit_binary(&db, &["--yaml"]).status.code(), Some(2));

    // With SBPS's call log: a capture SBPS performed for a tracking id no payment has.
    let log = dir.path().join("calls.json");
    let stray = serde_json::json!({"calls": [{"functionId": "ST02-00201-402", "trackingId": "00000000000042",
        "amount": null, "result": "OK", "errCode": "", "performed": true}]});
    std::fs::write(&log, stray.to_string()).expect("log");
    let log_arg = log.to_str().expect("path");
    let reconciled = audit_binary(&db, &["--json", "--sbps-calls", log_arg]);
    assert_eq!(reconciled.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&reconciled.stdout).expect("JSON report");
    let kinds: Vec<&str> =
        report["findings"].as_array().into_iter().flatten().filter_map(|f| f["kind"].as_str()).collect();
    assert!(kinds.contains(&"sbps_call_without_operation"), "{report}");
    std::fs::write(&log, "[]").expect("log");
    assert_eq!(audit_binary(&db, &["--sbps-calls", log_arg]).status.code(), Some(2), "not a call log");
    assert_eq!(audit_binary(&db, &["--sbps-calls"]).status.code(), Some(2), "no file");
}
