//! The webhook body of a merchant-visible event (DESIGN §8): `{"id", "type", "timestamp",
//! "data": {"sequence", "payment": <the GET view at that version>, "operation": <the
//! operation or null>}}`, at most 16 KiB. Rendered once, when the change is committed, and
//! kept as the exact bytes every attempt signs.

use serde::Serialize;

use super::MAX_BODY_BYTES;
use crate::payment::{AuditEvent, Outbox, Payment};
use crate::views::{OperationSummary, PaymentView, timestamp};

#[derive(Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: Data,
}

#[derive(Serialize)]
struct Data {
    sequence: u64,
    payment: PaymentView,
    operation: Option<OperationSummary>,
}

/// The outbox entry of `event` (the change that made `payment`, account `payment.account_id`),
/// or `None` for the gateway's own bookkeeping events.
pub fn outbox(payment: &Payment, event: &AuditEvent) -> Option<Outbox> {
    if !event.kind.is_merchant_visible() {
        return None;
    }
    let id = Outbox::event_id(&payment.id, event.seq);
    let operation = event.operation_id.as_ref().and_then(|op_id| payment.operation(op_id)).map(OperationSummary::new);
    let mut view = PaymentView::new(payment, None);
    let mut body = render(&id, event, payment, &view, &operation)?;
    // A payment with very many operations: its oldest leave the snapshot (the event's own
    // operation is always in `data.operation`), so the body stays within 16 KiB.
    while body.len() > MAX_BODY_BYTES && !view.operations.is_empty() {
        view.operations.remove(0);
        body = render(&id, event, payment, &view, &operation)?;
    }
    Some(Outbox { id, kind: event.kind, account_id: payment.account_id.clone(), body })
}

fn render(
    id: &str,
    event: &AuditEvent,
    payment: &Payment,
    view: &PaymentView,
    operation: &Option<OperationSummary>,
) -> Option<String> {
    let body = Body {
        id,
        kind: event.kind.as_str(),
        timestamp: timestamp(event.at),
        data: Data { sequence: payment.version, payment: view.clone(), operation: operation.clone() },
    };
    serde_json::to_string(&body).ok()
}
