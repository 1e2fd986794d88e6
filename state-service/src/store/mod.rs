//! The hot log: stream metadata, recent chunks and idempotent-producer state, behind one trait.
//!
//! Every backend (embedded redb now, Redis next) implements [`HotLog`]; the protocol rules that
//! decide an append live in [`rules`] so each backend applies the same ones atomically with its
//! write. The conformance suite in `crate::conformance::hot_log` runs against every backend.

pub mod embedded;
pub mod notify;
pub mod redis;
pub mod rules;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tether_protocol::{Epoch, ProducerHeaders, StreamName};

pub use notify::{TailNotifier, TailState};

/// What a stream was created with; compared field by field for idempotent `PUT`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// As sent by the creator (trimmed); compared by [`media_type_eq`].
    pub content_type: String,
    /// Sliding time-to-live in seconds.
    pub ttl_secs: Option<u64>,
    /// Absolute expiry: the client's RFC 3339 text and its value in Unix milliseconds.
    pub expires_at: Option<ExpiresAt>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiresAt {
    pub text: String,
    pub unix_ms: i64,
}

/// One ancestor range a fork reads through: chunks `< until` not covered by an earlier entry
/// come from `name`'s incarnation `epoch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageEntry {
    pub name: StreamName,
    pub epoch: Epoch,
    pub until: u64,
}

/// The fork parameters a stream was created with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkOrigin {
    pub source: StreamName,
    pub source_epoch: Epoch,
    pub at: u64,
    pub sub_offset: u64,
}

/// Identity of the request that closed a stream, so its retry is recognised as a duplicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closer {
    pub producer: String,
    pub epoch: u64,
    pub seq: u64,
}

/// Persisted record of one stream incarnation (format v1, see docs/FORMATS.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    pub v: u8,
    pub name: StreamName,
    pub epoch: Epoch,
    pub config: StreamConfig,
    /// Index of the next chunk to be appended.
    pub tail: u64,
    /// First chunk of this epoch still held in the hot log; lower ones are archived.
    pub hot_start: u64,
    /// Fork base: chunks below it come from `lineage`. Zero for plain streams.
    pub base: u64,
    /// How the fork was requested, for idempotent re-creation.
    pub fork: Option<ForkOrigin>,
    pub lineage: Vec<LineageEntry>,
    pub closed: bool,
    pub closed_by: Option<Closer>,
    /// Last accepted `Stream-Seq`.
    pub stream_seq: Option<String>,
    pub created_ms: i64,
    /// Last write (append, create); reads are tracked by [`HotLog::touch`].
    pub last_write_ms: i64,
    /// Live forks that read through this incarnation.
    pub fork_refs: u32,
    /// Deleted while forks still read through it: 410 to clients, data kept for the forks.
    pub soft_deleted: bool,
    /// Sum of chunk payload bytes appended to this incarnation.
    pub bytes: u64,
    /// Payload bytes in the hot log not archived yet (a seal trigger).
    #[serde(default)]
    pub hot_bytes: u64,
}

impl StreamRecord {
    pub const VERSION: u8 = 1;

    /// Unix ms at which the stream expires given the last read touch, if it ever does.
    pub fn expiry_ms(&self, last_touch_ms: i64) -> Option<i64> {
        let sliding = self
            .config
            .ttl_secs
            .map(|ttl| self.last_write_ms.max(last_touch_ms).saturating_add((ttl as i64).saturating_mul(1000)));
        let absolute = self.config.expires_at.as_ref().map(|e| e.unix_ms);
        match (sliding, absolute) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when the stream has expired at `now_ms`, given its last read touch.
    pub fn expired(&self, last_touch_ms: i64, now_ms: i64) -> bool {
        self.expiry_ms(last_touch_ms).is_some_and(|at| at <= now_ms)
    }

    pub fn is_json(&self) -> bool {
        is_json_content_type(&self.config.content_type)
    }

    /// Incarnations this fork keeps alive: every lineage entry plus its direct source (which a
    /// fork at the source's base needs no data from, but still references).
    pub fn references(&self) -> Vec<(StreamName, Epoch)> {
        fork_references(&self.lineage, self.fork.as_ref())
    }

    /// The incarnation that holds chunk `index` and the end (exclusive) of that run.
    pub fn owner_of(&self, index: u64) -> (&StreamName, Epoch, u64) {
        for entry in &self.lineage {
            if index < entry.until {
                return (&entry.name, entry.epoch, entry.until);
            }
        }
        (&self.name, self.epoch, self.tail)
    }

    /// Epoch to mint into the offset at `index` (the incarnation that owns the chunk there).
    pub fn epoch_at(&self, index: u64) -> Epoch {
        self.owner_of(index).1
    }

    /// True when `epoch` may mint an offset at `index` of this stream.
    pub fn accepts_offset(&self, index: u64, epoch: Epoch) -> bool {
        if epoch == self.epoch {
            return index >= self.base && index <= self.tail;
        }
        let mut lower = 0;
        for entry in &self.lineage {
            if entry.epoch == epoch && index >= lower && index <= entry.until {
                return true;
            }
            lower = entry.until;
        }
        false
    }
}

/// Incarnations a fork with this lineage and origin keeps alive.
pub fn fork_references(lineage: &[LineageEntry], fork: Option<&ForkOrigin>) -> Vec<(StreamName, Epoch)> {
    let mut refs: Vec<(StreamName, Epoch)> = lineage.iter().map(|e| (e.name.clone(), e.epoch)).collect();
    if let Some(origin) = fork
        && !refs.iter().any(|(_, e)| *e == origin.source_epoch)
    {
        refs.push((origin.source.clone(), origin.source_epoch));
    }
    refs
}

/// Compares content types by media type, case-insensitively, ignoring parameters.
pub fn media_type_eq(a: &str, b: &str) -> bool {
    essence(a) == essence(b)
}

/// The media type of a content type, lowercased, without parameters.
pub fn essence(ct: &str) -> String {
    ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

pub fn is_json_content_type(ct: &str) -> bool {
    essence(ct) == "application/json"
}

/// Text streams travel as UTF-8 in SSE; everything else is base64.
pub fn is_text_content_type(ct: &str) -> bool {
    let e = essence(ct);
    e.starts_with("text/") || e == "application/json"
}

/// Idempotent-producer state of one `(incarnation, producer id)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerState {
    pub epoch: u64,
    pub last_seq: u64,
}

/// A stored chunk: one accepted append (for JSON streams, its messages joined by `,`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub index: u64,
    pub payload: Bytes,
}

/// Fork parameters, already resolved against the source by the caller's validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkSpec {
    pub source: StreamName,
    /// `None`: the source's tail at creation time.
    pub at: Option<tether_protocol::Offset>,
    pub sub_offset: u64,
    /// The source's chunk at `at`, read by the caller when `sub_offset > 0` (chunks are
    /// immutable, so reading it before the atomic create is safe).
    pub chunk_at: Option<Bytes>,
}

#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub name: StreamName,
    pub config: StreamConfig,
    /// Whether the request named a content type (forks inherit the source's otherwise).
    pub explicit_content_type: bool,
    pub closed: bool,
    /// The initial append, already validated (JSON messages joined by `,`).
    pub initial: Option<Bytes>,
    pub fork: Option<ForkSpec>,
}

#[derive(Clone, Debug)]
pub struct CreateOutcome {
    pub created: bool,
    pub record: StreamRecord,
}

#[derive(Clone, Debug)]
pub struct AppendRequest {
    /// `None` for a close-only request.
    pub payload: Option<Bytes>,
    pub content_type: Option<String>,
    pub stream_seq: Option<String>,
    pub producer: Option<ProducerHeaders>,
    pub close: bool,
    /// How `producer.seq` is checked; HTTP requests are always [`SeqMode::Contiguous`].
    pub seq_mode: SeqMode,
}

/// How an idempotent producer's sequence numbers advance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeqMode {
    /// Durable Streams semantics: a new `(producer, epoch)` starts at 0 and each accepted seq is
    /// the last plus one; a gap is refused (409).
    #[default]
    Contiguous,
    /// Internal producers whose sequence numbers have legal gaps (Kafka offsets: a partition
    /// feeds many streams). Any seq above the last is accepted, a new epoch may start anywhere,
    /// and a seq at or below the last is a duplicate. Never reachable from HTTP.
    Monotonic,
}

/// How an accepted append was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendKind {
    /// New data (or a new close) was written.
    Written,
    /// A retry of something already applied; nothing changed.
    Duplicate,
    /// Close-only on a stream that was already closed.
    AlreadyClosed,
}

#[derive(Clone, Debug)]
pub struct AppendOutcome {
    pub kind: AppendKind,
    pub tail: u64,
    pub epoch: Epoch,
    pub closed: bool,
    /// `(epoch, highest accepted seq)` to echo for producer requests.
    pub producer_ack: Option<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Removed, with every incarnation whose data went with it (the stream itself and any
    /// soft-deleted ancestors whose last fork this was), so their archives can go too.
    Deleted(Vec<(StreamName, Epoch)>),
    /// Forks still read through it; kept as soft-deleted.
    SoftDeleted,
}

/// Failures a backend itself can have (as opposed to protocol verdicts).
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CreateError {
    #[error("stream exists with a different configuration")]
    ConfigMismatch,
    #[error("stream was deleted but forks still read it; the name cannot be reused yet")]
    NameSoftDeleted,
    #[error("fork source {0} does not exist")]
    SourceNotFound(StreamName),
    #[error("fork source {0} is deleted")]
    SourceSoftDeleted(StreamName),
    #[error("content type differs from the fork source's")]
    ForkContentTypeMismatch,
    #[error("fork offset is beyond the source's tail")]
    ForkOffsetBeyondTail,
    #[error("fork offset does not belong to the source stream")]
    ForkOffsetForeign,
    #[error("fork sub-offset {0} is past the next data boundary")]
    SubOffsetOvershoot(u64),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    #[error("stream not found")]
    NotFound,
    #[error("stream is deleted")]
    Gone,
    #[error("stream is closed")]
    Closed { tail: u64, epoch: Epoch },
    #[error("content type does not match the stream's")]
    ContentTypeMismatch,
    #[error("Stream-Seq {received:?} is not greater than the last accepted {last:?}")]
    SeqRegression { last: String, received: String },
    #[error("producer epoch {received} is older than the current {current}")]
    StaleProducerEpoch { current: u64, received: u64 },
    #[error("a new producer epoch must start at seq 0, got {0}")]
    NewEpochBadSeq(u64),
    #[error("producer sequence gap: expected {expected}, received {received}")]
    ProducerSeqGap { expected: u64, received: u64 },
    #[error("hot log is full: archive backlog exceeds the configured headroom")]
    Backpressure,
    #[error("too many appends are waiting for this stream; retry shortly")]
    Overloaded,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DeleteError {
    #[error("stream not found")]
    NotFound,
    #[error("stream is already deleted")]
    Gone,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// The hot log. Implementations apply each mutation atomically (record, chunks and producer
/// state together), group-commit concurrent mutations, and publish tail changes on
/// [`HotLog::notifier`] after they are durable.
#[async_trait::async_trait]
pub trait HotLog: Send + Sync + 'static {
    /// Creates a stream (or a fork), or confirms an identical one exists.
    async fn create(&self, req: CreateRequest, now_ms: i64) -> Result<CreateOutcome, CreateError>;

    /// Applies one append / close under the idempotent-producer and `Stream-Seq` rules.
    async fn append(&self, name: &StreamName, req: AppendRequest, now_ms: i64) -> Result<AppendOutcome, AppendError>;

    /// Applies `reqs` to one stream in order, in ONE atomic write: on `Ok` every verdict (and
    /// the data of every accepted request) is durable; on `Err` nothing was acknowledged, and
    /// a retry of the same requests is recognised request by request (the producer rules make
    /// it idempotent). Kafka ingest relies on the atomicity: with [`SeqMode::Monotonic`] a
    /// later request written without an earlier one would turn the earlier one's retry into a
    /// "duplicate". Callers bound the batch (the embedded writer and one Redis script take it
    /// whole).
    async fn append_batch(
        &self,
        name: &StreamName,
        reqs: Vec<AppendRequest>,
        now_ms: i64,
    ) -> Result<Vec<Result<AppendOutcome, AppendError>>, BackendError>;

    /// Deletes a stream (soft-deletes it while forks read through it), cascading to sources
    /// whose last fork this was.
    async fn delete(&self, name: &StreamName) -> Result<DeleteOutcome, DeleteError>;

    /// Deletes `name` if it is still incarnation `epoch` and has expired at `now_ms`;
    /// `None` when it was not (or no longer) expired.
    async fn expire(&self, name: &StreamName, epoch: Epoch, now_ms: i64)
    -> Result<Option<DeleteOutcome>, BackendError>;

    /// The current record, soft-deleted or expired ones included (the caller judges).
    async fn record(&self, name: &StreamName) -> Result<Option<StreamRecord>, BackendError>;

    /// Every stream name (for the archiver and the expiry sweeper).
    async fn list(&self) -> Result<Vec<StreamName>, BackendError>;

    /// Up to `max_bytes` (at least one chunk) of `name`'s incarnation `epoch` from
    /// `from` (inclusive) to `until` (exclusive), contiguous; empty when `from` is not held.
    async fn read(
        &self,
        name: &StreamName,
        epoch: Epoch,
        from: u64,
        until: u64,
        max_bytes: usize,
    ) -> Result<Vec<Chunk>, BackendError>;

    /// Records a read for the sliding TTL.
    async fn touch(&self, name: &StreamName, epoch: Epoch, now_ms: i64) -> Result<(), BackendError>;

    /// Last read touch recorded for the incarnation (0 if none).
    async fn last_touch(&self, name: &StreamName, epoch: Epoch) -> Result<i64, BackendError>;

    /// Drops chunks below `upto` once they are archived; moves `hot_start`.
    async fn trim(&self, name: &StreamName, epoch: Epoch, upto: u64) -> Result<(), BackendError>;

    /// Puts back a record rebuilt from its archive snapshot (the hot log forgot the stream);
    /// returns the record now current (someone else's if it was restored or recreated first).
    async fn restore(&self, rec: StreamRecord, now_ms: i64) -> Result<StreamRecord, BackendError>;

    /// Takes or renews the archiving lease of `name` for `holder` (false: someone else holds it).
    async fn lease(&self, name: &StreamName, holder: &str, ttl: std::time::Duration) -> Result<bool, BackendError>;

    /// Gives the lease back early.
    async fn release(&self, name: &StreamName, holder: &str) -> Result<(), BackendError>;

    /// True while the hot log has no headroom left (archive backlog too large): appends are
    /// refused with 503 until the archiver catches up.
    fn over_headroom(&self) -> bool;

    /// Name of the tier for metrics labels (`embedded`, `redis`).
    fn tier(&self) -> &'static str;

    /// Memory the backend uses, when it can tell (Redis `used_memory`).
    fn used_bytes(&self) -> Option<u64>;

    /// True while the backend answers (for `/readyz`).
    async fn ready(&self) -> bool;

    fn notifier(&self) -> &TailNotifier;
}
