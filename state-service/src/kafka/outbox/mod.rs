//! The lifecycle-event outbox: a bounded, durable FIFO between the requests that emit events
//! and the relay that delivers them to Kafka, so a Kafka outage never blocks an append.
//!
//! One trait, two implementations (a redb table beside the embedded hot log, a Redis stream
//! beside the Redis hot log) and one conformance suite (`crate::conformance::outbox`). Past the
//! bound the outbox refuses the newest events: what it holds, and so what Kafka receives, is a
//! contiguous prefix of what happened (docs/OPERATIONS.md).

pub mod embedded;
pub mod redis;

use std::time::Duration;

use bytes::Bytes;

use crate::store::BackendError;

/// Identifies one stored event (the redb key, or the Redis stream entry id). Opaque.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutboxId(pub(crate) String);

impl OutboxId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One stored event document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: OutboxId,
    pub payload: Bytes,
}

#[async_trait::async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Appends `events` in order, durably, while fewer than `max` are held; returns how many
    /// were stored (a prefix of `events`: the newest past the bound are refused).
    async fn push(&self, events: &[Bytes], max: u64) -> Result<usize, BackendError>;

    /// The oldest `limit` events, oldest first.
    async fn peek(&self, limit: usize) -> Result<Vec<OutboxEntry>, BackendError>;

    /// Removes delivered events (unknown ids are ignored).
    async fn remove(&self, ids: &[OutboxId]) -> Result<(), BackendError>;

    /// How many events are held.
    async fn depth(&self) -> Result<u64, BackendError>;

    /// Takes or renews the relay lease for `holder`: with a shared store only one instance
    /// relays at a time (false: another holds it). The embedded store has one owner.
    async fn lease(&self, holder: &str, ttl: Duration) -> Result<bool, BackendError>;

    /// Tier name for logs (`embedded`, `redis`).
    fn tier(&self) -> &'static str;
}
