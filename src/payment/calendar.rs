//! au's month rules, in Japan time (UTC+9, no daylight saving): a partial refund only from the
//! month after the sale, any refund only until the end of the second month after it (spec §9).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};

pub fn japan() -> FixedOffset {
    // 9 hours is always a valid offset.
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!())
}

/// (year, month) of an instant in Japan time, as a month index that can be compared and added to.
fn month_index(at: DateTime<Utc>) -> i32 {
    let local = at.with_timezone(&japan());
    local.year() * 12 + local.month0() as i32
}

/// A partial refund is refused by SBPS (402-28) in the month of the sale.
pub fn partial_refund_available(sold_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    month_index(now) > month_index(sold_at)
}

/// Refunds are possible until the end of the second month after the sale (402-31).
pub fn refund_period_open(sold_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    month_index(now) <= month_index(sold_at) + 2
}

/// The first instant (UTC) of the Japan-time month `months_after` the month of `at`.
pub fn start_of_month_after(at: DateTime<Utc>, months_after: i32) -> DateTime<Utc> {
    let index = month_index(at) + months_after;
    let (year, month0) = (index.div_euclid(12), index.rem_euclid(12) as u32);
    NaiveDate::from_ymd_opt(year, month0 + 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| japan().from_local_datetime(&d).single())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn months_turn_at_midnight_japan_time() {
        // 2026-11-30 15:00 UTC is 2026-12-01 00:00 in Japan.
        let sale = utc("2026-11-30T14:59:59Z");
        assert!(!partial_refund_available(sale, utc("2026-11-30T14:59:59Z")));
        assert!(partial_refund_available(sale, utc("2026-11-30T15:00:00Z")));
    }

    #[test]
    fn refunds_close_after_the_second_following_month() {
        let sale = utc("2026-11-10T03:00:00Z"); // November in Japan
        assert!(refund_period_open(sale, utc("2027-01-31T14:59:59Z"))); // Jan 31 23:59:59 JST
        assert!(!refund_period_open(sale, utc("2027-01-31T15:00:00Z"))); // Feb 1 00:00 JST
        assert_eq!(start_of_month_after(sale, 3), utc("2027-01-31T15:00:00Z"));
    }
}
