//! Offsets: opaque to clients, lexicographically sortable, strictly increasing.
//!
//! Wire form: `{index:016x}_{epoch:016x}` - the chunk index (number of chunks before this
//! position) and the epoch of the stream incarnation that minted it, both as 16 lowercase hex
//! digits. The index comes first, so lexicographic order is position order within a stream.
//! Position 0 is always written `0000000000000000_0000000000000000`: the start of a stream is
//! the same place in every epoch. The sentinels `-1` (start) and `now` (tail) are never minted.

use std::fmt;

use crate::Epoch;

/// A position in a stream: the index of the next chunk to read, plus the epoch that minted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Offset {
    index: u64,
    /// `None` only at index 0.
    epoch: Option<Epoch>,
}

/// Where a read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    /// `-1` or no offset: the first retained chunk.
    Start,
    /// `now`: the current tail.
    Now,
    At(Offset),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetError {
    #[error("offset is empty")]
    Empty,
    #[error("offset {0:?} is malformed: expected 16 hex digits, '_', 16 hex digits, or -1 / now")]
    Malformed(String),
}

impl Offset {
    /// The start of every stream.
    pub const ZERO: Offset = Offset { index: 0, epoch: None };

    /// The offset at `index` minted by `epoch` (index 0 is always [`Offset::ZERO`]).
    pub fn new(index: u64, epoch: Epoch) -> Self {
        if index == 0 { Self::ZERO } else { Self { index, epoch: Some(epoch) } }
    }

    pub fn index(self) -> u64 {
        self.index
    }

    /// The minting epoch; `None` for the start offset, which belongs to every epoch.
    pub fn epoch(self) -> Option<Epoch> {
        self.epoch
    }

    pub fn parse(raw: &str) -> Result<Self, OffsetError> {
        if raw.is_empty() {
            return Err(OffsetError::Empty);
        }
        let bad = || OffsetError::Malformed(raw.chars().take(80).collect());
        let (idx, ep) = raw.split_once('_').ok_or_else(bad)?;
        let hex16 = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex16(idx) || !hex16(ep) {
            return Err(bad());
        }
        let index = u64::from_str_radix(idx, 16).map_err(|_| bad())?;
        let epoch = u64::from_str_radix(ep, 16).map_err(|_| bad())?;
        match (index, Epoch::new(epoch)) {
            (0, _) => Ok(Self::ZERO),
            (_, None) => Err(bad()),
            (index, Some(epoch)) => Ok(Self { index, epoch: Some(epoch) }),
        }
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}_{:016x}", self.index, self.epoch.map_or(0, Epoch::get))
    }
}

impl std::str::FromStr for Offset {
    type Err = OffsetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl ReadFrom {
    /// Parses a client-supplied `offset` parameter, sentinels included.
    pub fn parse(raw: &str) -> Result<Self, OffsetError> {
        match raw {
            "-1" => Ok(Self::Start),
            "now" => Ok(Self::Now),
            other => Offset::parse(other).map(Self::At),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_is_canonical() {
        assert_eq!(Offset::ZERO.to_string(), "0000000000000000_0000000000000000");
        let e = Epoch::new(7).unwrap();
        assert_eq!(Offset::new(0, e), Offset::ZERO);
        assert_eq!(Offset::parse("0000000000000000_00000000000000ff").unwrap(), Offset::ZERO);
        assert!(Offset::parse("0000000000000001_0000000000000000").is_err());
        for bad in ["", "0,1", "0 1", "-2", "NOW", "0000000000000001_000000000000000G", "../x"] {
            assert!(ReadFrom::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ReadFrom::parse("-1"), Ok(ReadFrom::Start));
        assert_eq!(ReadFrom::parse("now"), Ok(ReadFrom::Now));
    }

    proptest! {
        #[test]
        fn round_trip_and_order(a in 0u64..u64::MAX, b in 0u64..u64::MAX, e in 1u64..u64::MAX) {
            let epoch = Epoch::new(e).unwrap();
            let (oa, ob) = (Offset::new(a, epoch), Offset::new(b, epoch));
            prop_assert_eq!(Offset::parse(&oa.to_string()).unwrap(), oa);
            prop_assert_eq!(a.cmp(&b), oa.to_string().cmp(&ob.to_string()));
            let s = oa.to_string();
            prop_assert!(!s.contains([',', '&', '=', '?', '/']) && s != "-1" && s != "now");
        }

        #[test]
        fn garbage_never_panics(raw in ".{0,64}") {
            let _ = ReadFrom::parse(&raw);
        }
    }
}
