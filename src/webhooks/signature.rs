//! Standard Webhooks v1 (DESIGN §8): `webhook-signature` is `v1,<base64 HMAC-SHA256 of
//! "<id>.<timestamp>.<body>">`, space-separated when two secrets sign during a rotation.
//! Secrets are `whsec_` + base64 of 32 bytes, derived from one master key per account,
//! endpoint and generation, so no endpoint secret is ever stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far a delivery's timestamp may be from the receiver's clock (the reference libraries').
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

const SECRET_PREFIX: &str = "whsec_";

/// The key every endpoint secret is derived from. Never logged (no `Debug` of its bytes).
#[derive(Clone)]
pub struct MasterKey(Vec<u8>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// At least 32 bytes of key material.
    pub fn new(bytes: Vec<u8>) -> Result<Self, &'static str> {
        if bytes.len() < 32 {
            return Err("the webhook master key must be at least 32 bytes");
        }
        Ok(MasterKey(bytes))
    }

    /// The local demo's fixed key (DESIGN §6): published, so never used outside `local`.
    pub fn demo() -> Self {
        MasterKey(b"kantan-local-demo-webhook-master-key-0000".to_vec())
    }

    /// The secret of `endpoint_id` of `account` in `generation`: HMAC-SHA256 over the three,
    /// each length-prefixed so that no two triples share an input.
    pub fn endpoint_secret(&self, account: &str, endpoint_id: &str, generation: u32) -> EndpointSecret {
        let mut mac = mac(&self.0);
        for part in [account.as_bytes(), endpoint_id.as_bytes(), &generation.to_be_bytes()] {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        EndpointSecret(mac.finalize().into_bytes().to_vec())
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// One endpoint secret (ours are 32 bytes; a receiver's may be any length).
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Vec<u8>);

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(..)")
    }
}

impl EndpointSecret {
    /// `whsec_<base64>`, as the merchant is shown it.
    pub fn reveal(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// A secret as a merchant holds it (`whsec_` optional, like the reference libraries).
    pub fn parse(text: &str) -> Option<Self> {
        let b64 = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = STANDARD.decode(b64).ok().filter(|b| !b.is_empty())?;
        Some(EndpointSecret(bytes))
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.raw_signature(id, timestamp, body)))
    }

    fn raw_signature(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac = mac(&self.0);
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

/// The `webhook-signature` header of one attempt: one signature per secret.
pub fn signature_header(secrets: &[EndpointSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Why a received message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing or malformed webhook headers")]
    Headers,
    #[error("timestamp too old or too far in the future")]
    Timestamp,
    #[error("no valid signature")]
    Signature,
}

/// A receiver's check (the sandbox receiver and the README's example do the same): the
/// timestamp within [`TOLERANCE_SECONDS`] of `now`, and one `v1` signature of the list equal,
/// in constant time, to the expected one for `secret`.
pub fn verify(
    secret: &EndpointSecret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    if id.is_empty() || timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Headers);
    }
    let ts: i64 = timestamp.parse().map_err(|_| VerifyError::Headers)?;
    if (now - ts).abs() > TOLERANCE_SECONDS {
        return Err(VerifyError::Timestamp);
    }
    let expected = secret.raw_signature(id, ts, body);
    let mut any = false;
    for candidate in signatures.split(' ') {
        let Some(b64) = candidate.strip_prefix("v1,") else { continue };
        let Ok(bytes) = STANDARD.decode(b64) else { continue };
        if bytes.len() == expected.len() && bool::from(bytes.ct_eq(&expected)) {
            any = true;
        }
    }
    if any { Ok(()) } else { Err(VerifyError::Signature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference vector of the Standard Webhooks libraries (`test_sign`).
    #[test]
    fn the_reference_vector_reproduces() {
        let secret = EndpointSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("the reference secret");
        let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let signature = secret.sign(id, 1649367553, body);
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        assert_eq!(verify(&secret, id, "1649367553", &signature, body, 1649367553 + 10), Ok(()));
    }

    fn fixture() -> (EndpointSecret, &'static str, i64, &'static [u8]) {
        let secret = MasterKey::demo().endpoint_secret("acct", "ep", 1);
        (secret, "evt_x_2", 1_800_000_000, b"{\"a\":1}")
    }

    #[test]
    fn bare_truncated_stale_and_future_signatures_are_refused() {
        let (secret, id, ts, body) = fixture();
        let good = secret.sign(id, ts, body);
        assert_eq!(verify(&secret, id, &ts.to_string(), &good, body, ts), Ok(()));
        assert_eq!(verify(&secret, id, &ts.to_string(), "v1,", body, ts), Err(VerifyError::Signature));
        assert_eq!(
            verify(&secret, id, &ts.to_string(), &good[..good.len() - 4], body, ts),
            Err(VerifyError::Signature)
        );
        assert_eq!(verify(&secret, id, &ts.to_string(), &good, body, ts + 301), Err(VerifyError::Timestamp));
        assert_eq!(verify(&secret, id, &ts.to_string(), &good, body, ts - 301), Err(VerifyError::Timestamp));
        assert_eq!(verify(&secret, id, "12a", &good, body, ts), Err(VerifyError::Headers));
        assert_eq!(verify(&secret, id, &ts.to_string(), &good, b"{\"a\":2}", ts), Err(VerifyError::Signature));
    }

    #[test]
    fn either_signature_of_a_rotation_verifies() {
        let key = MasterKey::demo();
        let (old, new) = (key.endpoint_secret("a", "e", 1), key.endpoint_secret("a", "e", 2));
        assert_ne!(old, new);
        let header = signature_header(&[new.clone(), old.clone()], "evt", 5, b"x");
        assert_eq!(header.split(' ').count(), 2);
        assert_eq!(verify(&old, "evt", "5", &header, b"x", 5), Ok(()));
        assert_eq!(verify(&new, "evt", "5", &header, b"x", 5), Ok(()));
    }

    #[test]
    fn secrets_are_derived_per_account_endpoint_and_generation() {
        let key = MasterKey::demo();
        let a = key.endpoint_secret("ab", "c", 1);
        assert_eq!(a, key.endpoint_secret("ab", "c", 1));
        assert_ne!(a, key.endpoint_secret("a", "bc", 1), "length-prefixed: no ambiguity");
        assert_ne!(a, key.endpoint_secret("ab", "c", 2));
        let shown = a.reveal();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(EndpointSecret::parse(&shown), Some(a));
        assert!(MasterKey::new(vec![0; 31]).is_err());
    }

    #[test]
    fn the_independent_verifier_accepts_our_signatures() {
        let (secret, id, _, body) = fixture();
        let now = chrono::Utc::now().timestamp();
        let mut headers = lambda_http::http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().expect("ascii"));
        headers.insert("webhook-timestamp", now.to_string().parse().expect("ascii"));
        headers.insert("webhook-signature", secret.sign(id, now, body).parse().expect("ascii"));
        let verifier = standardwebhooks::Webhook::new(&secret.reveal()).expect("a valid secret");
        assert!(verifier.verify(body, &headers).is_ok());
    }
}
