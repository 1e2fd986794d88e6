//! Integration tests of the state-service library: the storage conformance suites run against
//! every implementation available here, plus archiver crash-recovery checks.

mod archiver;
mod conformance;
mod kafka;
