//! The result notification (A02-1) SBPS posts to `pagecon_url`: its checksum field order and
//! verification (spec §4.3, §7.3), and the wire checks that turn a posted form into a typed
//! [`ResultNotification`] before anything is read from the store. What it does to a payment is
//! the domain's rule (`Payment::apply_result`).

use std::collections::BTreeMap;

use super::form::decode_shift_jis_form;
use super::hashcode::{Charset, sps_hashcode, verify_hashcode};
use super::purchase::PAY_METHOD;
use crate::accounts::{Account, Accounts};
use crate::ids::PaymentId;
use crate::payment::PurchaseResult;

/// A notification whose checksum, merchant and fields were checked.
#[derive(Debug, Clone)]
pub struct ResultNotification<'a> {
    /// The processing account whose SBPS service sent it.
    pub account: &'a Account,
    pub payment_id: PaymentId,
    /// The amount SBPS says the payer approved, to be checked against the payment.
    pub amount: u32,
    pub result: PurchaseResult,
}

/// Why a posted notification was refused at the wire; the text after `NG,` (ASCII, short).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireRefusal {
    #[error("malformed notification")]
    Malformed,
    /// An unknown merchant and a wrong checksum answer the same, so that nobody can list the
    /// merchants configured here.
    #[error("sps_hashcode error")]
    Unverified,
    #[error("order_id error")]
    Order,
    #[error("pay_method error")]
    PayMethod,
    #[error("amount error")]
    Amount,
    #[error("res_tracking_id error")]
    TrackingId,
}

/// Parses and verifies a notification body (Shift_JIS form; checksum over UTF-8 values). On a
/// refusal, the order id is given when the checksum held (for the logs).
pub fn parse_notification<'a>(
    body: &[u8],
    accounts: &'a Accounts,
) -> Result<ResultNotification<'a>, (WireRefusal, Option<PaymentId>)> {
    let fields = decode_shift_jis_form(body).map_err(|_| (WireRefusal::Malformed, None))?;
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    let account = accounts.by_sbps_service(field("merchant_id"), field("service_id"));
    // Verify with some key even for an unknown merchant, so both refusals take the same path.
    let verified = match account {
        Some(a) => verify_result(&fields, a.sbps.hash_key.expose()),
        None => {
            let _ = verify_result(&fields, "");
            false
        }
    };
    let (Some(account), true) = (account, verified) else { return Err((WireRefusal::Unverified, None)) };
    let payment_id: PaymentId = field("order_id").parse().map_err(|_| (WireRefusal::Order, None))?;
    let refused = |r: WireRefusal| (r, Some(payment_id.clone()));
    if field("pay_method") != PAY_METHOD {
        return Err(refused(WireRefusal::PayMethod));
    }
    let amount = field("amount");
    let amount = match amount.parse::<u32>() {
        Ok(a) if !amount.starts_with('+') && !amount.starts_with('0') => a,
        _ => return Err(refused(WireRefusal::Amount)),
    };
    let non_empty = |name: &str| Some(field(name).to_owned()).filter(|v| !v.is_empty());
    let result = if field("res_result") == "OK" {
        let tracking_id = field("res_tracking_id");
        if tracking_id.len() != 14 || !tracking_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused(WireRefusal::TrackingId));
        }
        PurchaseResult::Approved { tracking_id: tracking_id.to_owned(), payment_date: non_empty("res_payment_date") }
    } else {
        // Anything but OK is "not paid" for au (spec §7.4).
        PurchaseResult::Declined { err_code: non_empty("res_err_code") }
    };
    Ok(ResultNotification { account, payment_id, amount, result })
}

/// A02-1 / A03-1 field order for the checksum. URLs and `free_csv` are not echoed.
pub const RESULT_HASH_ORDER: &[&str] = &[
    "pay_method",
    "merchant_id",
    "service_id",
    "cust_code",
    "sps_cust_no",
    "sps_payment_no",
    "order_id",
    "item_id",
    "pay_item_id",
    "item_name",
    "tax",
    "amount",
    "pay_type",
    "auto_charge_type",
    "service_type",
    "div_settele",
    "last_charge_month",
    "camp_type",
    "tracking_id",
    "terminal_type",
    "free1",
    "free2",
    "free3",
    "request_date",
    "res_pay_method",
    "res_result",
    "res_tracking_id",
    "res_sps_cust_no",
    "res_sps_payment_no",
    "res_payinfo_key",
    "res_payment_date",
    "res_err_code",
    "res_date",
    "limit_second",
];

/// The checksum (lower-case hex) of decoded notification fields; `charset` is UTF-8 for the
/// server notification, Shift_JIS for the browser return.
pub fn result_hashcode(fields: &BTreeMap<String, String>, hash_key: &str, charset: Charset) -> Option<String> {
    let values = RESULT_HASH_ORDER.iter().map(|name| fields.get(*name).map(String::as_str).unwrap_or(""));
    sps_hashcode(values, hash_key, charset).ok()
}

/// Whether the notification's `sps_hashcode` is the one its fields and our key give.
pub fn verify_result(fields: &BTreeMap<String, String>, hash_key: &str) -> bool {
    match (fields.get("sps_hashcode"), result_hashcode(fields, hash_key, Charset::Utf8)) {
        (Some(received), Some(computed)) => verify_hashcode(received, &computed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbps::form::decode_shift_jis_form;

    /// Spec §4.4 vector 1: a real notification from the SBPS sandbox (shared test merchant
    /// 19788/001), as published in wozaki/sbpayment.rb `example/purchase_report.rb`.
    const POST: &[u8] = b"res_payinfo_key=&service_id=001&auto_charge_type=0&free1=&cust_code=498b1fd98ebeb074ff1d50f2e2720a1a&div_settele=0&free3=&res_sps_payment_no=&service_type=0&free2=&sps_hashcode=BE33A23EC4B61A34545E0A485D0897E33383F4DE&order_id=9eb2fced282c5bfc67c2417217ca2682&camp_type=&res_date=20150807161021&amount=980&res_err_code=&last_charge_month=&limit_second=600&pay_type=2&res_payment_date=20150807161021&merchant_id=19788&tracking_id=&res_tracking_id=80312789324671&request_date=20150807161004&pay_item_id=&res_pay_method=&terminal_type=0&res_sps_cust_no=&pay_method=&tax=&item_name=%8Cp%91%B1%89%DB%8B%E0&sps_payment_no=&res_result=OK&item_id=Item+ID&sps_cust_no=";
    const KEY: &str = "398a58952baf329cac5efbae97ea84ba17028d02";

    #[test]
    fn the_recorded_sbps_notification_verifies_over_utf8() {
        let fields = decode_shift_jis_form(POST).unwrap_or_default();
        assert_eq!(
            result_hashcode(&fields, KEY, Charset::Utf8).as_deref(),
            Some("be33a23ec4b61a34545e0a485d0897e33383f4de")
        );
        assert!(verify_result(&fields, KEY));
    }

    #[test]
    fn the_same_fields_over_shift_jis_give_the_browser_return_checksum() {
        let fields = decode_shift_jis_form(POST).unwrap_or_default();
        assert_eq!(
            result_hashcode(&fields, KEY, Charset::ShiftJis).as_deref(),
            Some("c27fa2286c6fcc2cef2ce31def31386c2e39783e")
        );
    }

    #[test]
    fn any_change_breaks_it() {
        let mut fields = decode_shift_jis_form(POST).unwrap_or_default();
        fields.insert("amount".into(), "981".into());
        assert!(!verify_result(&fields, KEY));
        let mut fields = decode_shift_jis_form(POST).unwrap_or_default();
        fields.remove("sps_hashcode");
        assert!(!verify_result(&fields, KEY));
        let fields = decode_shift_jis_form(POST).unwrap_or_default();
        assert!(!verify_result(&fields, "another key"));
    }
}
