//! The entry points of the fuzz targets (`fuzz/fuzz_targets/`), one per parser that takes
//! outside bytes. The coverage-guided fuzzer calls them, and `tests/gateway/fuzz_corpus.rs` replays
//! every committed corpus and crash input through the very same functions in an ordinary
//! test. Each must return, whatever the bytes: a panic is a finding.

use std::sync::OnceLock;

use lambda_http::http::Method;
use lambda_http::{Body, Request};

use crate::accounts::{Account, Accounts, demo_account};
use crate::payment::OperationKind;

fn account() -> &'static Account {
    static ACCOUNT: OnceLock<Account> = OnceLock::new();
    ACCOUNT.get_or_init(|| demo_account("http://127.0.0.1:3000"))
}

pub(crate) fn accounts() -> &'static Accounts {
    static ACCOUNTS: OnceLock<Option<Accounts>> = OnceLock::new();
    ACCOUNTS.get_or_init(|| Accounts::new(vec![account().clone()]).ok()).as_ref().unwrap_or_else(|| unreachable!())
}

/// SBPS's result notification: a Shift_JIS form, its checksum, the order and amount checks.
pub fn notification(data: &[u8]) {
    if let Ok(n) = crate::sbps::result_notification::parse_notification(data, accounts()) {
        // A notification that passed names a configured account.
        assert!(accounts().get(&n.account.processing_account_id).is_some());
    }
}

/// The create body: strict JSON (no duplicate keys), then every field's validation, in local
/// and deployed mode.
pub fn create_body(data: &[u8]) {
    if let Ok(body) = crate::http::request::parse_strict(data) {
        for local in [true, false] {
            if let Ok(valid) = crate::http::create::validate(&body, account(), local) {
                assert!(valid.amount.value() >= 1);
            }
        }
    }
}

/// An operation's body (`{"amount": {...}}` or nothing), as a JSON request.
pub fn operation_body(data: &[u8]) {
    let mut request = Request::new(Body::Binary(data.to_vec()));
    request.headers_mut().insert("content-type", lambda_http::http::HeaderValue::from_static("application/json"));
    if let Ok(Some(amount)) = crate::http::operations::requested_amount(&request) {
        assert!(amount.value() >= 1);
    }
}

/// SBPS's XML API answer (Shift_JIS XML) for each operation it can answer.
pub fn xml_answer(data: &[u8]) {
    use crate::sbps::api::{CANCEL_REFUND, CAPTURE, classify_response};
    for (function, kind) in [
        (CAPTURE, OperationKind::Capture),
        (CANCEL_REFUND, OperationKind::Cancel),
        (CANCEL_REFUND, OperationKind::Refund),
    ] {
        for full in [true, false] {
            let _ = classify_response(data, function, kind, full);
        }
    }
}

/// The router: the first byte picks the method, the rest is the path.
pub fn router(data: &[u8]) {
    let methods =
        [Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::PATCH, Method::HEAD, Method::OPTIONS];
    let Some((first, rest)) = data.split_first() else { return };
    let method = &methods[usize::from(*first) % methods.len()];
    let path = String::from_utf8_lossy(rest);
    if let Ok(route) = crate::http::router::route(method, &path) {
        // A route answers its own method (HEAD: a GET route's).
        let own = if *method == Method::HEAD { "GET " } else { method.as_str() };
        assert!(route.name().starts_with(own), "{method} reached {}", route.name());
    }
    let _ = crate::http::router::api_path(&path);
}
