//! A payment gateway for **au Kantan Kessai** (au PAY carrier billing, KDDI) through SoftBank
//! Payment Service (SBPS).
//!
//! Dependency direction: `bin -> http -> {payment, sbps, store} -> {money, ids}`. The payment
//! state machine knows nothing of HTTP, storage or SBPS wire formats.

pub mod app;
pub mod clock;
pub mod config;
pub mod http;
pub mod ids;
pub mod local;
pub mod metrics;
pub mod money;
pub mod payment;
pub mod sbps;
pub mod store;
