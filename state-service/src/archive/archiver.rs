//! The archiver: seals ranges of the hot log into segments, records them in the manifest, and
//! only then trims the hot log.
//!
//! Every step is idempotent, so a crash anywhere is completed by the next pass: a segment is
//! keyed by its first chunk and created with a conditional put (an existing object is verified
//! against the hot log and adopted), the manifest is rewritten atomically, and trimming below
//! an already-trimmed point is a no-op.

use std::sync::Arc;
use std::time::Duration;

use tether_protocol::{Offset, Segment, SegmentRecord};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::reader::ArchiveReader;
use super::{ArchiveError, Manifest, PutOutcome, SegmentEntry, load_manifest, manifest_key, segment_key, store_latest};
use crate::kafka::events::{EventKind, Events};
use crate::metrics::Metrics;
use crate::store::{BackendError, HotLog, StreamRecord};

/// When a range is sealed.
#[derive(Clone, Debug)]
pub struct SealPolicy {
    /// Seal once this many chunks are waiting (also the most per segment).
    pub max_chunks: u64,
    /// Seal once this many payload bytes wait (also the most per segment).
    pub max_bytes: usize,
    /// Seal whatever is waiting once the stream has been idle this long.
    pub idle: Duration,
    /// Seal whatever is waiting once it has waited this long, however busy the stream.
    pub max_age: Duration,
    /// Time between passes when nothing wakes the archiver.
    pub interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("archive and hot log disagree for {0}: {1}")]
    Inconsistent(String, String),
}

/// How long an archiving lease lasts; renewed between segments.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// Most incarnations whose archiving state this instance remembers.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Debug, PartialEq, Eq)]
enum Due {
    Nothing,
    Seal,
    /// Fully archived and closed: record the closed status in the manifest once.
    CloseSnapshot,
}

/// Chunks of `rec`'s own incarnation not archived yet.
fn waiting(rec: &StreamRecord) -> u64 {
    rec.tail - rec.hot_start.max(rec.base)
}

pub struct Archiver {
    hot: Arc<dyn HotLog>,
    /// This instance's lease identity.
    holder: String,
    reader: Arc<ArchiveReader>,
    policy: SealPolicy,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    /// When this instance first saw unarchived chunks of an incarnation (for `max_age`). Kept
    /// in memory: after a restart or a lease hand-over the clock starts again, which delays a
    /// seal by at most one `max_age`.
    waiting_since: std::sync::Mutex<std::collections::HashMap<Incarnation, i64>>,
    /// Closed incarnations whose manifest already records the closed status.
    closed_snapshots: std::sync::Mutex<std::collections::HashSet<Incarnation>>,
    /// `stream.archived` lifecycle events (a no-op unless configured).
    events: Events,
}

type Incarnation = (tether_protocol::StreamName, tether_protocol::Epoch);

impl Archiver {
    pub fn new(hot: Arc<dyn HotLog>, reader: Arc<ArchiveReader>, policy: SealPolicy, metrics: Arc<Metrics>) -> Self {
        let holder = format!("{:016x}", rand::random::<u64>());
        Self {
            hot,
            holder,
            reader,
            policy,
            metrics,
            wake: Arc::new(Notify::new()),
            waiting_since: Default::default(),
            closed_snapshots: Default::default(),
            events: Events::disabled(),
        }
    }

    /// Emits a `stream.archived` event for every segment this archiver lists.
    pub fn with_events(mut self, events: Events) -> Self {
        self.events = events;
        self
    }

    /// Wakes the archiver early (a stream was closed).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs passes until `shutdown`; failures are counted and retried with backoff.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = self.policy.interval;
        loop {
            let failed = match self.pass(crate::now_ms()).await {
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "archive pass failed; retrying with backoff");
                    self.metrics.archive_errors.inc();
                    true
                }
            };
            backoff = if failed { (backoff * 2).min(Duration::from_secs(30)) } else { self.policy.interval };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(backoff) => {}
            }
        }
    }

    /// One pass over every stream; returns the number of segments sealed. Streams with nothing
    /// due cost one record read; only due ones take the lease.
    pub async fn pass(&self, now_ms: i64) -> Result<usize, SealError> {
        let mut sealed = 0;
        let mut first_error = None;
        let mut backlog = 0;
        for name in self.hot.list().await? {
            let Some(rec) = self.hot.record(&name).await? else { continue };
            if self.due(&rec, now_ms) == Due::Nothing {
                backlog += waiting(&rec);
                continue;
            }
            // Another instance is archiving this stream right now.
            if !self.hot.lease(&name, &self.holder, LEASE_TTL).await? {
                continue;
            }
            let result = self.seal_stream(&rec, now_ms).await;
            self.hot.release(&name, &self.holder).await?;
            match result {
                Ok(n) => sealed += n,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            if let Some(after) = self.hot.record(&name).await? {
                backlog += waiting(&after);
            }
        }
        self.metrics.hot_chunks.set(backlog as i64);
        match first_error {
            Some(e) => Err(e),
            None => Ok(sealed),
        }
    }

    /// What the archiver owes this stream now.
    fn due(&self, rec: &StreamRecord, now_ms: i64) -> Due {
        let key = (rec.name.clone(), rec.epoch);
        let waiting = waiting(rec);
        if waiting == 0 {
            self.waiting_since.lock().expect("waiting lock").remove(&key);
            let snapshotted = self.closed_snapshots.lock().expect("snapshot lock").contains(&key);
            return if rec.closed && !snapshotted { Due::CloseSnapshot } else { Due::Nothing };
        }
        let old = {
            let mut since = self.waiting_since.lock().expect("waiting lock");
            now_ms - *since.entry(key).or_insert(now_ms) >= self.policy.max_age.as_millis() as i64
        };
        let idle = now_ms - rec.last_write_ms >= self.policy.idle.as_millis() as i64;
        let big = rec.hot_bytes >= self.policy.max_bytes as u64;
        if waiting >= self.policy.max_chunks || big || rec.closed || idle || old { Due::Seal } else { Due::Nothing }
    }

    /// Seals every due range of one stream.
    pub async fn seal_stream(&self, rec: &StreamRecord, now_ms: i64) -> Result<usize, SealError> {
        let mut rec = rec.clone();
        let mut sealed = 0;
        loop {
            match self.due(&rec, now_ms) {
                Due::Nothing => return Ok(sealed),
                Due::CloseSnapshot => {
                    self.snapshot_closed(&rec).await?;
                    let mut done = self.closed_snapshots.lock().expect("snapshot lock");
                    if done.len() >= MAX_REMEMBERED {
                        // Bounded: forgetting only costs one manifest check per closed stream.
                        done.clear();
                    }
                    done.insert((rec.name.clone(), rec.epoch));
                    return Ok(sealed);
                }
                Due::Seal => {}
            }
            let start = rec.hot_start.max(rec.base);
            let end = self.seal_range(&rec, start).await?;
            self.events.emit(EventKind::StreamArchived {
                stream: rec.name.to_string(),
                epoch: rec.epoch.to_string(),
                first_offset: Offset::new(start, rec.epoch).to_string(),
                next_offset: Offset::new(end, rec.epoch).to_string(),
                chunks: end - start,
            });
            self.waiting_since.lock().expect("waiting lock").remove(&(rec.name.clone(), rec.epoch));
            self.hot.trim(&rec.name, rec.epoch, end).await?;
            self.metrics.segments_sealed.inc();
            sealed += 1;
            if !self.hot.lease(&rec.name, &self.holder, LEASE_TTL).await? {
                return Ok(sealed);
            }
            match self.hot.record(&rec.name).await? {
                Some(r) if r.epoch == rec.epoch => rec = r,
                _ => return Ok(sealed),
            }
        }
    }

    /// Writes the segment starting at `start` and lists it; returns its end.
    async fn seal_range(&self, rec: &StreamRecord, start: u64) -> Result<u64, SealError> {
        let until = rec.tail.min(start + self.policy.max_chunks);
        let chunks = self.hot.read(&rec.name, rec.epoch, start, until, self.policy.max_bytes).await?;
        if chunks.first().map(|c| c.index) != Some(start) {
            return Err(SealError::Inconsistent(rec.name.to_string(), format!("hot log lacks chunk {start}")));
        }
        let records: Vec<SegmentRecord> =
            chunks.into_iter().map(|c| SegmentRecord { index: c.index, payload: c.payload }).collect();
        let archive = self.reader.archive();
        let key = segment_key(&rec.name, rec.epoch, start);
        let segment =
            Segment::new(rec.epoch, records).map_err(|e| SealError::Inconsistent(key.clone(), e.to_string()))?;
        let encoded = segment.encode();
        let (end, bytes) = match archive.put_if_absent(&key, encoded.clone()).await? {
            PutOutcome::Created => {
                self.reader.cache_segment(&key, &encoded);
                (segment.end_index(), encoded.len() as u64)
            }
            PutOutcome::Exists => self.adopt_existing(&key, &segment).await?,
        };
        let mut manifest = load_manifest(archive.as_ref(), &rec.name, rec.epoch).await?.unwrap_or(Manifest {
            v: Manifest::VERSION,
            name: rec.name.clone(),
            epoch: rec.epoch,
            segments: Vec::new(),
            record: rec.clone(),
        });
        let listed_end = manifest.end().unwrap_or(rec.base);
        if listed_end >= end {
            // Listed by an earlier pass that crashed before trimming.
            return Ok(end);
        }
        if listed_end != start {
            return Err(SealError::Inconsistent(
                key,
                format!("manifest ends at {listed_end}, segment starts at {start}"),
            ));
        }
        manifest.segments.push(SegmentEntry { first: start, end, bytes });
        manifest.record = rec.clone();
        let json = serde_json::to_vec(&manifest).expect("manifest serialises");
        archive.put(&manifest_key(&rec.name, rec.epoch), json.into()).await?;
        self.reader.remember_manifest(&manifest);
        store_latest(archive.as_ref(), &rec.name, rec.epoch).await?;
        Ok(end)
    }

    /// A segment object already exists at `key` (an earlier pass crashed after writing it):
    /// adopt it when its records match the hot log's.
    async fn adopt_existing(&self, key: &str, ours: &Segment) -> Result<(u64, u64), SealError> {
        let data = self
            .reader
            .archive()
            .get(key)
            .await?
            .ok_or_else(|| SealError::Inconsistent(key.to_owned(), "segment vanished during adoption".into()))?;
        let theirs = Segment::decode(&data).map_err(|e| SealError::Inconsistent(key.to_owned(), e.to_string()))?;
        let n = theirs.records.len().min(ours.records.len());
        if theirs.epoch != ours.epoch
            || theirs.first_index != ours.first_index
            || theirs.records[..n] != ours.records[..n]
        {
            return Err(SealError::Inconsistent(key.to_owned(), "existing segment differs from the hot log".into()));
        }
        Ok((theirs.end_index(), data.len() as u64))
    }

    /// Keeps the manifest's record snapshot's closed flag true once the stream is closed.
    async fn snapshot_closed(&self, rec: &StreamRecord) -> Result<(), SealError> {
        if !rec.closed {
            return Ok(());
        }
        let archive = self.reader.archive();
        let Some(mut manifest) = load_manifest(archive.as_ref(), &rec.name, rec.epoch).await? else {
            return Ok(());
        };
        if manifest.record.closed {
            return Ok(());
        }
        manifest.record = rec.clone();
        let json = serde_json::to_vec(&manifest).expect("manifest serialises");
        archive.put(&manifest_key(&rec.name, rec.epoch), json.into()).await?;
        store_latest(archive.as_ref(), &rec.name, rec.epoch).await?;
        Ok(())
    }
}
