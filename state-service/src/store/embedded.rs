//! Embedded hot log: one redb database file, written by a single group-commit thread.
//!
//! Concurrent mutations queue on a bounded channel; the writer drains up to
//! [`MAX_BATCH_OPS`] of them into one write transaction, applies each under the shared
//! [`rules`], commits once (fsync unless `fsync = false`), and only then answers and publishes
//! tail changes. An acknowledged append is therefore on disk, and a crash loses only requests
//! that were never acknowledged. Readers use redb's MVCC read transactions and never wait for
//! the writer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};
use tether_protocol::{Epoch, StreamName};
use tokio::sync::{mpsc, oneshot};

use super::rules::{self, decide_append};
use super::{
    AppendError, AppendKind, AppendOutcome, AppendRequest, BackendError, Chunk, CreateError, CreateOutcome,
    CreateRequest, DeleteError, DeleteOutcome, HotLog, ProducerState, StreamRecord, TailNotifier, TailState,
};

pub(crate) const STREAMS: TableDefinition<&str, &[u8]> = TableDefinition::new("streams_v1");
pub(crate) const CHUNKS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("chunks_v1");
pub(crate) const PRODUCERS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("producers_v1");
pub(crate) const EPOCHS: TableDefinition<u64, &str> = TableDefinition::new("epochs_v1");

/// Most mutations folded into one commit.
const MAX_BATCH_OPS: usize = 1024;
/// Bound of the writer queue; senders wait (backpressure) when it is full.
const QUEUE_DEPTH: usize = 4096;

type Reply<T> = oneshot::Sender<T>;

enum Op {
    Create(Box<CreateRequest>, i64, Reply<Result<CreateOutcome, CreateError>>),
    Append(StreamName, Box<AppendRequest>, i64, Reply<Result<AppendOutcome, AppendError>>),
    /// Several appends to one stream; they share the batch's transaction like every op.
    AppendBatch(
        StreamName,
        Vec<AppendRequest>,
        i64,
        Reply<Result<Vec<Result<AppendOutcome, AppendError>>, BackendError>>,
    ),
    Delete(StreamName, Reply<Result<DeleteOutcome, DeleteError>>),
    Expire(StreamName, Epoch, i64, Reply<Result<Option<DeleteOutcome>, BackendError>>),
    Trim(StreamName, Epoch, u64, Reply<Result<(), BackendError>>),
    Restore(Box<StreamRecord>, Reply<Result<StreamRecord, BackendError>>),
}

/// The result of applying one op inside a transaction, sent only after the commit.
enum Answer {
    Create(Box<Result<CreateOutcome, CreateError>>),
    Append(Result<AppendOutcome, AppendError>),
    AppendBatch(Vec<Result<AppendOutcome, AppendError>>),
    Delete(Result<DeleteOutcome, DeleteError>),
    Expire(Option<DeleteOutcome>),
    Trim,
    Restore(Box<StreamRecord>),
}

impl Op {
    /// Sends the committed answer. A caller that went away (client disconnected) simply misses
    /// it; the write is committed either way.
    fn respond(self, answer: Answer) {
        match (self, answer) {
            (Op::Create(_, _, r), Answer::Create(v)) => drop(r.send(*v)),
            (Op::Append(_, _, _, r), Answer::Append(v)) => drop(r.send(v)),
            (Op::AppendBatch(_, _, _, r), Answer::AppendBatch(v)) => drop(r.send(Ok(v))),
            (Op::Delete(_, r), Answer::Delete(v)) => drop(r.send(v)),
            (Op::Expire(_, _, _, r), Answer::Expire(v)) => drop(r.send(Ok(v))),
            (Op::Trim(_, _, _, r), Answer::Trim) => drop(r.send(Ok(()))),
            (Op::Restore(_, r), Answer::Restore(v)) => drop(r.send(Ok(*v))),
            _ => unreachable!("Batch::apply answers every op with its own variant"),
        }
    }

    /// Reports a failed (rolled back) batch.
    fn fail(self, e: &BackendError) {
        match self {
            Op::Create(_, _, r) => drop(r.send(Err(e.clone().into()))),
            Op::Append(_, _, _, r) => drop(r.send(Err(e.clone().into()))),
            Op::AppendBatch(_, _, _, r) => drop(r.send(Err(e.clone()))),
            Op::Delete(_, r) => drop(r.send(Err(e.clone().into()))),
            Op::Expire(_, _, _, r) => drop(r.send(Err(e.clone()))),
            Op::Trim(_, _, _, r) => drop(r.send(Err(e.clone()))),
            Op::Restore(_, r) => drop(r.send(Err(e.clone()))),
        }
    }
}

/// Shared state between the writer thread and readers.
struct Shared {
    db: Arc<Database>,
    /// Committed records, the read path's source of stream metadata.
    records: RwLock<HashMap<StreamName, StreamRecord>>,
    /// Last read per incarnation (sliding TTL); seeded with start-up time after a restart.
    touches: Mutex<HashMap<Epoch, i64>>,
    hot_chunks: AtomicU64,
    notifier: TailNotifier,
}

pub struct EmbeddedHotLog {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Op>,
    /// Appends are refused while more chunks than this wait to be archived.
    hot_max_chunks: u64,
}

fn backend<E: std::fmt::Display>(e: E) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

fn corrupt<E: std::fmt::Display>(e: E) -> BackendError {
    BackendError::Corrupt(e.to_string())
}

/// Opens (or creates) the redb file shared by the embedded hot log and session store.
pub fn open_database(dir: &Path) -> Result<Arc<Database>, BackendError> {
    std::fs::create_dir_all(dir).map_err(backend)?;
    let db = Database::create(dir.join("tether.redb")).map_err(backend)?;
    let txn = db.begin_write().map_err(backend)?;
    txn.open_table(STREAMS).map_err(backend)?;
    txn.open_table(CHUNKS).map_err(backend)?;
    txn.open_table(PRODUCERS).map_err(backend)?;
    txn.open_table(EPOCHS).map_err(backend)?;
    txn.open_table(crate::session::embedded::SESSIONS).map_err(backend)?;
    txn.commit().map_err(backend)?;
    Ok(Arc::new(db))
}

impl EmbeddedHotLog {
    /// Loads every record and starts the writer thread. `fsync = false` trades durability for
    /// speed and exists for benchmarks only.
    pub fn open(db: Arc<Database>, fsync: bool, hot_max_chunks: u64, now_ms: i64) -> Result<Arc<Self>, BackendError> {
        let mut records = HashMap::new();
        let mut hot = 0;
        {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(STREAMS).map_err(backend)?;
            for row in table.iter().map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                let rec: StreamRecord = serde_json::from_slice(v.value()).map_err(corrupt)?;
                hot += rec.tail.saturating_sub(rec.hot_start.max(rec.base));
                records.insert(rec.name.clone(), rec);
            }
        }
        let touches = records.values().map(|r| (r.epoch, now_ms)).collect();
        let shared = Arc::new(Shared {
            db,
            records: RwLock::new(records),
            touches: Mutex::new(touches),
            hot_chunks: AtomicU64::new(hot),
            notifier: TailNotifier::default(),
        });
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let writer_shared = shared.clone();
        std::thread::Builder::new()
            .name("tether-redb-writer".into())
            .spawn(move || writer_loop(writer_shared, rx, fsync))
            .map_err(backend)?;
        Ok(Arc::new(Self { shared, tx, hot_max_chunks }))
    }

    async fn submit<T>(&self, make: impl FnOnce(Reply<T>) -> Op) -> Result<T, BackendError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| backend("writer stopped"))?;
        rx.await.map_err(|_| backend("writer dropped the request"))
    }
}

#[async_trait::async_trait]
impl HotLog for EmbeddedHotLog {
    async fn create(&self, req: CreateRequest, now_ms: i64) -> Result<CreateOutcome, CreateError> {
        self.submit(|r| Op::Create(Box::new(req), now_ms, r)).await?
    }

    async fn append(&self, name: &StreamName, req: AppendRequest, now_ms: i64) -> Result<AppendOutcome, AppendError> {
        self.submit(|r| Op::Append(name.clone(), Box::new(req), now_ms, r)).await?
    }

    async fn append_batch(
        &self,
        name: &StreamName,
        reqs: Vec<AppendRequest>,
        now_ms: i64,
    ) -> Result<Vec<Result<AppendOutcome, AppendError>>, BackendError> {
        // One op: the writer applies it inside one transaction, so it commits whole or not at all.
        self.submit(|r| Op::AppendBatch(name.clone(), reqs, now_ms, r)).await?
    }

    async fn delete(&self, name: &StreamName) -> Result<DeleteOutcome, DeleteError> {
        self.submit(|r| Op::Delete(name.clone(), r)).await?
    }

    async fn expire(
        &self,
        name: &StreamName,
        epoch: Epoch,
        now_ms: i64,
    ) -> Result<Option<DeleteOutcome>, BackendError> {
        self.submit(|r| Op::Expire(name.clone(), epoch, now_ms, r)).await?
    }

    async fn record(&self, name: &StreamName) -> Result<Option<StreamRecord>, BackendError> {
        Ok(self.shared.records.read().expect("records lock").get(name).cloned())
    }

    async fn list(&self) -> Result<Vec<StreamName>, BackendError> {
        Ok(self.shared.records.read().expect("records lock").keys().cloned().collect())
    }

    async fn read(
        &self,
        _name: &StreamName,
        epoch: Epoch,
        from: u64,
        until: u64,
        max_bytes: usize,
    ) -> Result<Vec<Chunk>, BackendError> {
        let db = self.shared.db.clone();
        tokio::task::spawn_blocking(move || read_chunks(&db, epoch, from, until, max_bytes)).await.map_err(backend)?
    }

    async fn touch(&self, _name: &StreamName, epoch: Epoch, now_ms: i64) -> Result<(), BackendError> {
        let mut t = self.shared.touches.lock().expect("touch lock");
        let e = t.entry(epoch).or_insert(now_ms);
        *e = (*e).max(now_ms);
        Ok(())
    }

    async fn last_touch(&self, _name: &StreamName, epoch: Epoch) -> Result<i64, BackendError> {
        Ok(self.shared.touches.lock().expect("touch lock").get(&epoch).copied().unwrap_or(0))
    }

    async fn trim(&self, name: &StreamName, epoch: Epoch, upto: u64) -> Result<(), BackendError> {
        self.submit(|r| Op::Trim(name.clone(), epoch, upto, r)).await?
    }

    async fn restore(&self, rec: StreamRecord, now_ms: i64) -> Result<StreamRecord, BackendError> {
        self.shared.touches.lock().expect("touch lock").insert(rec.epoch, now_ms);
        self.submit(|r| Op::Restore(Box::new(rec), r)).await?
    }

    /// One process owns the database file (redb locks it), so its archiver never competes.
    async fn lease(&self, _name: &StreamName, _holder: &str, _ttl: std::time::Duration) -> Result<bool, BackendError> {
        Ok(true)
    }

    async fn release(&self, _name: &StreamName, _holder: &str) -> Result<(), BackendError> {
        Ok(())
    }

    fn tier(&self) -> &'static str {
        "embedded"
    }

    fn used_bytes(&self) -> Option<u64> {
        None
    }

    fn over_headroom(&self) -> bool {
        self.shared.hot_chunks.load(Ordering::Relaxed) >= self.hot_max_chunks
    }

    async fn ready(&self) -> bool {
        !self.tx.is_closed()
    }

    fn notifier(&self) -> &TailNotifier {
        &self.shared.notifier
    }
}

fn read_chunks(
    db: &Database,
    epoch: Epoch,
    from: u64,
    until: u64,
    max_bytes: usize,
) -> Result<Vec<Chunk>, BackendError> {
    let txn = db.begin_read().map_err(backend)?;
    let table = txn.open_table(CHUNKS).map_err(backend)?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for (expect, row) in (from..).zip(table.range((epoch.get(), from)..(epoch.get(), until)).map_err(backend)?) {
        let (k, v) = row.map_err(backend)?;
        let (_, index) = k.value();
        if index != expect || (!out.is_empty() && bytes + v.value().len() > max_bytes) {
            break;
        }
        bytes += v.value().len();
        out.push(Chunk { index, payload: Bytes::copy_from_slice(v.value()) });
        if bytes >= max_bytes {
            break;
        }
    }
    Ok(out)
}

fn writer_loop(shared: Arc<Shared>, mut rx: mpsc::Receiver<Op>, fsync: bool) {
    while let Some(first) = rx.blocking_recv() {
        let mut ops = vec![first];
        while ops.len() < MAX_BATCH_OPS {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        run_batch(&shared, ops, fsync);
    }
}

/// Records changed by the batch: `None` means removed.
type Changes = HashMap<StreamName, Option<StreamRecord>>;

struct Batch<'a> {
    txn: &'a WriteTransaction,
    shared: &'a Shared,
    changes: Changes,
    hot_delta: i64,
}

fn run_batch(shared: &Shared, ops: Vec<Op>, fsync: bool) {
    let applied = (|| -> Result<(Vec<Answer>, Changes, i64), BackendError> {
        let mut txn = shared.db.begin_write().map_err(backend)?;
        txn.set_durability(if fsync { Durability::Immediate } else { Durability::None });
        let mut batch = Batch { txn: &txn, shared, changes: HashMap::new(), hot_delta: 0 };
        let answers = ops.iter().map(|op| batch.apply(op)).collect::<Result<Vec<_>, _>>()?;
        let (changes, hot_delta) = (std::mem::take(&mut batch.changes), batch.hot_delta);
        drop(batch);
        txn.commit().map_err(backend)?;
        Ok((answers, changes, hot_delta))
    })();
    let (answers, changes, hot_delta) = match applied {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, ops = ops.len(), "group commit failed; the batch was rolled back");
            ops.into_iter().for_each(|op| op.fail(&e));
            return;
        }
    };
    if hot_delta >= 0 {
        shared.hot_chunks.fetch_add(hot_delta as u64, Ordering::Relaxed);
    } else {
        shared.hot_chunks.fetch_sub(hot_delta.unsigned_abs(), Ordering::Relaxed);
    }
    {
        let mut records = shared.records.write().expect("records lock");
        for (name, rec) in &changes {
            let old = match rec {
                Some(r) => records.insert(name.clone(), r.clone()),
                None => records.remove(name),
            };
            if let Some(old) = old.filter(|o| rec.as_ref().is_none_or(|r| r.epoch != o.epoch)) {
                shared.notifier.publish(old.epoch, TailState { tail: old.tail, closed: old.closed, gone: true });
            }
        }
    }
    for rec in changes.values().flatten() {
        let gone = rec.soft_deleted;
        shared.notifier.publish(rec.epoch, TailState { tail: rec.tail, closed: rec.closed, gone });
    }
    for (op, answer) in ops.into_iter().zip(answers) {
        op.respond(answer);
    }
}

impl Batch<'_> {
    /// Applies one op; a storage error aborts (rolls back) the whole batch.
    fn apply(&mut self, op: &Op) -> Result<Answer, BackendError> {
        Ok(match op {
            Op::Create(req, now, _) => Answer::Create(Box::new(self.create(req, *now)?)),
            Op::Append(name, req, now, _) => Answer::Append(self.append(name, req, *now)?),
            Op::AppendBatch(name, reqs, now, _) => {
                Answer::AppendBatch(reqs.iter().map(|req| self.append(name, req, *now)).collect::<Result<_, _>>()?)
            }
            Op::Delete(name, _) => Answer::Delete(self.delete(name)?),
            Op::Expire(name, epoch, now, _) => Answer::Expire(self.expire(name, *epoch, *now)?),
            Op::Trim(name, epoch, upto, _) => {
                self.trim(name, *epoch, *upto)?;
                Answer::Trim
            }
            Op::Restore(rec, _) => Answer::Restore(Box::new(self.restore(rec)?)),
        })
    }

    fn get(&self, name: &StreamName) -> Result<Option<StreamRecord>, BackendError> {
        if let Some(change) = self.changes.get(name) {
            return Ok(change.clone());
        }
        let table = self.txn.open_table(STREAMS).map_err(backend)?;
        let row = table.get(name.as_str()).map_err(backend)?;
        row.map(|v| serde_json::from_slice(v.value()).map_err(corrupt)).transpose()
    }

    fn put(&mut self, rec: &StreamRecord) -> Result<(), BackendError> {
        let json = serde_json::to_vec(rec).map_err(corrupt)?;
        let mut table = self.txn.open_table(STREAMS).map_err(backend)?;
        table.insert(rec.name.as_str(), json.as_slice()).map_err(backend)?;
        self.changes.insert(rec.name.clone(), Some(rec.clone()));
        Ok(())
    }

    fn write_chunk(&mut self, epoch: Epoch, index: u64, payload: &[u8]) -> Result<(), BackendError> {
        let mut table = self.txn.open_table(CHUNKS).map_err(backend)?;
        table.insert((epoch.get(), index), payload).map_err(backend)?;
        self.hot_delta += 1;
        Ok(())
    }

    fn expired(&self, rec: &StreamRecord, now: i64) -> bool {
        let touch = self.shared.touches.lock().expect("touch lock").get(&rec.epoch).copied().unwrap_or(0);
        rec.expired(touch, now)
    }

    fn fresh_epoch(&self, name: &StreamName) -> Result<Epoch, BackendError> {
        let mut table = self.txn.open_table(EPOCHS).map_err(backend)?;
        loop {
            let epoch = rules::new_epoch();
            if table.get(epoch.get()).map_err(backend)?.is_none() {
                table.insert(epoch.get(), name.as_str()).map_err(backend)?;
                return Ok(epoch);
            }
        }
    }

    fn create(&mut self, req: &CreateRequest, now: i64) -> Result<Result<CreateOutcome, CreateError>, BackendError> {
        if let Some(existing) = self.get(&req.name)? {
            if existing.soft_deleted {
                return Ok(Err(CreateError::NameSoftDeleted));
            }
            if !self.expired(&existing, now) {
                return Ok(rules::confirm_existing(existing, req));
            }
            if matches!(self.remove(existing)?, DeleteOutcome::SoftDeleted) {
                return Ok(Err(CreateError::NameSoftDeleted));
            }
        }
        let plan = match &req.fork {
            None => None,
            Some(spec) => {
                let source = match self.get(&spec.source)? {
                    Some(s) if !self.expired(&s, now) => s,
                    _ => return Ok(Err(CreateError::SourceNotFound(spec.source.clone()))),
                };
                let at = match rules::resolve_fork_at(&source, spec) {
                    Ok(at) => at,
                    Err(e) => return Ok(Err(e)),
                };
                match rules::plan_fork(&source, req, at) {
                    Ok(plan) => Some(plan),
                    Err(e) => return Ok(Err(e)),
                }
            }
        };
        let epoch = self.fresh_epoch(&req.name)?;
        let mut rec = StreamRecord {
            v: StreamRecord::VERSION,
            name: req.name.clone(),
            epoch,
            config: req.config.clone(),
            tail: 0,
            hot_start: 0,
            base: 0,
            fork: None,
            lineage: Vec::new(),
            closed: req.closed,
            closed_by: None,
            stream_seq: None,
            created_ms: now,
            last_write_ms: now,
            fork_refs: 0,
            soft_deleted: false,
            bytes: 0,
            hot_bytes: 0,
        };
        if let Some(plan) = plan {
            rec.config = plan.config;
            rec.base = plan.base;
            rec.tail = plan.base;
            rec.hot_start = plan.base;
            rec.lineage = plan.lineage;
            rec.fork = Some(plan.origin);
            if let Some(prefix) = plan.prefix {
                self.write_chunk(epoch, rec.tail, &prefix)?;
                rec.bytes += prefix.len() as u64;
                rec.hot_bytes += prefix.len() as u64;
                rec.tail += 1;
            }
            for (name, epoch) in rec.references() {
                self.adjust_refs(&name, epoch, 1)?;
            }
        }
        if let Some(initial) = &req.initial {
            self.write_chunk(epoch, rec.tail, initial)?;
            rec.bytes += initial.len() as u64;
            rec.hot_bytes += initial.len() as u64;
            rec.tail += 1;
        }
        self.put(&rec)?;
        self.shared.touches.lock().expect("touch lock").insert(epoch, now);
        Ok(Ok(CreateOutcome { created: true, record: rec }))
    }

    fn append(
        &mut self,
        name: &StreamName,
        req: &AppendRequest,
        now: i64,
    ) -> Result<Result<AppendOutcome, AppendError>, BackendError> {
        let mut rec = match self.get(name)? {
            Some(r) if !self.expired(&r, now) => r,
            _ => return Ok(Err(AppendError::NotFound)),
        };
        let producer = match &req.producer {
            None => None,
            Some(p) => {
                let table = self.txn.open_table(PRODUCERS).map_err(backend)?;
                let row = table.get((rec.epoch.get(), p.id.as_str())).map_err(backend)?;
                row.map(|v| serde_json::from_slice::<ProducerState>(v.value()).map_err(corrupt)).transpose()?
            }
        };
        let decision = match decide_append(&rec, producer.as_ref(), req) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        if decision.kind == AppendKind::Written {
            if let Some(payload) = &req.payload {
                self.write_chunk(rec.epoch, rec.tail, payload)?;
            }
            if let (Some(p), Some(state)) = (&req.producer, &decision.producer) {
                let json = serde_json::to_vec(state).map_err(corrupt)?;
                let mut table = self.txn.open_table(PRODUCERS).map_err(backend)?;
                table.insert((rec.epoch.get(), p.id.as_str()), json.as_slice()).map_err(backend)?;
            }
            rules::apply_append(&mut rec, req, now);
            self.put(&rec)?;
        }
        Ok(Ok(AppendOutcome {
            kind: decision.kind,
            tail: rec.tail,
            epoch: rec.epoch,
            closed: rec.closed,
            producer_ack: decision.producer_ack,
        }))
    }

    fn delete(&mut self, name: &StreamName) -> Result<Result<DeleteOutcome, DeleteError>, BackendError> {
        match self.get(name)? {
            None => Ok(Err(DeleteError::NotFound)),
            Some(r) if r.soft_deleted => Ok(Err(DeleteError::Gone)),
            Some(r) => self.remove(r).map(Ok),
        }
    }

    fn expire(&mut self, name: &StreamName, epoch: Epoch, now: i64) -> Result<Option<DeleteOutcome>, BackendError> {
        match self.get(name)? {
            Some(r) if r.epoch == epoch && !r.soft_deleted && self.expired(&r, now) => self.remove(r).map(Some),
            _ => Ok(None),
        }
    }

    /// Deletes an incarnation, or soft-deletes it while forks read through it; releasing its
    /// own references may in turn remove soft-deleted ancestors.
    fn remove(&mut self, mut rec: StreamRecord) -> Result<DeleteOutcome, BackendError> {
        if rec.fork_refs > 0 {
            rec.soft_deleted = true;
            self.put(&rec)?;
            return Ok(DeleteOutcome::SoftDeleted);
        }
        {
            let mut chunks = self.txn.open_table(CHUNKS).map_err(backend)?;
            let e = rec.epoch.get();
            let mut removed = 0i64;
            chunks
                .retain_in((e, 0)..=(e, u64::MAX), |_, _| {
                    removed += 1;
                    false
                })
                .map_err(backend)?;
            self.hot_delta -= removed;
            let mut producers = self.txn.open_table(PRODUCERS).map_err(backend)?;
            producers.retain_in((e, "")..(e.saturating_add(1), ""), |_, _| false).map_err(backend)?;
            let mut streams = self.txn.open_table(STREAMS).map_err(backend)?;
            streams.remove(rec.name.as_str()).map_err(backend)?;
        }
        self.changes.insert(rec.name.clone(), None);
        self.shared.touches.lock().expect("touch lock").remove(&rec.epoch);
        let mut removed = vec![(rec.name.clone(), rec.epoch)];
        for (name, epoch) in rec.references() {
            removed.extend(self.adjust_refs(&name, epoch, -1)?);
        }
        Ok(DeleteOutcome::Deleted(removed))
    }

    /// Changes a source's fork count; returns the incarnations removed by cascading GC.
    fn adjust_refs(
        &mut self,
        name: &StreamName,
        epoch: Epoch,
        delta: i32,
    ) -> Result<Vec<(StreamName, Epoch)>, BackendError> {
        let Some(mut src) = self.get(name)?.filter(|s| s.epoch == epoch) else {
            return Ok(Vec::new());
        };
        src.fork_refs = src.fork_refs.saturating_add_signed(delta);
        if src.soft_deleted && src.fork_refs == 0 {
            return match self.remove(src)? {
                DeleteOutcome::Deleted(removed) => Ok(removed),
                DeleteOutcome::SoftDeleted => Ok(Vec::new()),
            };
        }
        self.put(&src)?;
        Ok(Vec::new())
    }

    fn restore(&mut self, rec: &StreamRecord) -> Result<StreamRecord, BackendError> {
        if let Some(existing) = self.get(&rec.name)? {
            return Ok(existing);
        }
        let mut epochs = self.txn.open_table(EPOCHS).map_err(backend)?;
        epochs.insert(rec.epoch.get(), rec.name.as_str()).map_err(backend)?;
        drop(epochs);
        self.put(rec)?;
        Ok(rec.clone())
    }

    fn trim(&mut self, name: &StreamName, epoch: Epoch, upto: u64) -> Result<(), BackendError> {
        let Some(mut rec) = self.get(name)?.filter(|r| r.epoch == epoch) else {
            return Ok(());
        };
        let upto = upto.min(rec.tail);
        if upto <= rec.hot_start {
            return Ok(());
        }
        let e = epoch.get();
        let mut chunks = self.txn.open_table(CHUNKS).map_err(backend)?;
        let (mut removed, mut removed_bytes) = (0i64, 0u64);
        chunks
            .retain_in((e, rec.hot_start)..(e, upto), |_, v| {
                removed += 1;
                removed_bytes += v.len() as u64;
                false
            })
            .map_err(backend)?;
        drop(chunks);
        self.hot_delta -= removed;
        rec.hot_bytes = rec.hot_bytes.saturating_sub(removed_bytes);
        rec.hot_start = upto;
        self.put(&rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    #[test]
    fn tables_hold_their_counts() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_database(dir.path()).unwrap();
        let txn = db.begin_read().unwrap();
        assert_eq!(txn.open_table(CHUNKS).unwrap().len().unwrap(), 0);
    }
}
