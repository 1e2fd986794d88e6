//! Conformance suites: one per storage trait, run against every implementation (embedded now,
//! Redis and S3 when configured). Each suite is a plain async function that panics on the first
//! violated expectation, so any test harness can drive it.

pub mod archive;
pub mod hot_log;
pub mod outbox;
pub mod sessions;
