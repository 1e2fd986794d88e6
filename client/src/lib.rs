//! Tether client library.
