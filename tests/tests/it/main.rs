//! Black-box tests of the real binaries.

mod durability;
mod http_api;
mod shutdown;
