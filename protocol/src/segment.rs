//! The archived segment format (version 1, stable): a sealed, contiguous range of one stream's
//! chunks, written once to the archive and never modified.
//!
//! Layout (all integers little-endian; see docs/FORMATS.md):
//!
//! ```text
//! header  : magic "TSEG" | version u16 = 1 | flags u16 = 0 | epoch u64 | first_index u64 | count u32
//! records : count x ( payload_len u32 | index u64 | payload_crc32c u32 | payload )
//! index   : entries x ( index u64 | record_pos u64 )      -- every INDEX_STRIDE-th record
//! footer  : index_pos u64 | entries u32 | file_crc32c u32 | magic "TEND"
//! ```
//!
//! `file_crc32c` covers every byte before the footer. Decoding checks every length against the
//! buffer before slicing, so garbage yields an error, never a panic.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Epoch;

pub const MAGIC: &[u8; 4] = b"TSEG";
pub const FOOTER_MAGIC: &[u8; 4] = b"TEND";
pub const VERSION: u16 = 1;
/// One sparse index entry every this many records.
pub const INDEX_STRIDE: u32 = 64;
const HEADER_LEN: usize = 4 + 2 + 2 + 8 + 8 + 4;
const RECORD_HEADER_LEN: usize = 4 + 8 + 4;
const FOOTER_LEN: usize = 8 + 4 + 4 + 4;

/// One chunk inside a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRecord {
    pub index: u64,
    pub payload: Bytes,
}

/// A decoded segment: chunks `first_index .. first_index + records.len()` of one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub epoch: Epoch,
    pub first_index: u64,
    pub records: Vec<SegmentRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("segment is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("segment has a bad magic number")]
    BadMagic,
    #[error("segment version {0} is not supported")]
    UnsupportedVersion(u16),
    #[error("segment checksum mismatch")]
    Checksum,
    #[error("segment is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("segment records are not contiguous")]
    NotContiguous,
    #[error("segment is empty")]
    Empty,
}

impl Segment {
    /// Builds a segment from contiguous records. Fails on an empty or non-contiguous range.
    pub fn new(epoch: Epoch, records: Vec<SegmentRecord>) -> Result<Self, SegmentError> {
        let first_index = records.first().ok_or(SegmentError::Empty)?.index;
        if records.iter().enumerate().any(|(i, r)| Some(r.index) != first_index.checked_add(i as u64)) {
            return Err(SegmentError::NotContiguous);
        }
        Ok(Self { epoch, first_index, records })
    }

    /// Index one past the last chunk.
    pub fn end_index(&self) -> u64 {
        self.first_index + self.records.len() as u64
    }

    pub fn encode(&self) -> Bytes {
        let payload_bytes: usize = self.records.iter().map(|r| r.payload.len() + RECORD_HEADER_LEN).sum();
        let mut buf = BytesMut::with_capacity(HEADER_LEN + payload_bytes + FOOTER_LEN + 64);
        buf.put_slice(MAGIC);
        buf.put_u16_le(VERSION);
        buf.put_u16_le(0);
        buf.put_u64_le(self.epoch.get());
        buf.put_u64_le(self.first_index);
        buf.put_u32_le(self.records.len() as u32);
        let mut index = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            if (i as u32).is_multiple_of(INDEX_STRIDE) {
                index.push((r.index, buf.len() as u64));
            }
            buf.put_u32_le(r.payload.len() as u32);
            buf.put_u64_le(r.index);
            buf.put_u32_le(crc32c::crc32c(&r.payload));
            buf.put_slice(&r.payload);
        }
        let index_pos = buf.len() as u64;
        for (idx, pos) in &index {
            buf.put_u64_le(*idx);
            buf.put_u64_le(*pos);
        }
        let crc = crc32c::crc32c(&buf);
        buf.put_u64_le(index_pos);
        buf.put_u32_le(index.len() as u32);
        buf.put_u32_le(crc);
        buf.put_slice(FOOTER_MAGIC);
        buf.freeze()
    }

    /// Decodes and fully verifies a segment.
    pub fn decode(data: &Bytes) -> Result<Self, SegmentError> {
        Self::decode_from(data, 0)
    }

    /// Decodes the records with `index >= from`, seeking with the sparse index. The whole-file
    /// checksum is still verified.
    pub fn decode_from(data: &Bytes, from: u64) -> Result<Self, SegmentError> {
        let layout = Layout::parse(data)?;
        let mut pos = layout.seek(data, from)?;
        let mut records = Vec::new();
        let end = layout.index_pos;
        let mut expected = None;
        while pos < end {
            let hdr = data.get(pos..pos + RECORD_HEADER_LEN).ok_or(SegmentError::Corrupt("record header"))?;
            let len = u32::from_le_bytes(hdr[0..4].try_into().expect("4 bytes")) as usize;
            let index = u64::from_le_bytes(hdr[4..12].try_into().expect("8 bytes"));
            let crc = u32::from_le_bytes(hdr[12..16].try_into().expect("4 bytes"));
            let start = pos + RECORD_HEADER_LEN;
            let stop = start.checked_add(len).filter(|s| *s <= end).ok_or(SegmentError::Corrupt("record length"))?;
            let payload = data.slice(start..stop);
            if crc32c::crc32c(&payload) != crc {
                return Err(SegmentError::Checksum);
            }
            if expected.is_some_and(|e| e != index) {
                return Err(SegmentError::NotContiguous);
            }
            expected = index.checked_add(1);
            if index >= from {
                records.push(SegmentRecord { index, payload });
            }
            pos = stop;
        }
        let total = layout.count as u64;
        let last = layout.first_index.checked_add(total).ok_or(SegmentError::Corrupt("count"))?;
        if expected.map(|e| e != last).unwrap_or(total != 0) {
            return Err(SegmentError::Corrupt("record count"));
        }
        if total == 0 {
            return Err(SegmentError::Empty);
        }
        let first_index = records.first().map_or(last, |r| r.index);
        Ok(Self { epoch: layout.epoch, first_index, records })
    }
}

struct Layout {
    epoch: Epoch,
    first_index: u64,
    count: u32,
    index_pos: usize,
    index_entries: usize,
}

impl Layout {
    fn parse(data: &[u8]) -> Result<Self, SegmentError> {
        if data.len() < HEADER_LEN + FOOTER_LEN {
            return Err(SegmentError::Truncated(data.len()));
        }
        if &data[0..4] != MAGIC {
            return Err(SegmentError::BadMagic);
        }
        let version = u16::from_le_bytes([data[4], data[5]]);
        if version != VERSION {
            return Err(SegmentError::UnsupportedVersion(version));
        }
        let footer = &data[data.len() - FOOTER_LEN..];
        if &footer[16..20] != FOOTER_MAGIC {
            return Err(SegmentError::BadMagic);
        }
        let body = &data[..data.len() - FOOTER_LEN];
        let crc = u32::from_le_bytes(footer[12..16].try_into().expect("4 bytes"));
        if crc32c::crc32c(body) != crc {
            return Err(SegmentError::Checksum);
        }
        let epoch = Epoch::new(u64::from_le_bytes(data[8..16].try_into().expect("8 bytes")))
            .ok_or(SegmentError::Corrupt("epoch 0"))?;
        let first_index = u64::from_le_bytes(data[16..24].try_into().expect("8 bytes"));
        let count = u32::from_le_bytes(data[24..28].try_into().expect("4 bytes"));
        let index_pos = u64::from_le_bytes(footer[0..8].try_into().expect("8 bytes"));
        let index_entries = u32::from_le_bytes(footer[8..12].try_into().expect("4 bytes")) as usize;
        let index_pos = usize::try_from(index_pos).map_err(|_| SegmentError::Corrupt("index position"))?;
        let index_end = index_entries.checked_mul(16).and_then(|n| n.checked_add(index_pos));
        if index_pos < HEADER_LEN || index_end != Some(body.len()) {
            return Err(SegmentError::Corrupt("index position"));
        }
        Ok(Self { epoch, first_index, count, index_pos, index_entries })
    }

    /// Byte position of the last indexed record at or before `from`.
    fn seek(&self, data: &[u8], from: u64) -> Result<usize, SegmentError> {
        let mut pos = HEADER_LEN;
        for i in 0..self.index_entries {
            let at = self.index_pos + i * 16;
            let idx = u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
            let rec = u64::from_le_bytes(data[at + 8..at + 16].try_into().expect("8 bytes"));
            if idx > from {
                break;
            }
            let rec = usize::try_from(rec).map_err(|_| SegmentError::Corrupt("index entry"))?;
            if rec < HEADER_LEN || rec >= self.index_pos {
                return Err(SegmentError::Corrupt("index entry"));
            }
            pos = rec;
        }
        if pos != HEADER_LEN && from < self.first_index {
            return Err(SegmentError::Corrupt("index entry"));
        }
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segment(first: u64, payloads: &[Vec<u8>]) -> Segment {
        let records = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| SegmentRecord { index: first + i as u64, payload: Bytes::from(p.clone()) })
            .collect();
        Segment::new(Epoch::new(42).unwrap(), records).unwrap()
    }

    #[test]
    fn rejects_non_contiguous_and_empty() {
        let e = Epoch::new(1).unwrap();
        assert_eq!(Segment::new(e, vec![]), Err(SegmentError::Empty));
        let recs =
            vec![SegmentRecord { index: 1, payload: Bytes::new() }, SegmentRecord { index: 3, payload: Bytes::new() }];
        assert_eq!(Segment::new(e, recs), Err(SegmentError::NotContiguous));
    }

    #[test]
    fn detects_bit_flips() {
        let seg = segment(5, &[b"hello".to_vec(), b"world".to_vec()]);
        let enc = seg.encode();
        for i in 0..enc.len() {
            let mut bad = enc.to_vec();
            bad[i] ^= 0x40;
            assert!(Segment::decode(&Bytes::from(bad)).is_err(), "flip at {i} undetected");
        }
    }

    proptest! {
        #[test]
        fn round_trip(first in 0u64..1_000_000, payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..300), from_off in 0u64..400) {
            let seg = segment(first, &payloads);
            let enc = seg.encode();
            prop_assert_eq!(Segment::decode(&enc).unwrap(), seg.clone());
            let from = first + from_off;
            let tail = Segment::decode_from(&enc, from).unwrap();
            let expect: Vec<_> = seg.records.iter().filter(|r| r.index >= from).cloned().collect();
            prop_assert_eq!(tail.records, expect);
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(data in proptest::collection::vec(any::<u8>(), 0..512), from in any::<u64>()) {
            let _ = Segment::decode_from(&Bytes::from(data), from);
        }

        #[test]
        fn truncation_is_an_error(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..32), 1..20), cut in 1usize..64) {
            let enc = segment(0, &payloads).encode();
            let cut = cut.min(enc.len());
            prop_assert!(Segment::decode(&enc.slice(..enc.len() - cut)).is_err());
        }
    }
}
