//! The edge's upstream framing: how the state service streams chunks *with their offsets* to
//! an edge (`GET /v1/frames/{name}`), so chunk boundaries and positions survive the hop.
//!
//! Stable format, version 1 (see docs/FORMATS.md). The body starts with the 4-byte magic
//! `TFR1`, then a sequence of frames, each `tag: u8` followed by tag-specific fields (integers
//! big-endian):
//!
//! | tag | frame      | fields                                                              |
//! |-----|------------|---------------------------------------------------------------------|
//! | 1   | `Chunk`    | index u64, epoch u64 (0 at index 0), next epoch u64, len u32, bytes |
//! | 2   | `Tail`     | next index u64, next epoch u64, flags u8 (bit 0 closed)             |
//! | 3   | `Keepalive`| -                                                                   |
//! | 4   | `Gone`     | reason u8 (1 deleted, 2 replaced)                                   |
//!
//! `Chunk` carries the chunk's own offset and the offset after it (`next`): across a fork
//! boundary the two can belong to different epochs. `Tail` says the reader is caught up to the
//! tail at that moment (and whether the stream is closed there). `Gone` ends a live response
//! because the stream was deleted or replaced by a new incarnation.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{Epoch, Offset};

/// First bytes of every framed body.
pub const MAGIC: &[u8; 4] = b"TFR1";
/// Media type of a framed body.
pub const CONTENT_TYPE: &str = "application/vnd.tether.frames.v1";
/// Largest chunk a frame may carry; a decoder refuses more rather than allocating blindly.
pub const MAX_FRAME_PAYLOAD: usize = 64 << 20;

const TAG_CHUNK: u8 = 1;
const TAG_TAIL: u8 = 2;
const TAG_KEEPALIVE: u8 = 3;
const TAG_GONE: u8 = 4;

/// Why a live response ended with `Gone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoneReason {
    Deleted,
    Replaced,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Chunk { offset: Offset, next: Offset, data: Bytes },
    Tail { next: Offset, closed: bool },
    Keepalive,
    Gone(GoneReason),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("framed body does not start with TFR1")]
    BadMagic,
    #[error("unknown frame tag {0}")]
    UnknownTag(u8),
    #[error("frame payload of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("offset fields are inconsistent (non-zero index with epoch 0)")]
    BadOffset,
    #[error("unknown gone reason {0}")]
    BadReason(u8),
}

fn put_offset(out: &mut BytesMut, o: Offset) {
    out.put_u64(o.index());
    out.put_u64(o.epoch().map_or(0, Epoch::get));
}

fn offset_from(index: u64, epoch: u64) -> Result<Offset, FrameError> {
    match (index, Epoch::new(epoch)) {
        (0, _) => Ok(Offset::ZERO),
        (i, Some(e)) => Ok(Offset::new(i, e)),
        (_, None) => Err(FrameError::BadOffset),
    }
}

impl Frame {
    /// Appends the encoded frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Chunk { offset, next, data } => {
                out.reserve(1 + 28 + 4 + data.len());
                out.put_u8(TAG_CHUNK);
                put_offset(out, *offset);
                out.put_u64(next.epoch().map_or(0, Epoch::get));
                out.put_u32(u32::try_from(data.len()).expect("chunks are far below 4 GiB"));
                out.put_slice(data);
            }
            Frame::Tail { next, closed } => {
                out.put_u8(TAG_TAIL);
                put_offset(out, *next);
                out.put_u8(u8::from(*closed));
            }
            Frame::Keepalive => out.put_u8(TAG_KEEPALIVE),
            Frame::Gone(reason) => {
                out.put_u8(TAG_GONE);
                out.put_u8(match reason {
                    GoneReason::Deleted => 1,
                    GoneReason::Replaced => 2,
                });
            }
        }
    }
}

/// Incremental decoder: feed it bytes as they arrive, take whole frames out.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
    seen_magic: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet decoded into a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if !self.seen_magic {
            if self.buf.len() < MAGIC.len() {
                return if MAGIC.starts_with(&self.buf) { Ok(None) } else { Err(FrameError::BadMagic) };
            }
            if &self.buf[..4] != MAGIC {
                return Err(FrameError::BadMagic);
            }
            self.buf.advance(4);
            self.seen_magic = true;
        }
        let Some(&tag) = self.buf.first() else { return Ok(None) };
        let need = match tag {
            TAG_CHUNK => {
                if self.buf.len() < 29 {
                    return Ok(None);
                }
                let len = u32::from_be_bytes(self.buf[25..29].try_into().expect("4 bytes")) as usize;
                if len > MAX_FRAME_PAYLOAD {
                    return Err(FrameError::TooLarge(len));
                }
                29 + len
            }
            TAG_TAIL => 18,
            TAG_KEEPALIVE => 1,
            TAG_GONE => 2,
            other => return Err(FrameError::UnknownTag(other)),
        };
        if self.buf.len() < need {
            return Ok(None);
        }
        let mut f = self.buf.split_to(need);
        f.advance(1);
        let frame = match tag {
            TAG_CHUNK => {
                let index = f.get_u64();
                let epoch = f.get_u64();
                let next_epoch = f.get_u64();
                let _len = f.get_u32();
                let offset = offset_from(index, epoch)?;
                let next = offset_from(index + 1, next_epoch)?;
                Frame::Chunk { offset, next, data: f.freeze() }
            }
            TAG_TAIL => {
                let next = offset_from(f.get_u64(), f.get_u64())?;
                Frame::Tail { next, closed: f.get_u8() & 1 == 1 }
            }
            TAG_KEEPALIVE => Frame::Keepalive,
            _ => Frame::Gone(match f.get_u8() {
                1 => GoneReason::Deleted,
                2 => GoneReason::Replaced,
                other => return Err(FrameError::BadReason(other)),
            }),
        };
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn offset() -> impl Strategy<Value = Offset> {
        (0u64..1 << 40, 1u64..u64::MAX).prop_map(|(i, e)| Offset::new(i, Epoch::new(e).expect("non-zero")))
    }

    fn frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (offset(), 1u64..u64::MAX, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(o, ne, d)| {
                let next = Offset::new(o.index() + 1, Epoch::new(ne).expect("non-zero"));
                Frame::Chunk { offset: o, next, data: Bytes::from(d) }
            }),
            (offset(), any::<bool>()).prop_map(|(next, closed)| Frame::Tail { next, closed }),
            Just(Frame::Keepalive),
            prop_oneof![Just(GoneReason::Deleted), Just(GoneReason::Replaced)].prop_map(Frame::Gone),
        ]
    }

    proptest! {
        /// Any frame sequence round-trips, however the bytes are split on arrival.
        #[test]
        fn round_trip_split_anywhere(frames in proptest::collection::vec(frame(), 0..20), cut in 1usize..64) {
            let mut wire = BytesMut::from(&MAGIC[..]);
            for f in &frames { f.encode(&mut wire); }
            let mut dec = Decoder::new();
            let mut got = Vec::new();
            for piece in wire.chunks(cut) {
                dec.feed(piece);
                while let Some(f) = dec.next_frame().expect("valid") { got.push(f); }
            }
            prop_assert_eq!(got, frames);
            prop_assert_eq!(dec.pending(), 0);
        }

        /// Garbage never panics: it decodes, waits for more, or errors.
        #[test]
        fn garbage_is_refused_not_fatal(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut dec = Decoder::new();
            dec.feed(MAGIC);
            dec.feed(&bytes);
            for _ in 0..200 {
                match dec.next_frame() { Ok(Some(_)) => continue, _ => break }
            }
        }
    }

    #[test]
    fn wrong_magic_and_huge_lengths_are_errors() {
        let mut dec = Decoder::new();
        dec.feed(b"HTTP");
        assert_eq!(dec.next_frame(), Err(FrameError::BadMagic));
        let mut dec = Decoder::new();
        dec.feed(MAGIC);
        let mut f = BytesMut::new();
        f.put_u8(TAG_CHUNK);
        f.put_u64(1);
        f.put_u64(1);
        f.put_u64(1);
        f.put_u32(u32::MAX);
        dec.feed(&f);
        assert!(matches!(dec.next_frame(), Err(FrameError::TooLarge(_))));
    }
}
