//! The accountant's view of money: every movement SBPS confirmed becomes one immutable ledger
//! entry, derived from the transition that learns it and written in the same write. A capture
//! (an automatic-sales authorization included) is money in; money given back is typed by how
//! SBPS counts it in au's Japan-time calendar month: a cancellation of the sale in the month of
//! the sale (取消, which removes the sale from that month) or a refund in a later month (返金, a
//! negative in the refund's month). Voiding an authorization or cancelling part of one before
//! capture moves no money and makes no entry.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::japan;
use super::{EventKind, Metadata, Operation, Payment};
use crate::ids::{OperationId, PaymentId};

/// How SBPS counts a movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A sale: money captured.
    Capture,
    /// The sale cancelled in its own month (取消): money back, in the month of the sale.
    Cancellation,
    /// Money back in a month after the sale (返金).
    Refund,
}

impl EntryKind {
    pub const ALL: [EntryKind; 3] = [EntryKind::Capture, EntryKind::Cancellation, EntryKind::Refund];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Capture => "capture",
            EntryKind::Cancellation => "cancellation",
            EntryKind::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One money movement SBPS confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// `led_<operation id>`: one entry per operation, whatever the retries.
    pub id: String,
    pub account_id: String,
    pub payment_id: PaymentId,
    pub merchant_reference: String,
    pub operation_id: OperationId,
    pub kind: EntryKind,
    /// Whole yen, signed: money in positive, money back negative.
    pub amount: i64,
    /// When the gateway learned SBPS's confirmation (the settle).
    pub confirmed_at: DateTime<Utc>,
    /// The Japan-time month it counts in, `YYYY-MM`.
    pub month: String,
    pub metadata: Metadata,
    /// The partition of the account's ledger index (the payment's listing shard).
    pub shard: u32,
}

impl LedgerEntry {
    pub fn id_of(operation: &OperationId) -> String {
        format!("led_{operation}")
    }
}

/// The Japan-time month of an instant, `YYYY-MM`.
pub fn month_of(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&japan());
    format!("{:04}-{:02}", local.year(), local.month())
}

/// The first instant (UTC) of a Japan-time month `YYYY-MM`, and of the month after it; `None`
/// for anything that is not such a month.
pub fn month_bounds(month: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (year, number) = month.split_once('-')?;
    if year.len() != 4 || number.len() != 2 || !year.bytes().chain(number.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, number): (i32, u32) = (year.parse().ok()?, number.parse().ok()?);
    let first = chrono::NaiveDate::from_ymd_opt(year, number, 1)?.and_hms_opt(0, 0, 0)?;
    let start = first.and_local_timezone(japan()).single()?.with_timezone(&Utc);
    Some((start, super::calendar::start_of_month_after(start, 1)))
}

/// The entry a transition writes, if it moved money: `before` the change, `after` it, by the
/// event `kind` about `operation`, at `now`.
pub fn entry(
    before: &Payment,
    after: &Payment,
    kind: EventKind,
    operation: Option<&Operation>,
    now: DateTime<Utc>,
) -> Option<LedgerEntry> {
    let op = operation?;
    let (entry_kind, amount) = match kind {
        EventKind::PaymentCaptured => (EntryKind::Capture, i64::from(op.amount.value())),
        EventKind::PaymentRefunded | EventKind::PaymentPartiallyRefunded => {
            let sold_at = before.captured_at.unwrap_or(before.updated_at);
            let same_month = month_of(sold_at) == month_of(now);
            let kind = if same_month { EntryKind::Cancellation } else { EntryKind::Refund };
            (kind, -i64::from(op.amount.value()))
        }
        _ => return None,
    };
    Some(LedgerEntry {
        id: LedgerEntry::id_of(&op.id),
        account_id: after.account_id.clone(),
        payment_id: after.id.clone(),
        merchant_reference: after.merchant_reference.clone(),
        operation_id: op.id.clone(),
        kind: entry_kind,
        amount,
        confirmed_at: now,
        month: month_of(now),
        metadata: after.metadata.clone(),
        shard: after.list_shard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn months_are_japan_time() {
        assert_eq!(month_of(utc("2026-11-30T14:59:59Z")), "2026-11");
        assert_eq!(month_of(utc("2026-11-30T15:00:00Z")), "2026-12");
        assert_eq!(month_of(utc("2026-12-31T15:00:00Z")), "2027-01");
    }

    #[test]
    fn a_month_is_bounded_in_japan_time() {
        assert_eq!(month_bounds("2026-12"), Some((utc("2026-11-30T15:00:00Z"), utc("2026-12-31T15:00:00Z"))));
        for junk in ["2026-13", "2026-1", "26-12", "2026/12", "2026-12-01", "", "abcd-ef"] {
            assert_eq!(month_bounds(junk), None, "{junk}");
        }
    }

    #[test]
    fn kinds_read_back() {
        for kind in EntryKind::ALL {
            assert_eq!(EntryKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EntryKind::parse("sale"), None);
    }
}
