//! The SBPS sandbox on its own: signed XML API calls posted straight to it, so its au rules
//! (its own implementation, not the gateway's calendar) are held to the spec independently.

use crate::common;

use chrono::{DateTime, TimeZone, Utc};
use common::flow::reply;
use common::*;
use kantan::accounts::DEMO_HASH_KEY;
use kantan::payment::ProviderCall;
use kantan::sbps::api::api_request;

const TRACKING_ID: &str = "00000616307348";

fn jst(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    // Japan is UTC+9.
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("time") - chrono::Duration::hours(9)
}

/// Posts `call` for the registered purchase, signed and dated as the gateway would; answers
/// SBPS's `res_result` and `res_err_code`.
async fn call(local: &Local, call: ProviderCall) -> (String, String) {
    let now = local.app.service.clock.now();
    let xml = api_request(call, "99999", "000", TRACKING_ID, now).to_xml(DEMO_HASH_KEY).expect("signed");
    let (body, _, _) = encoding_rs::SHIFT_JIS.encode(&xml);
    let r = reply(
        local
            .http
            .post(format!("{}/sandbox/sbps/api", local.base))
            .basic_auth("99999000", Some(DEMO_HASH_KEY))
            .body(body.into_owned()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let field = |name: &str| {
        r.text
            .split(&format!("<{name}>"))
            .nth(1)
            .and_then(|rest| rest.split(&format!("</{name}>")).next())
            .unwrap_or("")
            .to_owned()
    };
    (field("res_result"), field("res_err_code"))
}

async fn captured_at(local: &Local, at: DateTime<Utc>) {
    local.app.service.clock.set(at);
    local.sandbox.register_authorization("99999", "000", TRACKING_ID, 1000);
    assert_eq!(call(local, ProviderCall::Capture { amount: None }).await, ("OK".into(), String::new()));
}

#[tokio::test]
async fn the_sandbox_refuses_a_partial_refund_in_the_month_of_the_sale() {
    let local = start_local().await;
    captured_at(&local, jst(2030, 11, 30, 23)).await;
    // 23:59 on the last day of the month, Japan time: still the month of the sale.
    local.app.service.clock.set(jst(2030, 11, 30, 23) + chrono::Duration::minutes(59));
    let partial = ProviderCall::CancelOrRefund { amount: Some(100) };
    assert_eq!(call(&local, partial).await, ("NG".into(), "40228999".into()));
    // One hour later it is December in Japan (still November in UTC).
    local.app.service.clock.set(jst(2030, 12, 1, 0));
    assert_eq!(call(&local, partial).await, ("OK".into(), String::new()));
}

#[tokio::test]
async fn the_sandbox_refuses_a_refund_after_the_second_month_after_the_sale() {
    let local = start_local().await;
    captured_at(&local, jst(2030, 11, 5, 12)).await;
    local.app.service.clock.set(jst(2031, 2, 1, 0));
    assert_eq!(call(&local, ProviderCall::CancelOrRefund { amount: None }).await, ("NG".into(), "40231999".into()));
    // The last moment of January (Japan time) was still in the period.
    let local = start_local().await;
    captured_at(&local, jst(2030, 11, 5, 12)).await;
    local.app.service.clock.set(jst(2031, 1, 31, 23) + chrono::Duration::minutes(59));
    assert_eq!(call(&local, ProviderCall::CancelOrRefund { amount: None }).await, ("OK".into(), String::new()));
}
