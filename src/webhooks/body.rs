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

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::ids::{OperationId, PaymentId, TrackId};
    use crate::money::Yen;
    use crate::payment::{CaptureMode, EventKind, NewPayment, Operation, Outcome};

    fn yen(v: u64) -> Yen {
        Yen::new(v).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A captured payment with one partial refund of 1 yen, and `extra` more (made-up) operations
    /// in its history: au allows a handful of operations per payment, this is the defence
    /// should that ever change.
    fn refunded(extra: usize) -> (Payment, AuditEvent) {
        let now = Utc.with_ymd_and_hms(2030, 1, 10, 0, 0, 0).single().unwrap_or_default();
        let (p, _) = Payment::create(
            NewPayment {
                id: PaymentId::generate(),
                account_id: "acct".into(),
                merchant_reference: "order-1".into(),
                track_id: TrackId::generate(),
                amount: yen(99_999),
                return_url: "https://merchant.site/done".into(),
                capture_mode: CaptureMode::Manual,
                limit_second: 600,
                expiry_grace: Duration::minutes(30),
                list_shard: 0,
                metadata: crate::payment::Metadata::default(),
            },
            now,
        );
        let ok =
            |t: Result<crate::payment::Transition, crate::payment::StateError>| t.unwrap_or_else(|e| panic!("{e}"));
        let mut t = ok(p.authorize("t".into(), None, OperationId::generate(), now));
        let settle = |t: crate::payment::Transition, at| {
            let op = t.operation.clone().unwrap_or_else(|| panic!("an operation"));
            ok(t.payment.settle(&op.id, Outcome::Succeeded, at))
        };
        t = settle(ok(t.payment.begin_capture(OperationId::generate(), None, now)), now);
        let later = now + Duration::days(40);
        t = settle(ok(t.payment.begin_refund(OperationId::generate(), Some(yen(1)), later)), later);
        let mut payment = t.payment;
        let template = payment.operations[0].clone();
        for _ in 0..extra {
            payment.operations.insert(0, Operation { id: OperationId::generate(), ..template.clone() });
        }
        (payment, t.event)
    }

    #[test]
    fn a_body_is_the_designs_shape() {
        let (payment, event) = refunded(0);
        let outbox = outbox(&payment, &event).unwrap_or_else(|| panic!("merchant-visible"));
        assert_eq!(outbox.kind, EventKind::PaymentPartiallyRefunded);
        let body: serde_json::Value = serde_json::from_str(&outbox.body).unwrap_or_default();
        assert_eq!(body["id"], serde_json::json!(outbox.id));
        assert_eq!(body["type"], "payment.partially_refunded");
        assert_eq!(body["data"]["sequence"], serde_json::json!(payment.version));
        assert_eq!(body["data"]["operation"]["type"], "refund");
        assert_eq!(body["data"]["payment"]["refundedAmount"]["value"], 1);
        let keys: Vec<&str> = body.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        assert_eq!(keys.len(), 4, "{keys:?}");
    }

    #[test]
    fn a_body_never_exceeds_16_kib() {
        let (payment, event) = refunded(150);
        let outbox = outbox(&payment, &event).unwrap_or_else(|| panic!("merchant-visible"));
        assert!(outbox.body.len() <= MAX_BODY_BYTES, "{}", outbox.body.len());
        let body: serde_json::Value = serde_json::from_str(&outbox.body).unwrap_or_default();
        let kept = body["data"]["payment"]["operations"].as_array().map(Vec::len).unwrap_or(0);
        assert!(kept > 0 && kept < 152, "the oldest operations left the snapshot: {kept}");
        assert_eq!(body["data"]["operation"]["id"], body["data"]["payment"]["operations"][kept - 1]["id"]);
    }

    #[test]
    fn the_largest_metadata_fits_with_every_field_of_the_view() {
        let (mut payment, event) = refunded(2);
        // 8 KiB of JSON, mostly three-byte characters: the most `metadata` may be.
        let mut map: std::collections::BTreeMap<String, String> =
            (0..5).map(|i| (format!("k{i}"), "注".repeat(500))).collect();
        map.insert("k5".into(), "注".repeat(210));
        payment.metadata = crate::payment::Metadata::parse(map.clone()).unwrap_or_else(|e| panic!("{e}"));
        let outbox = outbox(&payment, &event).unwrap_or_else(|| panic!("merchant-visible"));
        assert!(outbox.body.len() <= MAX_BODY_BYTES, "{}", outbox.body.len());
        let body: serde_json::Value = serde_json::from_str(&outbox.body).unwrap_or_default();
        assert_eq!(body["data"]["payment"]["metadata"], serde_json::json!(map));
        assert_eq!(body["data"]["payment"]["operations"].as_array().map(Vec::len), Some(4), "no operation dropped");
    }

    #[test]
    fn bookkeeping_events_have_no_webhook() {
        let (payment, mut event) = refunded(0);
        event.kind = EventKind::OperationRequested;
        assert!(outbox(&payment, &event).is_none());
    }
}
