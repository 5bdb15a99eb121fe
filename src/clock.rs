//! The one place the gateway reads the time, so tests and the local sandbox can move it.
//! A system clock can be shifted (the local demo moves "now" into next month to show a
//! partial refund); a manual clock stands still until moved.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy)]
enum Mode {
    System { offset: Duration },
    Manual(DateTime<Utc>),
}

/// Cheap to clone; clones share the same time.
#[derive(Debug, Clone)]
pub struct Clock {
    mode: Arc<Mutex<Mode>>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The system clock (shiftable).
    pub fn system() -> Self {
        Clock { mode: Arc::new(Mutex::new(Mode::System { offset: Duration::zero() })) }
    }

    /// A clock that stands still at `start` until it is moved.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock { mode: Arc::new(Mutex::new(Mode::Manual(start))) }
    }

    fn mode(&self) -> Mode {
        self.mode.lock().map(|m| *m).unwrap_or_else(|p| *p.into_inner())
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self.mode() {
            Mode::System { offset } => {
                let now = Utc::now();
                now.checked_add_signed(offset).unwrap_or(now)
            }
            Mode::Manual(t) => t,
        }
    }

    /// The real time, whatever the clock has been moved to: for what others compare with
    /// their own clocks (a webhook's timestamp), never for the gateway's own rules.
    pub fn wall(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        if let Ok(mut m) = self.mode.lock() {
            *m = match *m {
                Mode::System { offset } => Mode::System { offset: offset.checked_add(&by).unwrap_or(offset) },
                Mode::Manual(t) => Mode::Manual(t.checked_add_signed(by).unwrap_or(t)),
            };
        }
    }

    /// Sets the clock to `to`; a system clock keeps running from there.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut m) = self.mode.lock() {
            *m = match *m {
                Mode::System { .. } => Mode::System { offset: to - Utc::now() },
                Mode::Manual(_) => Mode::Manual(to),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_time_and_system_clocks_shift() {
        let c = Clock::system();
        let shared = c.clone();
        c.advance(Duration::days(40));
        assert!(shared.now() > Utc::now() + Duration::days(39));
        let target = Utc::now() + Duration::days(400);
        c.set(target);
        assert!((shared.now() - target).num_seconds().abs() < 5);
        let m = Clock::manual(target);
        m.advance(Duration::seconds(1));
        assert_eq!(m.now(), target + Duration::seconds(1));
    }
}
