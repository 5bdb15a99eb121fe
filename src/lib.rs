//! A payment gateway for **au Kantan Kessai** (au PAY carrier billing, KDDI) through SoftBank
//! Payment Service (SBPS).
//!
//! Dependency direction (DESIGN §2; `layering.rs` holds it in the tests):
//! `bin -> {app, local} -> {http, jobs} -> service -> {store, sbps, webhooks} -> {views,
//! accounts} -> payment -> {money, ids, clock}`, with `metrics` a leaf. The payment state
//! machine knows nothing of HTTP, storage or SBPS wire formats; the service knows no HTTP.
//! What only a laptop runs (the local server, the SBPS simulator, the demo shop) is
//! [`local`], compiled only with the feature `sandbox` (into `local` and the tests).

/// The crate's one boxed error, for the composition roots and binaries.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub mod accounts;
pub mod app;
pub mod audit;
pub mod clock;
pub mod config;
pub mod crash_point;
pub mod fuzzing;
pub mod http;
pub mod ids;
pub mod jobs;
#[cfg(test)]
mod layering;
#[cfg(feature = "sandbox")]
pub mod local;
pub mod metrics;
pub mod money;
pub mod payment;
pub mod sbps;
pub mod service;
pub mod store;
pub mod tls;
pub mod views;
pub mod webhooks;
