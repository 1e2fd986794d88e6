//! The stream service: the read path (hot log, then archive, stitched across fork lineage),
//! offset resolution and minting, and the glue between HTTP handlers and the storage traits.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tether_protocol::{Offset, ReadFrom, StreamName};
use tokio::sync::{Notify, watch};

use crate::archive::reader::{ArchiveRead, ArchiveReader};
use crate::archive::{ArchiveError, incarnation_prefix, load_latest};
use crate::config::Config;
use crate::kafka::events::{EventKind, Events};
use crate::metrics::Metrics;
use crate::store::{BackendError, Chunk, DeleteOutcome, HotLog, StreamRecord, TailState};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("stream not found")]
    NotFound,
    #[error("stream is deleted")]
    Gone,
    #[error("offset {0} is before the earliest retained data")]
    OffsetGone(String),
    #[error("offset {0} belongs to an earlier incarnation of this stream (deleted and recreated)")]
    StaleOffset(String),
    #[error("offset {0} is beyond the stream's tail")]
    OffsetBeyondTail(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

pub struct Streams {
    pub hot: Arc<dyn HotLog>,
    pub archive: Arc<ArchiveReader>,
    pub cfg: Config,
    pub metrics: Arc<Metrics>,
    pub archiver_wake: Arc<Notify>,
    /// Lifecycle events (a no-op without a Kafka events topic).
    pub events: Events,
}

/// The result of one bounded read.
pub struct ReadBatch {
    pub start: u64,
    pub chunks: Vec<Chunk>,
}

impl ReadBatch {
    pub fn next(&self) -> u64 {
        self.chunks.last().map_or(self.start, |c| c.index + 1)
    }
}

impl Streams {
    /// The current record of a stream clients may use: present, not soft-deleted, not expired.
    pub async fn live_record(&self, name: &StreamName, now_ms: i64) -> Result<StreamRecord, ReadError> {
        let rec = match self.hot.record(name).await? {
            Some(rec) => rec,
            None => self.recover(name, now_ms).await?.ok_or(ReadError::NotFound)?,
        };
        if rec.soft_deleted {
            return Err(ReadError::Gone);
        }
        let touch = self.hot.last_touch(name, rec.epoch).await?;
        if rec.expired(touch, now_ms) {
            return Err(ReadError::NotFound);
        }
        Ok(rec)
    }

    /// Rebuilds a stream the hot log has forgotten (Redis flushed or expired it) from its
    /// archive: same epoch, same offsets, closed status kept; new appends continue after the
    /// archived tail. `None` when the archive does not know the stream either.
    pub async fn recover(&self, name: &StreamName, now_ms: i64) -> Result<Option<StreamRecord>, ReadError> {
        let archive = self.archive.archive();
        let Some(epoch) = load_latest(archive.as_ref(), name).await? else { return Ok(None) };
        let Some(manifest) = self.archive.manifest(name, epoch).await? else { return Ok(None) };
        let mut rec = manifest.record.clone();
        let end = manifest.end().unwrap_or(rec.base);
        rec.closed = rec.closed && rec.tail <= end;
        rec.tail = end;
        rec.hot_start = end;
        rec.fork_refs = 0;
        rec.soft_deleted = false;
        rec.last_write_ms = now_ms;
        if rec.expired(now_ms, now_ms) {
            return Ok(None);
        }
        let restored = self.hot.restore(rec, now_ms).await?;
        self.metrics.streams_recovered.inc();
        tracing::info!(stream = %name, epoch = %restored.epoch, tail = restored.tail, "stream recovered from the archive");
        Ok(Some(restored))
    }

    /// The wire offset for position `index` of `rec`.
    pub fn mint(rec: &StreamRecord, index: u64) -> Offset {
        Offset::new(index, rec.epoch_at(index))
    }

    /// Turns a client position into a chunk index, refusing offsets of other incarnations.
    pub fn resolve(rec: &StreamRecord, from: ReadFrom) -> Result<u64, ReadError> {
        match from {
            ReadFrom::Start => Ok(0),
            ReadFrom::Now => Ok(rec.tail),
            ReadFrom::At(o) if o == Offset::ZERO => Ok(0),
            ReadFrom::At(o) => {
                let epoch = o.epoch().expect("non-zero offsets carry an epoch");
                if rec.accepts_offset(o.index(), epoch) {
                    Ok(o.index())
                } else if epoch == rec.epoch {
                    Err(ReadError::OffsetBeyondTail(o.to_string()))
                } else {
                    Err(ReadError::StaleOffset(o.to_string()))
                }
            }
        }
    }

    /// Up to `max_bytes` (at least one chunk) from `from`, across lineage, hot log and archive.
    pub async fn read(&self, rec: &StreamRecord, from: u64, max_bytes: usize) -> Result<ReadBatch, ReadError> {
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut bytes = 0usize;
        let mut at = from;
        while at < rec.tail && (chunks.is_empty() || bytes < max_bytes) {
            let (name, epoch, until) = rec.owner_of(at);
            let budget = max_bytes.saturating_sub(bytes).max(1);
            let mut got = self.hot.read(name, epoch, at, until, budget).await?;
            let tier = self.hot.tier();
            if got.is_empty() {
                self.metrics.read_source.with_label_values(&[tier, "miss"]).inc();
                got = match self.archive.read(name, epoch, at, until, budget).await? {
                    ArchiveRead::Chunks(c) => c,
                    ArchiveRead::Missing if chunks.is_empty() => {
                        self.metrics.read_source.with_label_values(&[self.archive.archive().tier(), "miss"]).inc();
                        return Err(ReadError::OffsetGone(Self::mint(rec, at).to_string()));
                    }
                    ArchiveRead::Missing => break,
                };
            } else {
                self.metrics.read_source.with_label_values(&[tier, "hit"]).inc();
            }
            for c in got {
                if !chunks.is_empty() && bytes + c.payload.len() > max_bytes {
                    return Ok(ReadBatch { start: from, chunks });
                }
                bytes += c.payload.len();
                at = c.index + 1;
                chunks.push(c);
            }
        }
        Ok(ReadBatch { start: from, chunks })
    }

    /// Subscribes to tail changes of `rec`'s own incarnation (forks wait for their own appends).
    pub fn watch(&self, rec: &StreamRecord) -> watch::Receiver<TailState> {
        self.hot.notifier().subscribe(rec.epoch, TailState { tail: rec.tail, closed: rec.closed, gone: false })
    }

    /// Reads one chunk at `index` (fork sub-offsets need the source chunk's bytes).
    pub async fn chunk_at(&self, rec: &StreamRecord, index: u64) -> Result<Option<Bytes>, ReadError> {
        if index >= rec.tail {
            return Ok(None);
        }
        let batch = self.read(rec, index, 1).await?;
        Ok(batch.chunks.into_iter().next().filter(|c| c.index == index).map(|c| c.payload))
    }

    /// Removes archived data of incarnations the hot log has dropped.
    pub fn forget(&self, outcome: &DeleteOutcome) {
        let DeleteOutcome::Deleted(removed) = outcome else { return };
        for (name, epoch) in removed.clone() {
            let archive = self.archive.archive().clone();
            tokio::spawn(async move {
                if let Err(e) = archive.delete_prefix(&incarnation_prefix(&name, epoch)).await {
                    tracing::warn!(stream = %name, %epoch, error = %e, "could not delete archived segments");
                }
            });
        }
    }

    /// Deletes streams whose TTL or Expires-At has passed; returns how many were removed.
    pub async fn sweep_expired(&self, now_ms: i64) -> Result<usize, BackendError> {
        let mut removed = 0;
        for name in self.hot.list().await? {
            let Some(rec) = self.hot.record(&name).await? else { continue };
            let touch = self.hot.last_touch(&name, rec.epoch).await?;
            if rec.soft_deleted || !rec.expired(touch, now_ms) {
                continue;
            }
            if let Some(outcome) = self.hot.expire(&name, rec.epoch, now_ms).await? {
                self.metrics.streams_expired.inc();
                self.events.emit(EventKind::StreamExpired { stream: name.to_string(), epoch: rec.epoch.to_string() });
                self.forget(&outcome);
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Concatenates chunk payloads (byte streams) or wraps JSON messages in one array.
pub fn render_body(json: bool, chunks: &[Chunk]) -> Bytes {
    let size: usize = chunks.iter().map(|c| c.payload.len() + 1).sum();
    let mut out = BytesMut::with_capacity(size + 2);
    if json {
        out.extend_from_slice(b"[");
    }
    for (i, c) in chunks.iter().enumerate() {
        if json && i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(&c.payload);
    }
    if json {
        out.extend_from_slice(b"]");
    }
    out.freeze()
}
