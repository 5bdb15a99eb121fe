//! A payment gateway for **au Kantan Kessai** (au PAY carrier billing, KDDI) through SoftBank
//! Payment Service (SBPS).
//!
//! Dependency direction: `bin -> app -> http -> service -> {payment, sbps, store} -> {money, ids}`.
//! The payment state machine knows nothing of HTTP, storage or SBPS wire formats; the service
//! knows no HTTP. The SBPS sandbox (feature `sandbox`) is compiled only into `local` and the
//! tests.

pub mod app;
pub mod audit;
#[cfg(feature = "sandbox")]
pub mod background;
pub mod clock;
pub mod config;
pub mod crash_point;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod fuzzing;
pub mod http;
pub mod ids;
pub mod jobs;
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
