//! Closing the month, on both stores: payments over two Japan-time months, captured, cancelled in
//! the month of the sale, refunded in the next; the ledger shows exactly those movements in the
//! right months, each statement's totals and CSV match them, the nets match the payments, and
//! another account's entries never appear.

use crate::common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::flow::{Reply, pay_at, reply};
use common::{DEMO_KEY, Local, OTHER_ACCOUNT, OTHER_KEY, seed_body};
use kantan::store::Persistence;
use serde_json::{Value, json};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).expect("a time").with_timezone(&Utc)
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn get<S: Persistence>(local: &Local<S>, key: &str, path: &str, csv: bool) -> Reply {
    let mut req = local.http.get(format!("{}{path}", local.base)).bearer_auth(key);
    if csv {
        req = req.header("accept", "text/csv");
    }
    reply(req).await
}

async fn post<S: Persistence>(local: &Local<S>, key: &str, path: &str, body: Value) -> Reply {
    reply(local.http.post(format!("{}{path}", local.base)).bearer_auth(key).json(&body)).await
}

/// A payment of `key`'s account, created and paid at `when` (Japan time in the tests' words);
/// captured then too unless `capture` is false. Answers its id.
async fn paid<S: Persistence>(
    local: &Local<S>,
    key: &str,
    reference: &str,
    amount: u32,
    when: &str,
    metadata: Value,
    capture: bool,
) -> String {
    local.app.service.clock.set(at(when));
    let mut body = seed_body(reference);
    body["amount"]["value"] = json!(amount);
    body["metadata"] = metadata;
    if key == OTHER_KEY {
        body["processingAccountId"] = json!(OTHER_ACCOUNT);
    }
    let created = post(local, key, "/v1/payments", body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created = created.json();
    let (status, page) = pay_at(&local.http, &local.base, &created, "approve").await.expect("the payer's browser");
    assert_eq!(status, 200, "{page}");
    let id = created["id"].as_str().expect("id").to_owned();
    if capture {
        let r = post(local, key, &format!("/v1/payments/{id}/captures"), json!({})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    id
}

async fn operate<S: Persistence>(local: &Local<S>, id: &str, kind: &str, amount: Option<u32>, when: &str) {
    local.app.service.clock.set(at(when));
    let body = amount.map_or(json!({}), |a| json!({"amount": {"value": a, "currency": "jpy"}}));
    let r = post(local, DEMO_KEY, &format!("/v1/payments/{id}/{kind}"), body).await;
    assert_eq!(r.status, 201, "{kind} {amount:?}: {}", r.text);
}

/// Every entry of a ledger query, page by page (`limit` each).
async fn ledger<S: Persistence>(local: &Local<S>, key: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut q = format!("limit={limit}");
        if !query.is_empty() {
            q = format!("{query}&{q}");
        }
        if let Some(c) = &cursor {
            q = format!("{q}&cursor={}", url_encode(c));
        }
        let r = get(local, key, &format!("/v1/ledger?{q}"), false).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        let page = r.json();
        let data = page["data"].as_array().cloned().unwrap_or_default();
        assert!(data.len() <= limit);
        entries.extend(data);
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return entries,
        }
    }
    panic!("a ledger that never ends");
}

/// RFC 4180 records of `text` (quoted fields, doubled quotes, CRLF line ends).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => assert_eq!(chars.next(), Some('\n'), "a CR alone in {text:?}"),
            (false, '\n') => panic!("a line not ended by CRLF in {text:?}"),
            (false, c) => field.push(c),
        }
        if !quoted && c == '\r' {
            record.push(std::mem::take(&mut field));
            records.push(std::mem::take(&mut record));
        }
    }
    assert!(field.is_empty() && record.is_empty() && !quoted, "a CSV that ends mid-record: {text:?}");
    records
}

/// Every CSV page of a month's statement (`limit` rows each), following `Link: rel="next"`:
/// the data rows in order, and the pages' `Statement-Status`.
async fn statement_csv<S: Persistence>(local: &Local<S>, month: &str, limit: usize) -> (Vec<Vec<String>>, String) {
    let header = "entry_id,type,amount,currency,confirmed_at,month,payment_id,merchant_reference,operation_id,metadata";
    let mut path = format!("/v1/statements/{month}?limit={limit}");
    let mut rows = Vec::new();
    for _ in 0..100 {
        let r = get(local, DEMO_KEY, &path, true).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/csv; charset=utf-8"), "{content_type}");
        let status = r.headers.get("statement-status").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let mut records = csv_records(&r.text);
        assert_eq!(records.first().map(|h| h.join(",")), Some(header.to_owned()), "each page has its header");
        records.remove(0);
        assert!(records.len() <= limit);
        rows.extend(records);
        let link = r.headers.get("link").and_then(|v| v.to_str().ok()).map(str::to_owned);
        match link {
            Some(link) => {
                assert!(link.ends_with(">; rel=\"next\""), "{link}");
                path = link.trim_start_matches('<').split('>').next().unwrap_or_default().to_owned();
            }
            None => return (rows, status),
        }
    }
    panic!("a statement that never ends");
}

/// What the tests check of an entry: payment, type, signed amount, month.
fn summary(e: &Value) -> (String, String, i64, String) {
    (
        e["paymentId"].as_str().unwrap_or("").to_owned(),
        e["type"].as_str().unwrap_or("").to_owned(),
        e["amount"]["value"].as_i64().unwrap_or(0),
        e["month"].as_str().unwrap_or("").to_owned(),
    )
}

fn tally(statement: &Value, kind: &str) -> (u64, i64) {
    (statement[kind]["count"].as_u64().unwrap_or(99), statement[kind]["amount"]["value"].as_i64().unwrap_or(99))
}

on_both_stores_local!(a_month_closes_in_au_terms);
async fn a_month_closes_in_au_terms<S: Persistence>(local: Local<S>) {
    let none = json!({});
    // November (Japan time): A captured and refunded in full in its month (a cancellation of the
    // sale); C has 500 of its 1500 cancelled before its capture (no money moved), D is voided
    // (none); B is captured late in the month, E a minute before the month ends.
    let a = paid(&local, DEMO_KEY, "A", 2000, "2030-11-10T12:00:00+09:00", none.clone(), true).await;
    let c = paid(&local, DEMO_KEY, "C", 1500, "2030-11-12T09:00:00+09:00", none.clone(), false).await;
    operate(&local, &c, "cancels", Some(500), "2030-11-12T09:10:00+09:00").await;
    operate(&local, &c, "captures", None, "2030-11-12T09:20:00+09:00").await;
    let d = paid(&local, DEMO_KEY, "D", 800, "2030-11-13T09:00:00+09:00", none.clone(), false).await;
    operate(&local, &d, "cancels", None, "2030-11-13T09:10:00+09:00").await;
    let theirs = paid(&local, OTHER_KEY, "X", 5000, "2030-11-15T09:00:00+09:00", none.clone(), true).await;
    paid(&local, OTHER_KEY, "Y", 4000, "2030-11-16T09:00:00+09:00", none.clone(), true).await;
    operate(&local, &a, "refunds", None, "2030-11-20T18:00:00+09:00").await;
    let b_meta = json!({"order": "B-1", "note": "gift, wrapped \"nicely\""});
    let b = paid(&local, DEMO_KEY, "B", 3000, "2030-11-28T10:00:00+09:00", b_meta.clone(), true).await;
    let e = paid(&local, DEMO_KEY, "E", 700, "2030-11-30T23:59:00+09:00", none.clone(), true).await;
    // December: F captured a minute into the month and refunded in full the next day (its own
    // month: a cancellation), B refunded in part (a later month: a refund).
    let f = paid(&local, DEMO_KEY, "F", 900, "2030-12-01T00:01:00+09:00", none.clone(), true).await;
    paid(&local, OTHER_KEY, "Z", 6000, "2030-12-01T09:00:00+09:00", none.clone(), true).await;
    operate(&local, &f, "refunds", None, "2030-12-02T10:00:00+09:00").await;
    operate(&local, &b, "refunds", Some(1000), "2030-12-03T10:00:00+09:00").await;
    local.app.service.clock.set(at("2030-12-10T12:00:00+09:00"));

    let expected: Vec<(String, String, i64, String)> = [
        (&b, "refund", -1000, "2030-12"),
        (&f, "cancellation", -900, "2030-12"),
        (&f, "capture", 900, "2030-12"),
        (&e, "capture", 700, "2030-11"),
        (&b, "capture", 3000, "2030-11"),
        (&a, "cancellation", -2000, "2030-11"),
        (&c, "capture", 1000, "2030-11"),
        (&a, "capture", 2000, "2030-11"),
    ]
    .into_iter()
    .map(|(id, kind, amount, month)| (id.clone(), kind.to_owned(), amount, month.to_owned()))
    .collect();
    for limit in [1, 3, 100] {
        let entries = ledger(&local, DEMO_KEY, "", limit).await;
        assert_eq!(entries.iter().map(summary).collect::<Vec<_>>(), expected, "limit {limit}");
    }
    // Each entry names its operation (of that amount), its payment's reference and metadata.
    let entries = ledger(&local, DEMO_KEY, "", 100).await;
    for entry in &entries {
        let payment = local.payment(entry["paymentId"].as_str().unwrap_or("")).await;
        let op = payment["operations"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|op| op["id"] == entry["operationId"])
            .unwrap_or_else(|| panic!("{entry} names no operation of its payment"));
        assert_eq!(op["status"], "succeeded");
        assert_eq!(op["amount"]["value"].as_i64().map(i64::abs), entry["amount"]["value"].as_i64().map(i64::abs));
        assert_eq!(entry["merchantReference"], payment["merchantReference"]);
        assert_eq!(entry["metadata"], payment["metadata"]);
        assert_eq!(entry["id"], json!(format!("led_{}", entry["operationId"].as_str().unwrap_or(""))));
    }
    assert_eq!(entries[0]["metadata"], b_meta);
    // Filters: the money given back; December alone; November's captures.
    let back = ledger(&local, DEMO_KEY, "type=refund,cancellation", 2).await;
    let want: Vec<_> = expected.iter().filter(|e| e.1 != "capture").cloned().collect();
    assert_eq!(back.iter().map(summary).collect::<Vec<_>>(), want);
    let december = ledger(&local, DEMO_KEY, &format!("from={}", url_encode("2030-12-01T00:00:00+09:00")), 2).await;
    assert_eq!(december.iter().map(summary).collect::<Vec<_>>(), expected[..3].to_vec());
    let q = format!(
        "type=capture&from={}&to={}",
        url_encode("2030-11-01T00:00:00+09:00"),
        url_encode("2030-12-01T00:00:00+09:00")
    );
    let sales = ledger(&local, DEMO_KEY, &q, 100).await;
    assert_eq!(sales.len(), 4);

    // The statements, in au's terms.
    let november = get(&local, DEMO_KEY, "/v1/statements/2030-11", false).await;
    assert_eq!(november.status, 200, "{}", november.text);
    let november = november.json();
    assert_eq!(november["complete"], true);
    assert_eq!(november["from"], "2030-10-31T15:00:00Z");
    assert_eq!(november["to"], "2030-11-30T15:00:00Z");
    assert_eq!(tally(&november, "captures"), (4, 6700));
    assert_eq!(tally(&november, "cancellations"), (1, -2000));
    assert_eq!(tally(&november, "refunds"), (0, 0));
    assert_eq!(november["net"]["value"], 4700);
    let december = get(&local, DEMO_KEY, "/v1/statements/2030-12", false).await.json();
    assert_eq!(december["complete"], false, "a month still running says so");
    assert_eq!(tally(&december, "captures"), (1, 900));
    assert_eq!(tally(&december, "cancellations"), (1, -900));
    assert_eq!(tally(&december, "refunds"), (1, -1000));
    assert_eq!(december["net"]["value"], -1000);
    let empty = get(&local, DEMO_KEY, "/v1/statements/2031-05", false).await.json();
    assert_eq!((tally(&empty, "captures"), empty["net"]["value"].as_i64()), ((0, 0), Some(0)));
    // Each month's net is the sum of its entries, and the nets add up to what the payments hold.
    let mut by_month = BTreeMap::<String, i64>::new();
    for (_, _, amount, month) in &expected {
        *by_month.entry(month.clone()).or_default() += amount;
    }
    assert_eq!(by_month["2030-11"], 4700);
    assert_eq!(by_month["2030-12"], -1000);
    let mut held = 0;
    for id in [&a, &b, &c, &d, &e, &f] {
        let p = local.payment(id).await;
        held += p["capturedAmount"]["value"].as_i64().unwrap_or(0) - p["refundedAmount"]["value"].as_i64().unwrap_or(0);
    }
    assert_eq!(held, 4700 - 1000);

    // The same months as CSV, a page at a time: exactly the month's entries, newest first.
    for (month, status, limit) in [("2030-11", "complete", 2), ("2030-11", "complete", 1000), ("2030-12", "running", 1)]
    {
        let (rows, got_status) = statement_csv(&local, month, limit).await;
        assert_eq!(got_status, status, "{month}");
        let json_entries: Vec<&Value> = entries.iter().filter(|e| e["month"] == month).collect();
        assert_eq!(rows.len(), json_entries.len(), "{month}");
        for (row, entry) in rows.iter().zip(json_entries) {
            assert_eq!(row.len(), 10, "{row:?}");
            assert_eq!(row[0], entry["id"].as_str().unwrap_or(""));
            assert_eq!(row[1], entry["type"].as_str().unwrap_or(""));
            assert_eq!(row[2], entry["amount"]["value"].to_string(), "plain signed integers");
            assert_eq!(row[3], "jpy");
            assert_eq!(row[4], entry["confirmedAt"].as_str().unwrap_or(""));
            assert_eq!(row[5], month);
            assert_eq!(row[6], entry["paymentId"].as_str().unwrap_or(""));
            assert_eq!(row[7], entry["merchantReference"].as_str().unwrap_or(""));
            assert_eq!(row[8], entry["operationId"].as_str().unwrap_or(""));
            let metadata: Value =
                if row[9].is_empty() { json!({}) } else { serde_json::from_str(&row[9]).expect("JSON") };
            assert_eq!(metadata, entry["metadata"]);
        }
    }
    let (rows, _) = statement_csv(&local, "2031-05", 10).await;
    assert!(rows.is_empty(), "an empty month is its header alone");

    // The other account sees its own movements only, and never these.
    let their_entries = ledger(&local, OTHER_KEY, "", 1).await;
    assert_eq!(their_entries.len(), 3);
    assert_eq!(their_entries[2]["paymentId"], json!(theirs));
    let mine: Vec<String> = expected.iter().map(|e| e.0.clone()).collect();
    assert!(their_entries.iter().all(|e| !mine.contains(&e["paymentId"].as_str().unwrap_or("").to_owned())));
    assert!(entries.iter().all(|e| e["paymentId"] != json!(theirs)));
    let their_november = get(&local, OTHER_KEY, "/v1/statements/2030-11", false).await.json();
    assert_eq!(tally(&their_november, "captures"), (2, 9000));
    assert_eq!(their_november["net"]["value"], 9000);
}

on_both_stores_local!(ledger_cursors_and_parameters_are_strict);
async fn ledger_cursors_and_parameters_are_strict<S: Persistence>(local: Local<S>) {
    let none = json!({});
    for (n, when) in
        ["2030-11-10T12:00:00+09:00", "2030-11-11T12:00:00+09:00", "2030-11-12T12:00:00+09:00"].iter().enumerate()
    {
        paid(&local, DEMO_KEY, &format!("order-{n}"), 1000, when, none.clone(), true).await;
        paid(&local, OTHER_KEY, &format!("theirs-{n}"), 1000, when, none.clone(), true).await;
    }
    let refused = |r: Reply, field: &str| {
        assert_eq!(r.status, 400, "{}", r.text);
        let v = r.json();
        assert_eq!(v["reason"]["code"], "invalid_request");
        assert_eq!(v["errors"][0]["field"], field, "{v}");
        assert!(v.get("data").is_none());
    };
    let first = get(&local, DEMO_KEY, "/v1/ledger?type=capture&limit=1", false).await.json();
    let cursor = url_encode(first["nextCursor"].as_str().expect("more pages"));
    assert_eq!(
        get(&local, DEMO_KEY, &format!("/v1/ledger?type=capture&limit=2&cursor={cursor}"), false).await.status,
        200
    );
    refused(get(&local, DEMO_KEY, &format!("/v1/ledger?cursor={cursor}"), false).await, "cursor");
    refused(get(&local, DEMO_KEY, &format!("/v1/ledger?type=refund&cursor={cursor}"), false).await, "cursor");
    refused(get(&local, OTHER_KEY, &format!("/v1/ledger?type=capture&cursor={cursor}"), false).await, "cursor");
    // A payment listing's cursor is not a ledger's, nor the reverse.
    let payments = get(&local, DEMO_KEY, "/v1/payments?limit=1", false).await.json();
    let list_cursor = url_encode(payments["nextCursor"].as_str().expect("more payments"));
    refused(get(&local, DEMO_KEY, &format!("/v1/ledger?cursor={list_cursor}"), false).await, "cursor");
    let plain = get(&local, DEMO_KEY, "/v1/ledger?limit=1", false).await.json();
    let ledger_cursor = url_encode(plain["nextCursor"].as_str().expect("more pages"));
    refused(get(&local, DEMO_KEY, &format!("/v1/payments?cursor={ledger_cursor}"), false).await, "cursor");
    // A statement's CSV cursor holds for its month only.
    let page = get(&local, DEMO_KEY, "/v1/statements/2030-11?limit=1", true).await;
    let link = page.headers.get("link").and_then(|v| v.to_str().ok()).expect("a next page").to_owned();
    let next = link.trim_start_matches('<').split('>').next().unwrap_or_default().to_owned();
    assert_eq!(get(&local, DEMO_KEY, &next, true).await.status, 200);
    refused(get(&local, DEMO_KEY, &next.replace("2030-11", "2030-12"), true).await, "cursor");
    refused(get(&local, OTHER_KEY, &next, true).await, "cursor");
    // Bad parameters name their field; nothing is read.
    for (path, field) in [
        ("/v1/ledger?type=sale", "type"),
        ("/v1/ledger?limit=0", "limit"),
        ("/v1/ledger?limit=101", "limit"),
        ("/v1/ledger?from=yesterday", "from"),
        ("/v1/ledger?from=2030-11-12T00:00:00Z&to=2030-11-11T00:00:00Z", "to"),
        ("/v1/ledger?limit=1&limit=2", "limit"),
        ("/v1/ledger?status=captured", "status"),
        ("/v1/ledger?cursor=bm9wZQ", "cursor"),
        ("/v1/statements/2030-13", "month"),
        ("/v1/statements/2030-1", "month"),
        ("/v1/statements/november", "month"),
        ("/v1/statements/2030-11?limit=5", "limit"),
        ("/v1/statements/2030-11?month=2030-12", "month"),
    ] {
        refused(get(&local, DEMO_KEY, path, false).await, field);
    }
    refused(get(&local, DEMO_KEY, "/v1/statements/2030-11?limit=5001", true).await, "limit");
    refused(get(&local, DEMO_KEY, "/v1/statements/2030-11?cursor=bm9wZQ", true).await, "cursor");
    assert_eq!(get(&local, "sk_nope", "/v1/ledger", false).await.status, 401);
    assert_eq!(get(&local, "sk_nope", "/v1/statements/2030-11", true).await.status, 401);
}

/// Every month of the account's ledger (read page by page over HTTP) has a statement whose
/// totals are the sums of that month's entries. Answers how many entries were read.
pub async fn statements_add_up<S: Persistence>(local: &Local<S>, key: &str) -> usize {
    let entries = ledger(local, key, "", 100).await;
    let mut months = BTreeMap::<String, BTreeMap<String, (u64, i64)>>::new();
    for entry in &entries {
        let (_, kind, amount, month) = summary(entry);
        let tally = months.entry(month).or_default().entry(kind).or_default();
        tally.0 += 1;
        tally.1 += amount;
    }
    for (month, kinds) in &months {
        let statement = get(local, key, &format!("/v1/statements/{month}"), false).await.json();
        let mut net = 0;
        for (kind, plural) in [("capture", "captures"), ("cancellation", "cancellations"), ("refund", "refunds")] {
            let want = kinds.get(kind).copied().unwrap_or_default();
            assert_eq!(tally(&statement, plural), want, "{month} {plural}: {statement}");
            net += want.1;
        }
        assert_eq!(statement["net"]["value"].as_i64(), Some(net), "{month}: {statement}");
    }
    entries.len()
}
