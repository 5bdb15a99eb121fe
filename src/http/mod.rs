//! The HTTP layer on `lambda_http` types, used unchanged by every Lambda binary and by
//! `local`: routing, auth, parsing and validation, errors, rendering. Each handler parses,
//! calls the service and renders; none writes to the store, none imports another handler.

pub mod create;
pub mod error;
pub mod events;
pub mod ledger;
pub mod list;
pub mod next_step;
pub mod notify;
pub mod operations;
pub mod render;
pub mod request;
pub mod router;
pub mod track;
pub mod webhook_endpoints;
pub use crate::views;

use std::time::Instant;

use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::config::Settings;
use crate::payment::OperationKind;
use crate::sbps::api::SbpsClient;
use crate::service::webhooks::Webhooks;
use crate::service::{Provider, Service};
use crate::store::Persistence;
use crate::webhooks::queue::DeliveryQueue;

pub use error::ApiError;
pub use router::{Function, Route};

/// Longest client-supplied value (request id, path id) written to a log line.
pub const MAX_LOGGED_CHARS: usize = 128;

/// Everything a handler needs, built once per cold start.
pub struct App<S, P = SbpsClient> {
    pub service: Service<S, P>,
    /// The webhook machinery, in the functions that serve its routes (and `local`).
    pub webhooks: Option<Webhooks<S, DeliveryQueue>>,
    pub settings: Settings,
    /// The result-notification URL SBPS posts to (`pagecon_url`).
    pub notification_url: String,
}

impl<S: Persistence, P: Provider> App<S, P> {
    pub fn new(service: Service<S, P>, settings: Settings) -> Self {
        let notification_url = settings.notification_url();
        App { service, webhooks: None, settings, notification_url }
    }

    pub fn with_webhooks(mut self, webhooks: Webhooks<S, DeliveryQueue>) -> Self {
        self.webhooks = Some(webhooks);
        self
    }
}

/// The id of a payment a handler worked on, for the request's log line.
#[derive(Debug, Clone)]
pub struct PaymentIdLog(pub String);

/// A JSON answer: never cached, never sniffed as anything else.
pub fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    no_store(response.headers_mut());
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn no_store(headers: &mut lambda_http::http::HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// At most [`MAX_LOGGED_CHARS`] characters of a value a client chose.
pub(crate) fn for_log(value: &str) -> &str {
    match value.char_indices().nth(MAX_LOGGED_CHARS) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

/// Answers one request, for the functions in `serves` (`None`: every route, as `local` does).
/// Never fails and never panics on input: every error becomes its JSON answer. Logs one line.
pub async fn handle<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: Request,
    serves: Option<&[Function]>,
) -> Response<Body> {
    let started = Instant::now();
    let path = match req.raw_http_path() {
        "" => req.uri().path().to_owned(),
        raw => raw.to_owned(),
    };
    let routed = router::route(req.method(), &path);
    let response = match &routed {
        Ok(route) if serves.is_none_or(|fs| fs.contains(&route.function())) => dispatch(app, &req, route, &path).await,
        Ok(_) | Err(router::RouteError::NotFound) => Err(ApiError::RouteNotFound),
        Err(router::RouteError::MethodNotAllowed { allow }) => Err(ApiError::MethodNotAllowed { allow }),
    };
    let mut response = response.unwrap_or_else(ApiError::into_response);
    no_store(response.headers_mut());
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .or_else(|| req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .unwrap_or_else(|| format!("local-{}", crate::ids::OperationId::generate()));
    let route = routed.as_ref().map(Route::name).unwrap_or("unmatched");
    let worked_on = response.extensions().get::<PaymentIdLog>().map(|p| p.0.as_str());
    let payment_id = routed.as_ref().ok().and_then(Route::payment_id).or(worked_on).unwrap_or("");
    tracing::info!(
        request_id = for_log(&request_id),
        method = %req.method(),
        route,
        payment_id = for_log(payment_id),
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

async fn dispatch<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    route: &Route,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    let api_path = router::api_path(path).unwrap_or(path);
    match route {
        Route::CreatePayment => create::create(app, req, api_path).await,
        Route::ListPayments => list::list_payments(app, req).await,
        Route::GetPayment { id } => track::get_payment(app, req, id).await,
        Route::TrackPayment { track_id } => track::track_payment(app, track_id).await,
        Route::Capture { id } => operations::operate(app, req, api_path, id, OperationKind::Capture).await,
        Route::Cancel { id } => operations::operate(app, req, api_path, id, OperationKind::Cancel).await,
        Route::Refund { id } => operations::operate(app, req, api_path, id, OperationKind::Refund).await,
        Route::SbpsNotification => Ok(notify::notify(app, req).await),
        Route::CreateEndpoint => webhook_endpoints::create(app, req, api_path).await,
        Route::ListEndpoints => webhook_endpoints::list(app, req).await,
        Route::GetEndpoint { id } => webhook_endpoints::get(app, req, id).await,
        Route::DeleteEndpoint { id } => webhook_endpoints::delete(app, req, id).await,
        Route::RotateEndpointSecret { id } => webhook_endpoints::rotate_secret(app, req, api_path, id).await,
        Route::EnableEndpoint { id } => webhook_endpoints::enable(app, req, api_path, id).await,
        Route::PaymentEvents { id } => events::payment_events(app, req, id).await,
        Route::RedeliverEvent { event_id } => events::redeliver(app, req, api_path, event_id).await,
        Route::Ledger => ledger::ledger(app, req).await,
        Route::Statement { month } => ledger::statement(app, req, month).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_values_are_cut_for_logs() {
        let long = "é".repeat(500);
        assert_eq!(for_log(&long).chars().count(), MAX_LOGGED_CHARS);
        assert_eq!(for_log("short"), "short");
    }
}
