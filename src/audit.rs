//! The audit: reads every payment of every account with its operations, audit events and
//! webhook deliveries, and reports what is wrong (DESIGN §4 and §8): a broken amount
//! invariant, an amount change without its one operation record or its one event, a terminal
//! status that changed, an operation still pending past its lock window, a pending payment past
//! its expiry, an event merchants did not get; and, given SBPS's call log (the sandbox's
//! `GET /sandbox/sbps/control/calls`), any money-moving SBPS call without its succeeded
//! operation, or the reverse. It only reads. The checks are pure ([`check_payment`],
//! [`reconcile`]); [`run`] walks the store.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::accounts::Accounts;
use crate::payment::{AuditEvent, EventKind, LedgerEntry, OperationKind, OperationStatus, Payment, Status};
use crate::store::ledger::MonthTotals;
use crate::store::listing::ListFilter;
use crate::store::{Persistence, StoreError};
use crate::webhooks::{Delivery, DeliveryState, Endpoint};

/// How long past its deadline something may stay before it is a finding: the sweeper runs
/// every minute, so a few minutes late is not yet a fault.
pub const SLACK: Duration = Duration::minutes(5);
/// An event older than this with no delivery, on an account that had an endpoint: dispatch
/// missed it.
pub const DISPATCH_SLACK: Duration = Duration::minutes(10);

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// captured + cancelled <= authorized <= amount, refunded <= captured, one capture, one
    /// refund, one pending operation at most.
    BrokenInvariant,
    /// An amount that its succeeded operations do not add up to.
    AmountWithoutOperation,
    /// A succeeded operation (or an authorization) without exactly one event recording it.
    AmountWithoutEvent,
    /// An event recording an amount change whose operation did not succeed or does not exist.
    EventWithoutOperation,
    /// The events are not numbered 1..=version, or do not chain from one status to the next.
    BrokenEventChain,
    /// A terminal status changed.
    TerminalStatusChanged,
    /// An operation pending past its lock window (and the sweeper's slack).
    OperationPastLockWindow,
    /// A pending payment past its expiry (and the sweeper's slack).
    PendingPastExpiry,
    /// A merchant-visible event with no delivery, a failed one, or one overdue.
    EventNotDelivered,
    /// SBPS performed a capture, cancel or refund the gateway has no succeeded operation for
    /// (or performed it more often than the gateway asked for).
    SbpsCallWithoutOperation,
    /// A succeeded operation that needed an SBPS call, without one SBPS performed.
    OperationWithoutSbpsCall,
    /// A money movement (a succeeded capture or refund) without exactly one ledger entry.
    MovementWithoutEntry,
    /// A ledger entry without its succeeded operation, or that does not match it.
    EntryWithoutMovement,
    /// A payment's entries do not add up to its captured minus its refunded amount.
    LedgerOutOfBalance,
    /// A month's statement totals are not the sum of that month's entries.
    StatementOutOfBalance,
}

/// One SBPS API call as its log has it (the sandbox's `calls`, camelCase).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SbpsCall {
    pub function_id: String,
    pub tracking_id: String,
    #[serde(default)]
    pub amount: Option<u32>,
    /// Whether it moved money (a capture, cancel or refund SBPS carried out).
    pub performed: bool,
}

/// The money-moving calls of `calls` against the payments' succeeded operations: per tracking
/// id, one performed capture per succeeded capture that called SBPS, and one performed
/// cancel/refund per succeeded cancel or refund that called SBPS.
pub fn reconcile(payments: &[Payment], calls: &[SbpsCall]) -> Vec<Finding> {
    use crate::sbps::api::{CANCEL_REFUND, CAPTURE};
    let mut findings = Vec::new();
    let mut performed: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.performed) {
        *performed.entry((call.tracking_id.as_str(), call.function_id.as_str())).or_default() += 1;
    }
    let mut explained: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for payment in payments {
        let Some(tracking) = payment.sbps.tracking_id.as_deref() else { continue };
        for (function, kinds) in [
            (CAPTURE, &[OperationKind::Capture][..]),
            (CANCEL_REFUND, &[OperationKind::Cancel, OperationKind::Refund][..]),
        ] {
            let asked = payment
                .operations
                .iter()
                .filter(|op| {
                    kinds.contains(&op.kind) && op.status == OperationStatus::Succeeded && op.provider_call.is_some()
                })
                .count();
            let done = performed.get(&(tracking, function)).copied().unwrap_or(0);
            explained.insert((tracking, function), asked);
            let finding = |kind, detail| Finding::about(payment, kind, detail);
            if done > asked {
                findings.push(finding(
                    FindingKind::SbpsCallWithoutOperation,
                    format!("SBPS performed {done} {function} calls for {asked} succeeded operations"),
                ));
            } else if done < asked {
                findings.push(finding(
                    FindingKind::OperationWithoutSbpsCall,
                    format!("{asked} succeeded operations needed {function}, SBPS performed {done}"),
                ));
            }
        }
    }
    for ((tracking, function), done) in performed {
        if !explained.contains_key(&(tracking, function)) {
            findings.push(Finding {
                kind: FindingKind::SbpsCallWithoutOperation,
                account_id: String::new(),
                payment_id: String::new(),
                detail: format!(
                    "SBPS performed {done} {function} calls for tracking id {tracking}, which no payment has"
                ),
            });
        }
    }
    findings
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub kind: FindingKind,
    pub account_id: String,
    pub payment_id: String,
    pub detail: String,
}

impl Finding {
    /// A finding about `payment`.
    fn about(payment: &Payment, kind: FindingKind, detail: String) -> Self {
        Finding { kind, account_id: payment.account_id.clone(), payment_id: payment.id.as_str().to_owned(), detail }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub payments: usize,
    pub operations: usize,
    pub events: usize,
    pub deliveries: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// One line per finding, then the counts.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let kind =
                serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            out.push_str(&format!("{kind} account={} payment={}: {}\n", f.account_id, f.payment_id, f.detail));
        }
        out.push_str(&format!(
            "audited {} payments, {} operations, {} events, {} deliveries: {} findings\n",
            self.payments,
            self.operations,
            self.events,
            self.deliveries,
            self.findings.len()
        ));
        out
    }
}

/// The events that record a change of amount: the authorization (pending to authorized, or
/// to captured on automatic sales) and each succeeded operation.
fn records_operation(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::PaymentCaptured
            | EventKind::PaymentCancelled
            | EventKind::PaymentPartiallyCancelled
            | EventKind::PaymentRefunded
            | EventKind::PaymentPartiallyRefunded
    )
}

/// Everything wrong with one payment, as of `now`. `lock_window` is the service's (provider
/// timeout and margin); `endpoints` are its account's.
pub fn check_payment(
    payment: &Payment,
    events: &[AuditEvent],
    deliveries: &[Delivery],
    endpoints: &[Endpoint],
    lock_window: Duration,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut found = |kind: FindingKind, detail: String| findings.push(Finding::about(payment, kind, detail));

    if let Err(broken) = payment.check_invariants() {
        found(FindingKind::BrokenInvariant, broken);
    }

    // Amounts are what their succeeded operations add up to.
    let succeeded = |kind: OperationKind| -> u64 {
        payment
            .operations
            .iter()
            .filter(|op| op.kind == kind && op.status == OperationStatus::Succeeded)
            .map(|op| u64::from(op.amount.value()))
            .sum()
    };
    if u64::from(payment.captured) != succeeded(OperationKind::Capture) {
        found(
            FindingKind::AmountWithoutOperation,
            format!(
                "captured {} but succeeded captures add up to {}",
                payment.captured,
                succeeded(OperationKind::Capture)
            ),
        );
    }
    if u64::from(payment.refunded) != succeeded(OperationKind::Refund) {
        found(
            FindingKind::AmountWithoutOperation,
            format!(
                "refunded {} but succeeded refunds add up to {}",
                payment.refunded,
                succeeded(OperationKind::Refund)
            ),
        );
    }
    // A cancel before authorization moves no money (authorized stays 0).
    let cancels = if payment.authorized == 0 { 0 } else { succeeded(OperationKind::Cancel) };
    if u64::from(payment.cancelled) != cancels {
        found(
            FindingKind::AmountWithoutOperation,
            format!("cancelled {} but succeeded cancels add up to {cancels}", payment.cancelled),
        );
    }

    // One event per amount change, and the other way round.
    for op in &payment.operations {
        let recording =
            events.iter().filter(|e| records_operation(e.kind) && e.operation_id.as_ref() == Some(&op.id)).count();
        let expected = usize::from(op.status == OperationStatus::Succeeded);
        if recording != expected {
            found(
                FindingKind::AmountWithoutEvent,
                format!("{} {} ({}) is recorded by {recording} events", op.kind.as_str(), op.id, op.status.as_str()),
            );
        }
    }
    for event in events.iter().filter(|e| records_operation(e.kind)) {
        let Some(op_id) = &event.operation_id else {
            // Automatic sales: the authorization's capture is an operation too.
            found(
                FindingKind::EventWithoutOperation,
                format!("event {} ({}) names no operation", event.seq, event.kind),
            );
            continue;
        };
        let succeeded = payment.operation(op_id).is_some_and(|op| op.status == OperationStatus::Succeeded);
        if !succeeded {
            found(
                FindingKind::EventWithoutOperation,
                format!("event {} ({}) records operation {op_id}, which did not succeed", event.seq, event.kind),
            );
        }
    }
    let authorizations = events
        .iter()
        .filter(|e| {
            e.from_status == Some(Status::Pending) && matches!(e.to_status, Status::Authorized | Status::Captured)
        })
        .count();
    if authorizations != usize::from(payment.authorized > 0) {
        found(
            FindingKind::AmountWithoutEvent,
            format!("authorized {} is recorded by {authorizations} authorization events", payment.authorized),
        );
    }

    // Events numbered 1..=version, each starting where the previous one ended; a terminal
    // status stays.
    let mut ordered: Vec<&AuditEvent> = events.iter().collect();
    ordered.sort_by_key(|e| e.seq);
    let numbered = ordered.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1);
    if !numbered || ordered.len() as u64 != payment.version {
        found(
            FindingKind::BrokenEventChain,
            format!("{} events for version {} (numbered 1..=version: {numbered})", ordered.len(), payment.version),
        );
    }
    for pair in ordered.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        if after.from_status.is_some_and(|from| from != before.to_status) {
            found(
                FindingKind::BrokenEventChain,
                format!(
                    "event {} starts from {:?} but event {} ended at {}",
                    after.seq, after.from_status, before.seq, before.to_status
                ),
            );
        }
        if before.to_status.is_terminal() && after.to_status != before.to_status {
            found(
                FindingKind::TerminalStatusChanged,
                format!("{} changed to {} (event {})", before.to_status, after.to_status, after.seq),
            );
        }
    }
    if let Some(last) = ordered.last()
        && last.to_status != payment.status
    {
        found(
            FindingKind::BrokenEventChain,
            format!("the last event ends at {} but the payment is {}", last.to_status, payment.status),
        );
    }

    // Loose ends the sweeper should have tied.
    for op in payment.operations.iter().filter(|op| op.status == OperationStatus::Pending) {
        let since = op.attempted_at.unwrap_or(op.created_at);
        if since + lock_window + SLACK < now {
            found(
                FindingKind::OperationPastLockWindow,
                format!(
                    "{} {} pending since {} (lock window {} s)",
                    op.kind.as_str(),
                    op.id,
                    since.to_rfc3339(),
                    lock_window.num_seconds()
                ),
            );
        }
    }
    if payment.status == Status::Pending && payment.pending_until + SLACK < now {
        found(
            FindingKind::PendingPastExpiry,
            format!("pending past its expiry {}", payment.pending_until.to_rfc3339()),
        );
    }

    // Every merchant-visible event reached the account's endpoints.
    let mut by_event: BTreeMap<u64, Vec<&Delivery>> = BTreeMap::new();
    for d in deliveries {
        by_event.entry(d.key.seq).or_default().push(d);
    }
    for event in events {
        let Some(outbox) = &event.outbox else { continue };
        let of_event = by_event.get(&event.seq).map(Vec::as_slice).unwrap_or_default();
        let had_endpoint = endpoints.iter().any(|e| e.created_at <= event.at && e.subscribes_to(outbox.kind));
        if of_event.is_empty() && had_endpoint && event.at + DISPATCH_SLACK < now {
            found(FindingKind::EventNotDelivered, format!("{} ({}) has no delivery", outbox.id, outbox.kind));
        }
        for d in of_event {
            match d.state {
                DeliveryState::Failed => found(
                    FindingKind::EventNotDelivered,
                    format!("{} to {} failed after {} attempts", outbox.id, d.key.endpoint_id, d.attempts),
                ),
                DeliveryState::Pending if d.next_attempt_at.is_some_and(|at| at + SLACK < now) => found(
                    FindingKind::EventNotDelivered,
                    format!(
                        "{} to {} is overdue since {:?}",
                        outbox.id,
                        d.key.endpoint_id,
                        d.next_attempt_at.map(|t| t.to_rfc3339())
                    ),
                ),
                _ => {}
            }
        }
    }
    findings
}

/// The ledger of one payment against its operations: every succeeded capture and refund has
/// exactly one entry of its amount (signed) and every entry its succeeded operation, and the
/// entries add up to what was captured less what was refunded.
pub fn check_ledger(payment: &Payment, entries: &[LedgerEntry]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut found = |kind: FindingKind, detail: String| findings.push(Finding::about(payment, kind, detail));
    let moved = |op: &&crate::payment::Operation| {
        op.status == OperationStatus::Succeeded && matches!(op.kind, OperationKind::Capture | OperationKind::Refund)
    };
    for op in payment.operations.iter().filter(moved) {
        let sign = if op.kind == OperationKind::Capture { 1 } else { -1 };
        let of_it: Vec<&LedgerEntry> = entries.iter().filter(|e| e.operation_id == op.id).collect();
        match of_it.as_slice() {
            [entry] if entry.amount == sign * i64::from(op.amount.value()) => {}
            [entry] => found(
                FindingKind::EntryWithoutMovement,
                format!("entry {} is {} for {} {} of {}", entry.id, entry.amount, op.kind.as_str(), op.id, op.amount),
            ),
            other => found(
                FindingKind::MovementWithoutEntry,
                format!("{} {} of {} has {} ledger entries", op.kind.as_str(), op.id, op.amount, other.len()),
            ),
        }
    }
    for entry in entries {
        if !payment.operations.iter().filter(moved).any(|op| op.id == entry.operation_id) {
            found(
                FindingKind::EntryWithoutMovement,
                format!("entry {} names operation {}, which moved no money", entry.id, entry.operation_id),
            );
        }
    }
    let sum: i64 = entries.iter().map(|e| e.amount).sum();
    let expected = i64::from(payment.captured) - i64::from(payment.refunded);
    if sum != expected {
        found(
            FindingKind::LedgerOutOfBalance,
            format!("entries add up to {sum}, captured less refunded is {expected}"),
        );
    }
    findings
}

/// Audits every payment of every account in `accounts`, page by page through the listing, and
/// reconciles them with SBPS's call log when given.
pub async fn run<S: Persistence>(
    store: &S,
    accounts: &Accounts,
    lock_window: Duration,
    now: DateTime<Utc>,
    sbps_calls: Option<&[SbpsCall]>,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut audited = Vec::new();
    for account in accounts.all() {
        let endpoints = store.endpoints(&account.processing_account_id).await?;
        let filter = ListFilter {
            account_id: account.processing_account_id.clone(),
            shards: account.list_shards,
            merchant_reference: None,
            statuses: Vec::new(),
            created_from: None,
            created_to: None,
        };
        let mut positions = None;
        let mut months: BTreeMap<String, MonthTotals> = BTreeMap::new();
        loop {
            let page = store.list_payments(&filter, positions.as_deref(), 100).await?;
            for listed in &page.payments {
                // The listing's copy may be a version behind: audit the payment as stored.
                let Some(payment) = store.payment(&listed.id).await? else { continue };
                let events = store.audit_events(&payment.id).await?;
                let deliveries = store.deliveries(&payment.id).await?;
                report.payments += 1;
                report.operations += payment.operations.len();
                report.events += events.len();
                report.deliveries += deliveries.len();
                report.findings.extend(check_payment(&payment, &events, &deliveries, &endpoints, lock_window, now));
                let entries = store.payment_ledger(&payment.id).await?;
                report.findings.extend(check_ledger(&payment, &entries));
                for entry in &entries {
                    months.entry(entry.month.clone()).or_default().add(entry.kind, entry.amount);
                }
                if sbps_calls.is_some() {
                    audited.push(payment);
                }
            }
            if page.is_last() {
                break;
            }
            positions = Some(page.positions);
        }
        // Each month's statement is the sum of its entries.
        for (month, summed) in &months {
            let totals = store.month_totals(&account.processing_account_id, month).await?;
            if totals != *summed {
                report.findings.push(Finding {
                    kind: FindingKind::StatementOutOfBalance,
                    account_id: account.processing_account_id.clone(),
                    payment_id: String::new(),
                    detail: format!("{month}: the statement says {totals:?}, its entries add up to {summed:?}"),
                });
            }
        }
    }
    if let Some(calls) = sbps_calls {
        report.findings.extend(reconcile(&audited, calls));
    }
    report.findings.sort_by(|a, b| (a.kind, &a.account_id, &a.payment_id).cmp(&(b.kind, &b.account_id, &b.payment_id)));
    Ok(report)
}
