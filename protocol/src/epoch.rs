//! Stream epochs: a random non-zero 64-bit value minted when a stream is created.
//!
//! Deleting and recreating a stream mints a new epoch, so an offset from an older incarnation is
//! recognisably stale instead of silently pointing into different data.

use std::fmt;

/// A stream incarnation. Zero is reserved: it marks the canonical start offset, which is valid in
/// every epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Epoch(u64);

impl Epoch {
    /// Wraps a raw value; `None` for the reserved zero.
    pub fn new(raw: u64) -> Option<Self> {
        (raw != 0).then_some(Self(raw))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Epoch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(format!("epoch must be 16 lowercase hex digits, got {s:?}"));
        }
        let raw = u64::from_str_radix(s, 16).map_err(|e| e.to_string())?;
        Epoch::new(raw).ok_or_else(|| "epoch 0 is reserved".to_string())
    }
}
