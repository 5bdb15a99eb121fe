//! The HTTP layer on `lambda_http` types, used unchanged by every Lambda binary and by
//! `local`: routing, auth, validation, idempotency, one handler per operation, errors.

pub mod create;
pub mod error;
pub mod idempotency;
pub mod notify;
pub mod operations;
pub mod request;
pub mod router;
pub mod track;
pub mod views;

use std::time::Instant;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::clock::Clock;
use crate::config::{Accounts, Settings};
use crate::metrics::Metrics;
use crate::payment::OperationKind;
use crate::sbps::api::SbpsClient;
use crate::store::Store;

pub use error::ApiError;
pub use router::{Function, Route};

/// Everything a handler needs, built once per cold start.
pub struct App<S> {
    pub store: S,
    pub accounts: Accounts,
    pub settings: Settings,
    pub clock: Clock,
    pub metrics: Metrics,
    pub sbps: SbpsClient,
}

/// The id of a payment a handler created, for the request's log line.
#[derive(Debug, Clone)]
pub struct PaymentIdLog(pub String);

pub fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Answers one request, for the functions in `serves` (`None`: every route, as `local` does).
/// Never fails and never panics on input: every error becomes its JSON answer. Logs one line.
pub async fn handle<S: Store>(app: &App<S>, req: Request, serves: Option<&[Function]>) -> Response<Body> {
    let started = Instant::now();
    let path = match req.raw_http_path() {
        "" => req.uri().path().to_owned(),
        raw => raw.to_owned(),
    };
    let routed = router::route(req.method(), &path);
    let response = match &routed {
        Ok(route) if serves.is_none_or(|fs| fs.contains(&route.function())) => dispatch(app, &req, route, &path).await,
        Ok(_) | Err(router::RouteError::NotFound) => Err(ApiError::RouteNotFound),
        Err(router::RouteError::MethodNotAllowed) => Err(ApiError::MethodNotAllowed),
    };
    let response = response.unwrap_or_else(ApiError::into_response);
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .or_else(|| req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .unwrap_or_else(|| format!("local-{}", crate::ids::OperationId::generate()));
    let route = routed.as_ref().map(Route::name).unwrap_or("unmatched");
    let created = response.extensions().get::<PaymentIdLog>().map(|p| p.0.as_str());
    let payment_id = routed.as_ref().ok().and_then(Route::payment_id).or(created).unwrap_or("");
    tracing::info!(
        request_id,
        method = %req.method(),
        route,
        payment_id,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

async fn dispatch<S: Store>(
    app: &App<S>,
    req: &Request,
    route: &Route,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    let api_path = router::api_path(path).unwrap_or(path);
    match route {
        Route::CreatePayment => create::create(app, req, api_path).await,
        Route::GetPayment { id } => track::get_payment(app, req, id).await,
        Route::TrackPayment { track_id } => track::track_payment(app, track_id).await,
        Route::Capture { id } => operations::operate(app, req, api_path, id, OperationKind::Capture).await,
        Route::Cancel { id } => operations::operate(app, req, api_path, id, OperationKind::Cancel).await,
        Route::Refund { id } => operations::operate(app, req, api_path, id, OperationKind::Refund).await,
        Route::SbpsNotification => Ok(notify::notify(app, req).await),
    }
}
