//! The functions that are not HTTP routes: `dispatch` (the table's stream), `deliver` (the
//! delivery queue) and `sweep` (every minute). Each takes its event as Lambda delivers it, so
//! tests and `cargo lambda invoke` hand them the very same JSON.

pub mod deliver;
pub mod dispatch;
pub mod sweep;
