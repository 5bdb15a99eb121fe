//! openapi.yaml against the code: every route of the router is in the document and every
//! documented path and method reaches a route; every example fits its schema; an answer that
//! drifts from its schema is caught (the other test files hold every answer they get to the
//! document through `common::openapi::check_answer`); `local` serves the document.

use crate::common;

use std::collections::BTreeSet;

use common::openapi::{check_answer, document, pointer, response, validate};
use kantan::http::Route;
use kantan::http::router;
use lambda_http::http::Method;
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn documented() -> BTreeSet<String> {
    let paths = document()["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter(|m| item.get(**m).is_some()).map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect()
}

#[test]
fn every_route_of_the_router_is_documented_and_every_documented_operation_is_routed() {
    let routes: BTreeSet<String> = Route::every().iter().map(|r| r.name().to_owned()).collect();
    let documented = documented();
    let missing: Vec<&String> = routes.difference(&documented).collect();
    assert!(missing.is_empty(), "routes of the router missing from openapi.yaml: {missing:?}");
    for operation in &documented {
        let (method, template) = operation.split_once(' ').expect("method and path");
        let path = template
            .replace("{id}", "pay_1")
            .replace("{trackId}", "trk_1")
            .replace("{eventId}", "evt_1")
            .replace("{month}", "2030-11");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let route = router::route(&method, &path).unwrap_or_else(|e| panic!("{operation} reaches no route: {e:?}"));
        assert_eq!(route.name(), operation, "{operation}");
    }
}

#[test]
fn the_document_is_openapi_3_1_with_the_bearer_scheme_and_open_tracking() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["apiKey"]["scheme"], "bearer");
    assert_eq!(doc["paths"]["/v1/tracks/payments/{trackId}"]["get"]["security"], json!([]));
    let webhooks: BTreeSet<&str> = doc["webhooks"].as_object().expect("webhooks").keys().map(String::as_str).collect();
    let types: BTreeSet<&str> = kantan::webhooks::event_types().map(|k| k.as_str()).collect();
    assert_eq!(webhooks, types, "one webhook entry per event type");
    let codes: BTreeSet<&str> = doc["components"]["schemas"]["KnownErrorCode"]["enum"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(codes.contains("idempotency_key_reused") && codes.contains("service_unavailable"));
    let params = &doc["components"]["schemas"]["NextStep"]["properties"]["redirect"]["properties"]["params"];
    let names: Vec<&str> = params["prefixItems"]
        .as_array()
        .expect("prefixItems")
        .iter()
        .filter_map(|p| p["properties"]["name"]["const"].as_str())
        .collect();
    assert_eq!(names, common::SEED_PARAMS, "the seed's 16 params, in order");
}

/// Every `examples` entry beside a `schema`, with where it is.
fn examples(at: &[String], value: &Value, out: &mut Vec<(String, String, Value)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::Object(examples)), Some(_)) = (map.get("examples"), map.get("schema")) {
                let here: Vec<&str> = at.iter().map(String::as_str).collect();
                let mut schema = here.clone();
                schema.push("schema");
                for (name, example) in examples {
                    out.push((
                        format!("{}/examples/{name}", pointer(&here)),
                        pointer(&schema),
                        example["value"].clone(),
                    ));
                }
            }
            for (k, v) in map {
                let mut next = at.to_vec();
                next.push(k.clone());
                examples(&next, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut next = at.to_vec();
                next.push(i.to_string());
                examples(&next, v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_example_fits_its_schema() {
    let mut found = Vec::new();
    examples(&[], document(), &mut found);
    assert!(found.len() >= 6, "{}", found.len());
    for (example, schema, value) in &found {
        validate(schema, value).unwrap_or_else(|why| panic!("{example} does not fit {schema}: {why}"));
    }
    // The create request is the seed's, verbatim.
    let seed = &document()["paths"]["/v1/payments"]["post"]["requestBody"]["content"]["application/json"]["examples"]["seed"]
        ["value"];
    assert_eq!(seed, &common::seed_body("c5211d6b-0178-49f8-a06b-69df097a712f"));
}

/// The SBPS checksum of a redirect's params: the first 15 values, then the hash key.
fn sps_hashcode(params: &[Value], hash_key: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut text: String = params.iter().take(15).filter_map(|p| p["value"].as_str()).collect();
    text.push_str(hash_key);
    hex::encode_upper(Sha1::digest(text.as_bytes()))
}

/// Every example that shows a signed redirect, in openapi.yaml and in README.md, carries the
/// checksum of its own values under the demo account's hash key: anyone can recompute it.
#[test]
fn every_examples_checksum_is_its_own() {
    let mut found = Vec::new();
    examples(&[], document(), &mut found);
    let mut checked = 0;
    for (example, _, value) in &found {
        let Some(params) = value["nextStep"]["redirect"]["params"].as_array() else { continue };
        let stated = params.last().and_then(|p| p["value"].as_str()).unwrap_or_default();
        assert_eq!(stated, sps_hashcode(params, kantan::accounts::DEMO_HASH_KEY), "{example}");
        checked += 1;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for block in readme.split("```json\n").skip(1) {
        let json = &block[..block.find("```").expect("the block's end")];
        let Ok(value) = serde_json::from_str::<Value>(json) else { continue };
        let Some(params) = value["nextStep"]["redirect"]["params"].as_array() else { continue };
        let stated = params.last().and_then(|p| p["value"].as_str()).unwrap_or_default();
        assert_eq!(stated, sps_hashcode(params, kantan::accounts::DEMO_HASH_KEY), "README: {json}");
        checked += 1;
    }
    assert!(checked >= 2, "the create examples of openapi.yaml and README.md: {checked}");
}

/// The webhook retry schedule, as the code runs it, is the one the document and README state.
#[test]
fn one_retry_schedule_in_the_code_the_document_and_the_readme() {
    let delays: Vec<String> = kantan::webhooks::retry_schedule::RETRY_DELAYS
        .iter()
        .map(|&s| match s {
            s if s % 3600 == 0 => format!("{} h", s / 3600),
            s if s % 60 == 0 => format!("{} min", s / 60),
            s => format!("{s} s"),
        })
        .collect();
    let (last, rest) = delays.split_last().expect("a schedule");
    let stated = format!("{} and {last}", rest.join(", "));
    assert_eq!(stated, "5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h");
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    assert!(flat(&readme).contains(&stated), "README states the schedule as {stated}");
    assert!(flat(common::openapi::DOCUMENT).contains(&stated), "openapi.yaml states the schedule as {stated}");
    let attempts = format!("{} attempts in all", delays.len() + 1);
    assert!(flat(common::openapi::DOCUMENT).contains(&attempts) && flat(&readme).contains(&attempts), "{attempts}");
}

/// Each webhook event has its own entry, summary and operation id; every answer a POST can
/// replay documents `Idempotent-Replayed`; the document says how a route answers a method it
/// does not take.
#[test]
fn events_replays_and_methods_are_documented() {
    let doc = document();
    let mut summaries = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (event, item) in doc["webhooks"].as_object().expect("webhooks") {
        let post = &item["post"];
        assert!(summaries.insert(post["summary"].as_str().expect("a summary").to_owned()), "{event}: its own summary");
        assert!(ids.insert(post["operationId"].as_str().expect("an operation id").to_owned()), "{event}");
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(post) = item.get("post") else { continue };
        if path == "/v1/notifications/sbps" {
            continue;
        }
        for (status, answer) in post["responses"].as_object().expect("responses") {
            if status.starts_with('2') {
                assert!(answer["headers"].get("Idempotent-Replayed").is_some(), "POST {path} {status}");
            }
        }
    }
    let description = doc["info"]["description"].as_str().expect("a description");
    assert!(description.contains("`405` with `Allow`") && description.contains("Idempotent-Replayed: true"));
}

#[test]
fn an_answer_that_drifts_from_its_schema_is_caught() {
    let drifted = [
        // A field renamed.
        (
            200,
            r#"{"id":"p","status":"pending","amount":{"value":1,"currency":"jpy"},"updated_at":"2030-01-01T00:00:00Z"}"#,
        ),
        // A status that is not a string (statuses are an open set of strings: "paid" would fit).
        (200, r#"{"id":"p","status":7,"amount":{"value":1,"currency":"jpy"},"updatedAt":"2030-01-01T00:00:00Z"}"#),
        // An amount as a float.
        (
            200,
            r#"{"id":"p","status":"pending","amount":{"value":1.5,"currency":"jpy"},"updatedAt":"2030-01-01T00:00:00Z"}"#,
        ),
        // A status the route does not document.
        (
            201,
            r#"{"id":"p","status":"pending","amount":{"value":1,"currency":"jpy"},"updatedAt":"2030-01-01T00:00:00Z"}"#,
        ),
        // An error not in the error shape.
        (404, r#"{"error":"not found"}"#),
    ];
    for (status, body) in drifted {
        let caught = std::panic::catch_unwind(|| {
            check_answer("GET", "/v1/tracks/payments/trk_1", status, Some("application/json"), body)
        });
        assert!(caught.is_err(), "{status} {body} passed");
    }
    check_answer(
        "GET",
        "/v1/tracks/payments/trk_1",
        200,
        Some("application/json"),
        r#"{"id":"p","status":"pending","amount":{"value":1,"currency":"jpy"},"updatedAt":"2030-01-01T00:00:00Z"}"#,
    );
    assert!(response("/v1/payments/{id}/captures", "post", 503).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_serves_the_document() {
    let local = common::start_local().await;
    let answer = local.http.get(format!("{}/openapi.yaml", local.base)).send().await.expect("request");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/yaml");
    assert_eq!(answer.text().await.expect("body"), common::openapi::DOCUMENT);
    let post = local.http.post(format!("{}/openapi.yaml", local.base)).send().await.expect("request");
    assert_eq!(post.status(), 405);
}
