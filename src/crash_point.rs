//! Named points where the crash tests (`tests/gateway/crashes.rs`) kill the gateway with `SIGKILL`:
//! between the write-ahead and the SBPS call, between SBPS's answer and the settle, and on
//! either side of a create's one write. Only in builds with the `sandbox` feature (`local`
//! and the tests), and only when `KANTAN_CRASH_POINT` names the point: the request that
//! reaches it prints `crash point reached: <name>` on standard error and waits there for
//! ever, so the test kills the process exactly at that point. The deployed functions are
//! built without the feature, where [`reach`] is an empty function.

/// A place in the money path a process may die at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// A create has checked everything and not written yet.
    CreateBeforeWrite,
    /// A create's transaction (payment, event, key) committed; nothing answered yet.
    CreateAfterWrite,
    /// An operation is stored pending (the write-ahead); its SBPS call is not sent.
    AfterWriteAhead,
    /// SBPS answered the call; the settle is not written.
    AfterProviderAnswer,
}

impl CrashPoint {
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::CreateBeforeWrite => "create-before-write",
            CrashPoint::CreateAfterWrite => "create-after-write",
            CrashPoint::AfterWriteAhead => "after-write-ahead",
            CrashPoint::AfterProviderAnswer => "after-provider-answer",
        }
    }
}

/// Waits for ever if the process was started to die at `point`; returns at once otherwise.
#[cfg(feature = "sandbox")]
pub async fn reach(point: CrashPoint) {
    static CHOSEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| std::env::var("KANTAN_CRASH_POINT").ok());
    if chosen.as_deref() == Some(point.name()) {
        eprintln!("crash point reached: {}", point.name());
        std::future::pending::<()>().await;
    }
}

/// Deployed builds: nothing.
#[cfg(not(feature = "sandbox"))]
#[inline(always)]
pub async fn reach(_point: CrashPoint) {}
