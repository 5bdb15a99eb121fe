//! The link-type purchase request (A01-1): the 16 fields the payer's browser posts to the au
//! payment screen, in the seed's order, signed over UTF-8 in SBPS's definition order.

use chrono::{DateTime, Utc};

use super::datetime::sbps_datetime;
use super::hashcode::{Charset, HashError, sps_hashcode};
use crate::money::Yen;

/// A01-1 field order for the checksum (spec §4.3). Fields we never send hash as empty.
pub const PURCHASE_HASH_ORDER: &[&str] = &[
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
    "success_url",
    "cancel_url",
    "error_url",
    "pagecon_url",
    "free1",
    "free2",
    "free3",
    "free_csv",
    "request_date",
    "limit_second",
];

/// au Kantan Kessai at SBPS.
pub const PAY_METHOD: &str = "auone";
/// One-time purchase (都度購入).
pub const PAY_TYPE_ONE_TIME: &str = "0";
/// Sale / purchase (売上・購入).
pub const SERVICE_TYPE_SALE: &str = "0";
/// How long SBPS accepts the form after `request_date`.
pub const LIMIT_SECOND: u32 = 600;
/// Longest URL SBPS takes in `success_url` and its siblings (spec §5.1, inferred).
pub const MAX_URL_LEN: usize = 500;

/// What a purchase form is made of.
#[derive(Debug, Clone)]
pub struct PurchaseRequest<'a> {
    pub merchant_id: &'a str,
    pub service_id: &'a str,
    /// Our payment id: SBPS's `cust_code`, `order_id` and `item_id`.
    pub payment_id: &'a str,
    pub amount: Yen,
    /// The merchant's `returnUrl`: success, cancel and error URL.
    pub return_url: &'a str,
    /// Our result-notification endpoint.
    pub pagecon_url: &'a str,
    pub request_date: DateTime<Utc>,
    pub limit_second: u32,
}

/// The form fields, in the seed's order, ending with the upper-case `sps_hashcode`.
pub fn purchase_form(req: &PurchaseRequest<'_>, hash_key: &str) -> Result<Vec<(&'static str, String)>, HashError> {
    let mut fields: Vec<(&'static str, String)> = vec![
        ("pay_method", PAY_METHOD.into()),
        ("merchant_id", req.merchant_id.into()),
        ("service_id", req.service_id.into()),
        ("cust_code", req.payment_id.into()),
        ("order_id", req.payment_id.into()),
        ("item_id", req.payment_id.into()),
        ("amount", req.amount.to_string()),
        ("pay_type", PAY_TYPE_ONE_TIME.into()),
        ("service_type", SERVICE_TYPE_SALE.into()),
        ("success_url", req.return_url.into()),
        ("cancel_url", req.return_url.into()),
        ("error_url", req.return_url.into()),
        ("pagecon_url", req.pagecon_url.into()),
        ("request_date", sbps_datetime(req.request_date)),
        ("limit_second", req.limit_second.to_string()),
    ];
    let hash = purchase_hashcode(&fields, hash_key)?;
    fields.push(("sps_hashcode", hash.to_ascii_uppercase()));
    Ok(fields)
}

/// The A01-1 checksum of a set of named fields (lower-case hex).
pub fn purchase_hashcode<N: AsRef<str>, V: AsRef<str>>(fields: &[(N, V)], hash_key: &str) -> Result<String, HashError> {
    let value_of = |name: &str| fields.iter().find(|(n, _)| n.as_ref() == name).map(|(_, v)| v.as_ref()).unwrap_or("");
    sps_hashcode(PURCHASE_HASH_ORDER.iter().map(|name| value_of(name)), hash_key, Charset::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::{Digest, Sha1};

    fn seed_request() -> PurchaseRequest<'static> {
        PurchaseRequest {
            merchant_id: "99999",
            service_id: "000",
            payment_id: "27yiW9MgzBtwiodreuNOXk0rtIw",
            amount: Yen::new(200).unwrap_or_else(|_| unreachable!()),
            return_url: "https://merchant.site/complete-payment",
            pagecon_url: "http://127.0.0.1:3000/v1/notifications/sbps",
            // 2025-11-13 00:44:57 in Japan, the seed's request_date.
            request_date: DateTime::parse_from_rfc3339("2025-11-12T15:44:57Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
            limit_second: LIMIT_SECOND,
        }
    }

    const DEMO_KEY: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

    #[test]
    fn names_order_and_fixed_values_are_the_seeds() {
        let form = purchase_form(&seed_request(), DEMO_KEY).unwrap_or_default();
        let names: Vec<&str> = form.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "pay_method",
                "merchant_id",
                "service_id",
                "cust_code",
                "order_id",
                "item_id",
                "amount",
                "pay_type",
                "service_type",
                "success_url",
                "cancel_url",
                "error_url",
                "pagecon_url",
                "request_date",
                "limit_second",
                "sps_hashcode"
            ]
        );
        let value = |n: &str| form.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(value("pay_method"), "auone");
        assert_eq!(value("pay_type"), "0");
        assert_eq!(value("service_type"), "0");
        assert_eq!(value("limit_second"), "600");
        assert_eq!(value("request_date"), "20251113004457");
        assert_eq!(value("cust_code"), "27yiW9MgzBtwiodreuNOXk0rtIw");
        assert_eq!(value("amount"), "200");
    }

    /// Worked by hand from spec §5.1: the seed's values with the demo hash key, concatenated in
    /// A01-1 order (absent fields empty), SHA-1 over UTF-8, upper case.
    #[test]
    fn checksum_is_the_independently_worked_one() {
        let form = purchase_form(&seed_request(), DEMO_KEY).unwrap_or_default();
        let concatenated = concat!(
            "auone",
            "99999",
            "000",
            "27yiW9MgzBtwiodreuNOXk0rtIw",
            "27yiW9MgzBtwiodreuNOXk0rtIw",
            "27yiW9MgzBtwiodreuNOXk0rtIw",
            "200",
            "0",
            "0",
            "https://merchant.site/complete-payment",
            "https://merchant.site/complete-payment",
            "https://merchant.site/complete-payment",
            "http://127.0.0.1:3000/v1/notifications/sbps",
            "20251113004457",
            "600",
            "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
        );
        let expected = hex::encode_upper(Sha1::digest(concatenated.as_bytes()));
        assert_eq!(form.last().map(|(_, v)| v.as_str()), Some(expected.as_str()));
        // The same digest, computed once outside Rust (python3 hashlib) and pinned here.
        assert_eq!(expected, "72DE66D4F795CEDFF2A820A369EFF53022940121");
    }
}
