//! The result notification (A02-1) SBPS posts to `pagecon_url`: its checksum field order and
//! verification (spec §4.3, §7.3).

use std::collections::BTreeMap;

use super::hashcode::{Charset, sps_hashcode, verify_hashcode};

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
