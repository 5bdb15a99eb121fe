//! `GET /v1/payments/{id}` (the merchant's full view) and `GET /v1/tracks/payments/{trackId}`
//! (a browser-safe status, no key). Reading a pending payment whose time is up expires it.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::error::ApiError;
use super::request::authenticate;
use super::views::{PaymentView, TrackView};
use super::{App, json_response};
use crate::ids::{PaymentId, TrackId};
use crate::payment::Payment;
use crate::store::{Store, StoreError};

/// How often a lazy expiry is retried when the payment changes under it.
const EXPIRY_ATTEMPTS: usize = 3;

pub async fn get_payment<S: Store>(app: &App<S>, req: &Request, id: &str) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.accounts)?;
    let id: PaymentId = id.parse().map_err(|_| ApiError::PaymentNotFound)?;
    let payment = app.store.payment(&id).await?.ok_or(ApiError::PaymentNotFound)?;
    // Another account's payment is indistinguishable from a missing one.
    if payment.account_id != account.processing_account_id {
        return Err(ApiError::PaymentNotFound);
    }
    let payment = refresh(app, payment).await?;
    let payment = super::operations::recover(app, account, payment).await?;
    let view = PaymentView::new(&payment, account, &app.settings.notification_url());
    let body = serde_json::to_string(&view).map_err(|_| ApiError::Internal)?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn track_payment<S: Store>(app: &App<S>, track_id: &str) -> Result<Response<Body>, ApiError> {
    let track_id: TrackId = track_id.parse().map_err(|_| ApiError::PaymentNotFound)?;
    let payment = app.store.payment_by_track(&track_id).await?.ok_or(ApiError::PaymentNotFound)?;
    let account = app.accounts.get(&payment.account_id).ok_or(ApiError::PaymentNotFound)?;
    let payment = refresh(app, payment).await?;
    let view = TrackView::new(&payment, account, &app.settings.notification_url());
    let body = serde_json::to_string(&view).map_err(|_| ApiError::Internal)?;
    Ok(json_response(StatusCode::OK, body))
}

/// The payment as it stands now: expired first if its time is up.
pub async fn refresh<S: Store>(app: &App<S>, mut payment: Payment) -> Result<Payment, ApiError> {
    for _ in 0..EXPIRY_ATTEMPTS {
        let Some(transition) = payment.expire_if_due(app.clock.now()) else {
            return Ok(payment);
        };
        match app.store.apply(&transition, None).await {
            Ok(()) => return Ok(transition.payment),
            Err(StoreError::VersionConflict) => {
                payment = app.store.payment(&payment.id).await?.ok_or(ApiError::PaymentNotFound)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::VersionConflict.into())
}

/// Expires the payment if its time is up; whether it ended up expired.
pub async fn expire_if_due<S: Store>(app: &App<S>, id: &PaymentId) -> Result<bool, ApiError> {
    match app.store.payment(id).await? {
        Some(payment) => Ok(refresh(app, payment).await?.status.releases_reference()),
        None => Ok(false),
    }
}
