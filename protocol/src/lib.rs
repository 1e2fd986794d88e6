//! Wire types, validated newtypes and codecs shared by Tether's edge and state service.
//!
//! Nothing here does I/O or knows about storage: the types are validated once at the boundary and
//! then trusted everywhere else.

pub mod epoch;
pub mod frames;
pub mod headers;
pub mod name;
pub mod offset;
pub mod producer;
pub mod segment;
pub mod session;
pub mod ws;

pub use epoch::Epoch;
pub use name::{StreamName, StreamNameError};
pub use offset::{Offset, OffsetError, ReadFrom};
pub use producer::{ProducerError, ProducerHeaders, ProducerId};
pub use segment::{Segment, SegmentError, SegmentRecord};
pub use session::{SessionId, SessionIdError};
