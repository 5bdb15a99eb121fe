//! `GET /v1/payments` on both stores: every matching payment exactly once, newest first, with
//! any limit and any filters, while other payments are being created; cursors bound to their
//! listing and account; another account's payments never shown. The other account's listing is
//! spread over 4 shards on DynamoDB (the merge). And a day of reconciliation, as a merchant does it.

use crate::common;

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use common::flow::{Reply, reply};
use common::{DEMO_KEY, Local, OTHER_KEY, seed_body};
use kantan::store::Persistence;
use serde_json::{Value, json};

async fn list<S: Persistence>(local: &Local<S>, key: &str, query: &str) -> Reply {
    reply(local.http.get(format!("{}/v1/payments?{query}", local.base)).bearer_auth(key)).await
}

/// Every page of a listing: the ids in order, and the number of pages.
async fn all_pages<S: Persistence>(local: &Local<S>, key: &str, query: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1..=500 {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={}", url_encode(c)),
            None => query.to_owned(),
        };
        let r = list(local, key, &q).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        let page = r.json();
        ids.extend(page["data"].as_array().into_iter().flatten().map(|p| p["id"].as_str().unwrap_or("").to_owned()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (ids, pages),
        }
    }
    panic!("a listing that never ends");
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A payment made by `key`'s account at the clock's time; answers its id.
async fn create_as<S: Persistence>(local: &Local<S>, key: &str, reference: &str) -> String {
    let mut body = seed_body(reference);
    if key == OTHER_KEY {
        body["processingAccountId"] = json!(common::OTHER_ACCOUNT);
    }
    let r = reply(local.http.post(format!("{}/v1/payments", local.base)).bearer_auth(key).json(&body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["id"].as_str().expect("id").to_owned()
}

struct Made {
    id: String,
    reference: String,
    status: &'static str,
    created: DateTime<Utc>,
}

/// 16 payments of each account, a second apart: some authorized, some cancelled, the rest
/// pending; reference `ref-<n mod 5>` released and reused (cancelled ones release it).
async fn made<S: Persistence>(local: &Local<S>) -> (Vec<Made>, Vec<Made>) {
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    for n in 0..16 {
        local.app.service.clock.advance(Duration::seconds(1));
        let created = local.app.service.clock.now();
        let reference = format!("order-{n}");
        let id = create_as(local, DEMO_KEY, &reference).await;
        let status = match n % 4 {
            0 => {
                let r = local.op(&id, "cancels", None, None).await;
                assert_eq!(r.status, 201, "{}", r.text);
                "cancelled"
            }
            1 => {
                let created_json = local.payment(&id).await;
                let (status, page) = local.pay(&created_json, "approve").await;
                assert_eq!(status, 200, "{page}");
                "authorized"
            }
            _ => "pending",
        };
        mine.push(Made { id, reference, status, created });
        let other = create_as(local, OTHER_KEY, &format!("their-{n}")).await;
        theirs.push(Made { id: other, reference: format!("their-{n}"), status: "pending", created });
    }
    // A released reference reused: both payments that ever used it are found.
    local.app.service.clock.advance(Duration::seconds(1));
    let created = local.app.service.clock.now();
    let reused = create_as(local, DEMO_KEY, "order-0").await;
    mine.push(Made { id: reused, reference: "order-0".into(), status: "pending", created });
    (mine, theirs)
}

/// Which made payments a listing must show.
type Keep = Box<dyn Fn(&Made) -> bool>;

fn expected(made: &[Made], keep: impl Fn(&Made) -> bool) -> Vec<String> {
    let mut v: Vec<&Made> = made.iter().filter(|m| keep(m)).collect();
    v.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    v.into_iter().map(|m| m.id.clone()).collect()
}

on_both_stores_local!(every_match_once_in_order_with_any_limit_and_filters);
async fn every_match_once_in_order_with_any_limit_and_filters<S: Persistence>(local: Local<S>) {
    let (mine, theirs) = made(&local).await;
    let t = |i: usize| mine[i].created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let cases: Vec<(String, Keep)> = vec![
        (String::new(), Box::new(|_| true)),
        ("status=pending".into(), Box::new(|m| m.status == "pending")),
        ("status=authorized,cancelled".into(), Box::new(|m| m.status == "authorized" || m.status == "cancelled")),
        (format!("createdFrom={}&createdTo={}", url_encode(&t(3)), url_encode(&t(11))), {
            let (from, to) = (mine[3].created, mine[11].created);
            Box::new(move |m| m.created >= from && m.created < to)
        }),
        (format!("status=pending&createdFrom={}", url_encode(&t(6))), {
            let from = mine[6].created;
            Box::new(move |m| m.status == "pending" && m.created >= from)
        }),
        ("merchantReference=order-0".into(), Box::new(|m| m.reference == "order-0")),
        ("merchantReference=order-5&status=authorized".into(), Box::new(|m| m.reference == "order-5")),
        ("merchantReference=nobody".into(), Box::new(|_| false)),
    ];
    for (query, keep) in &cases {
        let want = expected(&mine, keep);
        for limit in [1, 2, 3, 7, 100] {
            let q = if query.is_empty() { format!("limit={limit}") } else { format!("{query}&limit={limit}") };
            let (got, pages) = all_pages(&local, DEMO_KEY, &q).await;
            assert_eq!(got, want, "{q}");
            // A status filter applies after DynamoDB reads a page: its pages may hold fewer.
            let bound = if query.contains("status=") { mine.len() } else { want.len() };
            assert!(pages <= bound / limit + 2, "{q}: {pages} pages");
        }
    }
    assert_eq!(expected(&mine, |m| m.reference == "order-0").len(), 2, "the released one and the live one");
    // The other account's listing (4 shards on DynamoDB) merges in order, and shows no other.
    for limit in [1, 3, 5, 50] {
        let (got, _) = all_pages(&local, OTHER_KEY, &format!("limit={limit}")).await;
        assert_eq!(got, expected(&theirs, |_| true), "limit {limit}");
    }
    let mine_ids: HashSet<&str> = mine.iter().map(|m| m.id.as_str()).collect();
    let (theirs_seen, _) = all_pages(&local, OTHER_KEY, "limit=100").await;
    assert!(theirs_seen.iter().all(|id| !mine_ids.contains(id.as_str())));
    // A page shows payments as GET /v1/payments/{id} does, operations included.
    let page = list(&local, DEMO_KEY, "status=cancelled&limit=100").await.json();
    let listed = &page["data"][0];
    let one = local.payment(listed["id"].as_str().expect("id")).await;
    assert_eq!(listed, &one);
    assert_eq!(listed["operations"][0]["type"], "cancel");
}

on_both_stores_local!(paging_while_payments_are_created_never_repeats);
async fn paging_while_payments_are_created_never_repeats<S: Persistence>(local: Local<S>) {
    let (mine, _) = made(&local).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut n = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=3&cursor={}", url_encode(c)),
            None => "limit=3".to_owned(),
        };
        let page = list(&local, DEMO_KEY, &q).await.json();
        seen.extend(page["data"].as_array().into_iter().flatten().map(|p| p["id"].as_str().unwrap_or("").to_owned()));
        // Between pages, new payments arrive (newer than everything listed).
        local.app.service.clock.advance(Duration::milliseconds(1));
        create_as(&local, DEMO_KEY, &format!("late-{n}")).await;
        n += 1;
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "nothing twice");
    assert_eq!(
        seen,
        expected(&mine, |_| true),
        "every payment that existed, in order; the new ones after the first page are newer"
    );
}

on_both_stores_local!(cursors_are_bound_to_their_listing_and_account);
async fn cursors_are_bound_to_their_listing_and_account<S: Persistence>(local: Local<S>) {
    made(&local).await;
    let first = list(&local, DEMO_KEY, "status=pending&limit=2").await.json();
    let cursor = first["nextCursor"].as_str().expect("more pages").to_owned();
    let ok = list(&local, DEMO_KEY, &format!("status=pending&limit=5&cursor={}", url_encode(&cursor))).await;
    assert_eq!(ok.status, 200, "another limit is the same listing");
    let refused = |r: Reply| {
        assert_eq!(r.status, 400, "{}", r.text);
        let v: Value = r.json();
        assert_eq!(v["errors"][0]["field"], "cursor");
        assert!(v.get("data").is_none());
    };
    refused(list(&local, DEMO_KEY, &format!("status=captured&cursor={}", url_encode(&cursor))).await);
    refused(list(&local, DEMO_KEY, &format!("cursor={}", url_encode(&cursor))).await);
    refused(list(&local, OTHER_KEY, &format!("status=pending&cursor={}", url_encode(&cursor))).await);
    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    refused(list(&local, DEMO_KEY, &format!("status=pending&cursor={}", url_encode(&tampered))).await);
    refused(list(&local, DEMO_KEY, "status=pending&cursor=bm9wZQ").await);
    // Bad filters name their field; nothing is listed.
    for (q, field) in
        [("limit=500", "limit"), ("status=paid", "status"), ("createdFrom=yesterday", "createdFrom"), ("foo=1", "foo")]
    {
        let r = list(&local, DEMO_KEY, q).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.json()["errors"][0]["field"], field, "{q}");
    }
    assert_eq!(list(&local, "sk_nope", "").await.status, 401);
}

/// A merchant reconciling a day: 25 payments yesterday, some paid and captured, some left to
/// expire; list yesterday's captured ones by pages of 10, and find one order by its reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_reconciliation() {
    let local = common::start_local_on(common::dynamo::store().await).await;
    let day_start = local.app.service.clock.now();
    // The sweeper runs from the start of the day (its first run starts its cursor).
    local.app.service.sweep(u32::MAX).await.expect("sweep");
    let mut captured = Vec::new();
    for n in 0..25 {
        local.app.service.clock.set(day_start + Duration::minutes(30 * n));
        let id = create_as(&local, DEMO_KEY, &format!("shop-{n}")).await;
        if n % 2 == 0 {
            let created = local.payment(&id).await;
            assert_eq!(local.pay(&created, "approve").await.0, 200);
            assert_eq!(local.op(&id, "captures", None, None).await.status, 201);
            captured.push(id);
        }
    }
    // The unpaid ones expire (the sweeper, nobody reading).
    local.app.service.clock.set(day_start + Duration::days(1) + Duration::hours(1));
    local.app.service.sweep(u32::MAX).await.expect("sweep");
    let from = url_encode(&day_start.to_rfc3339());
    let to = url_encode(&(day_start + Duration::days(1)).to_rfc3339());
    let (got, pages) =
        all_pages(&local, DEMO_KEY, &format!("status=captured&createdFrom={from}&createdTo={to}&limit=10")).await;
    captured.reverse();
    assert_eq!(got, captured, "yesterday's 13 captured payments, newest first");
    assert_eq!(pages, 2);
    let (expired, _) = all_pages(&local, DEMO_KEY, "status=expired&limit=100").await;
    assert_eq!(expired.len(), 12);
    let found = list(&local, DEMO_KEY, "merchantReference=shop-7").await.json();
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["data"][0]["merchantReference"], "shop-7");
    assert_eq!(found["data"][0]["status"], "expired");
    assert!(found["nextCursor"].is_null());
}
