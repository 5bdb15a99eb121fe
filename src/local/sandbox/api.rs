//! The XML API: Basic auth, checksum, expiry, and au's capture / cancel / refund rules.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use subtle::ConstantTimeEq;

use super::calendar;
use super::{ApiCall, Fault, PurchaseStatus, ResetConnection, Sandbox, text};
use crate::sbps::api::{CANCEL_REFUND, CAPTURE};
use crate::sbps::hashcode::{Charset, sps_hashcode, verify_hashcode};
use crate::sbps::xml::{decode_shift_jis, parse_flat};

fn xml_response(
    function_id: Option<&str>,
    ok: bool,
    transaction_id: &str,
    err_code: &str,
    now: DateTime<Utc>,
) -> Response<Body> {
    let id = function_id.map(|f| format!(" id=\"{f}\"")).unwrap_or_default();
    let date = calendar::format(now);
    let body = if ok {
        format!(
            "<?xml version='1.0' encoding='Shift_JIS' ?>\n  <sps-api-response{id}>\n    <res_result>OK</res_result>\n    \
             <res_sps_transaction_id>{transaction_id}</res_sps_transaction_id>\n    <res_process_date>{date}</res_process_date>\n    \
             <res_err_code/>\n    <res_date>{date}</res_date>\n  </sps-api-response>\n"
        )
    } else {
        format!(
            "<?xml version='1.0' encoding='Shift_JIS' ?>\n  <sps-api-response{id}>\n    <res_result>NG</res_result>\n    \
             <res_err_code>{err_code}</res_err_code>\n    <res_date>{date}</res_date>\n  </sps-api-response>\n"
        )
    };
    text(StatusCode::OK, "text/xml;charset=Shift_JIS", body)
}

/// What a call did: OK (and whether it changed anything) or an error code.
enum Processed {
    Ok { performed: bool },
    Ng(String),
}

impl Sandbox {
    pub(super) async fn api(&self, req: &Request) -> Response<Body> {
        let fault = self.state().faults.pop_front();
        let now = self.clock.now();
        match &fault {
            Some(Fault::Status { status }) => {
                self.record_unprocessed(req, &format!("HTTP {status}"));
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return text(status, "text/plain", "sandbox fault".into());
            }
            Some(Fault::Reset) => {
                self.record_unprocessed(req, "reset");
                let mut r = text(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", String::new());
                r.extensions_mut().insert(ResetConnection);
                return r;
            }
            _ => {}
        }
        if !self.authorized(req) {
            return text(StatusCode::UNAUTHORIZED, "text/plain", "401 Unauthorized".into());
        }
        let Ok(xml) = decode_shift_jis(req.body().as_ref()) else {
            return xml_response(None, false, "", "99900000", now);
        };
        let Ok(doc) = parse_flat(&xml) else {
            return xml_response(None, false, "", "99900000", now);
        };
        let function_id = doc.id.clone().unwrap_or_default();
        let get = |name: &str| doc.fields.get(name).cloned().unwrap_or_default();
        let tracking_id = get("tracking_id");
        let amount = doc.fields.get("pay_option_manage/amount").and_then(|a| a.parse::<u32>().ok());
        let processed = match &fault {
            Some(Fault::Error { code }) => Processed::Ng(code.clone()),
            _ => self.process(&doc, &function_id, now),
        };
        let (ok, err_code, performed) = match &processed {
            Processed::Ok { performed } => (true, String::new(), *performed),
            Processed::Ng(code) => (false, code.clone(), false),
        };
        let transaction_id = {
            let mut state = self.state();
            state.sequence += 1;
            state.calls.push(ApiCall {
                function_id: function_id.clone(),
                tracking_id,
                amount,
                result: if ok { "OK" } else { "NG" }.into(),
                err_code: err_code.clone(),
                performed,
            });
            format!(
                "B{}{}{}{:014}",
                get("merchant_id"),
                get("service_id"),
                function_id.replace('-', ""),
                state.sequence
            )
        };
        if let Some(Fault::Delay { millis }) = fault {
            tokio::time::sleep(Duration::from_millis(millis)).await;
        }
        if fault == Some(Fault::Lost) {
            let mut r = text(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", String::new());
            r.extensions_mut().insert(ResetConnection);
            return r;
        }
        let known = [CAPTURE, CANCEL_REFUND].contains(&function_id.as_str());
        xml_response(known.then_some(function_id.as_str()), ok, &transaction_id, &err_code, now)
    }

    /// Records a call that a fault stopped before it was processed.
    fn record_unprocessed(&self, req: &Request, result: &str) {
        let doc = decode_shift_jis(req.body().as_ref()).ok().and_then(|x| parse_flat(&x).ok()).unwrap_or_default();
        let get = |name: &str| doc.fields.get(name).cloned().unwrap_or_default();
        self.state().calls.push(ApiCall {
            function_id: doc.id.clone().unwrap_or_default(),
            tracking_id: get("tracking_id"),
            amount: get("pay_option_manage/amount").parse().ok(),
            result: result.into(),
            err_code: String::new(),
            performed: false,
        });
    }

    /// HTTP Basic auth against the registered merchants, in constant time per comparison.
    fn authorized(&self, req: &Request) -> bool {
        let Some(header) = req.headers().get("authorization").and_then(|v| v.to_str().ok()) else { return false };
        let Some(encoded) = header.strip_prefix("Basic ") else { return false };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
        self.merchants.iter().any(|m| {
            let expected = format!("{}:{}", m.api_user, m.api_password);
            bool::from(expected.as_bytes().ct_eq(&decoded))
        })
    }

    fn process(&self, doc: &crate::sbps::xml::FlatDocument, function_id: &str, now: DateTime<Utc>) -> Processed {
        let get = |name: &str| doc.fields.get(name).cloned().unwrap_or_default();
        if doc.root != "sps-api-request" {
            return Processed::Ng("99900000".into());
        }
        if function_id != CAPTURE && function_id != CANCEL_REFUND {
            return Processed::Ng("40202000".into());
        }
        let Some(merchant) = self.merchant(&get("merchant_id"), &get("service_id")) else {
            return Processed::Ng("40214001".into());
        };
        let values: Vec<&str> = doc
            .order
            .iter()
            .filter(|p| p.as_str() != "sps_hashcode")
            .map(|p| doc.fields.get(p).map(String::as_str).unwrap_or(""))
            .collect();
        let computed = sps_hashcode(values, &merchant.hash_key, Charset::ShiftJis).unwrap_or_default();
        if !verify_hashcode(&get("sps_hashcode"), &computed) {
            return Processed::Ng("40209025".into());
        }
        let Some(requested) = calendar::parse(&get("request_date")) else {
            return Processed::Ng("40206023".into());
        };
        let Ok(limit) = get("limit_second").parse::<u16>() else {
            return Processed::Ng("40206024".into());
        };
        let deadline = requested.checked_add_signed(chrono::Duration::seconds(i64::from(limit)));
        if deadline.is_none_or(|d| now > d) {
            return Processed::Ng("40210023".into());
        }
        let amount = match doc.fields.get("pay_option_manage/amount") {
            None => None,
            Some(a) => match a.parse::<u32>() {
                Ok(a) if a >= 1 => Some(a),
                _ => return Processed::Ng("40207008".into()),
            },
        };
        let (merchant_id, service_id) = (merchant.merchant_id.clone(), merchant.service_id.clone());
        let mut state = self.state();
        let Some(p) = state
            .purchases
            .get_mut(&get("tracking_id"))
            .filter(|p| p.merchant_id == merchant_id && p.service_id == service_id)
        else {
            return Processed::Ng(if function_id == CAPTURE { "40220999" } else { "40225999" }.into());
        };
        use PurchaseStatus::*;
        if function_id == CAPTURE {
            return match p.status {
                Authorized => match amount {
                    Some(a) if a > p.amount => Processed::Ng("40222008".into()),
                    a => {
                        p.captured = a.unwrap_or(p.amount);
                        p.captured_at = Some(now);
                        p.status = Captured;
                        Processed::Ok { performed: true }
                    }
                },
                Captured | Refunded | PartiallyRefunded => Processed::Ng("40223999".into()),
                Cancelled => Processed::Ng("40221999".into()),
            };
        }
        match p.status {
            Authorized => match amount {
                Some(_) => Processed::Ng("40234999".into()),
                None => {
                    p.status = Cancelled;
                    Processed::Ok { performed: true }
                }
            },
            Cancelled => Processed::Ng("40226999".into()),
            Refunded | PartiallyRefunded => Processed::Ng("40230999".into()),
            Captured => {
                let sold_at = p.captured_at.unwrap_or(now);
                if calendar::refund_period_over(sold_at, now) {
                    return Processed::Ng("40231999".into());
                }
                match amount {
                    None => {
                        p.refunded = p.captured;
                        p.status = Refunded;
                        Processed::Ok { performed: true }
                    }
                    Some(_) if calendar::partial_refund_refused(sold_at, now) => Processed::Ng("40228999".into()),
                    Some(a) if a > p.captured => Processed::Ng("40275008".into()),
                    Some(a) => {
                        p.refunded = a;
                        p.status = if a == p.captured { Refunded } else { PartiallyRefunded };
                        Processed::Ok { performed: true }
                    }
                }
            }
        }
    }
}
