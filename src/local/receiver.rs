//! A webhook receiver for trying deliveries by hand and for the tests (`local` mounts it at
//! `/sandbox/webhooks/<name>`): it records what arrives, verifies each signature with its own
//! code (not the gateway's signing path), and can be told to answer a status N times.
//!
//! * `POST /sandbox/webhooks/<name>`: a delivery; answered 200, or the scripted status, or 400
//!   when a secret is set and the signature does not verify;
//! * `POST /sandbox/webhooks/<name>/control`: `{"secret": "whsec_..."}` and/or
//!   `{"answer": {"status": 500, "times": 3, "location": "..."}}`;
//! * `GET /sandbox/webhooks/<name>`: `{"received": [...]}`, oldest first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use base64::Engine;
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::webhooks::signature::{EndpointSecret, VerifyError, verify};

/// What one delivery looked like when it arrived.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrival {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// Whether the signature verified against the inbox's secret.
    pub verified: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    pub answered: u16,
    pub received_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    status: u16,
    #[serde(default = "one")]
    times: u32,
    #[serde(default)]
    location: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Control {
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    answer: Option<Answer>,
}

#[derive(Default)]
struct Inbox {
    secret: Option<EndpointSecret>,
    script: VecDeque<Answer>,
    received: Vec<Arrival>,
}

/// At most this many inboxes, and arrivals per inbox, are kept.
const MAX_INBOXES: usize = 100;
const MAX_ARRIVALS: usize = 1000;

#[derive(Default)]
pub struct WebhookReceiver {
    inboxes: Mutex<HashMap<String, Inbox>>,
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::Text(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl WebhookReceiver {
    /// Answers a request under `/sandbox/webhooks/`.
    pub fn handle(&self, req: &Request) -> Response<Body> {
        let path = req.uri().path().trim_end_matches('/');
        let rest = path.strip_prefix("/sandbox/webhooks/").unwrap_or("");
        let (name, control) = match rest.split_once('/') {
            Some((name, "control")) => (name, true),
            Some(_) => return json(StatusCode::NOT_FOUND, serde_json::json!({"error": "no such route"})),
            None => (rest, false),
        };
        if !valid_name(name) {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "an inbox name is 1-64 of [A-Za-z0-9_-]"}),
            );
        }
        let mut inboxes = self.inboxes.lock().unwrap_or_else(|p| p.into_inner());
        if !inboxes.contains_key(name) && inboxes.len() >= MAX_INBOXES {
            return json(StatusCode::TOO_MANY_REQUESTS, serde_json::json!({"error": "too many inboxes"}));
        }
        let inbox = inboxes.entry(name.to_owned()).or_default();
        match (req.method().clone(), control) {
            (Method::POST, true) => match serde_json::from_slice::<Control>(req.body().as_ref()) {
                Ok(c) => {
                    if let Some(secret) = c.secret {
                        match EndpointSecret::parse(&secret) {
                            Some(s) => inbox.secret = Some(s),
                            None => return json(StatusCode::BAD_REQUEST, serde_json::json!({"error": "not a secret"})),
                        }
                    }
                    if let Some(answer) = c.answer {
                        if !(100..=599).contains(&answer.status) || answer.times > 1000 {
                            return json(
                                StatusCode::BAD_REQUEST,
                                serde_json::json!({"error": "status 100-599, times <= 1000"}),
                            );
                        }
                        inbox.script.push_back(answer);
                    }
                    json(StatusCode::OK, serde_json::json!({"scripted": inbox.script.len()}))
                }
                Err(e) => json(StatusCode::BAD_REQUEST, serde_json::json!({"error": e.to_string()})),
            },
            (Method::GET, false) => json(StatusCode::OK, serde_json::json!({"received": inbox.received})),
            (Method::POST, false) => Self::receive(inbox, req),
            _ => json(StatusCode::METHOD_NOT_ALLOWED, serde_json::json!({"error": "method not allowed"})),
        }
    }

    fn receive(inbox: &mut Inbox, req: &Request) -> Response<Body> {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let (id, timestamp, signature) =
            (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
        let body = req.body().as_ref();
        let checked = match &inbox.secret {
            Some(secret) => verify(secret, &id, &timestamp, &signature, body, chrono::Utc::now().timestamp()),
            None => Err(VerifyError::Headers),
        };
        let refusal = match (&inbox.secret, checked) {
            (None, _) => Some("no secret set for this inbox".to_owned()),
            (Some(_), Ok(())) => None,
            (Some(_), Err(e)) => Some(e.to_string()),
        };
        let scripted = match inbox.script.front_mut() {
            Some(answer) => {
                let out = answer.clone();
                answer.times = answer.times.saturating_sub(1);
                if answer.times == 0 {
                    inbox.script.pop_front();
                }
                Some(out)
            }
            None => None,
        };
        let (status, location) = match (&scripted, &inbox.secret, &refusal) {
            (Some(a), _, _) => (a.status, a.location.clone()),
            (None, Some(_), Some(_)) => (400, None),
            _ => (200, None),
        };
        if inbox.received.len() < MAX_ARRIVALS {
            inbox.received.push(Arrival {
                id,
                timestamp,
                signature,
                body: String::from_utf8(body.to_vec())
                    .unwrap_or_else(|_| base64::engine::general_purpose::STANDARD.encode(body)),
                verified: refusal.is_none(),
                refusal,
                answered: status,
                received_at: chrono::Utc::now().to_rfc3339(),
            });
        }
        let mut response =
            json(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), serde_json::json!({"ok": status < 300}));
        if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert("location", location);
        }
        response
    }
}
