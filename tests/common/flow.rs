//! The payer's browser and the merchant's calls, over HTTP, for end-to-end tests.

use kantan::ids::PaymentId;
use kantan::store::Persistence;
use serde_json::{Value, json};

use super::{DEMO_KEY, Local, seed_body};

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// Sends `r`; an answer of the API is held to openapi.yaml.
pub async fn reply(r: reqwest::RequestBuilder) -> Reply {
    let (client, request) = r.build_split();
    let request = request.expect("request");
    let (method, path) = (request.method().to_string(), request.url().path().to_owned());
    let r = client.execute(request).await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    super::openapi::check_answer(&method, &path, status, content_type, &text);
    Reply { status, headers, text }
}

impl<S: Persistence> Local<S> {
    pub async fn create(&self, reference: &str, amount: u32) -> Value {
        let mut body = seed_body(reference);
        body["amount"]["value"] = json!(amount);
        let r = reply(self.http.post(format!("{}/v1/payments", self.base)).bearer_auth(DEMO_KEY).json(&body)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()
    }

    pub async fn op(&self, id: &str, kind: &str, amount: Option<u32>, key: Option<&str>) -> Reply {
        let mut req = self.http.post(format!("{}/v1/payments/{id}/{kind}", self.base)).bearer_auth(DEMO_KEY);
        if let Some(a) = amount {
            req = req.json(&json!({"amount": {"value": a, "currency": "jpy"}}));
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        reply(req).await
    }

    pub async fn payment(&self, id: &str) -> Value {
        let r = reply(self.http.get(format!("{}/v1/payments/{id}", self.base)).bearer_auth(DEMO_KEY)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }

    pub async fn events(&self, id: &str) -> Vec<String> {
        let id: PaymentId = id.parse().expect("id");
        self.app
            .service
            .store
            .audit_events(&id)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect()
    }

    /// The payer's browser on this server's sandbox: see [`pay_at`].
    pub async fn pay(&self, created: &Value, decision: &str) -> (u16, String) {
        pay_at(&self.http, &self.base, created, decision).await.expect("the payer's browser")
    }

    pub async fn authorized(&self, reference: &str, amount: u32) -> String {
        let created = self.create(reference, amount).await;
        let (status, page) = self.pay(&created, "approve").await;
        assert_eq!(status, 200, "{page}");
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(self.payment(&id).await["status"], "authorized");
        id
    }

    pub async fn captured(&self, reference: &str, amount: u32) -> String {
        let id = self.authorized(reference, amount).await;
        let r = self.op(&id, "captures", None, None).await;
        assert_eq!(r.status, 201, "{}", r.text);
        id
    }

    /// Posts a result notification for `id` built and signed as SBPS would.
    pub async fn notify(&self, id: &str, amount: &str, result: &str, tracking_id: &str, key: &str) -> String {
        self.notify_from("99999", id, amount, result, tracking_id, key).await
    }

    /// An approval for `id` from SBPS merchant `merchant_id`, signed with `key`.
    pub async fn notify_as(&self, merchant_id: &str, id: &str, amount: &str, key: &str) -> String {
        self.notify_from(merchant_id, id, amount, "OK", "00000616307348", key).await
    }

    async fn notify_from(
        &self,
        merchant_id: &str,
        id: &str,
        amount: &str,
        result: &str,
        tracking_id: &str,
        key: &str,
    ) -> String {
        let body = notification_body(merchant_id, id, amount, result, tracking_id, key);
        let r = reply(
            self.http
                .post(format!("{}/v1/notifications/sbps", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(r.headers.get("content-type").is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/plain")));
        r.text
    }

    /// The sandbox's SBPS call log, as `GET /sandbox/sbps/control/calls` answers it.
    pub fn sbps_calls(&self) -> Vec<kantan::audit::SbpsCall> {
        serde_json::from_value(json!(self.sandbox.calls())).expect("the audit reads the sandbox's call log")
    }

    /// The whole store's audit as of the app clock, reconciled with the sandbox's SBPS calls.
    pub async fn audit(&self) -> kantan::audit::Report {
        let service = &self.app.service;
        let calls = self.sbps_calls();
        kantan::audit::run(
            &service.store,
            &service.accounts,
            service.policy.lock_window,
            service.clock.now(),
            Some(&calls),
        )
        .await
        .expect("audit")
    }

    /// The audit of one payment as of the app clock, reconciled with SBPS's calls for it.
    pub async fn audit_one(&self, payment: &kantan::payment::Payment) -> Vec<kantan::audit::Finding> {
        let service = &self.app.service;
        let events = service.store.audit_events(&payment.id).await.expect("events");
        let deliveries = service.store.deliveries(&payment.id).await.expect("deliveries");
        let mut findings = kantan::audit::check_payment(
            payment,
            &events,
            &deliveries,
            &[],
            service.policy.lock_window,
            service.clock.now(),
        );
        let entries = kantan::store::LedgerStore::payment_ledger(&service.store, &payment.id).await.expect("ledger");
        findings.extend(kantan::audit::check_ledger(payment, &entries));
        let tracking = payment.sbps.tracking_id.clone().unwrap_or_default();
        let calls: Vec<_> =
            self.sbps_calls().into_iter().filter(|c| !tracking.is_empty() && c.tracking_id == tracking).collect();
        findings.extend(kantan::audit::reconcile(std::slice::from_ref(payment), &calls));
        findings
    }

    pub fn performed(&self, function_id: &str) -> usize {
        self.sandbox.calls().iter().filter(|c| c.function_id == function_id && c.performed).count()
    }

    pub fn sent(&self, function_id: &str) -> usize {
        self.sandbox.calls().iter().filter(|c| c.function_id == function_id).count()
    }
}

/// The payer's browser, with the sandbox at `sandbox_base`: posts the redirect of `created`,
/// reads the au screen (which must be there), submits `decision`. Answers the final page (the
/// auto-submitting return to the merchant).
pub async fn pay_at(
    http: &reqwest::Client,
    sandbox_base: &str,
    created: &Value,
    decision: &str,
) -> Result<(u16, String), reqwest::Error> {
    let (url, params) = redirect_of(created);
    let screen = http.post(url).form(&params).send().await?;
    let (status, page) = (screen.status().as_u16(), screen.text().await?);
    assert_eq!(status, 200, "{page}");
    let (action, mut fields) = form_of(&page);
    fields.push(("decision".into(), decision.into()));
    let done = http.post(format!("{sandbox_base}{action}")).form(&fields).send().await?;
    Ok((done.status().as_u16(), done.text().await?))
}

/// A result notification for the payment `id` as SBPS posts it, signed with `key`.
pub fn notification_body(
    merchant_id: &str,
    id: &str,
    amount: &str,
    result: &str,
    tracking_id: &str,
    key: &str,
) -> String {
    let fields = [
        ("pay_method", "auone"),
        ("merchant_id", merchant_id),
        ("service_id", "000"),
        ("cust_code", id),
        ("order_id", id),
        ("item_id", id),
        ("amount", amount),
        ("pay_type", "0"),
        ("service_type", "0"),
        ("request_date", "20301110120000"),
        ("res_pay_method", "auone"),
        ("res_result", result),
        ("res_tracking_id", tracking_id),
        ("res_payment_date", "20301110120100"),
        ("res_err_code", if result == "OK" { "" } else { "402U1999" }),
        ("res_date", "20301110120100"),
        ("limit_second", "600"),
    ];
    kantan::local::sandbox::notification_form(fields, key).expect("form")
}

/// The redirect of a created payment: its URL and its params, in order.
pub fn redirect_of(created: &Value) -> (String, Vec<(String, String)>) {
    let redirect = &created["nextStep"]["redirect"];
    let params = redirect["params"]
        .as_array()
        .expect("params")
        .iter()
        .map(|p| (p["name"].as_str().unwrap_or("").to_owned(), p["value"].as_str().unwrap_or("").to_owned()))
        .collect();
    (redirect["url"].as_str().expect("url").to_owned(), params)
}

/// The action and hidden fields of the first form of an HTML page.
pub fn form_of(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> String {
        let key = format!("{name}=\"");
        tag.find(&key)
            .map(|i| &tag[i + key.len()..])
            .and_then(|rest| rest.find('"').map(|j| &rest[..j]))
            .unwrap_or("")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let form_start = html.find("<form").expect("a form");
    let form_tag = &html[form_start..form_start + html[form_start..].find('>').expect("tag end")];
    let mut fields = Vec::new();
    for piece in html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        fields.push((attr(tag, "name"), attr(tag, "value")));
    }
    (attr(form_tag, "action"), fields)
}
