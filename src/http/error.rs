//! Every error the API answers, mapped to HTTP once, in the one shape of DESIGN §3:
//! `{"reason": {"code", "description", "providerCode"?}, "errors"?: [{"field", "message"}],
//! "operation"?: {...}}` (the operation when SBPS refused one the gateway recorded).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::ids::PaymentId;
use crate::payment::{FailureCode, StateError};
use crate::service::ServiceError;
use crate::store::StoreError;
use crate::views::Reason;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError { field: field.to_owned(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("Some fields break their rules: `errors` names each field and the rule it broke.")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Malformed(String),
    #[error("A valid API key is required: send it as `Authorization: Bearer <key>`.")]
    Unauthorized,
    #[error("No payment with that id belongs to this API key's account.")]
    PaymentNotFound,
    #[error("There is no such route.")]
    RouteNotFound,
    #[error("No webhook endpoint with that id belongs to this API key's account.")]
    EndpointNotFound,
    #[error("No event with that id belongs to this API key's account.")]
    EventNotFound,
    #[error("An account has at most 5 webhook endpoints; delete one first.")]
    EndpointLimitReached,
    #[error("This route takes only {allow}.")]
    MethodNotAllowed { allow: &'static str },
    #[error(
        "A merchantReference has one live payment at a time, and {0} is live; it is released when that payment ends without money taken (declined, expired or cancelled)."
    )]
    DuplicateReference(PaymentId),
    #[error("{0}")]
    OperationNotAllowed(String),
    #[error("The first request with this Idempotency-Key is still running; retry after Retry-After seconds.")]
    IdempotencyInProgress,
    #[error(
        "An Idempotency-Key is one request (method, path and body), and this key was used with another; use a new key for a new request."
    )]
    IdempotencyKeyReused,
    #[error("{0}")]
    AmountExceedsRemaining(String),
    #[error("{0}")]
    PartialRefundNotYetAvailable(String),
    #[error("{0}")]
    RefundPeriodExpired(String),
    #[error("A body is at most {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("A body is JSON, sent with `Content-Type: application/json`.")]
    UnsupportedMediaType,
    #[error(
        "The gateway could not reach its store and did nothing a retry would repeat; retry after Retry-After seconds."
    )]
    StoreUnavailable,
    #[error("The gateway failed to process the request.")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Invalid(_) | Malformed(_) => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            PaymentNotFound | RouteNotFound | EndpointNotFound | EventNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            DuplicateReference(_) | OperationNotAllowed(_) | IdempotencyInProgress => StatusCode::CONFLICT,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IdempotencyKeyReused
            | EndpointLimitReached
            | AmountExceedsRemaining(_)
            | PartialRefundNotYetAvailable(_)
            | RefundPeriodExpired(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Invalid(_) => "invalid_request",
            Malformed(_) => "malformed_request",
            Unauthorized => "unauthorized",
            PaymentNotFound => "payment_not_found",
            RouteNotFound => "route_not_found",
            EndpointNotFound => "webhook_endpoint_not_found",
            EventNotFound => "event_not_found",
            EndpointLimitReached => "webhook_endpoint_limit_reached",
            MethodNotAllowed { .. } => "method_not_allowed",
            DuplicateReference(_) => "duplicate_merchant_reference",
            OperationNotAllowed(_) => "operation_not_allowed",
            IdempotencyInProgress => "idempotency_in_progress",
            IdempotencyKeyReused => "idempotency_key_reused",
            AmountExceedsRemaining(_) => "amount_exceeds_remaining",
            PartialRefundNotYetAvailable(_) => "partial_refund_not_yet_available",
            RefundPeriodExpired(_) => "refund_period_expired",
            PayloadTooLarge(_) => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            StoreUnavailable => "service_unavailable",
            Internal => "internal_error",
        }
    }

    fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::IdempotencyInProgress => Some(1),
            ApiError::StoreUnavailable => Some(2),
            _ => None,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let errors = match &self {
            ApiError::Invalid(errors) => Some(errors.as_slice()),
            _ => None,
        };
        let reason = Reason { code: self.code().to_owned(), description: self.to_string(), provider_code: None };
        let body = ErrorBody::<()> { reason, errors, operation: None }.to_json();
        let mut response = super::json_response(self.status(), body);
        if let Some(seconds) = self.retry_after() {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.headers_mut().insert("allow", lambda_http::http::HeaderValue::from_static(allow));
        }
        response
    }
}

/// The one error shape (DESIGN §3).
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a, O: Serialize = ()> {
    pub reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<&'a [FieldError]>,
    /// The operation the gateway recorded, when SBPS refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<O>,
}

impl<O: Serialize> ErrorBody<'_, O> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"reason":{"code":"internal_error","description":"error"}}"#.to_owned())
    }
}

/// The HTTP status of an operation the provider refused, by its stable code (DESIGN §3): the
/// one mapping of [`FailureCode`] to HTTP.
pub fn failure_status(code: FailureCode) -> StatusCode {
    match code {
        FailureCode::AmountExceedsRemaining
        | FailureCode::PartialRefundNotYetAvailable
        | FailureCode::RefundPeriodExpired
        | FailureCode::CapturePeriodExpired
        | FailureCode::WholeAmountCaptureRequired
        | FailureCode::AuthorizationCancelled
        | FailureCode::AuthorizationCancelledByPayer => StatusCode::UNPROCESSABLE_ENTITY,
        FailureCode::BillingRunPending => StatusCode::SERVICE_UNAVAILABLE,
        FailureCode::ProviderConfigurationError | FailureCode::ProviderRefused | FailureCode::AuthorizationNotFound => {
            StatusCode::BAD_GATEWAY
        }
    }
}

/// `Retry-After` (seconds) of an operation the provider refused for now.
pub fn failure_retry_after(code: FailureCode) -> Option<u32> {
    code.is_retryable().then_some(3600)
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::PaymentNotFound => ApiError::PaymentNotFound,
            ServiceError::DuplicateReference(id) => ApiError::DuplicateReference(id),
            ServiceError::NotAllowed(state) => state.into(),
            ServiceError::IdempotencyInProgress => ApiError::IdempotencyInProgress,
            ServiceError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            ServiceError::Conflict => StoreError::VersionConflict.into(),
            ServiceError::InvalidCursor => {
                ApiError::Invalid(vec![FieldError::new("cursor", "is not a cursor of this listing")])
            }
            ServiceError::Store(store) => store.into(),
            ServiceError::Internal(detail) => {
                tracing::error!(detail, "internal error");
                ApiError::Internal
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicateReference(id) => ApiError::DuplicateReference(id),
            StoreError::IdempotencyKeyTaken(_) => ApiError::IdempotencyInProgress,
            StoreError::VersionConflict => {
                ApiError::OperationNotAllowed("The payment changed while this request was processed; retry it.".into())
            }
            StoreError::LimitReached => ApiError::EndpointLimitReached,
            StoreError::InvalidPosition => {
                ApiError::Invalid(vec![FieldError::new("cursor", "is not a cursor of this listing")])
            }
            StoreError::Invariant(detail) => {
                tracing::error!(detail, "refused a write that breaks an invariant");
                ApiError::Internal
            }
            StoreError::Unavailable(detail) => {
                tracing::error!(detail, "store unavailable");
                ApiError::StoreUnavailable
            }
        }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        let text = e.to_string();
        match e {
            StateError::AmountExceedsRemaining { .. } | StateError::NothingLeft => {
                ApiError::AmountExceedsRemaining(text)
            }
            StateError::PartialRefundNotYetAvailable { .. } => ApiError::PartialRefundNotYetAvailable(text),
            StateError::RefundPeriodExpired => ApiError::RefundPeriodExpired(text),
            StateError::WrongStatus { .. }
            | StateError::OnceOnly { .. }
            | StateError::OperationInProgress { .. }
            | StateError::PartialCancelOfPending
            | StateError::NoSuchPendingOperation
            | StateError::NoSuchRetryableOperation => ApiError::OperationNotAllowed(text),
        }
    }
}
