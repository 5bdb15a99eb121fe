//! `/v1/webhook-endpoints`: register (201 with the secret, once), list, read, delete, rotate
//! the secret (the previous one signs beside the new one for 24 h), enable again. POSTs take
//! an `Idempotency-Key`; another account's endpoint is a 404.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use super::error::{ApiError, FieldError};
use super::render::replayed;
use super::request::{authenticate, idempotency_key, json_body, refuse_unknown_fields};
use super::views::timestamp;
use super::{App, json_response};
use crate::ids::EndpointId;
use crate::payment::EventKind;
use crate::service::idempotency::run_once;
use crate::service::webhooks::Webhooks;
use crate::service::webhooks::endpoints::{EndpointError, WithSecret};
use crate::service::{Answered, IdempotencyKey, Provider};
use crate::store::{Persistence, Store, StoredResponse};
use crate::webhooks::queue::DeliveryQueue;
use crate::webhooks::{Endpoint, EndpointStatus, event_types};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EndpointView {
    id: String,
    url: String,
    /// Subscribed types; empty means every type.
    events: Vec<EventKind>,
    status: EndpointStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    created_at: String,
    updated_at: String,
}

impl EndpointView {
    fn new(e: &Endpoint, secret: Option<String>) -> Self {
        EndpointView {
            id: e.id.to_string(),
            url: e.url.clone(),
            events: e.events.clone(),
            status: e.status,
            disabled_reason: e.disabled_reason.clone(),
            secret,
            created_at: timestamp(e.created_at),
            updated_at: timestamp(e.updated_at),
        }
    }
}

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> Self {
        match e {
            EndpointError::Url(why) => ApiError::Invalid(vec![FieldError::new("url", why.to_string())]),
            EndpointError::LimitReached => ApiError::EndpointLimitReached,
            EndpointError::NotFound => ApiError::EndpointNotFound,
            EndpointError::EventNotFound => ApiError::EventNotFound,
            EndpointError::Conflict => ApiError::IdempotencyInProgress,
            EndpointError::Store(e) => e.into(),
            EndpointError::Queue => ApiError::StoreUnavailable,
            EndpointError::NoMasterKey => {
                tracing::error!("a webhook route reached a function without the master key");
                ApiError::Internal
            }
        }
    }
}

pub(super) fn webhooks<S: Store, P>(app: &App<S, P>) -> Result<&Webhooks<S, DeliveryQueue>, ApiError> {
    app.webhooks.as_ref().ok_or_else(|| {
        tracing::error!("webhook routes reached a function built without webhooks");
        ApiError::Internal
    })
}

pub(super) fn render(status: StatusCode, view: &impl Serialize) -> Result<StoredResponse, ApiError> {
    let body = serde_json::to_string(view).map_err(|_| ApiError::Internal)?;
    Ok(StoredResponse { status: status.as_u16(), body })
}

fn answer(answered: Answered<StoredResponse>) -> Result<Response<Body>, ApiError> {
    match answered {
        Answered::Fresh(stored) => {
            let status = StatusCode::from_u16(stored.status).map_err(|_| ApiError::Internal)?;
            Ok(json_response(status, stored.body))
        }
        Answered::Replayed(stored) => replayed(stored),
    }
}

/// Runs a POST's work once per `Idempotency-Key` (every time without one). The work is given
/// the key's fingerprint, if there is a key, to recognise what an earlier attempt of the same
/// request already did (its answer lost, or the attempt cut short after the write).
pub(super) async fn once<S: Persistence, P: Provider, F, Fut>(
    app: &App<S, P>,
    req: &Request,
    api_path: &str,
    account: &str,
    work: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<StoredResponse, ApiError>>,
{
    let Some(key) = idempotency_key(req)? else { return answer(Answered::Fresh(work(None).await?)) };
    let key = IdempotencyKey::new(account, key, "POST", api_path, req.body());
    let fingerprint = key.fingerprint();
    answer(run_once(&app.service.store, &key, app.service.clock.now(), || work(Some(fingerprint))).await?)
}

fn endpoint_id(id: &str) -> Result<EndpointId, ApiError> {
    id.parse().map_err(|_| ApiError::EndpointNotFound)
}

/// `{"url": "...", "events": [...]}`; `events` absent or empty: every type.
fn parse_create(req: &Request) -> Result<(String, Vec<EventKind>), ApiError> {
    let body = json_body(req)?.unwrap_or(Value::Null);
    let Value::Object(obj) = body else {
        return Err(ApiError::Invalid(vec![FieldError::new("", "the body must be a JSON object")]));
    };
    let mut errors = Vec::new();
    refuse_unknown_fields(&obj, &["url", "events"], "", &mut errors);
    let url = match obj.get("url") {
        Some(Value::String(url)) => url.clone(),
        Some(_) => {
            errors.push(FieldError::new("url", "must be a string"));
            String::new()
        }
        None => {
            errors.push(FieldError::new("url", "is required"));
            String::new()
        }
    };
    let mut events = Vec::new();
    match obj.get("events") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let kind = item.as_str().and_then(|name| event_types().find(|k| k.as_str() == name));
                match kind {
                    Some(kind) => events.push(kind),
                    None => errors.push(FieldError::new(
                        &format!("events[{i}]"),
                        "must be one of the webhook event types (payment.authorized, payment.captured, ...)",
                    )),
                }
            }
        }
        Some(_) => errors.push(FieldError::new("events", "must be an array of event types")),
    }
    if errors.is_empty() { Ok((url, events)) } else { Err(ApiError::Invalid(errors)) }
}

pub async fn create<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    api_path: &str,
) -> Result<Response<Body>, ApiError> {
    let account = &authenticate(req, &app.service.accounts)?.processing_account_id;
    let hooks = webhooks(app)?;
    let (url, events) = parse_create(req)?;
    once(app, req, api_path, account, |request| async move {
        let WithSecret { endpoint, secret } = hooks.create_endpoint(account, &url, events, request).await?;
        render(StatusCode::CREATED, &EndpointView::new(&endpoint, Some(secret)))
    })
    .await
}

pub async fn list<S: Persistence, P: Provider>(app: &App<S, P>, req: &Request) -> Result<Response<Body>, ApiError> {
    let account = &authenticate(req, &app.service.accounts)?.processing_account_id;
    let endpoints = webhooks(app)?.endpoints(account).await?;
    let views: Vec<EndpointView> = endpoints.iter().map(|e| EndpointView::new(e, None)).collect();
    let stored = render(StatusCode::OK, &serde_json::json!({ "data": views }))?;
    Ok(json_response(StatusCode::OK, stored.body))
}

pub async fn get<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let account = &authenticate(req, &app.service.accounts)?.processing_account_id;
    let endpoint = webhooks(app)?.endpoint(account, &endpoint_id(id)?).await?;
    Ok(json_response(StatusCode::OK, render(StatusCode::OK, &EndpointView::new(&endpoint, None))?.body))
}

pub async fn delete<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let account = &authenticate(req, &app.service.accounts)?.processing_account_id;
    let id = endpoint_id(id)?;
    webhooks(app)?.delete_endpoint(account, &id).await?;
    let body = serde_json::json!({ "id": id.to_string(), "deleted": true }).to_string();
    Ok(json_response(StatusCode::OK, body))
}

pub async fn rotate_secret<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    api_path: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let account = &authenticate(req, &app.service.accounts)?.processing_account_id;
    let hooks = webhooks(app)?;
    let id = endpoint_id(id)?;
    refuse_body(req)?;
    once(app, req, api_path, account, |request| async move {
        let WithSecret { endpoint, secret } = hooks.rotate_secret(account, &id, request).await?;
        render(StatusCode::OK, &EndpointView::new(&endpoint, Some(secret)))
    })
    .await
}

pub async fn enable<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    api_path: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let account = &authenticate(req, &app.service.accounts)?.processing_account_id;
    let hooks = webhooks(app)?;
    let id = endpoint_id(id)?;
    refuse_body(req)?;
    // Enabling twice leaves the same state: nothing to recognise.
    once(app, req, api_path, account, |_| async move {
        let endpoint = hooks.enable(account, &id).await?;
        render(StatusCode::OK, &EndpointView::new(&endpoint, None))
    })
    .await
}

/// These POSTs take no body (an empty one or `{}`).
pub(super) fn refuse_body(req: &Request) -> Result<(), ApiError> {
    match json_body(req)? {
        None => Ok(()),
        Some(Value::Object(obj)) if obj.is_empty() => Ok(()),
        Some(_) => Err(ApiError::Invalid(vec![FieldError::new("", "this request takes no body")])),
    }
}
