//! SoftBank Payment Service, the provider that carries au Kantan Kessai: its checksum, the
//! purchase form, its form encoding. Wire formats stay in this module; the payment state
//! machine never sees a form field.

pub mod api;
pub mod datetime;
pub mod form;
pub mod hashcode;
pub mod purchase;
pub mod result_notification;
pub mod xml;

pub use hashcode::{Charset, HashError, sps_hashcode, verify_hashcode};
