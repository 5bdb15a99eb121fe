//! The sweeper (DESIGN §8): every minute, the due buckets from its cursor to the last whole
//! minute, each entry through the same service code as a read: a pending payment whose time
//! is up expires, a pending operation whose lock window has passed is sent again. Nobody has
//! to read a payment for its loose ends to be tied.

use chrono::{DateTime, Duration, Utc};

use super::{Provider, Service, ServiceError, SweepOutcome};
use crate::metrics::Metrics;
use crate::store::{DueEntry, Store, StoreError, due_minute};

/// Where a sweeper that never ran starts: this long before the last whole minute.
const FIRST_LOOKBACK_MINUTES: i64 = 60;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Whole minutes swept.
    pub minutes: u32,
    pub expired: u32,
    pub settled: u32,
    pub still_pending: u32,
    /// Entries with nothing left to do (settled, paid or expired meanwhile).
    pub nothing_due: u32,
    /// Entries that failed (left for the next sweep when the store failed).
    pub errors: u32,
    /// The last minute swept, after this sweep.
    pub cursor: Option<DateTime<Utc>>,
    /// How far the last whole minute is behind the cursor after this sweep, in minutes.
    pub lag_minutes: i64,
}

impl SweepReport {
    /// Records the sweep's metrics (CloudWatch: lag, expired, settled, errors).
    pub fn record(&self, metrics: &Metrics) {
        metrics.sweep(self.lag_minutes, self.expired, self.settled, self.errors);
    }
}

impl<S: Store, P: Provider> Service<S, P> {
    /// Sweeps at most `max_minutes` whole minutes from the cursor on. Two sweeps at once are
    /// safe: each entry's work is idempotent, and the cursor moves under a condition on its
    /// version (the later sweep stops at its first conflict).
    pub async fn sweep(&self, max_minutes: u32) -> Result<SweepReport, ServiceError> {
        let last = due_minute(self.clock.now()) - Duration::minutes(1);
        let cursor = self.store.sweep_cursor().await?;
        let mut version = cursor.map(|c| c.version);
        let mut minute = match cursor {
            Some(c) => c.minute + Duration::minutes(1),
            None => last - Duration::minutes(FIRST_LOOKBACK_MINUTES),
        };
        let mut report = SweepReport { cursor: cursor.map(|c| c.minute), ..SweepReport::default() };
        let mut unsaved = false;
        while minute <= last && report.minutes < max_minutes {
            let entries = self.store.due(minute).await?;
            for entry in &entries {
                match self.sweep_entry(entry).await {
                    Ok(SweepOutcome::Expired) => report.expired += 1,
                    Ok(SweepOutcome::Settled(_)) => report.settled += 1,
                    Ok(SweepOutcome::StillPending) => report.still_pending += 1,
                    Ok(SweepOutcome::NothingDue | SweepOutcome::Gone) => report.nothing_due += 1,
                    // The store is down: this minute is swept again next time.
                    Err(ServiceError::Store(StoreError::Unavailable(detail))) => {
                        tracing::error!(detail, "sweep stopped: store unavailable");
                        report.errors += 1;
                        return self.finish(report, minute - Duration::minutes(1), version, unsaved, last).await;
                    }
                    Err(e) => {
                        report.errors += 1;
                        tracing::error!(payment_id = %entry.payment_id(), error = %e, "sweep entry failed");
                    }
                }
            }
            report.minutes += 1;
            unsaved = true;
            // The cursor is saved where there was work (and at the end), not for every empty
            // minute: sweeping a minute again is harmless.
            if !entries.is_empty() {
                match self.store.save_sweep_cursor(minute, version).await {
                    Ok(()) => {
                        version = Some(version.map_or(1, |v| v + 1));
                        unsaved = false;
                        report.cursor = Some(minute);
                    }
                    Err(StoreError::VersionConflict) => {
                        tracing::info!("another sweep moved the cursor; stopping");
                        return Ok(report);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            minute += Duration::minutes(1);
        }
        self.finish(report, minute - Duration::minutes(1), version, unsaved, last).await
    }

    async fn finish(
        &self,
        mut report: SweepReport,
        swept_to: DateTime<Utc>,
        version: Option<u64>,
        unsaved: bool,
        last: DateTime<Utc>,
    ) -> Result<SweepReport, ServiceError> {
        if unsaved {
            match self.store.save_sweep_cursor(swept_to, version).await {
                Ok(()) => report.cursor = Some(swept_to),
                Err(StoreError::VersionConflict) => return Ok(report),
                Err(e) => return Err(e.into()),
            }
        }
        report.lag_minutes = report.cursor.map_or(0, |c| (last - c).num_minutes().max(0));
        report.record(&self.metrics);
        tracing::info!(
            minutes = report.minutes,
            expired = report.expired,
            settled = report.settled,
            still_pending = report.still_pending,
            errors = report.errors,
            lag_minutes = report.lag_minutes,
            "sweep"
        );
        Ok(report)
    }

    async fn sweep_entry(&self, entry: &DueEntry) -> Result<SweepOutcome, ServiceError> {
        match entry {
            DueEntry::Expiry(payment) => self.expire_due(payment).await,
            DueEntry::Operation(payment, operation) => self.recover_due(payment, operation).await,
        }
    }
}
