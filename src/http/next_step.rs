//! The signed POST redirect to the au payment screen (`nextStep`), built from the payment and
//! its account's SBPS service with the purchase form of [`crate::sbps::purchase`].

use crate::accounts::Account;
use crate::payment::{Payment, Status};
use crate::sbps::purchase::{PurchaseRequest, purchase_form};
use crate::views::{NextStep, Param, Redirect};

/// The signed POST redirect to the au payment screen, while the payment is pending.
pub fn next_step(payment: &Payment, account: &Account, notification_url: &str) -> Option<NextStep> {
    if payment.status != Status::Pending {
        return None;
    }
    let request = PurchaseRequest {
        merchant_id: &account.sbps.merchant_id,
        service_id: &account.sbps.service_id,
        payment_id: payment.id.as_str(),
        amount: payment.amount,
        return_url: &payment.return_url,
        pagecon_url: notification_url,
        request_date: payment.request_date,
        limit_second: payment.limit_second,
    };
    // Every value is validated printable ASCII, so signing cannot fail; if it ever did, the
    // payment is shown without a redirect rather than with a wrong one.
    let form = purchase_form(&request, account.sbps.hash_key.expose()).ok()?;
    Some(NextStep {
        kind: "redirect",
        redirect: Redirect {
            method: "post",
            url: account.sbps.purchase_url.clone(),
            params: form.into_iter().map(|(name, value)| Param { name, value }).collect(),
        },
    })
}
