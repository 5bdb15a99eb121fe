//! What a payment's lifecycle costs in DynamoDB capacity (write and read units, item sizes),
//! computed from the very items the store writes.

use super::*;

/// DynamoDB's size of an item: attribute names and values (UTF-8 bytes; numbers about one byte
/// per two digits; maps and lists 3 bytes each plus their contents).
pub fn attribute_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + attribute_size(v) + 1).sum::<usize>(),
        AttributeValue::L(l) => 3 + l.iter().map(|v| attribute_size(v) + 1).sum::<usize>(),
        _ => 0,
    }
}

pub fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + attribute_size(v)).sum()
}

/// Write request units of a transaction: 2 per started KB of every item written, plus, for the
/// payment item (the one the listing indexes hold), 1 per started KB in each of its two indexes,
/// and for a ledger entry 1 per started KB in the ledger index. An update's size is its key's and
/// the values it adds (a month's counter item: the counters themselves are a few dozen bytes).
pub fn transaction_wru(items: &[TransactWriteItem]) -> (usize, Vec<usize>) {
    let sizes: Vec<usize> = items
        .iter()
        .map(|i| {
            i.put()
                .map(|p| item_size(p.item()))
                .or_else(|| i.delete().map(|d| item_size(d.key())))
                .or_else(|| {
                    i.update().map(|u| {
                        let values =
                            u.expression_attribute_values().map_or(0, |v| v.values().map(attribute_size).sum());
                        item_size(u.key()) + values
                    })
                })
                .unwrap_or(0)
        })
        .collect();
    let indexed: usize = items
        .iter()
        .filter_map(|i| i.put())
        .map(|p| {
            let kb = item_size(p.item()).div_ceil(1024).max(1);
            let indexes =
                2 * usize::from(p.item().contains_key("listPk")) + usize::from(p.item().contains_key("ledgerPk"));
            indexes * kb
        })
        .sum();
    (sizes.iter().map(|s| 2 * s.div_ceil(1024).max(1)).sum::<usize>() + indexed, sizes)
}

/// Write units, read units, and the item sizes of each write.
pub type Lifecycle = (usize, usize, Vec<(String, Vec<usize>)>);

/// The units and sizes of one payment's lifecycle (create with a key, approve, capture with a
/// key, one read), from the very items the store writes.
pub fn lifecycle(store: &DynamoStore) -> Result<Lifecycle, Error> {
    let (record, create) = floor_record(store, "cost")?;
    let now = Utc::now();
    let authorize = record.payment.authorize("00000616307348".into(), None, OperationId::generate(), now)?;
    let ahead = authorize.payment.begin_capture(OperationId::generate(), None, now)?;
    let op = ahead.operation.clone().ok_or("operation")?;
    let key =
        kantan::service::IdempotencyKey::new(DEMO_ACCOUNT_ID, "cap".into(), "POST", "/v1/payments/x/captures", b"");
    let claim = key.in_progress(&record.payment.id, &op.id, now, now);
    let settled = ahead.payment.settle(&op.id, Outcome::Succeeded, now)?;
    let done = key.completed(
        kantan::store::StoredResponse { status: 201, body: "x".repeat(300) },
        &record.payment.id,
        Some(&op.id),
        now,
    );
    // As the service commits them: a merchant-visible event carries its webhook body (the
    // outbox), a pending operation its due entry.
    let committed = |t: &kantan::payment::Transition| {
        let mut t = t.clone();
        t.event.outbox = kantan::webhooks::body::outbox(&t.payment, &t.event);
        t.wake_at = t.operation.as_ref().filter(|o| o.status == kantan::payment::OperationStatus::Pending).map(|_| now);
        t
    };
    let (authorize, ahead, settled) = (committed(&authorize), committed(&ahead), committed(&settled));
    let writes = [
        ("create", create),
        ("notify (authorize)", store.apply_items(&authorize, None)?),
        ("capture write-ahead", store.apply_items(&ahead, Some(&claim))?),
        ("capture settle", store.apply_items(&settled, Some(&done))?),
    ];
    let mut wru = 0;
    let mut sizes = Vec::new();
    for (name, items) in writes {
        let (units, item_sizes) = transaction_wru(&items);
        wru += units;
        sizes.push((name.to_owned(), item_sizes));
    }
    // Strongly consistent reads: 1 unit per started 4 KB a Query returns (the payment and its
    // operations): the notification's read, the capture's read, one GET. Track is not counted.
    let payment_kb = sizes[0].1.first().copied().unwrap_or(0) + 400;
    let rru = 3 * payment_kb.div_ceil(4096).max(1);
    Ok((wru, rru, sizes))
}
