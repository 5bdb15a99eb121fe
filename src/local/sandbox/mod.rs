//! An SBPS simulator for local runs and tests: the link-type purchase screen (with the result
//! notification and browser returns) and the XML API, keeping au's rules (spec §5–§9). It is
//! served over real HTTP by `local`, so the gateway's own SBPS code is what gets exercised.
//! Tests can set its clock, inject faults per API call and read the calls it saw.

mod api;
mod calendar;
mod purchase;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::payment::CaptureMode;

/// A merchant service registered at the sandbox.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub merchant_id: String,
    pub service_id: String,
    pub hash_key: String,
    pub api_user: String,
    pub api_password: String,
    pub automatic_sales: bool,
}

/// A fault to inject into the next API call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Process the call, then answer only after `millis`.
    Delay { millis: u64 },
    /// Answer this HTTP status without processing.
    Status { status: u16 },
    /// Drop the connection without processing or answering.
    Reset,
    /// Answer NG with this `res_err_code` without processing.
    Error { code: String },
    /// Process the call, then drop the connection: done at SBPS, the answer lost.
    Lost,
}

/// An API call as the sandbox saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCall {
    pub function_id: String,
    pub tracking_id: String,
    pub amount: Option<u32>,
    pub result: String,
    pub err_code: String,
    /// Whether it changed the purchase (a capture, cancel or refund actually performed).
    pub performed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PurchaseStatus {
    Authorized,
    Captured,
    Cancelled,
    Refunded,
    PartiallyRefunded,
}

#[derive(Debug, Clone)]
struct Purchase {
    merchant_id: String,
    service_id: String,
    amount: u32,
    status: PurchaseStatus,
    captured: u32,
    captured_at: Option<DateTime<Utc>>,
    refunded: u32,
}

#[derive(Debug, Default)]
struct State {
    used_orders: HashSet<(String, String, String)>,
    purchases: HashMap<String, Purchase>,
    faults: VecDeque<Fault>,
    calls: Vec<ApiCall>,
    sequence: u64,
}

/// Marks a response whose connection the server must drop instead of answering.
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

pub struct Sandbox {
    clock: Clock,
    merchants: Vec<Merchant>,
    state: Mutex<State>,
    http: reqwest::Client,
    /// The webhook receiver at `/sandbox/webhooks/<name>`.
    pub receiver: crate::local::receiver::WebhookReceiver,
}

impl Sandbox {
    pub fn new(clock: Clock, merchants: Vec<Merchant>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Sandbox { clock, merchants, state: Mutex::new(State::default()), http, receiver: Default::default() })
    }

    /// The merchants of the gateway's accounts, as SBPS would have registered them.
    pub fn merchants_of(accounts: &Accounts) -> Vec<Merchant> {
        accounts
            .all()
            .map(|a| Merchant {
                merchant_id: a.sbps.merchant_id.clone(),
                service_id: a.sbps.service_id.clone(),
                hash_key: a.sbps.hash_key.expose().to_owned(),
                api_user: a.sbps.api_user(),
                api_password: a.sbps.api_password().expose().to_owned(),
                automatic_sales: a.capture_mode == CaptureMode::Automatic,
            })
            .collect()
    }

    fn merchant(&self, merchant_id: &str, service_id: &str) -> Option<&Merchant> {
        self.merchants.iter().find(|m| m.merchant_id == merchant_id && m.service_id == service_id)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues faults for the next API calls, one per call.
    pub fn inject(&self, faults: Vec<Fault>) {
        self.state().faults = faults.into();
    }

    /// Records an authorization as if a payer had approved it on the purchase screen (for
    /// fixtures whose notification was not sent by this sandbox).
    pub fn register_authorization(&self, merchant_id: &str, service_id: &str, tracking_id: &str, amount: u32) {
        self.state().purchases.insert(
            tracking_id.to_owned(),
            Purchase {
                merchant_id: merchant_id.to_owned(),
                service_id: service_id.to_owned(),
                amount,
                status: PurchaseStatus::Authorized,
                captured: 0,
                captured_at: None,
                refunded: 0,
            },
        );
    }

    /// Every API call seen so far.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.state().calls.clone()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Answers a request under `/sandbox/sbps/` (and `/sandbox/webhooks/`, the receiver).
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let path = req.uri().path().trim_end_matches('/').to_owned();
        if path.starts_with("/sandbox/webhooks/") {
            return self.receiver.handle(&req);
        }
        match (req.method().clone(), path.as_str()) {
            (Method::POST, "/sandbox/sbps/purchase") => self.purchase(req.body().as_ref(), &path).await,
            (Method::POST, "/sandbox/sbps/api") => self.api(&req).await,
            (Method::POST, "/sandbox/sbps/control/clock") => self.set_clock(req.body().as_ref()),
            (Method::POST, "/sandbox/sbps/control/faults") => {
                match serde_json::from_slice::<FaultList>(req.body().as_ref())
                    .map_err(|e| e.to_string())
                    .and_then(checked)
                {
                    Ok(faults) => {
                        self.inject(faults);
                        json(StatusCode::OK, serde_json::json!({"queued": self.state().faults.len()}))
                    }
                    Err(e) => json(StatusCode::BAD_REQUEST, serde_json::json!({"error": e})),
                }
            }
            (Method::GET, "/sandbox/sbps/control/calls") => {
                json(StatusCode::OK, serde_json::json!({"calls": self.calls()}))
            }
            _ => text(StatusCode::NOT_FOUND, "text/plain", "no such sandbox route".into()),
        }
    }

    fn set_clock(&self, body: &[u8]) -> Response<Body> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ClockRequest {
            now: Option<DateTime<Utc>>,
            advance_seconds: Option<i64>,
        }
        let bad = |e: String| json(StatusCode::BAD_REQUEST, serde_json::json!({"error": e}));
        let r = match serde_json::from_slice::<ClockRequest>(body) {
            Ok(r) => r,
            Err(e) => return bad(e.to_string()),
        };
        // The gateway shares this clock: keep it where every date sum stays in range.
        let mut target = r.now.unwrap_or_else(|| self.clock.now());
        if let Some(s) = r.advance_seconds {
            match chrono::Duration::try_seconds(s).and_then(|d| target.checked_add_signed(d)) {
                Some(t) => target = t,
                None => return bad("advanceSeconds is out of range".into()),
            }
        }
        if !(clock_floor()..=clock_ceiling()).contains(&target) {
            return bad("the clock must stay between 2000-01-01 and 2999-12-31".into());
        }
        self.clock.set(target);
        json(StatusCode::OK, serde_json::json!({"now": self.clock.now()}))
    }
}

fn clock_floor() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or_default() // 2000-01-01
}

fn clock_ceiling() -> DateTime<Utc> {
    DateTime::from_timestamp(32_503_680_000 - 1, 0).unwrap_or_default() // 2999-12-31T23:59:59
}

/// At most this many faults are queued at once.
const MAX_FAULTS: usize = 100;
/// The longest delay a fault may hold an answer.
const MAX_DELAY_MILLIS: u64 = 120_000;

/// A fault list a test may reasonably ask for; anything else is refused (400).
fn checked(list: FaultList) -> Result<Vec<Fault>, String> {
    if list.faults.len() > MAX_FAULTS {
        return Err(format!("at most {MAX_FAULTS} faults"));
    }
    for fault in &list.faults {
        match fault {
            Fault::Delay { millis } if *millis > MAX_DELAY_MILLIS => {
                return Err(format!("a delay is at most {MAX_DELAY_MILLIS} ms"));
            }
            Fault::Status { status } if !(100..=599).contains(status) => {
                return Err("a status is 100 to 599".into());
            }
            Fault::Error { code } if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                return Err("an error code is 8 letters or digits".into());
            }
            _ => {}
        }
    }
    Ok(list.faults)
}

#[derive(Deserialize)]
struct FaultList {
    faults: Vec<Fault>,
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Body::Text(body));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", HeaderValue::from_static(content_type));
    r
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    text(status, "application/json", value.to_string())
}

/// A result notification body as SBPS posts it (A02-1): every field of the checksum order,
/// `fields` filled in, the others empty, signed over UTF-8 with `hash_key`, as a Shift_JIS form.
/// For tests, benchmarks and seed corpora that play SBPS.
pub fn notification_form<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>, hash_key: &str) -> Option<String> {
    use crate::sbps::result_notification::{RESULT_HASH_ORDER, result_hashcode};
    let mut all: std::collections::BTreeMap<String, String> =
        RESULT_HASH_ORDER.iter().map(|n| ((*n).to_owned(), String::new())).collect();
    for (k, v) in fields {
        all.insert(k.into(), v.into());
    }
    let hash = result_hashcode(&all, hash_key, crate::sbps::hashcode::Charset::Utf8)?.to_ascii_uppercase();
    all.insert("sps_hashcode".into(), hash);
    crate::sbps::form::encode_shift_jis_form(all.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Escapes text for an HTML attribute or element.
pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
