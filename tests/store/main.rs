//! The stores, in one test binary: the store contract of DESIGN §5, written once and run
//! against the embedded store and DynamoDB Local (`contract`), and what only DynamoDB has to
//! show: the item layout, round trips per operation, concurrency (`dynamodb`).

#[allow(unused_macros)]
#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod contract;
mod dynamodb;
