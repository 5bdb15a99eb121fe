//! `GET /v1/payments/{id}` (the merchant's full view) and `GET /v1/tracks/payments/{trackId}`
//! (a browser-safe status, no key). The service applies what is due on a read.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::error::ApiError;
use super::next_step::next_step;
use super::request::authenticate;
use super::views::{PaymentView, TrackView};
use super::{App, json_response};
use crate::ids::{PaymentId, TrackId};
use crate::service::Provider;
use crate::store::Store;

pub async fn get_payment<S: Store, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.service.accounts)?;
    let id: PaymentId = id.parse().map_err(|_| ApiError::PaymentNotFound)?;
    let payment = app.service.payment(account, &id).await?;
    let view = PaymentView::new(&payment, next_step(&payment, account, &app.notification_url));
    let body = serde_json::to_string(&view).map_err(|_| ApiError::Internal)?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn track_payment<S: Store, P: Provider>(app: &App<S, P>, track_id: &str) -> Result<Response<Body>, ApiError> {
    let track_id: TrackId = track_id.parse().map_err(|_| ApiError::PaymentNotFound)?;
    let (payment, account) = app.service.tracked(&track_id).await?;
    let view = TrackView::new(&payment, next_step(&payment, account, &app.notification_url));
    let body = serde_json::to_string(&view).map_err(|_| ApiError::Internal)?;
    Ok(json_response(StatusCode::OK, body))
}
