//! The SAM template read as an infra reviewer would: every function is published under an
//! alias that CodeDeploy shifts with the template's own error alarms for rollback, has its
//! reserved concurrency as a parameter, and a log group with retention; every alarm has its
//! entry in the runbook; every API route reaches the function that serves it; nothing secret
//! sits in a parameter default or an output.

use std::collections::{BTreeMap, BTreeSet};

use kantan::app::handler::{Binary, Handler};
use lambda_http::http::Method;
use serde_norway::Value;

const TEMPLATE: &str = include_str!("../../infra/template.yaml");
const RUNBOOK: &str = include_str!("../../infra/RUNBOOK.md");

fn template() -> Value {
    serde_norway::from_str(TEMPLATE).expect("infra/template.yaml is YAML")
}

/// `!Ref X` / `!GetAtt X.Y` / `!Sub "..."` and friends: the tag's name and its value.
fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string().trim_start_matches('!').to_owned(), &t.value)),
        _ => None,
    }
}

fn ref_name(v: &Value) -> Option<&str> {
    match tagged(v)? {
        (tag, Value::String(name)) if tag == "Ref" => Some(name),
        _ => None,
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> BTreeMap<String, &'a Value> {
    get(t, "Resources")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter(|(_, r)| get(r, "Type").and_then(Value::as_str) == Some(kind))
        .filter_map(|(k, r)| Some((k.as_str()?.to_owned(), r)))
        .collect()
}

/// A function's property, from the function or else from `Globals.Function`.
fn function_property<'a>(t: &'a Value, function: &'a Value, key: &str) -> Option<&'a Value> {
    get(function, "Properties")
        .and_then(|p| get(p, key))
        .or_else(|| get(t, "Globals").and_then(|g| get(g, "Function")).and_then(|f| get(f, key)))
}

/// Every `!Ref` anywhere below `v`.
fn refs_below(v: &Value, out: &mut BTreeSet<String>) {
    if let Some(name) = ref_name(v) {
        out.insert(name.to_owned());
    }
    match v {
        Value::Mapping(m) => m.values().for_each(|x| refs_below(x, out)),
        Value::Sequence(s) => s.iter().for_each(|x| refs_below(x, out)),
        Value::Tagged(t) => refs_below(&t.value, out),
        _ => {}
    }
}

fn functions(t: &Value) -> BTreeMap<String, &Value> {
    let functions = resources_of_type(t, "AWS::Serverless::Function");
    assert_eq!(
        functions.len(),
        10,
        "create, track, capture, cancel, refund, notify, webhooks, dispatch, deliver, sweep"
    );
    functions
}

#[test]
fn every_function_is_published_under_an_alias_shifted_by_codedeploy_with_its_error_alarm_for_rollback() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    for (name, function) in functions(&t) {
        let alias = function_property(&t, function, "AutoPublishAlias").and_then(Value::as_str);
        assert_eq!(alias, Some("live"), "{name}: AutoPublishAlias");
        let preference = function_property(&t, function, "DeploymentPreference").expect("DeploymentPreference");
        let kind = get(preference, "Type").and_then(ref_name);
        assert_eq!(kind, Some("DeploymentType"), "{name}: the deployment type is a parameter");
        let rollback: Vec<&str> =
            get(preference, "Alarms").and_then(Value::as_sequence).into_iter().flatten().filter_map(ref_name).collect();
        assert!(!rollback.is_empty(), "{name}: rollback alarms");
        // One of the rollback alarms counts this very function's errors.
        let watched = rollback.iter().any(|alarm| {
            let Some(resource) = alarms.get(*alarm) else { panic!("{alarm} is not an alarm of the template") };
            let mut seen = BTreeSet::new();
            refs_below(resource, &mut seen);
            seen.contains(&name) && serde_norway::to_string(resource).is_ok_and(|s| s.contains("MetricName: Errors"))
        });
        assert!(watched, "{name}: no rollback alarm counts its errors");
    }
    let parameter = get(&t, "Parameters").and_then(|p| get(p, "DeploymentType")).expect("DeploymentType parameter");
    let allowed: Vec<&str> = get(parameter, "AllowedValues")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(allowed.contains(&"AllAtOnce") && allowed.iter().any(|a| a.starts_with("Canary")));
}

#[test]
fn every_function_has_its_reserved_concurrency_as_a_parameter() {
    let t = template();
    let parameters = get(&t, "Parameters").expect("Parameters");
    let mut seen = BTreeSet::new();
    for (name, function) in functions(&t) {
        let reserved = get(function, "Properties").and_then(|p| get(p, "ReservedConcurrentExecutions"));
        let Some(parameter) = reserved.and_then(ref_name) else {
            panic!("{name}: ReservedConcurrentExecutions: !Ref <parameter>")
        };
        let declared = get(parameters, parameter).unwrap_or_else(|| panic!("{name}: {parameter} is not a parameter"));
        assert_eq!(get(declared, "Type").and_then(Value::as_str), Some("Number"), "{parameter}");
        assert!(get(declared, "Default").is_some(), "{parameter} has a default");
        assert!(seen.insert(parameter.to_owned()), "{parameter} is shared by two functions");
    }
}

#[test]
fn every_function_has_a_log_group_with_retention() {
    let t = template();
    let groups = resources_of_type(&t, "AWS::Logs::LogGroup");
    for name in functions(&t).keys() {
        let wanted = format!("/aws/lambda/${{{name}}}");
        let group = groups.values().find(|g| {
            get(g, "Properties")
                .and_then(|p| get(p, "LogGroupName"))
                .and_then(tagged)
                .is_some_and(|(tag, v)| tag == "Sub" && v.as_str() == Some(wanted.as_str()))
        });
        let Some(group) = group else { panic!("{name}: no log group named {wanted}") };
        let retention = get(group, "Properties").and_then(|p| get(p, "RetentionInDays"));
        assert!(retention.is_some(), "{name}: its log group keeps logs forever");
    }
}

#[test]
fn every_alarm_has_its_entry_in_the_runbook() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 13, "{}", alarms.len());
    for name in alarms.keys() {
        let heading = format!("### {name}");
        let Some(at) = RUNBOOK.find(&heading) else { panic!("infra/RUNBOOK.md has no section `{heading}`") };
        let section = &RUNBOOK[at + heading.len()..];
        let section = &section[..section.find("\n### ").or_else(|| section.find("\n## ")).unwrap_or(section.len())];
        for part in ["**Means**", "**Confirm**", "**Do**"] {
            assert!(section.contains(part), "{name}: its runbook entry has no {part}");
        }
        assert!(section.contains("```"), "{name}: its runbook entry has no query or command written out");
    }
}

#[test]
fn every_api_route_of_the_template_reaches_the_function_that_serves_it() {
    let t = template();
    let mut routes = BTreeSet::new();
    let mut handlers = BTreeSet::new();
    for (name, function) in functions(&t) {
        // A deployed binary (api or jobs); its Handler names the function it serves there.
        let binary = get(function, "Metadata")
            .and_then(|m| get(m, "BuildProperties"))
            .and_then(|b| get(b, "Binary"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{name}: Metadata.BuildProperties.Binary"));
        let handler_name = function_property(&t, function, "Handler")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{name}: Properties.Handler"));
        let handler = Handler::named(handler_name)
            .unwrap_or_else(|| panic!("{name}: Handler {handler_name} is no function of the gateway"));
        assert_eq!(binary, Binary::of(handler).name(), "{name}: Handler {handler_name} is served by that binary");
        assert!(std::path::Path::new(&format!("src/bin/{binary}.rs")).exists(), "{name}: src/bin/{binary}.rs");
        assert!(handlers.insert(handler_name), "{name}: Handler {handler_name} twice");
        let events = get(function, "Properties").and_then(|p| get(p, "Events")).and_then(Value::as_mapping);
        for event in events.into_iter().flatten().map(|(_, e)| e) {
            if get(event, "Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let properties = get(event, "Properties").expect("Properties");
            let method = get(properties, "Method").and_then(Value::as_str).expect("Method");
            let path = get(properties, "Path").and_then(Value::as_str).expect("Path");
            let concrete = path
                .replace("{id}", "pay_1")
                .replace("{trackId}", "trk_1")
                .replace("{eventId}", "evt_1")
                .replace("{month}", "2030-11");
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            let route =
                kantan::http::router::route(&method, &concrete).unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
            assert_eq!(route.name(), format!("{method} {path}"), "the router's name of the template's route");
            assert_eq!(Handler::Http(route.function()), handler, "{method} {path} is served by {handler_name}");
            assert!(routes.insert(route.name()), "{method} {path} twice");
        }
    }
    let router: BTreeSet<&str> = kantan::http::Route::every().iter().map(kantan::http::Route::name).collect();
    assert_eq!(routes, router, "the template's routes are the router's");
    let every: BTreeSet<&str> = Handler::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(handlers, every, "one function of the template per function of the binary");
}

#[test]
fn nothing_secret_sits_in_a_parameter_default_an_output_or_a_dynamic_reference() {
    let t = template();
    assert!(!TEMPLATE.contains("{{resolve:"), "no secret is resolved into the template");
    for (name, parameter) in get(&t, "Parameters").and_then(Value::as_mapping).into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        let lower = name.to_lowercase();
        if ["secret", "password", "hashkey", "apikey", "token"].iter().any(|w| lower.contains(w)) {
            assert!(get(parameter, "Default").is_none(), "{name} has a default");
            let pattern = get(parameter, "AllowedPattern").and_then(Value::as_str).unwrap_or_default();
            assert!(pattern.starts_with("arn:"), "{name} takes an ARN, never the secret itself");
        }
    }
    for (name, output) in get(&t, "Outputs").and_then(Value::as_mapping).into_iter().flatten() {
        let mut seen = BTreeSet::new();
        refs_below(output, &mut seen);
        let text = serde_norway::to_string(output).unwrap_or_default();
        assert!(
            !seen.contains("WebhookMasterKey") && !text.contains("WebhookMasterKey"),
            "{name:?} names the master key"
        );
        assert!(!text.contains("SecretString"), "{name:?}");
    }
}
