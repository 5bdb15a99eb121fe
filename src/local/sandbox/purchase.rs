//! The purchase screen (A01-1 in, A02-1 out, browser returns).

use std::collections::BTreeMap;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use rand::Rng;
use rand::seq::SliceRandom;

use super::calendar;
use super::{Purchase, PurchaseStatus, Sandbox, html_escape, text};
use crate::sbps::form::{decode_shift_jis_form, encode_shift_jis_form};
use crate::sbps::hashcode::{Charset, verify_hashcode};
use crate::sbps::purchase::purchase_hashcode;
use crate::sbps::result_notification::{RESULT_HASH_ORDER, result_hashcode};

/// `res_err_code` of a purchase the payer declined on the au screens (402, U1: user error).
pub const DECLINED_BY_PAYER: &str = "402U1999";
/// `res_err_code` when the merchant's result CGI refused or did not answer (402, 34: other).
pub const MERCHANT_REFUSED: &str = "40234999";

/// (field, SBPS's item code (spec §8.6; 999 where SBPS names no item), max bytes, digits only,
/// required). An error's `res_err_code` is 402 + type + this item code.
const RULES: &[(&str, &str, usize, bool, bool)] = &[
    ("pay_method", "999", 1000, false, true),
    ("merchant_id", "001", 5, true, true),
    ("service_id", "002", 3, true, true),
    ("cust_code", "003", 64, false, true),
    ("order_id", "004", 38, false, true),
    ("item_id", "005", 32, false, true),
    ("amount", "008", 8, true, true),
    ("pay_type", "999", 1, true, true),
    ("service_type", "999", 1, true, true),
    ("success_url", "999", 500, false, true),
    ("cancel_url", "999", 500, false, true),
    ("error_url", "999", 500, false, true),
    ("pagecon_url", "009", 500, false, true),
    ("request_date", "023", 14, true, true),
    ("limit_second", "024", 4, true, false),
    ("sps_hashcode", "025", 40, false, true),
];

/// An SBPS error page: `res_err_code` and a message.
fn error_page(code: &str, message: &str) -> Response<Body> {
    let body = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>SBPS sandbox error</title></head><body>\
         <h1>SBPS sandbox: error {}</h1><p id=\"res_err_code\">{}</p><p>{}</p></body></html>",
        html_escape(code),
        html_escape(code),
        html_escape(message)
    );
    text(StatusCode::BAD_REQUEST, "text/html; charset=utf-8", body)
}

/// Hidden form inputs carrying `fields`.
fn hidden_inputs<'a>(fields: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    fields
        .into_iter()
        .map(|(name, value)| {
            format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", html_escape(name), html_escape(value))
        })
        .collect()
}

/// A page whose form posts `fields` to `url` by itself (the browser hop SBPS makes).
fn auto_post(url: &str, fields: &[(String, String)], title: &str) -> Response<Body> {
    let inputs = hidden_inputs(fields.iter().map(|(k, v)| (k, v)));
    let body = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\
         <body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\" accept-charset=\"Shift_JIS\">{inputs}\
         <noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
        html_escape(url)
    );
    text(StatusCode::OK, "text/html; charset=utf-8", body)
}

impl Sandbox {
    pub(super) async fn purchase(&self, body: &[u8], action: &str) -> Response<Body> {
        let Ok(mut fields) = decode_shift_jis_form(body) else {
            return error_page("40200000", "the form is not valid Shift_JIS");
        };
        let decision = fields.remove("decision");
        if let Err((code, message)) = self.check_request(&fields, decision.is_none()) {
            return error_page(&code, &message);
        }
        match decision.as_deref() {
            None => self.screen(&fields, action),
            Some("approve") => self.finish(&fields, true).await,
            Some("decline") => self.finish(&fields, false).await,
            Some("cancel") => {
                self.use_order(&fields);
                let url = fields.get("cancel_url").cloned().unwrap_or_default();
                auto_post(&url, &[], "Back to the shop")
            }
            Some(_) => error_page("40200000", "unknown decision"),
        }
    }

    /// The checks SBPS makes on a purchase request (spec §5).
    fn check_request(&self, fields: &BTreeMap<String, String>, check_time: bool) -> Result<(), (String, String)> {
        let get = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
        for (name, item, max, digits, required) in RULES {
            let value = get(name);
            if *required && value.is_empty() {
                return Err((format!("40203{item}"), format!("{name} is required")));
            }
            if value.len() > *max {
                return Err((format!("40205{item}"), format!("{name} is longer than {max} bytes")));
            }
            if *digits && !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err((format!("40204{item}"), format!("{name} must be digits")));
            }
        }
        if get("pay_method") != "auone" {
            return Err(("40201999".into(), "pay_method must be auone in this sandbox".into()));
        }
        if get("pay_type") != "0" || get("service_type") != "0" {
            return Err(("40207999".into(), "only one-time purchases (pay_type 0, service_type 0)".into()));
        }
        if get("amount").parse::<u32>().ok().filter(|a| *a >= 1).is_none() {
            return Err(("40207008".into(), "amount must be at least 1".into()));
        }
        let merchant = self
            .merchant(get("merchant_id"), get("service_id"))
            .ok_or_else(|| ("40214001".to_owned(), "unknown merchant_id / service_id".to_owned()))?;
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let computed = purchase_hashcode(&pairs, &merchant.hash_key)
            .map_err(|_| ("40209025".to_owned(), "sps_hashcode cannot be computed".to_owned()))?;
        if !verify_hashcode(get("sps_hashcode"), &computed) {
            return Err(("40209025".into(), "sps_hashcode does not match".into()));
        }
        if check_time {
            let requested = calendar::parse(get("request_date"))
                .ok_or_else(|| ("40206023".to_owned(), "request_date is not a date".to_owned()))?;
            let limit = get("limit_second").parse::<u16>().unwrap_or(600);
            let deadline = requested.checked_add_signed(chrono::Duration::seconds(i64::from(limit)));
            if deadline.is_none_or(|d| self.clock.now() > d) {
                return Err(("40210023".into(), "the request has expired (request_date + limit_second)".into()));
            }
        }
        let key = (get("merchant_id").to_owned(), get("service_id").to_owned(), get("order_id").to_owned());
        if self.state().used_orders.contains(&key) {
            return Err(("40296004".into(), "order_id was already used".into()));
        }
        Ok(())
    }

    fn use_order(&self, fields: &BTreeMap<String, String>) -> bool {
        let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
        self.state().used_orders.insert((get("merchant_id"), get("service_id"), get("order_id")))
    }

    /// The au payment screen: approve, decline or cancel.
    fn screen(&self, fields: &BTreeMap<String, String>, action: &str) -> Response<Body> {
        let inputs = hidden_inputs(fields);
        let amount = fields.get("amount").cloned().unwrap_or_default();
        let body = format!(
            "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>au Kantan Kessai (SBPS sandbox)</title></head><body>\
             <h1>au かんたん決済 (sandbox)</h1><p>Pay <strong>{} yen</strong> with your au phone bill?</p>\
             <form method=\"post\" action=\"{}\" accept-charset=\"Shift_JIS\">{inputs}\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
             <button type=\"submit\" name=\"decision\" value=\"decline\">Decline</button> \
             <button type=\"submit\" name=\"decision\" value=\"cancel\">Cancel</button></form></body></html>",
            html_escape(&amount),
            html_escape(action)
        );
        text(StatusCode::OK, "text/html; charset=utf-8", body)
    }

    /// Approve or decline: notify the merchant (A02-1), then send the browser on.
    async fn finish(&self, fields: &BTreeMap<String, String>, approve: bool) -> Response<Body> {
        if !self.use_order(fields) {
            return error_page("40296004", "order_id was already used");
        }
        let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let Some(merchant) = self.merchant(&get("merchant_id"), &get("service_id")).cloned() else {
            return error_page("40214001", "unknown merchant_id / service_id");
        };
        let now = calendar::format(self.clock.now());
        let tracking_id = if approve {
            format!("{:014}", rand::rng().random_range(0..100_000_000_000_000u64))
        } else {
            String::new()
        };
        let mut result: BTreeMap<String, String> =
            RESULT_HASH_ORDER.iter().map(|n| ((*n).to_owned(), get(n))).collect();
        result.insert("res_pay_method".into(), "auone".into());
        result.insert("res_result".into(), if approve { "OK" } else { "NG" }.into());
        result.insert("res_tracking_id".into(), tracking_id.clone());
        result.insert("res_payment_date".into(), if approve { now.clone() } else { String::new() });
        result.insert("res_err_code".into(), if approve { String::new() } else { DECLINED_BY_PAYER.into() });
        result.insert("res_date".into(), now);
        let hash = result_hashcode(&result, &merchant.hash_key, Charset::Utf8).unwrap_or_default();

        let mut posted: Vec<(String, String)> = result.clone().into_iter().collect();
        posted.push(("sps_hashcode".into(), hash.to_ascii_uppercase()));
        posted.shuffle(&mut rand::rng());
        let answer = self.notify(&get("pagecon_url"), &posted).await;
        let accepted = answer.as_deref().is_some_and(|a| a.starts_with("OK,"));

        if approve && accepted {
            let amount = get("amount").parse().unwrap_or(0);
            let automatic = merchant.automatic_sales;
            self.state().purchases.insert(
                tracking_id,
                Purchase {
                    merchant_id: merchant.merchant_id.clone(),
                    service_id: merchant.service_id.clone(),
                    amount,
                    status: if automatic { PurchaseStatus::Captured } else { PurchaseStatus::Authorized },
                    captured: if automatic { amount } else { 0 },
                    captured_at: automatic.then(|| self.clock.now()),
                    refunded: 0,
                },
            );
            // A03-1: the same fields, checksum over Shift_JIS bytes.
            let browser_hash = result_hashcode(&result, &merchant.hash_key, Charset::ShiftJis).unwrap_or_default();
            let mut back: Vec<(String, String)> = result.into_iter().collect();
            back.push(("sps_hashcode".into(), browser_hash.to_ascii_uppercase()));
            return auto_post(&get("success_url"), &back, "Payment complete");
        }
        let code = if approve { MERCHANT_REFUSED } else { DECLINED_BY_PAYER };
        let back = vec![
            ("order_id".to_owned(), get("order_id")),
            ("res_result".to_owned(), "NG".to_owned()),
            ("res_err_code".to_owned(), code.to_owned()),
        ];
        auto_post(&get("error_url"), &back, "Payment not completed")
    }

    /// Posts the result notification as SBPS does; the merchant's answer text, if any.
    async fn notify(&self, url: &str, fields: &[(String, String)]) -> Option<String> {
        let body = encode_shift_jis_form(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded; charset=Shift_JIS")
            .body(body)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let bytes = response.bytes().await.ok()?;
        let (text, _, _) = encoding_rs::SHIFT_JIS.decode(&bytes);
        Some(text.trim().to_owned())
    }
}
