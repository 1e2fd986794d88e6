//! Tether edge worker: terminates client WebSocket and HTTP connections, verifies JWTs,
//! enforces permissions and limits, and proxies to the state service.

pub mod auth;
