//! The gateway over HTTP, in one test binary (one link of the AWS SDK, not one per file): the
//! routes as merchants, browsers and SBPS use them, on the embedded store and DynamoDB Local,
//! with the SBPS simulator of `local` (feature `sandbox`). Each module is one story; every
//! answer an HTTP test gets is held to openapi.yaml (`common::openapi`).
//!
//! Apart, each in its own binary: the store contract (`tests/store/`), the logs (`tests/logs.rs`:
//! it installs the process's global log subscriber, which every other test here would write
//! to), and the load run (`tests/load.rs`: its throughput figures and its fault windows need the
//! machine to themselves, and `scripts/load` runs it alone in a release build).

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

// Merchants' requests, good and careless.
mod bad_input;
mod careless_requests;
mod create_and_track;
mod ledger;
mod listing;
mod local_safety;
mod local_server;
// The money path with the SBPS simulator, and what it survives.
mod crashes;
mod provider_faults;
mod random_sequences;
mod sandbox_rules;
mod sbps_flow;
mod store_faults;
// Webhooks, the sweeper and the audit.
mod audit;
mod aws_webhooks;
mod sweep;
mod webhook_endpoints;
mod webhooks;
// The contract and the artefacts around the code: openapi.yaml, the Lambda events, the SAM
// template, secrets at cold start, the fuzz corpora, the demo in a real browser.
mod browser;
mod events;
mod fuzz_corpus;
mod infra;
mod openapi;
mod secrets;
