//! openapi.yaml as the tests read it: every answer an HTTP test gets through `send` or
//! `flow::reply` is held to the schema of its route and status (JSON Schema 2020-12, the
//! document itself as the root so its `$ref`s resolve).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use kantan::http::router;
use lambda_http::http::Method;
use serde_json::Value;

pub const DOCUMENT: &str = include_str!("../../openapi.yaml");

/// The document as JSON.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_norway::from_str(DOCUMENT).expect("openapi.yaml parses"))
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer (`#/a/b`) of `segments`.
pub fn pointer(segments: &[&str]) -> String {
    let mut out = String::from("#");
    for s in segments {
        out.push('/');
        out.push_str(&escape(s));
    }
    out
}

fn at<'a>(pointer: &str) -> Option<&'a Value> {
    document().pointer(pointer.trim_start_matches('#'))
}

/// Validates `instance` against the schema at `pointer` in the document.
pub fn validate(pointer: &str, instance: &Value) -> Result<(), String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let validator = {
        let mut cache = cache.lock().map_err(|_| "poisoned".to_owned())?;
        match cache.get(pointer) {
            Some(v) => Arc::clone(v),
            None => {
                let mut root = document().clone();
                // A pointer in a URI fragment: `{` and `}` (path templates) percent-encoded.
                let reference = pointer.replace('{', "%7B").replace('}', "%7D");
                root.as_object_mut().ok_or("the document is not an object")?.insert("$ref".into(), reference.into());
                let built = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&root)
                    .map_err(|e| format!("the schema at {pointer} does not compile: {e}"))?;
                let built = Arc::new(built);
                cache.insert(pointer.to_owned(), Arc::clone(&built));
                built
            }
        }
    };
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

/// The response object of `path_template` / `method` / `status`, and its pointer, following a
/// `$ref` to `components/responses`.
pub fn response(path_template: &str, method: &str, status: u16) -> Option<(String, &'static Value)> {
    let mut here = pointer(&["paths", path_template, &method.to_lowercase(), "responses", &status.to_string()]);
    let mut object = at(&here)?;
    while let Some(target) = object.get("$ref").and_then(Value::as_str) {
        here = target.to_owned();
        object = at(&here)?;
    }
    Some((here, object))
}

/// Holds one answer to the document; panics with what differs. Requests the router does not
/// route (404 `route_not_found`, 405) and paths outside the API are not the document's.
pub fn check_answer(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &str) {
    let Ok(method_value) = Method::from_bytes(method.as_bytes()) else { return };
    let path_only = path.split('?').next().unwrap_or(path);
    let Ok(route) = router::route(&method_value, path_only) else { return };
    let (_, template) = route.name().split_once(' ').unwrap_or_default();
    let Some((response_pointer, object)) = response(template, method, status) else {
        panic!("openapi.yaml: {method} {template} does not document status {status}; the answer was: {body}")
    };
    let Some(content) = object.get("content").and_then(Value::as_object) else {
        assert!(body.is_empty(), "openapi.yaml: {method} {template} {status} documents no body; got {body}");
        return;
    };
    let essence = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    assert!(
        content.contains_key(&essence),
        "openapi.yaml: {method} {template} {status} is documented as {:?}, answered as {essence:?}",
        content.keys().collect::<Vec<_>>()
    );
    let schema = format!("{response_pointer}/content/{}/schema", escape(&essence));
    let instance = if essence == "application/json" {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path} {status}: not JSON ({e}): {body}"))
    } else {
        Value::String(body.to_owned())
    };
    if let Err(why) = validate(&schema, &instance) {
        panic!("openapi.yaml: the answer to {method} {path} ({status}) does not fit {schema}: {why}\nanswer: {body}");
    }
}
