//! Black-box tests of the real binaries.

mod durability;
mod durable_tiers;
mod edge;
mod edge_acceptance;
mod env_contract;
mod http_api;
mod kafka_edge;
mod shutdown;
