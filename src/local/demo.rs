//! The demo shop of `local` (`/demo`): what a merchant builds on the API, end to end. Its server
//! side calls the very API handler with the demo account's key, which never reaches a page:
//! the shop creates a payment and renders `nextStep` as the auto-submitting POST form a merchant
//! would; the payer approves, declines or cancels on the sandbox's au screen; the return page
//! shows the payment as the gateway has it (never what the query string says) and captures,
//! cancels or refunds through the API. Plain HTML and a little CSS, no outside assets. Only in
//! local mode with the demo account; anywhere else it is a 404.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::accounts::{DEMO_ACCOUNT_ID, DEMO_API_KEY};

use crate::config::AccountSource;
use crate::http::{App, handle as api};
use crate::ids::OperationId;
use crate::local::sandbox::html_escape as esc;
use crate::service::Provider;
use crate::store::Persistence;

/// Merchant references of the demo's payments start with this.
const REFERENCE_PREFIX: &str = "demo-";

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK JP','Hiragino Sans',sans-serif;max-width:40rem;\
margin:0 auto;padding:1rem;line-height:1.5;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}\
.card{border:1px solid #ddd;border-radius:.5rem;padding:1rem;margin:1rem 0}label{display:block;margin:.5rem 0}\
input[type=number]{width:8rem;font-size:1rem;padding:.3rem}button{font-size:1rem;padding:.5rem 1rem;\
border-radius:.4rem;border:1px solid #888;background:#f5f5f5;margin:.2rem 0}button.pay{background:#eb5505;\
color:#fff;border-color:#eb5505}.status{font-weight:bold}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #eee;padding:.3rem;text-align:left;font-size:.9rem}\
pre{background:#f7f7f7;padding:.5rem;overflow-x:auto;font-size:.8rem}.muted{color:#666;font-size:.9rem}";

/// Whether `path` is the demo's.
pub fn is_demo_path(path: &str) -> bool {
    path == "/demo" || path.starts_with("/demo/")
}

/// Answers a request to `/demo...`. Every page refuses to be framed (clickjacking), and every
/// form that changes something refuses a post from another site (cross-site request forgery):
/// the demo is what merchants copy, so it shows the right way.
pub async fn handle<S: Persistence, P: Provider>(app: &App<S, P>, req: Request) -> Response<Body> {
    let mut response = answer(app, req).await;
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static("frame-ancestors 'none'"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

/// Whether a POST comes from the shop's own pages: its `Origin` (or, without one, its
/// `Referer`) is this server's origin. A browser sends `Origin` on every cross-site POST, and a
/// forged one cannot be set by a page; a request with neither is refused too.
fn same_origin(req: &Request) -> bool {
    let Some(host) = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let ours = format!("http://{host}");
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let referer = req.headers().get(header::REFERER).and_then(|r| r.to_str().ok());
    match (origin, referer) {
        (Some(origin), _) => origin.eq_ignore_ascii_case(&ours),
        (None, Some(referer)) => {
            referer.len() > ours.len()
                && referer[..ours.len()].eq_ignore_ascii_case(&ours)
                && referer[ours.len()..].starts_with('/')
        }
        (None, None) => false,
    }
}

async fn answer<S: Persistence, P: Provider>(app: &App<S, P>, req: Request) -> Response<Body> {
    if !app.settings.is_local() || app.settings.accounts != AccountSource::Demo {
        return page(StatusCode::NOT_FOUND, "Not found", "<p>The demo runs only in `local` with the demo account.</p>");
    }
    let changes_something =
        req.method() == Method::POST && !req.uri().path().trim_end_matches('/').ends_with("/return");
    if changes_something && !same_origin(&req) {
        return page(
            StatusCode::FORBIDDEN,
            "Refused",
            "<p>This form only takes posts from the shop's own pages. <a href=\"/demo\">To the shop</a></p>",
        );
    }
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query = form(req.uri().query().unwrap_or("").as_bytes());
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method().clone(), parts.as_slice()) {
        (Method::GET, ["", "demo"]) => shop(app).await,
        (Method::POST, ["", "demo", "checkout"]) => checkout(app, &form(req.body().as_ref())).await,
        // The au screen sends the payer back with a POST (approved) or a GET.
        (Method::GET | Method::POST, ["", "demo", "return"]) => match field(&query, "order") {
            Some(order) => return_page(app, &order, None).await,
            None => page(StatusCode::BAD_REQUEST, "Which order?", "<p>The return URL names no order.</p>"),
        },
        (Method::POST, ["", "demo", "payments", id, kind @ ("captures" | "cancels" | "refunds")]) => {
            operate(app, id, kind, &form(req.body().as_ref())).await
        }
        _ => page(StatusCode::NOT_FOUND, "Not found", "<p>No such demo page. <a href=\"/demo\">To the shop</a></p>"),
    }
}

fn form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn page(status: StatusCode, title: &str, body: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} - kantan demo shop</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    );
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The API's answer to one call made with the demo account's key.
struct Answer {
    status: u16,
    json: Value,
}

async fn call<S: Persistence, P: Provider>(
    app: &App<S, P>,
    method: Method,
    uri: &str,
    body: Option<Value>,
    idempotency_key: Option<&str>,
) -> Answer {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {DEMO_API_KEY}"));
    if let Some(key) = idempotency_key {
        builder = builder.header("idempotency-key", key);
    }
    let request = match body {
        Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Body::Text(body.to_string())),
        None => builder.body(Body::Empty),
    };
    let Ok(request) = request else { return Answer { status: 500, json: Value::Null } };
    let response = api(app, request, None).await;
    let status = response.status().as_u16();
    let json = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    Answer { status, json }
}

fn yen(amount: &Value) -> String {
    let value = amount["value"].as_u64().unwrap_or(0);
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} 円")
}

/// The shop: one item, an amount, the au PAY button; the recent demo payments below.
async fn shop<S: Persistence, P: Provider>(app: &App<S, P>) -> Response<Body> {
    let recent = recent_payments(app).await;
    let body = format!(
        "<h1>kantan demo shop</h1>\
         <div class=\"card\"><h2>抹茶セット (Matcha set)</h2><p class=\"muted\">京都の抹茶と茶筅のセット。</p>\
         <form method=\"post\" action=\"/demo/checkout\">\
         <label>Amount (yen) <input type=\"number\" name=\"amount\" id=\"amount\" value=\"1200\" min=\"1\" max=\"99999999\" required></label>\
         <button class=\"pay\" type=\"submit\" id=\"pay\">Pay with au PAY (auかんたん決済)</button></form></div>\
         <h2>Recent demo payments</h2>{recent}"
    );
    page(StatusCode::OK, "Shop", &body)
}

async fn recent_payments<S: Persistence, P: Provider>(app: &App<S, P>) -> String {
    let listed = call(app, Method::GET, "/v1/payments?limit=20", None, None).await;
    let payments: Vec<&Value> = listed.json["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["merchantReference"].as_str().is_some_and(|r| r.starts_with(REFERENCE_PREFIX)))
        .take(10)
        .collect();
    if payments.is_empty() {
        return "<p class=\"muted\">None yet.</p>".into();
    }
    let mut rows = String::new();
    for p in payments {
        let id = p["id"].as_str().unwrap_or_default();
        let order = p["merchantReference"].as_str().unwrap_or_default();
        let operations: Vec<String> = p["operations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|op| {
                format!(
                    "{} {} {}",
                    op["type"].as_str().unwrap_or(""),
                    yen(&op["amount"]),
                    op["status"].as_str().unwrap_or("")
                )
            })
            .collect();
        let events = call(app, Method::GET, &format!("/v1/payments/{id}/events"), None, None).await;
        let deliveries: Vec<String> = events.json["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let states: Vec<&str> =
                    e["deliveries"].as_array().into_iter().flatten().filter_map(|d| d["state"].as_str()).collect();
                let states = if states.is_empty() { "no endpoint".to_owned() } else { states.join(", ") };
                format!("{}: {states}", e["type"].as_str().unwrap_or(""))
            })
            .collect();
        rows.push_str(&format!(
            "<tr><td><a href=\"/demo/return?order={}\">{}</a></td><td>{}</td><td class=\"status\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(order),
            esc(id),
            yen(&p["amount"]),
            esc(p["status"].as_str().unwrap_or("")),
            esc(&operations.join("; ")),
            esc(&deliveries.join("; "))
        ));
    }
    format!(
        "<table id=\"recent\"><tr><th>Payment</th><th>Amount</th><th>Status</th><th>Operations</th><th>Webhooks</th></tr>{rows}</table>"
    )
}

/// Creates the payment and answers the page a merchant renders from `nextStep`.
async fn checkout<S: Persistence, P: Provider>(app: &App<S, P>, fields: &[(String, String)]) -> Response<Body> {
    let Some(amount) = field(fields, "amount").and_then(|a| a.parse::<u64>().ok()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Amount",
            "<p>Enter a whole number of yen. <a href=\"/demo\">Back</a></p>",
        );
    };
    let order = format!("{REFERENCE_PREFIX}{}", OperationId::generate());
    let return_url = format!("{}/demo/return?order={order}", app.settings.public_base_url);
    let body = json!({
        "processingAccountId": DEMO_ACCOUNT_ID,
        "merchantReference": order,
        "amount": {"value": amount, "currency": "jpy"},
        "paymentMethod": {"type": "au_kantan_kessai", "auKantanKessai": {"returnUrl": return_url}},
    });
    let created = call(app, Method::POST, "/v1/payments", Some(body), Some(&order)).await;
    let redirect = &created.json["nextStep"]["redirect"];
    let (Some(url), Some(params)) = (redirect["url"].as_str(), redirect["params"].as_array()) else {
        let answer = esc(&serde_json::to_string_pretty(&created.json).unwrap_or_default());
        return page(
            StatusCode::BAD_GATEWAY,
            "Not created",
            &format!(
                "<h1>The payment was not created</h1><p>HTTP {}</p><pre>{answer}</pre><p><a href=\"/demo\">Back</a></p>",
                created.status
            ),
        );
    };
    // The merchant's page: the params, in order, posted to the au screen as soon as it loads.
    let inputs: String = params
        .iter()
        .map(|p| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(p["name"].as_str().unwrap_or("")),
                esc(p["value"].as_str().unwrap_or(""))
            )
        })
        .collect();
    let body = format!(
        "<h1>au PAY へ移動しています…</h1><p>Taking you to the au payment screen.</p>\
         <form id=\"to-au\" method=\"post\" action=\"{}\" accept-charset=\"Shift_JIS\">{inputs}\
         <noscript><button type=\"submit\">Continue to au PAY</button></noscript></form>\
         <script>document.getElementById('to-au').submit();</script>",
        esc(url)
    );
    page(StatusCode::OK, "To au PAY", &body)
}

/// The payment of the demo order `order`, as the gateway has it; `answer` is the API's answer to
/// an operation just made from this page.
async fn return_page<S: Persistence, P: Provider>(
    app: &App<S, P>,
    order: &str,
    answer: Option<(&str, &Answer)>,
) -> Response<Body> {
    let uri = format!(
        "/v1/payments?merchantReference={}&limit=1",
        url::form_urlencoded::byte_serialize(order.as_bytes()).collect::<String>()
    );
    let listed = call(app, Method::GET, &uri, None, None).await;
    let Some(id) = listed.json["data"][0]["id"].as_str().map(str::to_owned) else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown order",
            "<p>No payment for this order. <a href=\"/demo\">To the shop</a></p>",
        );
    };
    // The full payment: a read also expires it if its time is up.
    let payment = call(app, Method::GET, &format!("/v1/payments/{id}"), None, None).await.json;
    let status = payment["status"].as_str().unwrap_or("unknown");
    let operations: String = payment["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|op| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(op["type"].as_str().unwrap_or("")),
                yen(&op["amount"]),
                esc(op["status"].as_str().unwrap_or(""))
            )
        })
        .collect();
    let reason = payment["reason"]["description"]
        .as_str()
        .map(|d| format!("<p class=\"muted\">{}</p>", esc(d)))
        .unwrap_or_default();
    let answered = answer
        .map(|(what, a)| {
            format!(
                "<div class=\"card\" id=\"answer\"><h2>{} answered HTTP {}</h2><pre>{}</pre></div>",
                esc(what),
                a.status,
                esc(&serde_json::to_string_pretty(&a.json).unwrap_or_default())
            )
        })
        .unwrap_or_default();
    // A fresh key per rendered form: a double submit of the same form is one operation.
    let key = || OperationId::generate().to_string();
    let o = esc(order);
    let actions = format!(
        "<div class=\"card\"><h2>Merchant actions</h2>\
         <form method=\"post\" action=\"/demo/payments/{id}/captures\"><input type=\"hidden\" name=\"order\" value=\"{o}\">\
         <input type=\"hidden\" name=\"key\" value=\"{}\"><label>Capture amount (empty: all) \
         <input type=\"number\" name=\"amount\" id=\"capture-amount\" min=\"1\"></label>\
         <button type=\"submit\" id=\"capture\">Capture</button></form>\
         <form method=\"post\" action=\"/demo/payments/{id}/cancels\"><input type=\"hidden\" name=\"order\" value=\"{o}\">\
         <input type=\"hidden\" name=\"key\" value=\"{}\"><button type=\"submit\" id=\"cancel\">Cancel</button></form>\
         <form method=\"post\" action=\"/demo/payments/{id}/refunds\"><input type=\"hidden\" name=\"order\" value=\"{o}\">\
         <input type=\"hidden\" name=\"key\" value=\"{}\"><label>Refund amount (empty: all) \
         <input type=\"number\" name=\"amount\" id=\"refund-amount\" min=\"1\"></label>\
         <button type=\"submit\" id=\"refund\">Refund</button></form></div>",
        key(),
        key(),
        key()
    );
    let body = format!(
        "<h1>ご注文ありがとうございます</h1><p>Order <code>{o}</code></p>\
         <div class=\"card\"><p>Payment <code id=\"payment-id\">{}</code></p>\
         <p>Status: <span class=\"status\" id=\"status\">{}</span></p>{reason}\
         <p>Amount {} · authorized {} · captured {} · cancelled {} · refunded {}</p>\
         <table><tr><th>Operation</th><th>Amount</th><th>Status</th></tr>{operations}</table></div>\
         {answered}{actions}<p><a href=\"/demo\">Back to the shop</a></p>",
        esc(&id),
        esc(status),
        yen(&payment["amount"]),
        yen(&payment["authorizedAmount"]),
        yen(&payment["capturedAmount"]),
        yen(&payment["cancelledAmount"]),
        yen(&payment["refundedAmount"]),
    );
    page(StatusCode::OK, "Your order", &body)
}

/// Capture, cancel or refund through the API, then the return page with its answer.
async fn operate<S: Persistence, P: Provider>(
    app: &App<S, P>,
    id: &str,
    kind: &str,
    fields: &[(String, String)],
) -> Response<Body> {
    let Some(order) = field(fields, "order") else {
        return page(StatusCode::BAD_REQUEST, "Which order?", "<p>The form names no order.</p>");
    };
    let body = match field(fields, "amount").map(|a| a.parse::<u64>()) {
        None => None,
        Some(Ok(value)) => Some(json!({"amount": {"value": value, "currency": "jpy"}})),
        Some(Err(_)) => {
            return page(StatusCode::BAD_REQUEST, "Amount", "<p>Enter a whole number of yen, or nothing for all.</p>");
        }
    };
    let key = field(fields, "key");
    let answer = call(app, Method::POST, &format!("/v1/payments/{id}/{kind}"), body, key.as_deref()).await;
    let what = match kind {
        "captures" => "Capture",
        "cancels" => "Cancel",
        _ => "Refund",
    };
    return_page(app, &order, Some((what, &answer))).await
}
