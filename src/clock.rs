//! The one place the gateway reads the time, so tests (and the sandbox) can set it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that stands still at `start` until it is moved.
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock { manual: Some(Arc::new(Mutex::new(start))) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(t) => t.lock().map(|t| *t).unwrap_or_else(|p| *p.into_inner()),
            None => Utc::now(),
        }
    }

    /// Moves a manual clock (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual
            && let Ok(mut t) = t.lock()
        {
            *t += by;
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, to: DateTime<Utc>) {
        if let Some(t) = &self.manual
            && let Ok(mut t) = t.lock()
        {
            *t = to;
        }
    }
}
