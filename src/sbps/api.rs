//! The API-type client (spec §8) for the two au calls: capture `ST02-00201-402` and
//! cancel/refund `ST02-00303-402`. XML over HTTPS in Shift_JIS, HTTP Basic auth, a fresh
//! `request_date` and checksum on every attempt, connect and total timeouts. What comes back
//! is checked against what was asked and classified once, into a [`ProviderAnswer`]: anything not
//! understood is `Unknown` (the operation stays pending), never success.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::datetime::sbps_datetime;
use super::xml::{ApiRequest, decode_shift_jis, parse_flat};
use crate::accounts::SbpsAccount;
use crate::metrics::Metrics;
use crate::payment::{FailureCode, FailureReason, OperationKind, ProviderAnswer, ProviderCall};

pub const CAPTURE: &str = "ST02-00201-402";
pub const CANCEL_REFUND: &str = "ST02-00303-402";
/// Validity of an API request after its `request_date`.
pub const API_LIMIT_SECOND: &str = "600";

/// The request for a provider call, element order as spec §8.3.
pub fn api_request(
    call: ProviderCall,
    merchant_id: &str,
    service_id: &str,
    tracking_id: &str,
    now: DateTime<Utc>,
) -> ApiRequest {
    let (function_id, amount) = match call {
        ProviderCall::Capture { amount } => (CAPTURE, amount),
        ProviderCall::CancelOrRefund { amount } => (CANCEL_REFUND, amount),
    };
    let mut elements: Vec<(&'static str, String)> = vec![
        ("merchant_id", merchant_id.to_owned()),
        ("service_id", service_id.to_owned()),
        ("tracking_id", tracking_id.to_owned()),
    ];
    if let Some(amount) = amount {
        elements.push(("pay_option_manage/amount", amount.to_string()));
    }
    elements.push(("request_date", sbps_datetime(now)));
    elements.push(("limit_second", API_LIMIT_SECOND.to_owned()));
    ApiRequest { function_id, elements }
}

/// A refusal caused by the gateway's SBPS configuration (checksum, ids, credentials): 502
/// and an alarm.
fn configuration_fault(description: String, err_code: Option<&str>) -> ProviderAnswer {
    ProviderAnswer::Refused(FailureReason {
        code: FailureCode::ProviderConfigurationError,
        description,
        provider_code: err_code.map(str::to_owned),
    })
}

/// Classifies an SBPS error code for an operation of `kind` (DESIGN §3, spec §8.6). Only codes
/// that say "already done" succeed; anything not understood is a refusal or unknown, never
/// success.
pub fn classify_error(err_code: &str, kind: OperationKind, full: bool) -> ProviderAnswer {
    let err_type = err_code.get(3..5).unwrap_or("");
    let refused = |code: FailureCode, what: &str| {
        ProviderAnswer::Refused(FailureReason {
            code,
            description: format!("SBPS refused the {}: {what} (error {err_code}).", kind.as_str()),
            provider_code: Some(err_code.to_owned()),
        })
    };
    match (err_type, kind) {
        ("22" | "75", _) => refused(FailureCode::AmountExceedsRemaining, "the amount is more than what remains"),
        ("23", OperationKind::Capture) => ProviderAnswer::Succeeded,
        ("30", OperationKind::Refund | OperationKind::Cancel) => ProviderAnswer::Succeeded,
        ("26", OperationKind::Cancel) => ProviderAnswer::Succeeded,
        ("26", OperationKind::Refund) if full => ProviderAnswer::Succeeded,
        ("36" | "37" | "38" | "96", _) => ProviderAnswer::Unknown {
            description: format!("SBPS is still processing a {} (error {err_code}).", kind.as_str()),
        },
        ("29", _) => ProviderAnswer::Refused(FailureReason {
            code: FailureCode::BillingRunPending,
            description: format!(
                "au has not finished the billing run this refund depends on; retry later (error {err_code})."
            ),
            provider_code: Some(err_code.to_owned()),
        }),
        ("28", _) => refused(
            FailureCode::PartialRefundNotYetAvailable,
            "a partial refund is possible only from the month after the sale",
        ),
        ("31", _) => refused(FailureCode::RefundPeriodExpired, "the refund period has ended"),
        ("33", _) => refused(
            FailureCode::CapturePeriodExpired,
            "the capture period has ended and the authorization with it; nothing can be captured",
        ),
        ("42", OperationKind::Capture) => refused(
            FailureCode::WholeAmountCaptureRequired,
            "this service captures only the whole authorized amount; capture it without an amount",
        ),
        ("21", OperationKind::Capture) => refused(
            FailureCode::AuthorizationCancelled,
            "the authorization was cancelled at SBPS; nothing can be captured",
        ),
        ("43", OperationKind::Capture) => refused(
            FailureCode::AuthorizationCancelledByPayer,
            "the payer had the authorization cancelled; nothing can be captured",
        ),
        ("20", OperationKind::Capture) => refused(
            FailureCode::AuthorizationNotFound,
            "SBPS has no authorization for this payment's tracking id; an operator must compare the records",
        ),
        ("09" | "14", _) => configuration_fault(
            format!("SBPS rejected the gateway's credentials or checksum (error {err_code})."),
            Some(err_code),
        ),
        (t, _) if t.starts_with('8') || t.starts_with('9') => {
            ProviderAnswer::Unknown { description: format!("SBPS reported a system error (error {err_code}).") }
        }
        _ => refused(FailureCode::ProviderRefused, "see the SBPS error code"),
    }
}

/// Reads an SBPS answer to `function_id`.
pub fn classify_response(body: &[u8], function_id: &str, kind: OperationKind, full: bool) -> ProviderAnswer {
    let unknown = |why: &str| ProviderAnswer::Unknown { description: format!("SBPS answered {why}.") };
    let Ok(text) = decode_shift_jis(body) else { return unknown("with bytes that are not Shift_JIS") };
    let Ok(doc) = parse_flat(&text) else { return unknown("with a document that is not XML") };
    if doc.root != "sps-api-response" {
        return unknown("with an unexpected document");
    }
    if doc.id.as_deref().is_some_and(|id| id != function_id) {
        return unknown("for another function");
    }
    match doc.fields.get("res_result").map(String::as_str) {
        Some("OK") => ProviderAnswer::Succeeded,
        Some("NG") => match doc.fields.get("res_err_code") {
            Some(code) if code.len() == 8 && code.is_ascii() => classify_error(code, kind, full),
            _ => unknown("NG without a valid error code"),
        },
        _ => unknown("with an unknown result"),
    }
}

/// The HTTP client. Built once per process: at cold start by the functions that call SBPS
/// ([`SbpsClient::warm`]), never by those that do not (loading the TLS roots is most of a cold
/// start's cost).
#[derive(Debug, Clone)]
pub struct SbpsClient {
    http: OnceLock<reqwest::Client>,
    connect_timeout: Duration,
    timeout: Duration,
    metrics: Metrics,
}

impl SbpsClient {
    pub fn new(connect_timeout: Duration, timeout: Duration, metrics: Metrics) -> Self {
        SbpsClient { http: OnceLock::new(), connect_timeout, timeout, metrics }
    }

    fn http(&self) -> Result<&reqwest::Client, reqwest::Error> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        // Mozilla's roots compiled in: no certificate store to read from disk at cold start,
        // and the same trust on every Lambda image.
        let client = reqwest::Client::builder()
            .tls_certs_only(crate::tls::mozilla_roots())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(concat!("kantan/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(self.http.get_or_init(|| client))
    }

    /// Builds the HTTP client now (at cold start) rather than on the first call.
    pub fn warm(&self) -> Result<(), reqwest::Error> {
        self.http().map(|_| ())
    }

    /// Sends one attempt of `call` and classifies its answer.
    pub async fn send(
        &self,
        account: &SbpsAccount,
        tracking_id: &str,
        call: ProviderCall,
        kind: OperationKind,
        full: bool,
        now: DateTime<Utc>,
    ) -> ProviderAnswer {
        let request = api_request(call, &account.merchant_id, &account.service_id, tracking_id, now);
        let Ok(xml) = request.to_xml(account.hash_key.expose()) else {
            return configuration_fault("The request could not be signed.".into(), None);
        };
        let (body, _, _) = encoding_rs::SHIFT_JIS.encode(&xml);
        let started = Instant::now();
        let http = match self.http() {
            Ok(http) => http,
            Err(_) => return ProviderAnswer::Unknown { description: "The SBPS client could not be built.".into() },
        };
        let sent = http
            .post(&account.api_url)
            .basic_auth(account.api_user(), Some(account.api_password().expose()))
            .header("content-type", "text/xml; charset=Shift_JIS")
            .body(body.into_owned())
            .send()
            .await;
        let answer = match sent {
            Err(e) if e.is_timeout() => ProviderAnswer::Unknown { description: "SBPS did not answer in time.".into() },
            Err(_) => ProviderAnswer::Unknown { description: "SBPS could not be reached.".into() },
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Err(_) => ProviderAnswer::Unknown { description: "SBPS's answer was cut off.".into() },
                    Ok(_) if status.as_u16() == 401 || status.as_u16() == 403 => {
                        configuration_fault("SBPS refused the gateway's API credentials.".into(), None)
                    }
                    Ok(_) if !status.is_success() => {
                        ProviderAnswer::Unknown { description: format!("SBPS answered HTTP {}.", status.as_u16()) }
                    }
                    Ok(bytes) => classify_response(&bytes, request.function_id, kind, full),
                }
            }
        };
        let outcome = match &answer {
            ProviderAnswer::Succeeded => "ok",
            // Both want an operator: the gateway's configuration, or records SBPS does not share.
            ProviderAnswer::Refused(r) if r.code.is_configuration_fault() || r.code.needs_operator() => "configuration",
            ProviderAnswer::Refused(r) if r.code.is_retryable() => "retry_later",
            ProviderAnswer::Refused(_) => "refused",
            ProviderAnswer::Unknown { .. } => "unknown",
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.metrics.sbps_call(request.function_id, ms, outcome);
        tracing::info!(function_id = request.function_id, tracking_id, outcome, ms, "SBPS call");
        if let ProviderAnswer::Refused(r) = &answer
            && r.code.is_configuration_fault()
        {
            tracing::error!(function_id = request.function_id, description = r.description, "SBPS configuration fault");
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_follow_the_spec_order() {
        let now =
            DateTime::parse_from_rfc3339("2025-11-14T01:15:00Z").map(|d| d.with_timezone(&Utc)).unwrap_or_default();
        let partial = api_request(ProviderCall::Capture { amount: Some(150) }, "99999", "000", "00000616307348", now);
        assert_eq!(partial.function_id, CAPTURE);
        let paths: Vec<&str> = partial.elements.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            ["merchant_id", "service_id", "tracking_id", "pay_option_manage/amount", "request_date", "limit_second"]
        );
        assert_eq!(partial.elements[4].1, "20251114101500");
        let full = api_request(ProviderCall::CancelOrRefund { amount: None }, "99999", "000", "1", now);
        assert_eq!(full.function_id, CANCEL_REFUND);
        assert!(!full.elements.iter().any(|(p, _)| p.starts_with("pay_option_manage")));
    }

    fn code(answer: ProviderAnswer) -> Option<FailureCode> {
        match answer {
            ProviderAnswer::Refused(r) => Some(r.code),
            _ => None,
        }
    }

    #[test]
    fn error_codes_map_to_stable_reasons() {
        use OperationKind::*;
        assert_eq!(classify_error("40223999", Capture, true), ProviderAnswer::Succeeded);
        assert_eq!(classify_error("40230999", Refund, false), ProviderAnswer::Succeeded);
        assert!(code(classify_error("40222008", Capture, true)) == Some(FailureCode::AmountExceedsRemaining));
        assert!(code(classify_error("40275008", Refund, false)) == Some(FailureCode::AmountExceedsRemaining));
        assert!(matches!(classify_error("40236999", Capture, true), ProviderAnswer::Unknown { .. }));
        assert!(matches!(classify_error("40238999", Refund, true), ProviderAnswer::Unknown { .. }));
        assert!(code(classify_error("40229999", Refund, true)) == Some(FailureCode::BillingRunPending));
        assert!(code(classify_error("40231999", Refund, true)) == Some(FailureCode::RefundPeriodExpired));
        assert!(code(classify_error("40233999", Capture, true)) == Some(FailureCode::CapturePeriodExpired));
        assert!(code(classify_error("40209025", Capture, true)) == Some(FailureCode::ProviderConfigurationError));
        assert!(code(classify_error("40214001", Capture, true)) == Some(FailureCode::ProviderConfigurationError));
        assert!(matches!(classify_error("99985999", Capture, true), ProviderAnswer::Unknown { .. }));
        assert!(code(classify_error("40220999", Capture, true)) == Some(FailureCode::AuthorizationNotFound));
        assert!(code(classify_error("40242008", Capture, false)) == Some(FailureCode::WholeAmountCaptureRequired));
        assert!(code(classify_error("40221999", Capture, true)) == Some(FailureCode::AuthorizationCancelled));
        assert!(code(classify_error("40243999", Capture, true)) == Some(FailureCode::AuthorizationCancelledByPayer));
        // Capture's own codes mean nothing else for a refund.
        assert!(code(classify_error("40221999", Refund, true)) == Some(FailureCode::ProviderRefused));
        assert!(code(classify_error("40234999", Capture, true)) == Some(FailureCode::ProviderRefused));
        // Already refunded is not "already captured".
        assert!(code(classify_error("40230999", Capture, true)) == Some(FailureCode::ProviderRefused));
    }

    #[test]
    fn answers_are_checked_against_the_question() {
        let ok = b"<?xml version='1.0' encoding='Shift_JIS' ?><sps-api-response id=\"ST02-00201-402\"><res_result>OK</res_result><res_err_code/></sps-api-response>";
        assert_eq!(classify_response(ok, CAPTURE, OperationKind::Capture, true), ProviderAnswer::Succeeded);
        assert!(matches!(
            classify_response(ok, CANCEL_REFUND, OperationKind::Refund, true),
            ProviderAnswer::Unknown { .. }
        ));
        let odd = b"<sps-api-response><res_result>MAYBE</res_result></sps-api-response>";
        assert!(matches!(
            classify_response(odd, CAPTURE, OperationKind::Capture, true),
            ProviderAnswer::Unknown { .. }
        ));
        let ng =
            b"<sps-api-response><res_result>NG</res_result><res_err_code>40222008</res_err_code></sps-api-response>";
        assert!(matches!(classify_response(ng, CAPTURE, OperationKind::Capture, true), ProviderAnswer::Refused(_)));
        assert!(matches!(
            classify_response(b"\x82", CAPTURE, OperationKind::Capture, true),
            ProviderAnswer::Unknown { .. }
        ));
    }
}
