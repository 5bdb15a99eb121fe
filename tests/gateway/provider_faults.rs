//! Every SBPS fault against every operation, on both stores: a delay past the gateway's timeout,
//! a 500, a 503, a reset, the call processed with its answer lost, and each SBPS error-code
//! family, against a capture, a full cancel and a full refund. Each operation is retried with
//! its key after the lock window and the sweeper runs; then the payment and SBPS's books must
//! agree: one money movement if the operation succeeded, none if it failed, never two.

use crate::common;

use chrono::Duration;
use common::hooks::Hooked;
use kantan::local::background::LocalOutbox;
use kantan::local::sandbox::Fault;
use kantan::payment::OperationStatus;

fn faults() -> Vec<(&'static str, Fault)> {
    let error = |code: &str| Fault::Error { code: code.into() };
    vec![
        ("delay past the timeout", Fault::Delay { millis: 1500 }),
        ("HTTP 500", Fault::Status { status: 500 }),
        ("HTTP 503", Fault::Status { status: 503 }),
        ("reset", Fault::Reset),
        ("processed, answer lost", Fault::Lost),
        ("22 more than remains", error("40222000")),
        ("28 partial refund too early", error("40228000")),
        ("29 billing run pending", error("40229000")),
        ("31 refund period over", error("40231000")),
        ("33 capture period over", error("40233000")),
        ("36 still processing", error("40236000")),
        ("09 checksum", error("40209000")),
        ("14 merchant ids", error("40214000")),
        ("90 system busy", error("40290000")),
    ]
}

on_both_stores!(every_fault_against_every_operation_moves_money_once_at_most);
async fn every_fault_against_every_operation_moves_money_once_at_most<S: LocalOutbox>(h: Hooked<S>) {
    let mut broken = Vec::new();
    let mut runs = 0;
    for (kind, function) in
        [("captures", "ST02-00201-402"), ("cancels", "ST02-00303-402"), ("refunds", "ST02-00303-402")]
    {
        for (n, (name, fault)) in faults().into_iter().enumerate() {
            runs += 1;
            let reference = format!("fault-{kind}-{n}");
            let id = if kind == "refunds" {
                h.local.captured(&reference, 1000).await
            } else {
                h.local.authorized(&reference, 1000).await
            };
            let key = format!("key-{kind}-{n}");
            h.local.sandbox.inject(vec![fault]);
            let first = h.local.op(&id, kind, None, Some(&key)).await;
            h.local.sandbox.inject(Vec::new());
            // The merchant retries with the same key after the lock window; the sweeper runs too.
            h.local.app.service.clock.advance(Duration::minutes(2));
            let retry = h.local.op(&id, kind, None, Some(&key)).await;
            h.local.app.service.clock.advance(Duration::minutes(2));
            h.run_until_idle().await;

            let payment = h.stored(&id).await;
            let findings = h.local.audit_one(&payment).await;
            let tracking = payment.sbps.tracking_id.clone().unwrap_or_default();
            let performed = h
                .local
                .sbps_calls()
                .iter()
                .filter(|c| c.tracking_id == tracking && c.performed && c.function_id == function)
                .count();
            // One movement per succeeded operation of this kind (`captures` -> `capture`, ...).
            let singular = kind.trim_end_matches('s');
            let expected = payment
                .operations
                .iter()
                .filter(|op| op.kind.as_str() == singular && op.status == OperationStatus::Succeeded)
                .count();
            let still_pending = payment.operations.iter().any(|op| op.status == OperationStatus::Pending);
            if !findings.is_empty() || performed != expected || performed > 1 || still_pending {
                broken.push(format!(
                    "{kind} / {name}: first {} then {}, {performed} performed, pending {still_pending}, findings {:?}",
                    first.status,
                    retry.status,
                    findings.iter().map(|f| &f.detail).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert_eq!(runs, 42);
    assert!(broken.is_empty(), "{broken:#?}");
}

on_both_stores!(a_configuration_fault_after_a_lost_answer_leaves_the_operation_pending);
/// Found by the random sequences (seed 4871): a capture SBPS performed but whose answer was lost,
/// then a resend refused for the gateway's checksum. The refusal says nothing about the first
/// call, so the capture stays pending (it used to fail, and a later cancel refunded at SBPS what
/// the gateway recorded as cancelled); the next resend finds it done.
async fn a_configuration_fault_after_a_lost_answer_leaves_the_operation_pending<S: LocalOutbox>(h: Hooked<S>) {
    let id = h.local.authorized("lost-then-config", 4468).await;
    h.local.sandbox.inject(vec![Fault::Lost]);
    assert_eq!(h.local.op(&id, "captures", Some(2355), None).await.status, 202);
    h.local.sandbox.inject(vec![Fault::Error { code: "40209000".into() }]);
    h.local.app.service.clock.advance(Duration::minutes(3));
    h.run_until_idle().await;
    let payment = h.stored(&id).await;
    assert!(
        payment.operations.iter().any(|op| op.status == OperationStatus::Pending),
        "a refusal of the request is not an answer about the lost call: {:?}",
        payment.operations
    );
    let cancel = h.local.op(&id, "cancels", None, None).await;
    assert_eq!(cancel.status, 409, "no cancel while the capture may have happened: {}", cancel.text);
    h.local.app.service.clock.advance(Duration::minutes(3));
    h.run_until_idle().await;
    let payment = h.stored(&id).await;
    assert_eq!(payment.status.as_str(), "captured");
    assert_eq!(payment.captured, 2355);
    assert_eq!(h.local.performed("ST02-00201-402"), 1);
}
