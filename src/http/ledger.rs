//! `GET /v1/ledger` (every money movement SBPS confirmed, newest first, JSON pages) and `GET
//! /v1/statements/{month}` (a Japan-time month in au's terms: its totals as JSON, or its
//! entries as CSV with `Accept: text/csv`, a page at a time). Every answer stays under API
//! Gateway's 6 MB: JSON pages hold at most 100 entries, and a CSV page is cut to what fits 5 MB
//! (the next page starts where it stopped), so no function ever holds a month.

use lambda_http::http::header::{ACCEPT, CONTENT_TYPE, LINK};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::error::{ApiError, FieldError};
use super::list::{MAX_CURSOR, page_limit, time};
use super::request::authenticate;
use super::{App, json_response};
use crate::payment::{EntryKind, LedgerEntry};
use crate::service::{LedgerQuery, Provider};
use crate::store::Persistence;
use crate::store::ledger::Tally;
use crate::views::{LedgerEntryView, SignedAmount, timestamp};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// A CSV page holds at most this many rows, and at most [`MAX_CSV_BYTES`].
pub const MAX_CSV_ROWS: usize = 5000;
const DEFAULT_CSV_ROWS: usize = 1000;
/// API Gateway caps a Lambda function's answer at 6 MB; a CSV page stops before 5 MB.
pub const MAX_CSV_BYTES: usize = 5_000_000;
const CSV_HEADER: &str =
    "entry_id,type,amount,currency,confirmed_at,month,payment_id,merchant_reference,operation_id,metadata\r\n";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    data: Vec<LedgerEntryView>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct TallyView {
    count: u64,
    amount: SignedAmount,
}

impl From<Tally> for TallyView {
    fn from(t: Tally) -> Self {
        TallyView { count: t.count, amount: SignedAmount::jpy(t.amount) }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatementView {
    month: String,
    time_zone: &'static str,
    from: String,
    to: String,
    /// `false` while the month is still running: its totals are so far.
    complete: bool,
    captures: TallyView,
    cancellations: TallyView,
    refunds: TallyView,
    net: SignedAmount,
}

/// The query's kinds (`type=capture,refund`, or repeated).
fn kinds(value: &str, into: &mut Vec<EntryKind>, errors: &mut Vec<FieldError>) {
    for part in value.split(',') {
        match EntryKind::parse(part) {
            Some(k) if !into.contains(&k) => into.push(k),
            Some(_) => {}
            None => errors.push(FieldError::new("type", "must be capture, cancellation or refund")),
        }
    }
}

/// Reads `GET /v1/ledger`'s query strictly: unknown parameters, repeats and bad values are 400.
pub fn parse_ledger_query(query: Option<&str>) -> Result<LedgerQuery, ApiError> {
    let mut q = LedgerQuery { kinds: Vec::new(), from: None, to: None, limit: DEFAULT_LIMIT, cursor: None };
    let mut errors = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let field = super::for_log(&name).to_owned();
        if name != "type" && seen.contains(&field) {
            errors.push(FieldError::new(&field, "must be given once"));
            continue;
        }
        seen.push(field.clone());
        match name.as_ref() {
            "type" => kinds(&value, &mut q.kinds, &mut errors),
            "from" => q.from = time(&value, "from", &mut errors),
            "to" => q.to = time(&value, "to", &mut errors),
            "limit" => q.limit = page_limit(&value, MAX_LIMIT, &mut errors).unwrap_or(q.limit),
            "cursor" if !value.is_empty() && value.len() <= MAX_CURSOR => q.cursor = Some(value.into_owned()),
            "cursor" => errors.push(FieldError::new("cursor", "is not a cursor of this listing")),
            _ => errors.push(FieldError::new(&field, "is not a parameter of this route")),
        }
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from >= to
    {
        errors.push(FieldError::new("to", "must be later than from"));
    }
    if errors.is_empty() { Ok(q) } else { Err(ApiError::Invalid(errors)) }
}

pub async fn ledger<S: Persistence, P: Provider>(app: &App<S, P>, req: &Request) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.service.accounts)?;
    let query = parse_ledger_query(req.uri().query())?;
    let listed = app.service.ledger(account, &query).await?;
    let page =
        Page { data: listed.entries.iter().map(LedgerEntryView::new).collect(), next_cursor: listed.next_cursor };
    let body = serde_json::to_string(&page).map_err(|_| ApiError::Internal)?;
    Ok(json_response(StatusCode::OK, body))
}

/// Whether the request asks for CSV (`Accept: text/csv`, before or beside JSON).
fn wants_csv(req: &Request) -> bool {
    req.headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/csv")))
}

/// The CSV page's own parameters (`limit`, `cursor`); the JSON statement takes none.
fn csv_params(query: Option<&str>, csv: bool) -> Result<(usize, Option<String>), ApiError> {
    let (mut limit, mut cursor, mut errors, mut seen) = (DEFAULT_CSV_ROWS, None, Vec::new(), Vec::<String>::new());
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let field = super::for_log(&name).to_owned();
        if seen.contains(&field) {
            errors.push(FieldError::new(&field, "must be given once"));
            continue;
        }
        seen.push(field.clone());
        match name.as_ref() {
            "limit" if csv => limit = page_limit(&value, MAX_CSV_ROWS, &mut errors).unwrap_or(limit),
            "cursor" if csv && !value.is_empty() && value.len() <= MAX_CURSOR => cursor = Some(value.into_owned()),
            "cursor" if csv => errors.push(FieldError::new("cursor", "is not a cursor of this statement")),
            "limit" | "cursor" => {
                errors.push(FieldError::new(&field, "pages the CSV entries (Accept: text/csv) only"));
            }
            _ => errors.push(FieldError::new(&field, "is not a parameter of this route")),
        }
    }
    if errors.is_empty() { Ok((limit, cursor)) } else { Err(ApiError::Invalid(errors)) }
}

pub async fn statement<S: Persistence, P: Provider>(
    app: &App<S, P>,
    req: &Request,
    month: &str,
) -> Result<Response<Body>, ApiError> {
    let account = authenticate(req, &app.service.accounts)?;
    let csv = wants_csv(req);
    let (limit, cursor) = csv_params(req.uri().query(), csv)?;
    let Some(month) = app.service.statement_month(month) else {
        return Err(ApiError::Invalid(vec![FieldError::new("month", "must be a month as YYYY-MM (Japan time)")]));
    };
    if !csv {
        let totals = app.service.statement(account, &month).await?;
        let view = StatementView {
            month: month.month.clone(),
            time_zone: "Asia/Tokyo",
            from: timestamp(month.from),
            to: timestamp(month.to),
            complete: month.complete,
            captures: totals.captures.into(),
            cancellations: totals.cancellations.into(),
            refunds: totals.refunds.into(),
            net: SignedAmount::jpy(totals.net()),
        };
        let body = serde_json::to_string(&view).map_err(|_| ApiError::Internal)?;
        return Ok(json_response(StatusCode::OK, body));
    }
    // A page of rows; if it would pass the byte budget, the same page is read again with as many
    // rows as fit, so that the next page starts right after the last row sent. (In a running
    // month an entry confirmed in between may join the first page: then it is cut again.)
    let mut rows = limit;
    let (listed, body) = loop {
        let listed = app.service.statement_entries(account, &month, rows, cursor.clone()).await?;
        let body = csv_page(&listed.entries);
        if body.len() <= MAX_CSV_BYTES {
            break (listed, body);
        }
        if rows == 1 {
            // One entry is at most a few tens of kilobytes: this cannot happen.
            return Err(ApiError::Internal);
        }
        rows = rows_that_fit(&listed.entries).min(rows - 1);
    };
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8; header=present"));
    headers.insert("statement-status", HeaderValue::from_static(if month.complete { "complete" } else { "running" }));
    if let Some(next) = &listed.next_cursor {
        let link = format!(
            "</v1/statements/{}?limit={limit}&cursor={}>; rel=\"next\"",
            month.month,
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        headers.insert(LINK, HeaderValue::from_str(&link).map_err(|_| ApiError::Internal)?);
    }
    Ok(response)
}

/// How many of `entries`' rows fit the byte budget with the header (at least one).
fn rows_that_fit(entries: &[LedgerEntry]) -> usize {
    let mut size = CSV_HEADER.len();
    let mut rows = 0;
    for entry in entries {
        size += csv_row(entry).len();
        if size > MAX_CSV_BYTES {
            break;
        }
        rows += 1;
    }
    rows.max(1)
}

/// RFC 4180: the header row, then one CRLF-ended row per entry, amounts as plain integers.
pub fn csv_page(entries: &[LedgerEntry]) -> String {
    let mut out = String::from(CSV_HEADER);
    for entry in entries {
        out.push_str(&csv_row(entry));
    }
    out
}

fn csv_row(e: &LedgerEntry) -> String {
    let metadata = if e.metadata.is_empty() {
        String::new()
    } else {
        serde_json::to_string(e.metadata.as_map()).unwrap_or_default()
    };
    let fields = [
        e.id.clone(),
        e.kind.as_str().to_owned(),
        e.amount.to_string(),
        "jpy".to_owned(),
        timestamp(e.confirmed_at),
        e.month.clone(),
        e.payment_id.to_string(),
        e.merchant_reference.clone(),
        e.operation_id.to_string(),
        metadata,
    ];
    let mut row = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    row.push_str("\r\n");
    row
}

/// A field as RFC 4180 writes it: quoted, quotes doubled, when it holds a comma, a quote or a
/// line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::ids::{OperationId, PaymentId};
    use crate::payment::Metadata;

    fn entry(reference: &str, metadata: &[(&str, &str)]) -> LedgerEntry {
        LedgerEntry {
            id: "led_1".into(),
            account_id: "acct".into(),
            payment_id: PaymentId::generate(),
            merchant_reference: reference.into(),
            operation_id: OperationId::generate(),
            kind: EntryKind::Refund,
            amount: -300,
            confirmed_at: DateTime::<Utc>::UNIX_EPOCH,
            month: "1970-01".into(),
            metadata: Metadata::parse(metadata.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
                .unwrap_or_default(),
            shard: 0,
        }
    }

    #[test]
    fn csv_quotes_what_rfc_4180_says_and_nothing_else() {
        let page = csv_page(&[entry("ORDER 1,\"A\"", &[("note", "line\nbreak")])]);
        let lines: Vec<&str> = page.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER.trim_end());
        assert!(lines[1].starts_with("led_1,refund,-300,jpy,1970-01-01T00:00:00Z,1970-01,"), "{}", lines[1]);
        assert!(page.contains(",\"ORDER 1,\"\"A\"\"\","), "{page}");
        // The metadata is JSON: its line break is escaped, so a record stays on one line.
        assert!(page.contains("\"{\"\"note\"\":\"\"line\\nbreak\"\"}\"\r\n"), "{page}");
        assert_eq!(lines.len(), 3, "{page}");
        assert_eq!(csv_field("two\r\nlines"), "\"two\r\nlines\"");
        assert_eq!(csv_page(&[entry("plain", &[])]).matches('"').count(), 0);
    }

    #[test]
    fn a_page_of_the_largest_rows_is_cut_under_the_budget() {
        // 20 keys of 500 characters would not validate; the largest metadata is 8 KiB of JSON.
        let big: Vec<(String, String)> = (0..16).map(|i| (format!("k{i}"), "\"".repeat(250))).collect();
        let big: Vec<(&str, &str)> = big.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let rows: Vec<LedgerEntry> = (0..MAX_CSV_ROWS).map(|_| entry("order-1", &big)).collect();
        assert!(csv_page(&rows).len() > MAX_CSV_BYTES, "the worst case needs the cut");
        let fits = rows_that_fit(&rows);
        assert!(csv_page(&rows[..fits]).len() <= MAX_CSV_BYTES && fits < MAX_CSV_ROWS);
        assert!(csv_page(&rows[..fits + 1]).len() > MAX_CSV_BYTES, "as many as fit");
    }
}
