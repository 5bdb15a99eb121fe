//! Random command sequences through the gateway and the SBPS sandbox over HTTP, on both stores:
//! each sequence takes one payment (authorized, declined or left pending) through random
//! captures, cancels, refunds, reads and sweeps, with random amounts, fresh or repeated
//! Idempotency-Keys, and SBPS answering at random (success, refusals, retry-later, a reset, a
//! 5xx, or the call processed and its answer lost). Then the clock moves on until the sweeper
//! has settled everything, and the audit must find nothing: the payment's invariants, one
//! operation and one event per amount change, and SBPS's own books (every capture, cancel and
//! refund SBPS performed has exactly one succeeded operation, and the reverse).
//!
//! CI runs 300 on the embedded store and 60 on DynamoDB Local from seed `RANDOM_SEED` (default
//! 1); `RANDOM_SEQUENCES` sets the count for both;
//! `scripts/long` runs 10,000. A failure names its seed and its steps.

use crate::common;

use chrono::Duration;
use common::hooks::Hooked;
use kantan::local::background::LocalOutbox;
use kantan::local::sandbox::Fault;
use kantan::payment::{OperationStatus, Status};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn random_fault(rng: &mut StdRng) -> Fault {
    let error = |code: &str| Fault::Error { code: code.into() };
    match rng.random_range(0..9) {
        0 => Fault::Reset,
        1 => Fault::Status { status: 500 },
        2 => Fault::Status { status: 503 },
        3 => Fault::Lost,
        4 => error("40222000"), // more than what remains
        5 => error("40229000"), // billing run not done: retry later
        6 => error("40236000"), // still processing: outcome unknown
        7 => error("40209000"), // checksum: a configuration fault
        _ => error("40231000"), // refund period over
    }
}

/// One random sequence on a new payment; answers its id and what was done.
async fn run_sequence<S: LocalOutbox>(h: &Hooked<S>, rng: &mut StdRng, seed: u64) -> (String, Vec<String>) {
    let local = &h.local;
    local.sandbox.inject(Vec::new());
    let mut steps = Vec::new();
    let amount: u32 = rng.random_range(1..=30_000);
    let reference = format!("seq-{seed}");
    let id = match rng.random_range(0..10) {
        0..7 => {
            steps.push(format!("authorized {amount}"));
            local.authorized(&reference, amount).await
        }
        7 => {
            steps.push(format!("declined {amount}"));
            let created = local.create(&reference, amount).await;
            local.pay(&created, "decline").await;
            created["id"].as_str().expect("id").to_owned()
        }
        _ => {
            steps.push(format!("left pending {amount}"));
            local.create(&reference, amount).await["id"].as_str().expect("id").to_owned()
        }
    };
    let mut last_key: Option<String> = None;
    for step in 0..rng.random_range(1..=6) {
        if rng.random_bool(0.4) {
            let fault = random_fault(rng);
            steps.push(format!("fault {fault:?}"));
            local.sandbox.inject(vec![fault]);
        }
        let kind = match rng.random_range(0..10) {
            0..3 => "captures",
            3..5 => "cancels",
            5..7 => "refunds",
            7..9 => "read",
            _ => "sweep",
        };
        match kind {
            "read" => {
                let r = common::flow::reply(
                    local.http.get(format!("{}/v1/payments/{id}", local.base)).bearer_auth(common::DEMO_KEY),
                )
                .await;
                steps.push(format!("read -> {}", r.status));
            }
            "sweep" => {
                // Mostly minutes; sometimes into a later month, where partial refunds open and
                // refund periods close.
                let by = if rng.random_bool(0.05) {
                    Duration::days(rng.random_range(20..=80))
                } else {
                    Duration::minutes(3)
                };
                local.app.service.clock.advance(by);
                h.run_until_idle().await;
                steps.push(format!("{} minutes on, swept", by.num_minutes()));
            }
            _ => {
                let amount = rng.random_bool(0.5).then(|| rng.random_range(1..=amount + 50));
                let key = match rng.random_range(0..10) {
                    0..2 => None,
                    2..7 => Some(format!("k-{seed}-{step}")),
                    _ => last_key.clone().or_else(|| Some(format!("k-{seed}-{step}"))),
                };
                let r = local.op(&id, kind, amount, key.as_deref()).await;
                steps.push(format!(
                    "{kind} {amount:?} key {key:?} -> {} {}",
                    r.status,
                    r.text.chars().take(160).collect::<String>()
                ));
                if key.is_some() {
                    last_key = key;
                }
            }
        }
        // A fault belongs to its step. An error code left queued would answer a later resend
        // of a call SBPS already performed ("more than remains" to a capture it did), a lie
        // SBPS does not tell: it answers "already done" (23/30) then.
        local.sandbox.inject(Vec::new());
    }
    (id, steps)
}

/// Moves the clock on until nothing is pending: the sweeper (and a read, which does the same for
/// the payment it reads, whatever the sweeper's lag after a clock jump of weeks) resends what
/// was left unknown and expires what was never paid.
async fn settle<S: LocalOutbox>(h: &Hooked<S>, id: &str) {
    h.local.sandbox.inject(Vec::new());
    for _ in 0..10 {
        let payment = h.stored(id).await;
        let pending_op = payment.operations.iter().any(|op| op.status == OperationStatus::Pending);
        if !pending_op && payment.status != Status::Pending {
            return;
        }
        h.local.app.service.clock.advance(Duration::hours(1));
        h.run_until_idle().await;
        h.local.payment(id).await;
    }
}

on_both_stores!(random_sequences_keep_every_money_invariant);
async fn random_sequences_keep_every_money_invariant<S: LocalOutbox>(h: Hooked<S>) {
    // CI: a few hundred on the embedded store (about 60 ms each), fewer on DynamoDB Local
    // (about 1.5 s each, the local sweeper catching up after clock jumps).
    let on_dynamodb = std::any::type_name::<S>().contains("Dynamo");
    let sequences = setting("RANDOM_SEQUENCES", if on_dynamodb { 60 } else { 300 });
    let first = setting("RANDOM_SEED", 1);
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    let mut faults = std::collections::BTreeMap::<String, usize>::new();
    let mut requests = 0usize;
    for seed in first..first + sequences {
        let mut rng = StdRng::seed_from_u64(seed);
        let (id, steps) = run_sequence(&h, &mut rng, seed).await;
        settle(&h, &id).await;
        let findings = h.local.audit_one(&h.stored(&id).await).await;
        let findings: Vec<String> = findings.iter().map(|f| format!("{:?}: {}", f.kind, f.detail)).collect();
        let findings = findings.join("\n");
        assert!(findings.is_empty(), "seed {seed} broke the books:\n{findings}\nsteps:\n{}", steps.join("\n"));
        *statuses.entry(h.stored(&id).await.status.to_string()).or_default() += 1;
        for step in &steps {
            match step.strip_prefix("fault ") {
                Some(fault) => *faults.entry(fault.split([' ', '{']).next().unwrap_or("").to_owned()).or_default() += 1,
                None if step.contains(" -> ") => requests += 1,
                None => {}
            }
        }
    }
    // The whole store's audit (the months' statements against their entries included), and each
    // month's statement as a merchant reads it against the ledger.
    let report = h.local.audit().await;
    let findings: Vec<String> =
        report.findings.iter().map(|f| format!("{:?} {}: {}", f.kind, f.payment_id, f.detail)).collect();
    assert!(findings.is_empty(), "the whole audit:\n{}", findings.join("\n"));
    let entries = crate::ledger::statements_add_up(&h.local, common::DEMO_KEY).await;
    assert!(entries > 0, "the sequences moved money");
    let sent = h.local.sandbox.calls().len();
    println!(
        "{sequences} sequences from seed {first}: {requests} API requests after setup, {sent} SBPS API calls, faults {faults:?}, \
         final statuses {statuses:?}, 0 findings"
    );
}
