//! SBPS's date-time format: `YYYYMMDDHHMMSS`, Japan time (UTC+9, no daylight saving).

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

fn japan() -> FixedOffset {
    // 9 hours is always a valid offset.
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!())
}

/// `YYYYMMDDHHMMSS` in Japan time.
pub fn sbps_datetime(at: DateTime<Utc>) -> String {
    at.with_timezone(&japan()).format("%Y%m%d%H%M%S").to_string()
}

/// Parses `YYYYMMDDHHMMSS` (Japan time); `None` for anything else.
pub fn parse_sbps_datetime(s: &str) -> Option<DateTime<Utc>> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
    japan().from_local_datetime(&naive).single().map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbps_datetimes_are_japan_time() {
        let at = DateTime::parse_from_rfc3339("2025-11-12T15:44:57Z").map(|d| d.with_timezone(&Utc)).ok();
        assert_eq!(at.map(sbps_datetime).as_deref(), Some("20251113004457"), "the seed's request_date");
        assert_eq!(parse_sbps_datetime("20251113004457"), at);
        assert_eq!(parse_sbps_datetime("2025111300445"), None);
        assert_eq!(parse_sbps_datetime("20251332004457"), None);
        assert_eq!(parse_sbps_datetime("+0251113004457"), None);
    }
}
