//! When a failed delivery is tried again (DESIGN §8): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
//! 14 h, 20 h, 24 h after each failure, +-10 % jitter, a later `Retry-After` winning; after
//! the last, the delivery has failed. An endpoint failing every attempt for 5 days (at least
//! 20 in a row) is disabled.

use chrono::{DateTime, Duration, Utc};

/// The waits after the 1st, 2nd, ... failed attempt of a schedule, in seconds.
pub const RETRY_DELAYS: [i64; 9] = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600];

/// A `Retry-After` longer than this is not believed.
const MAX_RETRY_AFTER: i64 = 24 * 3600;

/// How long and how many failures in a row disable an endpoint.
pub const DISABLE_AFTER_DAYS: i64 = 5;
pub const DISABLE_AFTER_FAILURES: u32 = 20;

/// When the next attempt is due after `failed` attempts of this schedule failed (the last at
/// `now`), or `None` when the schedule is spent. `jitter` is in [-1, 1] (a tenth of the wait
/// at most); `retry_after` is the receiver's wish.
pub fn next_attempt(
    failed: u32,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    let index = usize::try_from(failed.checked_sub(1)?).ok()?;
    let base = *RETRY_DELAYS.get(index)?;
    let jittered = (base as f64 * (1.0 + 0.1 * jitter.clamp(-1.0, 1.0))).round() as i64;
    let mut wait = Duration::milliseconds(jittered.max(1) * 1000);
    if let Some(asked) = retry_after.filter(|a| *a > wait) {
        wait = asked.min(Duration::seconds(MAX_RETRY_AFTER));
    }
    Some(now + wait)
}

/// Whether an endpoint whose failures in a row began at `since` is to be disabled now.
pub fn endpoint_worn_out(consecutive_failures: u32, since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    consecutive_failures >= DISABLE_AFTER_FAILURES
        && since.is_some_and(|s| now - s >= Duration::days(DISABLE_AFTER_DAYS))
}

/// A random jitter for [`next_attempt`].
pub fn random_jitter() -> f64 {
    rand::random_range(-1.0..=1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_designs_and_ends() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let waits: Vec<i64> =
            (1..=9).filter_map(|n| next_attempt(n, now, None, 0.0)).map(|t| (t - now).num_seconds()).collect();
        assert_eq!(waits, RETRY_DELAYS);
        assert_eq!(next_attempt(10, now, None, 0.0), None, "ten attempts in all");
        assert_eq!(next_attempt(0, now, None, 0.0), None);
    }

    #[test]
    fn jitter_stays_within_a_tenth_and_retry_after_wins_only_when_later() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        for n in 1..=9 {
            let base = RETRY_DELAYS[n as usize - 1] as f64;
            for j in [-1.0, -0.5, 0.3, 1.0, 7.0] {
                let wait = (next_attempt(n, now, None, j).map(|t| t - now).unwrap_or_default().num_milliseconds()
                    as f64)
                    / 1000.0;
                assert!(wait >= base * 0.9 - 0.5 && wait <= base * 1.1 + 0.5, "{n} {j} {wait}");
            }
        }
        assert_eq!(next_attempt(1, now, Some(Duration::seconds(60)), 0.0), Some(now + Duration::seconds(60)));
        assert_eq!(next_attempt(2, now, Some(Duration::seconds(60)), 0.0), Some(now + Duration::seconds(300)));
        assert_eq!(next_attempt(1, now, Some(Duration::days(9)), 0.0), Some(now + Duration::hours(24)));
    }

    #[test]
    fn an_endpoint_wears_out_after_five_days_and_twenty_failures() {
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(10);
        assert!(endpoint_worn_out(20, Some(now - Duration::days(5)), now));
        assert!(!endpoint_worn_out(19, Some(now - Duration::days(6)), now));
        assert!(!endpoint_worn_out(40, Some(now - Duration::days(4)), now));
        assert!(!endpoint_worn_out(40, None, now));
    }
}
