//! The sandbox's own au rules of time, written apart from the gateway's `payment::calendar`
//! on purpose: a wrong rule on either side is caught by the other. Japan time is UTC+9 with no
//! daylight saving, and months are compared as (year, month) pairs.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

/// (year, month) of an instant on a clock in Japan.
fn japan_year_month(at: DateTime<Utc>) -> (i32, u32) {
    let local = at.naive_utc() + chrono::Duration::hours(9);
    (local.year(), local.month())
}

/// How many calendar months (Japan time) `later` is after `earlier`.
fn months_between(earlier: DateTime<Utc>, later: DateTime<Utc>) -> i64 {
    let (y0, m0) = japan_year_month(earlier);
    let (y1, m1) = japan_year_month(later);
    (i64::from(y1) - i64::from(y0)) * 12 + (i64::from(m1) - i64::from(m0))
}

/// au refuses a partial refund in the month of the sale (402-28).
pub fn partial_refund_refused(sold_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    months_between(sold_at, now) < 1
}

/// au refuses any refund after the end of the second month after the sale (402-31).
pub fn refund_period_over(sold_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    months_between(sold_at, now) > 2
}

/// `YYYYMMDDHHMMSS` on a clock in Japan.
pub fn format(at: DateTime<Utc>) -> String {
    (at.naive_utc() + chrono::Duration::hours(9)).format("%Y%m%d%H%M%S").to_string()
}

/// Parses `YYYYMMDDHHMMSS` read on a clock in Japan.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok()?;
    Some(local.checked_sub_signed(chrono::Duration::hours(9))?.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap_or_default()
    }

    #[test]
    fn months_turn_at_midnight_in_japan() {
        let sale = utc(2026, 11, 30, 14, 59, 59); // 23:59:59 on 30 Nov in Japan
        assert!(partial_refund_refused(sale, sale));
        assert!(!partial_refund_refused(sale, utc(2026, 11, 30, 15, 0, 0))); // 1 Dec, 00:00
        assert!(!refund_period_over(sale, utc(2027, 1, 31, 14, 59, 59))); // 31 Jan, 23:59:59
        assert!(refund_period_over(sale, utc(2027, 1, 31, 15, 0, 0))); // 1 Feb
        assert_eq!(format(utc(2025, 11, 12, 15, 44, 57)), "20251113004457");
        assert_eq!(parse("20251113004457"), Some(utc(2025, 11, 12, 15, 44, 57)));
        assert_eq!(parse("2025111300445x"), None);
    }
}
