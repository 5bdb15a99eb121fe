//! The embedded store's tables: one per DynamoDB item kind (the item as JSON beside the columns
//! its queries need), the listing index, and the backfill a file from before that index gets.

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    payment_id TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (payment_id, id)
);
CREATE TABLE IF NOT EXISTS events (
    payment_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (payment_id, seq)
);
CREATE TABLE IF NOT EXISTS reference_guards (
    account_id TEXT NOT NULL,
    merchant_reference TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    PRIMARY KEY (account_id, merchant_reference)
);
CREATE TABLE IF NOT EXISTS track_pointers (
    track_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
);
-- The listing index: newest first by account, and by account and merchant reference.
CREATE TABLE IF NOT EXISTS payment_list (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    merchant_reference TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_list_by_time ON payment_list (account_id, sort_key);
CREATE INDEX IF NOT EXISTS payment_list_by_reference ON payment_list (account_id, merchant_reference, sort_key);
CREATE TABLE IF NOT EXISTS due (
    minute INTEGER NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (minute, entry)
);
CREATE TABLE IF NOT EXISTS sweep_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    minute INTEGER NOT NULL,
    version INTEGER NOT NULL
);
-- The embedded store's stand-in for the table's stream: outbox events not yet dispatched.
CREATE TABLE IF NOT EXISTS outbox_pending (
    payment_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (payment_id, seq)
);
CREATE TABLE IF NOT EXISTS endpoints (
    account_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE TABLE IF NOT EXISTS deliveries (
    payment_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    endpoint_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (payment_id, seq, endpoint_id)
);
CREATE TABLE IF NOT EXISTS ledger (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    month TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    amount INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_account ON ledger (account_id, sort_key);
CREATE INDEX IF NOT EXISTS ledger_by_month ON ledger (account_id, month, kind);
CREATE INDEX IF NOT EXISTS ledger_by_payment ON ledger (payment_id);
";

/// Indexes the payments the listing index does not hold yet (`list_sort_key`'s format).
pub(super) const BACKFILL_LISTING: &str = "
INSERT OR IGNORE INTO payment_list (id, account_id, sort_key, merchant_reference, status)
SELECT id, account_id,
       strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(doc, '$.createdAt')) || '#' || id,
       json_extract(doc, '$.merchantReference'),
       json_extract(doc, '$.status')
FROM payments
WHERE id NOT IN (SELECT id FROM payment_list);
";
