//! `GET /v1/payments/{id}/events` (each merchant-visible event with its payload and its
//! deliveries) and `POST /v1/events/{eventId}/redeliver` (202: sent again, original id).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::request::authenticate;
use super::views::timestamp;
use super::webhook_endpoints::{once, refuse_body, render, webhooks};
use super::{App, PaymentIdLog, json_response};
use crate::ids::PaymentId;
use crate::payment::EventKind;
use crate::service::Provider;
use crate::service::webhooks::redeliver::EventWithDeliveries;
use crate::store::Persistence;
use crate::webhooks::{Delivery, DeliveryState};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryView {
    endpoint_id: String,
    state: DeliveryState,
    attempts: u32,
    last_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    last_attempt_at: Option<String>,
    next_attempt_at: Option<String>,
}

impl DeliveryView {
    fn new(d: &Delivery) -> Self {
        DeliveryView {
            endpoint_id: d.key.endpoint_id.to_string(),
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at.map(timestamp),
            next_attempt_at: d.next_attempt_at.map(timestamp),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventView {
    id: String,
    #[serde(rename = "type")]
    kind: EventKind,
    sequence: u64,
    created_at: String,
    /// The body every delivery of the event signs and sends.
    payload: Value,
    deliveries: Vec<DeliveryView>,
}

impl EventView {
    fn new(e: &EventWithDeliveries) -> Self {
        EventView {
            id: e.outbox.id.clone(),
            kind: e.outbox.kind,
            sequence: e.event.seq,
            created_at: timestamp(e.event.at),
            payload: serde_json::from_str(&e.outbox.body).unwrap_or(Value::Null),
            deliveries: e.deliveries.iter().map(DeliveryView::new).collect(),
        }
    }
}

pub async fn payment_events<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.service.accounts)?;
    let hooks = webhooks(app)?;
    let id: PaymentId = id.parse().map_err(|_| ApiError::PaymentNotFound)?;
    let trail = app.service.audit_trail(account, &id).await?;
    let events = hooks.events_of(trail, &id).await?;
    let views: Vec<EventView> = events.iter().map(EventView::new).collect();
    let body = serde_json::to_string(&serde_json::json!({ "data": views })).map_err(|_| ApiError::Internal)?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn redeliver<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    api_path: &str,
    event_id: &str,
) -> Result<Response<Body>, ApiError> {
    let account = &authenticate(req, &app.service.accounts)?.processing_account_id;
    refuse_body(req)?;
    let hooks = webhooks(app)?;
    let mut response = once(app, req, api_path, account, |_| async move {
        let enqueued = hooks.redeliver(account, event_id).await?;
        render(StatusCode::ACCEPTED, &serde_json::json!({ "id": event_id, "enqueued": enqueued }))
    })
    .await?;
    if let Some((payment, _)) = crate::payment::Outbox::parse_event_id(event_id) {
        response.extensions_mut().insert(PaymentIdLog(payment.to_string()));
    }
    Ok(response)
}
