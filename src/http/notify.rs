//! `POST /v1/notifications/sbps`: SBPS's result notification (A02-1, spec §7). Everything is
//! verified before anything is written: the checksum (UTF-8, constant time), then merchant,
//! service, order, pay method and amount. The answer is plain text: `OK,` or `NG,<reason>`.

use std::collections::BTreeMap;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

use super::App;
use crate::ids::PaymentId;
use crate::payment::{Payment, Status};
use crate::sbps::form::decode_shift_jis_form;
use crate::sbps::purchase::PAY_METHOD;
use crate::sbps::result::verify_result;
use crate::store::{Store, StoreError};

/// How often a notification re-reads the payment when a concurrent change got there first.
const ATTEMPTS: usize = 5;

fn plain(text: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=Shift_JIS"));
    response
}

/// Why a notification is refused; the text after `NG,` (ASCII, short).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadForm,
    Checksum,
    Merchant,
    Order,
    PayMethod,
    Amount,
    NotPending,
    TrackingId,
    Temporary,
}

impl Refusal {
    fn text(self) -> &'static str {
        match self {
            Refusal::BadForm => "malformed notification",
            Refusal::Checksum => "sps_hashcode error",
            Refusal::Merchant => "merchant_id error",
            Refusal::Order => "order_id error",
            Refusal::PayMethod => "pay_method error",
            Refusal::Amount => "amount error",
            Refusal::NotPending => "order is no longer pending",
            Refusal::TrackingId => "res_tracking_id error",
            Refusal::Temporary => "temporary error",
        }
    }
}

pub async fn notify<S: Store>(app: &App<S>, req: &Request) -> Response<Body> {
    let (answer, payment_id) = match receive(app, req.body().as_ref()).await {
        Ok(id) => {
            app.metrics.notification("accepted");
            ("OK,".to_owned(), Some(id))
        }
        Err((refusal, id)) => {
            app.metrics.notification("refused");
            tracing::warn!(
                reason = refusal.text(),
                payment_id = id.as_ref().map(|i| i.as_str()),
                "notification refused"
            );
            (format!("NG,{}", refusal.text()), id)
        }
    };
    let mut response = plain(answer);
    if let Some(id) = payment_id {
        response.extensions_mut().insert(super::PaymentIdLog(id.to_string()));
    }
    response
}

type Refused = (Refusal, Option<PaymentId>);

async fn receive<S: Store>(app: &App<S>, body: &[u8]) -> Result<PaymentId, Refused> {
    let fields = decode_shift_jis_form(body).map_err(|_| (Refusal::BadForm, None))?;
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    let account =
        app.accounts.by_sbps_service(field("merchant_id"), field("service_id")).ok_or((Refusal::Merchant, None))?;
    if !verify_result(&fields, account.sbps.hash_key.expose()) {
        return Err((Refusal::Checksum, None));
    }
    let id: PaymentId = field("order_id").parse().map_err(|_| (Refusal::Order, None))?;
    let refused = |r: Refusal| (r, Some(id.clone()));
    if field("pay_method") != PAY_METHOD {
        return Err(refused(Refusal::PayMethod));
    }
    for _ in 0..ATTEMPTS {
        let payment = match app.store.payment(&id).await {
            Ok(Some(p)) if p.account_id == account.processing_account_id => p,
            Ok(_) => return Err(refused(Refusal::Order)),
            Err(_) => return Err(refused(Refusal::Temporary)),
        };
        if field("amount") != payment.amount.to_string() {
            return Err(refused(Refusal::Amount));
        }
        let payment = match super::track::refresh(app, payment).await {
            Ok(p) => p,
            Err(_) => return Err(refused(Refusal::Temporary)),
        };
        let transition = match decide(&payment, &fields, app.clock.now()) {
            Decision::Apply(t) => *t,
            Decision::AlreadyApplied => return Ok(id),
            Decision::Refuse(r) => return Err(refused(r)),
        };
        match app.store.apply(&transition, None).await {
            Ok(()) => {
                tracing::info!(payment_id = %id, status = %transition.payment.status, "notification applied");
                return Ok(id);
            }
            Err(StoreError::VersionConflict) => continue,
            Err(_) => return Err(refused(Refusal::Temporary)),
        }
    }
    Err(refused(Refusal::Temporary))
}

enum Decision {
    Apply(Box<crate::payment::Transition>),
    AlreadyApplied,
    Refuse(Refusal),
}

fn decide(payment: &Payment, fields: &BTreeMap<String, String>, now: chrono::DateTime<chrono::Utc>) -> Decision {
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    let non_empty = |name: &str| Some(field(name).to_owned()).filter(|v| !v.is_empty());
    if field("res_result") == "OK" {
        let tracking_id = field("res_tracking_id");
        if tracking_id.len() != 14 || !tracking_id.bytes().all(|b| b.is_ascii_digit()) {
            return Decision::Refuse(Refusal::TrackingId);
        }
        if payment.status == Status::Pending {
            return match payment.authorize(tracking_id.to_owned(), non_empty("res_payment_date"), now) {
                Ok(t) => Decision::Apply(Box::new(t)),
                Err(_) => Decision::Refuse(Refusal::NotPending),
            };
        }
        if payment.sbps.tracking_id.as_deref() == Some(tracking_id) {
            return Decision::AlreadyApplied;
        }
        return Decision::Refuse(Refusal::NotPending);
    }
    // Anything but OK is "not paid" for au (spec §7.4).
    match payment.status {
        Status::Pending => match payment.decline(non_empty("res_err_code"), now) {
            Ok(t) => Decision::Apply(Box::new(t)),
            Err(_) => Decision::Refuse(Refusal::NotPending),
        },
        Status::Declined => Decision::AlreadyApplied,
        _ => Decision::Refuse(Refusal::NotPending),
    }
}
