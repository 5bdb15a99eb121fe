//! `GET /v1/payments`: the caller's payments, newest first, filtered by `merchantReference`,
//! `status` (repeated or comma-separated), `createdFrom` (inclusive) / `createdTo` (exclusive,
//! RFC 3339), `limit` (1 to 100, default 20) and `cursor` (from the previous page). Every bad
//! parameter is a 400 naming it.

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::create::check_merchant_reference;
use super::error::{ApiError, FieldError};
use super::next_step::next_step;
use super::request::authenticate;
use super::views::PaymentView;
use super::{App, json_response};
use crate::payment::Status;
use crate::service::{ListQuery, Provider};
use crate::store::Store;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
pub(super) const MAX_CURSOR: usize = 4096;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    data: Vec<PaymentView>,
    next_cursor: Option<String>,
}

const STATUSES: [Status; 9] = [
    Status::Pending,
    Status::Authorized,
    Status::Captured,
    Status::PartiallyRefunded,
    Status::Refunded,
    Status::Cancelled,
    Status::Declined,
    Status::Expired,
    Status::Voided,
];

pub(super) fn time(value: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(field, "must be an RFC 3339 time, e.g. 2030-11-10T00:00:00+09:00"));
            None
        }
    }
}

/// A page size: a whole number from 1 to `max`, in plain digits.
pub(super) fn page_limit(value: &str, max: usize, errors: &mut Vec<FieldError>) -> Option<usize> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) && value.bytes().all(|b| b.is_ascii_digit()) => Some(n),
        _ => {
            errors.push(FieldError::new("limit", format!("must be a whole number from 1 to {max}")));
            None
        }
    }
}

/// Reads the query string strictly: unknown parameters, repeats and bad values are refused.
pub fn parse_query(query: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        merchant_reference: None,
        statuses: Vec::new(),
        created_from: None,
        created_to: None,
        limit: DEFAULT_LIMIT,
        cursor: None,
    };
    let mut errors = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let field = super::for_log(&name).to_owned();
        if name != "status" && seen.contains(&field) {
            errors.push(FieldError::new(&field, "must be given once"));
            continue;
        }
        seen.push(field.clone());
        match name.as_ref() {
            "merchantReference" => match check_merchant_reference(&value) {
                Ok(r) => q.merchant_reference = Some(r),
                Err(m) => errors.push(FieldError::new("merchantReference", m)),
            },
            "status" => {
                for part in value.split(',') {
                    match STATUSES.iter().find(|s| s.as_str() == part) {
                        Some(s) if !q.statuses.contains(s) => q.statuses.push(*s),
                        Some(_) => {}
                        None => errors.push(FieldError::new(
                            "status",
                            "must be pending, authorized, captured, partially_refunded, refunded, cancelled, declined, expired or voided",
                        )),
                    }
                }
            }
            "createdFrom" => q.created_from = time(&value, "createdFrom", &mut errors),
            "createdTo" => q.created_to = time(&value, "createdTo", &mut errors),
            "limit" => q.limit = page_limit(&value, MAX_LIMIT, &mut errors).unwrap_or(q.limit),
            "cursor" if !value.is_empty() && value.len() <= MAX_CURSOR => q.cursor = Some(value.into_owned()),
            "cursor" => errors.push(FieldError::new("cursor", "is not a cursor of this listing")),
            _ => errors.push(FieldError::new(&field, "is not a parameter of this route")),
        }
    }
    if let (Some(from), Some(to)) = (q.created_from, q.created_to)
        && from >= to
    {
        errors.push(FieldError::new("createdTo", "must be later than createdFrom"));
    }
    if errors.is_empty() { Ok(q) } else { Err(ApiError::Invalid(errors)) }
}

pub async fn list_payments<S: Store, P: Provider>(app: &App<S, P>, req: &Request) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.service.accounts)?;
    let query = parse_query(req.uri().query())?;
    let listed = app.service.list(account, &query).await?;
    let data =
        listed.payments.iter().map(|p| PaymentView::new(p, next_step(p, account, &app.notification_url))).collect();
    let body =
        serde_json::to_string(&Page { data, next_cursor: listed.next_cursor }).map_err(|_| ApiError::Internal)?;
    Ok(json_response(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn filters_are_read_strictly() {
        let q = parse_query(Some("status=captured,authorized&status=captured&limit=10&merchantReference=order-1"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(q.statuses, [Status::Captured, Status::Authorized]);
        assert_eq!((q.limit, q.merchant_reference.as_deref()), (10, Some("order-1")));
        let q = parse_query(Some("createdFrom=2030-11-09T00:00:00%2B09:00&createdTo=2030-11-10T00:00:00Z"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(q.created_from.map(|t| t.to_rfc3339()), Some("2030-11-08T15:00:00+00:00".into()));
        assert_eq!(parse_query(None).map(|q| q.limit).ok(), Some(20));
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=+5", "limit"),
            ("status=paid", "status"),
            ("createdFrom=yesterday", "createdFrom"),
            ("createdFrom=2030-01-02T00:00:00Z&createdTo=2030-01-01T00:00:00Z", "createdTo"),
            ("sort=asc", "sort"),
            ("limit=5&limit=6", "limit"),
            ("cursor=", "cursor"),
            ("merchantReference=%00", "merchantReference"),
        ] {
            let e = parse_query(Some(query)).err().unwrap_or_else(|| panic!("{query} accepted"));
            assert_eq!(fields(e), [field], "{query}");
        }
    }
}
