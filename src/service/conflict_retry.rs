//! The one retry-on-conflict helper: a step that read a payment and lost the race to write it
//! (its version moved) is run again from the read, a few times, with a short jittered pause.

use std::future::Future;
use std::time::Duration;

use super::ServiceError;

/// How often a step is tried before its conflict is answered (409, "retry it").
pub const ATTEMPTS: u32 = 6;

/// Runs `step` until it ends with anything but [`ServiceError::Conflict`], at most
/// [`ATTEMPTS`] times.
pub async fn retry_on_conflict<T, F, Fut>(mut step: F) -> Result<T, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ServiceError>>,
{
    for attempt in 1..=ATTEMPTS {
        match step().await {
            Err(ServiceError::Conflict) if attempt < ATTEMPTS => {
                let pause = 2 * u64::from(attempt) + rand::random_range(0..5);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
    Err(ServiceError::Conflict)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn conflicts_are_retried_then_answered() {
        let tries = AtomicU32::new(0);
        let tries = &tries;
        let ok = retry_on_conflict(|| async move {
            if tries.fetch_add(1, Ordering::SeqCst) < 2 { Err(ServiceError::Conflict) } else { Ok(7) }
        })
        .await;
        assert_eq!(ok, Ok(7));
        assert_eq!(tries.load(Ordering::SeqCst), 3);

        tries.store(0, Ordering::SeqCst);
        let never = retry_on_conflict(|| async move {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ServiceError::Conflict)
        })
        .await;
        assert_eq!(never, Err(ServiceError::Conflict));
        assert_eq!(tries.load(Ordering::SeqCst), ATTEMPTS);

        tries.store(0, Ordering::SeqCst);
        let other = retry_on_conflict(|| async move {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ServiceError::PaymentNotFound)
        })
        .await;
        assert_eq!(other, Err(ServiceError::PaymentNotFound));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
