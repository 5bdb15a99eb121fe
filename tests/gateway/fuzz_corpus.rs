//! Every committed fuzz input (fuzz/corpus/<target>/, seeds and what the fuzzer kept; and
//! fuzz/regressions/<target>/, inputs that once crashed) replayed through the same functions
//! the coverage-guided targets call (`kantan::fuzzing`), as an ordinary test: no instrumented
//! build needed. `cargo test --features sandbox --test gateway -- --ignored write_seed_corpora` rewrites the
//! seeds from the code's own encoders.

use std::path::{Path, PathBuf};

use chrono::TimeZone;
use kantan::accounts::{DEMO_HASH_KEY, demo_account};
use kantan::http::Route;
use kantan::sbps::form::encode_shift_jis_form;
use kantan::sbps::purchase::{PurchaseRequest, purchase_form};
use sha1::{Digest, Sha1};

/// A fuzz target's entry point.
type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("notification", kantan::fuzzing::notification),
    ("create_body", kantan::fuzzing::create_body),
    ("operation_body", kantan::fuzzing::operation_body),
    ("xml_answer", kantan::fuzzing::xml_answer),
    ("router", kantan::fuzzing::router),
    ("purchase_form", kantan::local::fuzzing::purchase_form),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    files.sort();
    files.into_iter().filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b))).collect()
}

#[test]
fn every_committed_corpus_and_crash_input_is_handled() {
    for (name, target) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(corpus.len() >= 3, "fuzz/corpus/{name} has {} seeds", corpus.len());
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        for (path, bytes) in corpus.iter().chain(&regressions) {
            let outcome = std::panic::catch_unwind(|| target(bytes));
            assert!(outcome.is_ok(), "{} panics {name}", path.display());
        }
    }
}

fn write(target: &str, inputs: &[Vec<u8>]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    for input in inputs {
        let name = hex::encode(Sha1::digest(input));
        std::fs::write(dir.join(name), input).expect("seed");
    }
}

#[test]
#[ignore = "writes the seed corpora; run by hand"]
fn write_seed_corpora() {
    // A notification as SBPS signs it, approved and declined.
    let mut notifications = Vec::new();
    for (result, err_code) in [("OK", ""), ("NG", "402U1999")] {
        let fields = [
            ("pay_method", "auone"),
            ("merchant_id", "99999"),
            ("service_id", "000"),
            ("cust_code", "3MoecWcSpNsGd3YAXkZ9mxsqckQ"),
            ("order_id", "3MoecWcSpNsGd3YAXkZ9mxsqckQ"),
            ("item_id", "3MoecWcSpNsGd3YAXkZ9mxsqckQ"),
            ("amount", "1200"),
            ("pay_type", "0"),
            ("service_type", "0"),
            ("request_date", "20301110120000"),
            ("res_pay_method", "auone"),
            ("res_result", result),
            ("res_tracking_id", "00000616307348"),
            ("res_payment_date", "20301110120100"),
            ("res_err_code", err_code),
            ("res_date", "20301110120100"),
            ("limit_second", "600"),
        ];
        notifications
            .push(kantan::local::sandbox::notification_form(fields, DEMO_HASH_KEY).expect("form").into_bytes());
    }
    notifications.push(b"pay_method=auone&merchant_id=99999&sps_hashcode=00".to_vec());
    write("notification", &notifications);

    let seed = serde_json::json!({
        "processingAccountId": "2HdN2jq6XWmlkhqRC2gDTNYCvNH",
        "merchantReference": "c5211d6b-0178-49f8-a06b-69df097a712f",
        "amount": {"value": 200, "currency": "jpy"},
        "paymentMethod": {"type": "au_kantan_kessai", "auKantanKessai": {"returnUrl": "https://merchant.site/complete-payment"}}
    });
    write(
        "create_body",
        &[
            seed.to_string().into_bytes(),
            br#"{"processingAccountId":"2HdN2jq6XWmlkhqRC2gDTNYCvNH","merchantReference":"a","amount":{"value":1.0,"currency":"JPY"},"paymentMethod":{"type":"au_kantan_kessai","auKantanKessai":{"returnUrl":"http://127.0.0.1:8080/r?x=<\">"}}}"#.to_vec(),
            br#"{"amount":{"value":200,"value":300}}"#.to_vec(),
        ],
    );
    write(
        "operation_body",
        &[
            Vec::new(),
            b"{}".to_vec(),
            br#"{"amount":{"value":600,"currency":"jpy"}}"#.to_vec(),
            br#"{"amount":{"value":600.5,"currency":"usd","extra":1}}"#.to_vec(),
        ],
    );
    write(
        "xml_answer",
        &[
            b"<?xml version='1.0' encoding='Shift_JIS' ?><sps-api-response id=\"ST02-00201-402\"><res_result>OK</res_result><res_err_code/></sps-api-response>".to_vec(),
            b"<?xml version='1.0' encoding='Shift_JIS' ?><sps-api-response id=\"ST02-00303-402\"><res_result>NG</res_result><res_err_code>40222008</res_err_code></sps-api-response>".to_vec(),
            b"<sps-api-response><res_result>NG</res_result><res_err_code>4023</res_err_code></sps-api-response>".to_vec(),
        ],
    );
    let methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"];
    let routes: Vec<Vec<u8>> = Route::every()
        .iter()
        .map(|r| {
            let (method, template) = r.name().split_once(' ').unwrap_or_default();
            let index = methods.iter().position(|m| *m == method).unwrap_or(0) as u8;
            let path = template
                .replace("{id}", "3MoecWcSpNsGd3YAXkZ9mxsqckQ")
                .replace("{trackId}", "t")
                .replace("{eventId}", "evt_x_1");
            let mut bytes = vec![index];
            bytes.extend(format!("/prod{path}/").into_bytes());
            bytes
        })
        .collect();
    write("router", &routes);

    let account = demo_account("http://127.0.0.1:1");
    let request = PurchaseRequest {
        merchant_id: &account.sbps.merchant_id,
        service_id: &account.sbps.service_id,
        payment_id: "3MoecWcSpNsGd3YAXkZ9mxsqckQ",
        amount: kantan::money::Yen::new(1200).expect("yen"),
        return_url: "http://127.0.0.1:1/demo/return?order=demo-1",
        pagecon_url: "http://127.0.0.1:1/v1/notifications/sbps",
        request_date: chrono::Utc.with_ymd_and_hms(2030, 11, 10, 3, 0, 0).single().expect("date"),
        limit_second: 600,
    };
    let form = purchase_form(&request, DEMO_HASH_KEY).expect("form");
    let body = encode_shift_jis_form(form.iter().map(|(k, v)| (*k, v.as_str()))).expect("form");
    write("purchase_form", &[body.into_bytes(), b"pay_method=auone&amount=%82%A0".to_vec(), b"=&&=%".to_vec()]);
}
