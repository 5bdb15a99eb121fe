//! The client that posts webhooks: through the vetting resolver (it connects only to the
//! addresses it vetted), no redirects followed, 5 s to connect, 15 s in all, at most 4 KiB of
//! the answer read and none of it logged.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_http::http::HeaderValue;

use super::address::{AddressPolicy, VettingResolver, validate_url};

/// At most this much of a receiver's answer is read.
const MAX_ANSWER_BYTES: usize = 4 * 1024;

/// One POST of one delivery.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub url: &'a str,
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: &'a str,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// A `Retry-After` in seconds or as an HTTP date, read as a wait from now.
    pub retry_after: Option<chrono::Duration>,
    /// Why there is no status (`refused_address`, `timeout`, `connect`, `invalid_url`, ...).
    pub error: Option<&'static str>,
}

impl AttemptOutcome {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn failed(error: &'static str) -> Self {
        AttemptOutcome { status: None, retry_after: None, error: Some(error) }
    }
}

/// Builds its client once per process, on first use ([`Sender::warm`] at cold start in the
/// function that delivers): the functions that only manage endpoints never pay for it.
#[derive(Debug, Clone)]
pub struct Sender {
    http: OnceLock<reqwest::Client>,
    policy: AddressPolicy,
    connect: Duration,
    total: Duration,
}

impl Sender {
    pub fn new(policy: AddressPolicy) -> Self {
        Self::with_timeouts(policy, Duration::from_secs(5), Duration::from_secs(15))
    }

    pub fn with_timeouts(policy: AddressPolicy, connect: Duration, total: Duration) -> Self {
        Sender { http: OnceLock::new(), policy, connect, total }
    }

    fn http(&self) -> Result<&reqwest::Client, reqwest::Error> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .tls_certs_only(crate::tls::mozilla_roots())
            .dns_resolver(VettingResolver::shared(self.policy))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect)
            .timeout(self.total)
            .pool_max_idle_per_host(2)
            .user_agent(concat!("kantan-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(self.http.get_or_init(|| client))
    }

    /// Builds the client now.
    pub fn warm(&self) -> Result<(), reqwest::Error> {
        self.http().map(|_| ())
    }

    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// Posts one message. Never fails: every way it can end is an outcome.
    pub async fn post(&self, message: &Message<'_>, now: DateTime<Utc>) -> AttemptOutcome {
        // The URL is checked again at every attempt (rules may have tightened since it was
        // registered); the resolver vets what the name resolves to now.
        let Ok(url) = validate_url(message.url, self.policy) else { return AttemptOutcome::failed("invalid_url") };
        let Ok(signature) = HeaderValue::from_str(message.signature) else {
            return AttemptOutcome::failed("invalid_signature");
        };
        let Ok(http) = self.http() else { return AttemptOutcome::failed("client") };
        let request = http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", message.id)
            .header("webhook-timestamp", message.timestamp)
            .header("webhook-signature", signature)
            .body(message.body.to_owned());
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return AttemptOutcome::failed(classify(&e)),
        };
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, now));
        // Read a little of the answer (so the connection can be reused), never more.
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        AttemptOutcome { status: Some(status), retry_after, error: None }
    }
}

fn classify(e: &reqwest::Error) -> &'static str {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<super::address::RefusedAddress>().is_some() {
            return "refused_address";
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    }
}

/// `Retry-After`: delay-seconds or an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<chrono::Duration> {
    if let Ok(seconds) = value.trim().parse::<u32>() {
        return Some(chrono::Duration::seconds(i64::from(seconds)));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?.with_timezone(&Utc);
    Some((at - now).max(chrono::Duration::zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").map(|t| t.with_timezone(&Utc)).expect("date");
        assert_eq!(parse_retry_after("120", now), Some(chrono::Duration::seconds(120)));
        assert_eq!(parse_retry_after("Tue, 01 Jan 2030 00:10:00 GMT", now), Some(chrono::Duration::minutes(10)));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
