//! `POST /v1/notifications/sbps`: SBPS's result notification (A02-1, spec §7). The wire checks
//! are `sbps::result`'s, the state rule the domain's; the answer is plain text: `OK,` or
//! `NG,<reason>`.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

use super::{App, PaymentIdLog};
use crate::ids::PaymentId;
use crate::sbps::result_notification::parse_notification;
use crate::service::{NotificationOutcome, Provider};
use crate::store::Store;

fn plain(text: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=Shift_JIS"));
    response
}

/// What SBPS is answered.
enum Answer {
    Accepted,
    /// By the wire checks or the state rule: SBPS and the store agree nothing was applied.
    Refused(String),
    /// The store failed while applying (this error): whether the result was stored is not known.
    Unsettled(String),
}

pub async fn notify<S: Store, P: Provider>(app: &App<S, P>, req: &Request) -> Response<Body> {
    let (answer, payment_id): (Answer, Option<PaymentId>) =
        match parse_notification(req.body().as_ref(), &app.service.accounts) {
            Err((wire, id)) => (Answer::Refused(wire.to_string()), id),
            Ok(notification) => {
                let id = Some(notification.payment_id.clone());
                match app.service.apply_notification(&notification).await {
                    Ok(NotificationOutcome::Applied(_) | NotificationOutcome::AlreadyApplied) => (Answer::Accepted, id),
                    Ok(NotificationOutcome::Refused(r)) => (Answer::Refused(r.to_string()), id),
                    Ok(NotificationOutcome::UnknownOrder) => (Answer::Refused("order_id error".into()), id),
                    Err(e) => (Answer::Unsettled(e.to_string()), id),
                }
            }
        };
    let payment_log = payment_id.as_ref().map(|i| i.as_str());
    let answer = match answer {
        Answer::Accepted => {
            app.service.metrics.notification("accepted");
            "OK,".to_owned()
        }
        Answer::Refused(reason) => {
            app.service.metrics.notification("refused");
            tracing::warn!(reason, payment_id = payment_log, "notification refused");
            format!("NG,{reason}")
        }
        Answer::Unsettled(error) => {
            // SBPS does not complete a purchase it was answered NG for, but the store may have
            // committed the result before failing (its answer lost): the payment may read
            // authorized while SBPS holds no purchase. Only the store knows, and it is failing:
            // an operator compares the two (RUNBOOK, NotificationsUnsettledAlarm).
            app.service.metrics.notification("unsettled");
            tracing::error!(
                error,
                payment_id = payment_log,
                "notification answered NG with its write's outcome unknown: compare the payment with SBPS"
            );
            "NG,temporary error".to_owned()
        }
    };
    let mut response = plain(answer);
    if let Some(id) = payment_id {
        response.extensions_mut().insert(PaymentIdLog(id.to_string()));
    }
    response
}
