//! Black-box tests of the real binaries.

mod durability;
mod durable_tiers;
mod http_api;
mod shutdown;
