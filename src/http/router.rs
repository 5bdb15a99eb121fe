//! One router for every binary. It matches method and path itself: API Gateway's path
//! parameters are absent under `cargo lambda watch` and in `local`, and whatever stands before
//! `/v1/` (a REST stage, watch's `/lambda-url/<function>`) is ignored.

use lambda_http::http::Method;

/// A route of the merchant API (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    CreatePayment,
    ListPayments,
    GetPayment { id: String },
    TrackPayment { track_id: String },
    Capture { id: String },
    Cancel { id: String },
    Refund { id: String },
    SbpsNotification,
    CreateEndpoint,
    ListEndpoints,
    GetEndpoint { id: String },
    DeleteEndpoint { id: String },
    RotateEndpointSecret { id: String },
    EnableEndpoint { id: String },
    PaymentEvents { id: String },
    RedeliverEvent { event_id: String },
    Ledger,
    Statement { month: String },
}

/// The Lambda function that serves a route; each binary answers its own routes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Create,
    Track,
    Capture,
    Cancel,
    Refund,
    Notify,
    /// Webhook endpoints, a payment's events and redelivery.
    Webhooks,
}

impl Route {
    pub fn function(&self) -> Function {
        match self {
            Route::CreatePayment => Function::Create,
            Route::GetPayment { .. }
            | Route::TrackPayment { .. }
            | Route::ListPayments
            | Route::Ledger
            | Route::Statement { .. } => Function::Track,
            Route::Capture { .. } => Function::Capture,
            Route::Cancel { .. } => Function::Cancel,
            Route::Refund { .. } => Function::Refund,
            Route::SbpsNotification => Function::Notify,
            Route::CreateEndpoint
            | Route::ListEndpoints
            | Route::GetEndpoint { .. }
            | Route::DeleteEndpoint { .. }
            | Route::RotateEndpointSecret { .. }
            | Route::EnableEndpoint { .. }
            | Route::PaymentEvents { .. }
            | Route::RedeliverEvent { .. } => Function::Webhooks,
        }
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Route::CreatePayment => "POST /v1/payments",
            Route::ListPayments => "GET /v1/payments",
            Route::GetPayment { .. } => "GET /v1/payments/{id}",
            Route::TrackPayment { .. } => "GET /v1/tracks/payments/{trackId}",
            Route::Capture { .. } => "POST /v1/payments/{id}/captures",
            Route::Cancel { .. } => "POST /v1/payments/{id}/cancels",
            Route::Refund { .. } => "POST /v1/payments/{id}/refunds",
            Route::SbpsNotification => "POST /v1/notifications/sbps",
            Route::CreateEndpoint => "POST /v1/webhook-endpoints",
            Route::ListEndpoints => "GET /v1/webhook-endpoints",
            Route::GetEndpoint { .. } => "GET /v1/webhook-endpoints/{id}",
            Route::DeleteEndpoint { .. } => "DELETE /v1/webhook-endpoints/{id}",
            Route::RotateEndpointSecret { .. } => "POST /v1/webhook-endpoints/{id}/rotate-secret",
            Route::EnableEndpoint { .. } => "POST /v1/webhook-endpoints/{id}/enable",
            Route::PaymentEvents { .. } => "GET /v1/payments/{id}/events",
            Route::RedeliverEvent { .. } => "POST /v1/events/{eventId}/redeliver",
            Route::Ledger => "GET /v1/ledger",
            Route::Statement { .. } => "GET /v1/statements/{month}",
        }
    }

    /// One of each route, with placeholder ids: the router's routes, for the checks that hold
    /// the OpenAPI document and the SAM template to it.
    pub fn every() -> Vec<Route> {
        let id = || "pay_1".to_owned();
        let every = vec![
            Route::CreatePayment,
            Route::ListPayments,
            Route::GetPayment { id: id() },
            Route::TrackPayment { track_id: "trk_1".into() },
            Route::Capture { id: id() },
            Route::Cancel { id: id() },
            Route::Refund { id: id() },
            Route::SbpsNotification,
            Route::CreateEndpoint,
            Route::ListEndpoints,
            Route::GetEndpoint { id: id() },
            Route::DeleteEndpoint { id: id() },
            Route::RotateEndpointSecret { id: id() },
            Route::EnableEndpoint { id: id() },
            Route::PaymentEvents { id: id() },
            Route::RedeliverEvent { event_id: "evt_1".into() },
            Route::Ledger,
            Route::Statement { month: "2030-11".into() },
        ];
        // A new variant does not compile here until it is matched: list it above as well.
        for route in &every {
            match route {
                Route::CreatePayment
                | Route::ListPayments
                | Route::GetPayment { .. }
                | Route::TrackPayment { .. }
                | Route::Capture { .. }
                | Route::Cancel { .. }
                | Route::Refund { .. }
                | Route::SbpsNotification
                | Route::CreateEndpoint
                | Route::ListEndpoints
                | Route::GetEndpoint { .. }
                | Route::DeleteEndpoint { .. }
                | Route::RotateEndpointSecret { .. }
                | Route::EnableEndpoint { .. }
                | Route::PaymentEvents { .. }
                | Route::RedeliverEvent { .. }
                | Route::Ledger
                | Route::Statement { .. } => {}
            }
        }
        every
    }

    /// The payment id in the path, if any.
    pub fn payment_id(&self) -> Option<&str> {
        match self {
            Route::GetPayment { id }
            | Route::Capture { id }
            | Route::Cancel { id }
            | Route::Refund { id }
            | Route::PaymentEvents { id } => Some(id),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    NotFound,
    /// The path exists; `allow` lists its methods (the `Allow` header).
    MethodNotAllowed {
        allow: &'static str,
    },
}

/// The API path of a request path: from `/v1/` on, without a trailing slash.
pub fn api_path(path: &str) -> Option<&str> {
    let start = if path.starts_with("/v1/") { 0 } else { path.find("/v1/")? };
    let p = &path[start..];
    Some(p.strip_suffix('/').unwrap_or(p))
}

pub fn route(method: &Method, path: &str) -> Result<Route, RouteError> {
    let path = api_path(path).ok_or(RouteError::NotFound)?;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let owned = |s: &&str| (*s).to_owned();
    // The endpoint collection and one endpoint answer two methods each.
    match segments.as_slice() {
        ["v1", "payments"] => {
            return match *method {
                Method::POST => Ok(Route::CreatePayment),
                Method::GET | Method::HEAD => Ok(Route::ListPayments),
                _ => Err(RouteError::MethodNotAllowed { allow: "GET, HEAD, POST" }),
            };
        }
        ["v1", "webhook-endpoints"] => {
            return match *method {
                Method::POST => Ok(Route::CreateEndpoint),
                Method::GET | Method::HEAD => Ok(Route::ListEndpoints),
                _ => Err(RouteError::MethodNotAllowed { allow: "GET, HEAD, POST" }),
            };
        }
        ["v1", "webhook-endpoints", id] if !id.is_empty() => {
            return match *method {
                Method::DELETE => Ok(Route::DeleteEndpoint { id: owned(id) }),
                Method::GET | Method::HEAD => Ok(Route::GetEndpoint { id: owned(id) }),
                _ => Err(RouteError::MethodNotAllowed { allow: "DELETE, GET, HEAD" }),
            };
        }
        _ => {}
    }
    let (route, allowed) = match segments.as_slice() {
        ["v1", "payments", id] if !id.is_empty() => (Route::GetPayment { id: (*id).to_owned() }, Method::GET),
        ["v1", "tracks", "payments", t] if !t.is_empty() => {
            (Route::TrackPayment { track_id: (*t).to_owned() }, Method::GET)
        }
        ["v1", "payments", id, "captures"] => (Route::Capture { id: (*id).to_owned() }, Method::POST),
        ["v1", "payments", id, "cancels"] => (Route::Cancel { id: (*id).to_owned() }, Method::POST),
        ["v1", "payments", id, "refunds"] => (Route::Refund { id: (*id).to_owned() }, Method::POST),
        ["v1", "notifications", "sbps"] => (Route::SbpsNotification, Method::POST),
        ["v1", "webhook-endpoints", id, "rotate-secret"] => {
            (Route::RotateEndpointSecret { id: owned(id) }, Method::POST)
        }
        ["v1", "webhook-endpoints", id, "enable"] => (Route::EnableEndpoint { id: owned(id) }, Method::POST),
        ["v1", "payments", id, "events"] => (Route::PaymentEvents { id: owned(id) }, Method::GET),
        ["v1", "events", id, "redeliver"] => (Route::RedeliverEvent { event_id: owned(id) }, Method::POST),
        ["v1", "ledger"] => (Route::Ledger, Method::GET),
        ["v1", "statements", month] if !month.is_empty() => (Route::Statement { month: owned(month) }, Method::GET),
        _ => return Err(RouteError::NotFound),
    };
    if *method == allowed || (allowed == Method::GET && *method == Method::HEAD) {
        Ok(route)
    } else if allowed == Method::GET {
        Err(RouteError::MethodNotAllowed { allow: "GET, HEAD" })
    } else {
        Err(RouteError::MethodNotAllowed { allow: "POST" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_reached_by_its_own_name() {
        let every = Route::every();
        for r in &every {
            let (method, template) = r.name().split_once(' ').unwrap_or_default();
            let path = template
                .replace("{id}", "pay_1")
                .replace("{trackId}", "trk_1")
                .replace("{eventId}", "evt_1")
                .replace("{month}", "2030-11");
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::OPTIONS);
            assert_eq!(route(&method, &path).as_ref(), Ok(r), "{}", r.name());
        }
        let names: std::collections::BTreeSet<&str> = every.iter().map(Route::name).collect();
        assert_eq!(names.len(), every.len(), "each route once");
    }

    #[test]
    fn routes_ignore_prefixes_and_trailing_slashes() {
        let id = "27yiW9MgzBtwiodreuNOXk0rtIw";
        for path in [
            format!("/v1/payments/{id}"),
            format!("/prod/v1/payments/{id}"),
            format!("/lambda-url/track/v1/payments/{id}/"),
        ] {
            assert_eq!(route(&Method::GET, &path), Ok(Route::GetPayment { id: id.into() }), "{path}");
        }
        assert_eq!(route(&Method::POST, "/v1/payments"), Ok(Route::CreatePayment));
        assert_eq!(route(&Method::POST, &format!("/v1/payments/{id}/refunds")), Ok(Route::Refund { id: id.into() }));
        assert_eq!(route(&Method::POST, "/v1/notifications/sbps"), Ok(Route::SbpsNotification));
        assert_eq!(route(&Method::POST, "/v1/webhook-endpoints/"), Ok(Route::CreateEndpoint));
        assert_eq!(route(&Method::GET, "/v1/webhook-endpoints"), Ok(Route::ListEndpoints));
        assert_eq!(route(&Method::DELETE, "/v1/webhook-endpoints/e"), Ok(Route::DeleteEndpoint { id: "e".into() }));
        assert_eq!(route(&Method::GET, "/prod/v1/webhook-endpoints/e"), Ok(Route::GetEndpoint { id: "e".into() }));
        assert_eq!(
            route(&Method::POST, "/v1/webhook-endpoints/e/rotate-secret"),
            Ok(Route::RotateEndpointSecret { id: "e".into() })
        );
        assert_eq!(
            route(&Method::POST, "/v1/webhook-endpoints/e/enable"),
            Ok(Route::EnableEndpoint { id: "e".into() })
        );
        assert_eq!(
            route(&Method::GET, &format!("/v1/payments/{id}/events")),
            Ok(Route::PaymentEvents { id: id.into() })
        );
        assert_eq!(
            route(&Method::POST, "/v1/events/evt_x_1/redeliver"),
            Ok(Route::RedeliverEvent { event_id: "evt_x_1".into() })
        );
        for route_ in [Route::CreateEndpoint, Route::PaymentEvents { id: id.into() }] {
            assert_eq!(route_.function(), Function::Webhooks);
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(route(&Method::GET, "/"), Err(RouteError::NotFound));
        assert_eq!(route(&Method::GET, "/v1/payments/a/b/c"), Err(RouteError::NotFound));
        assert_eq!(route(&Method::GET, "/v2/payments"), Err(RouteError::NotFound));
        assert_eq!(
            route(&Method::DELETE, "/v1/payments"),
            Err(RouteError::MethodNotAllowed { allow: "GET, HEAD, POST" })
        );
        assert_eq!(route(&Method::GET, "/v1/payments"), Ok(Route::ListPayments));
        assert_eq!(route(&Method::POST, "/v1/payments/x"), Err(RouteError::MethodNotAllowed { allow: "GET, HEAD" }));
        assert_eq!(
            route(&Method::PUT, "/v1/webhook-endpoints"),
            Err(RouteError::MethodNotAllowed { allow: "GET, HEAD, POST" })
        );
        assert_eq!(
            route(&Method::POST, "/v1/webhook-endpoints/e"),
            Err(RouteError::MethodNotAllowed { allow: "DELETE, GET, HEAD" })
        );
    }
}
