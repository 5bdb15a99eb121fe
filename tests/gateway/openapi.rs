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
        let path = template.replace("{id}", "pay_1").replace("{trackId}", "trk_1").replace("{eventId}", "evt_1");
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
