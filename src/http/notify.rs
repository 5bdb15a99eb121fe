//! `POST /v1/notifications/sbps`: SBPS's result notification (A02-1, spec §7). The wire checks
//! are `sbps::result`'s, the state rule the domain's; the answer is plain text: `OK,` or
//! `NG,<reason>`.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

use super::{App, PaymentIdLog};
use crate::ids::PaymentId;
use crate::sbps::result::parse_notification;
use crate::service::{NotificationOutcome, Provider};
use crate::store::Store;

fn plain(text: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=Shift_JIS"));
    response
}

pub async fn notify<S: Store, P: Provider>(app: &App<S, P>, req: &Request) -> Response<Body> {
    let (refusal, payment_id): (Option<String>, Option<PaymentId>) =
        match parse_notification(req.body().as_ref(), &app.service.accounts) {
            Err((wire, id)) => (Some(wire.to_string()), id),
            Ok(notification) => {
                let id = Some(notification.payment_id.clone());
                match app.service.apply_notification(&notification).await {
                    Ok(NotificationOutcome::Applied(_) | NotificationOutcome::AlreadyApplied) => (None, id),
                    Ok(NotificationOutcome::Refused(r)) => (Some(r.to_string()), id),
                    Ok(NotificationOutcome::UnknownOrder) => (Some("order_id error".into()), id),
                    Err(e) => {
                        tracing::warn!(error = %e, "notification could not be applied");
                        (Some("temporary error".into()), id)
                    }
                }
            }
        };
    let answer = match &refusal {
        None => {
            app.service.metrics.notification("accepted");
            "OK,".to_owned()
        }
        Some(reason) => {
            app.service.metrics.notification("refused");
            tracing::warn!(reason, payment_id = payment_id.as_ref().map(|i| i.as_str()), "notification refused");
            format!("NG,{reason}")
        }
    };
    let mut response = plain(answer);
    if let Some(id) = payment_id {
        response.extensions_mut().insert(PaymentIdLog(id.to_string()));
    }
    response
}
