//! Redis hot log: stream records, chunks and producer state in Redis, shared by every
//! state-service instance.
//!
//! Key layout (all keys of a stream share the hash tag `{name}`, so scripts stay in one slot on
//! Redis Cluster; see docs/FORMATS.md): `ts:{name}:r` record hash, `ts:{name}:c` chunk stream
//! (entry id `<index>-1`), `ts:{name}:p` producer hash, channel `ts:{name}:n`, plus the index set
//! `tether:streams`. Every mutation is one Lua script (`lua/*.lua`) that checks, writes and
//! publishes atomically. Concurrent appends to one stream are group-committed: one leader task
//! per stream sends everything queued as one script call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use deadpool_redis::Pool;
use futures::StreamExt;
use redis::{Script, Value};
use serde::{Deserialize, Serialize};
use tether_protocol::{Epoch, StreamName};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::essence;
use super::rules;
use super::{
    AppendError, AppendKind, AppendOutcome, AppendRequest, BackendError, Chunk, Closer, CreateError, CreateOutcome,
    CreateRequest, DeleteError, DeleteOutcome, ForkOrigin, HotLog, LineageEntry, SeqMode, StreamConfig, StreamRecord,
    TailNotifier, TailState,
};

const COMMON: &str = include_str!("lua/common.lua");
/// Most requests folded into one append script call.
const MAX_BATCH: usize = 256;
/// Most appends waiting for one stream's leader; past it appends answer 503 + `Retry-After`.
const MAX_QUEUED_PER_STREAM: usize = 4096;
/// Most payload bytes folded into one append script call (a single larger request still goes).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Chunks fetched per `XRANGE` page.
const READ_PAGE: usize = 256;
/// Reads extend a sliding TTL at most this often per incarnation and instance.
const TOUCH_EVERY_MS: i64 = 1000;
const STREAMS_INDEX: &str = "tether:streams";
/// Most incarnations whose last touch this instance remembers.
const MAX_TOUCH_ENTRIES: usize = 100_000;

/// How the Redis hot log acknowledges and bounds itself.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    pub url: String,
    /// Acknowledge only after `WAIT`-ing for this many replicas (0: after the primary).
    pub wait_replicas: u32,
    pub wait_timeout: Duration,
    /// Bound of every Redis operation; a dead server fails requests fast with 503.
    pub op_timeout: Duration,
    /// Appends answer 503 while Redis uses more memory than this.
    pub max_memory_bytes: Option<u64>,
    /// Counts failed Redis operations (`tether_state_redis_errors_total`).
    pub errors: prometheus::IntCounter,
}

/// The parts of a record fixed at creation, stored as one JSON field the scripts never parse.
#[derive(Serialize, Deserialize)]
struct StaticPart {
    config: StreamConfig,
    lineage: Vec<LineageEntry>,
    fork: Option<ForkOrigin>,
    created_ms: i64,
}

struct Scripts {
    append: Script,
    create: Script,
    delete: Script,
    refs: Script,
    trim: Script,
    touch: Script,
    restore: Script,
    lease: Script,
}

fn script(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

struct PendingAppend {
    req: AppendRequest,
    now: i64,
    reply: oneshot::Sender<Result<AppendOutcome, AppendError>>,
}

pub struct RedisHotLog {
    /// Lets `append` hand its stream's queue to a spawned leader task.
    me: std::sync::Weak<RedisHotLog>,
    pool: Pool,
    scripts: Scripts,
    settings: RedisSettings,
    notifier: TailNotifier,
    /// Appends waiting for their stream's leader, per stream, at most
    /// [`MAX_QUEUED_PER_STREAM`] each.
    queues: Mutex<HashMap<StreamName, Vec<PendingAppend>>>,
    used_memory: AtomicU64,
    healthy: AtomicBool,
    touches: Mutex<HashMap<Epoch, i64>>,
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("redis: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> BackendError {
    BackendError::Corrupt(format!("redis record: {e}"))
}

/// Incarnations removed by one operation, cascades included.
type Removed = Vec<(StreamName, Epoch)>;

struct Keys {
    record: String,
    chunks: String,
    producers: String,
    channel: String,
}

fn keys(name: &StreamName) -> Keys {
    Keys {
        record: format!("ts:{{{name}}}:r"),
        chunks: format!("ts:{{{name}}}:c"),
        producers: format!("ts:{{{name}}}:p"),
        channel: format!("ts:{{{name}}}:n"),
    }
}

fn text(v: &Value) -> Result<String, BackendError> {
    redis::from_redis_value_ref::<String>(v).map_err(corrupt)
}

fn texts(v: Value) -> Result<Vec<String>, BackendError> {
    match v {
        Value::Array(items) => items.iter().map(text).collect(),
        other => Err(corrupt(format!("expected an array, got {other:?}"))),
    }
}

impl RedisHotLog {
    /// Connects, checks the server and starts the notification listener and memory probe.
    pub async fn connect(settings: RedisSettings, shutdown: CancellationToken) -> Result<Arc<Self>, BackendError> {
        let mut cfg = deadpool_redis::Config::from_url(&settings.url);
        cfg.pool = Some(deadpool_redis::PoolConfig {
            max_size: 32,
            timeouts: deadpool_redis::Timeouts {
                wait: Some(settings.op_timeout),
                create: Some(settings.op_timeout),
                recycle: Some(settings.op_timeout),
            },
            ..Default::default()
        });
        let pool = cfg.create_pool(Some(deadpool_redis::Runtime::Tokio1)).map_err(unavailable)?;
        let log = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            pool,
            scripts: Scripts {
                append: script(include_str!("lua/append.lua")),
                create: script(include_str!("lua/create.lua")),
                delete: script(include_str!("lua/delete.lua")),
                refs: script(include_str!("lua/refs.lua")),
                trim: script(include_str!("lua/trim.lua")),
                touch: script(include_str!("lua/touch.lua")),
                restore: script(include_str!("lua/restore.lua")),
                lease: script(include_str!("lua/lease.lua")),
            },
            settings,
            notifier: TailNotifier::default(),
            queues: Mutex::new(HashMap::new()),
            used_memory: AtomicU64::new(0),
            healthy: AtomicBool::new(false),
            touches: Mutex::new(HashMap::new()),
        });
        log.probe().await?;
        let client = redis::Client::open(log.settings.url.as_str()).map_err(unavailable)?;
        tokio::spawn(listen(client, log.notifier.clone(), shutdown.clone()));
        tokio::spawn(probe_loop(log.clone(), shutdown));
        Ok(log)
    }

    /// The connection pool (shared with the Redis session store).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn conn(&self) -> Result<deadpool_redis::Connection, BackendError> {
        self.pool.get().await.map_err(|e| {
            self.settings.errors.inc();
            self.healthy.store(false, Ordering::Relaxed);
            unavailable(e)
        })
    }

    /// Runs `fut` under the operation timeout, marking the backend unhealthy on failure.
    async fn timed<T>(&self, fut: impl Future<Output = redis::RedisResult<T>>) -> Result<T, BackendError> {
        let result = tokio::time::timeout(self.settings.op_timeout, fut).await;
        if !matches!(result, Ok(Ok(_))) {
            self.settings.errors.inc();
        }
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.healthy.store(false, Ordering::Relaxed);
                }
                Err(unavailable(e))
            }
            Err(_) => {
                self.healthy.store(false, Ordering::Relaxed);
                Err(unavailable("operation timed out"))
            }
        }
    }

    /// PING and memory use; updates readiness.
    async fn probe(&self) -> Result<(), BackendError> {
        let mut conn = self.conn().await?;
        let info: String = self.timed(redis::cmd("INFO").arg("memory").query_async(&mut *conn)).await?;
        let used = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| corrupt("INFO memory lacks used_memory"))?;
        self.used_memory.store(used, Ordering::Relaxed);
        self.healthy.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn invoke<'a>(&self, script: &'a Script, k: &Keys) -> redis::ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        inv.key(&k.record).key(&k.chunks).key(&k.producers).key(&k.channel);
        inv
    }

    async fn run(&self, inv: &redis::ScriptInvocation<'_>) -> Result<Vec<String>, BackendError> {
        let mut conn = self.conn().await?;
        let v: Value = self.timed(inv.invoke_async(&mut *conn)).await?;
        texts(v)
    }

    /// Applies `delta` to a source's fork count; returns incarnations removed by cascading GC.
    fn adjust_refs<'a>(
        &'a self,
        name: &'a StreamName,
        epoch: Epoch,
        delta: i64,
    ) -> futures::future::BoxFuture<'a, Result<(String, Removed), BackendError>> {
        Box::pin(async move {
            let mut inv = self.invoke(&self.scripts.refs, &keys(name));
            inv.arg(epoch.to_string()).arg(delta);
            let out = self.run(&inv).await?;
            let verdict = out.first().cloned().unwrap_or_default();
            let removed = if verdict == "DELETED" { self.removed(name, &out).await? } else { Vec::new() };
            Ok((verdict, removed))
        })
    }

    /// After a script reported `DELETED epoch static`: drops the name from the index and releases
    /// the incarnation's references, cascading.
    async fn removed(&self, name: &StreamName, out: &[String]) -> Result<Removed, BackendError> {
        let epoch: Epoch = out.get(1).ok_or_else(|| corrupt("missing epoch"))?.parse().map_err(corrupt)?;
        let stat: StaticPart =
            serde_json::from_str(out.get(2).ok_or_else(|| corrupt("missing static"))?).map_err(corrupt)?;
        let mut conn = self.conn().await?;
        let _: i64 =
            self.timed(redis::cmd("SREM").arg(STREAMS_INDEX).arg(name.as_str()).query_async(&mut *conn)).await?;
        drop(conn);
        let mut gone = vec![(name.clone(), epoch)];
        gone.extend(self.release_refs(&references(&stat)).await?);
        Ok(gone)
    }

    /// Drops one reference from each incarnation; returns those removed by cascading GC.
    async fn release_refs(&self, refs: &[(StreamName, Epoch)]) -> Result<Removed, BackendError> {
        let mut gone = Vec::new();
        for (src, src_epoch) in refs {
            gone.extend(self.adjust_refs(src, *src_epoch, -1).await?.1);
        }
        Ok(gone)
    }

    async fn flush(self: Arc<Self>, name: StreamName) {
        loop {
            let batch = {
                let mut queues = self.queues.lock().expect("queue lock");
                let Some(queue) = queues.get_mut(&name) else { return };
                if queue.is_empty() {
                    queues.remove(&name);
                    return;
                }
                let mut bytes = 0;
                let take = queue
                    .iter()
                    .take(MAX_BATCH)
                    .take_while(|p| {
                        bytes += p.req.payload.as_ref().map_or(0, Bytes::len);
                        bytes <= MAX_BATCH_BYTES
                    })
                    .count()
                    .max(1);
                queue.drain(..take).collect::<Vec<_>>()
            };
            let reqs: Vec<&AppendRequest> = batch.iter().map(|p| &p.req).collect();
            match self.run_append_script(&name, &reqs, batch.last().map_or(0, |p| p.now)).await {
                Ok(results) => {
                    for (p, r) in batch.into_iter().zip(results) {
                        let _ = p.reply.send(r);
                    }
                }
                Err(e) => {
                    for p in batch {
                        let _ = p.reply.send(Err(e.clone().into()));
                    }
                }
            }
        }
    }

    /// Runs one append script call over `batch` (applied in order, atomically).
    async fn run_append_script(
        &self,
        name: &StreamName,
        batch: &[&AppendRequest],
        now: i64,
    ) -> Result<Vec<Result<AppendOutcome, AppendError>>, BackendError> {
        let k = keys(name);
        let mut inv = self.invoke(&self.scripts.append, &k);
        inv.arg(now);
        for r in batch {
            let flag = |b: bool| if b { "1" } else { "0" };
            inv.arg(flag(r.payload.is_some()))
                .arg(r.payload.as_deref().unwrap_or(b""))
                .arg(r.content_type.as_deref().map(essence).unwrap_or_default())
                .arg(flag(r.stream_seq.is_some()))
                .arg(r.stream_seq.as_deref().unwrap_or(""))
                .arg(r.producer.as_ref().map_or("", |p| p.id.as_str()))
                .arg(r.producer.as_ref().map_or(0, |p| p.epoch))
                .arg(r.producer.as_ref().map_or(0, |p| p.seq))
                .arg(flag(r.close))
                .arg(flag(r.seq_mode == SeqMode::Monotonic));
        }
        let out = self.run(&inv).await?;
        self.replicate().await?;
        let epoch = out.first().and_then(|e| e.parse::<Epoch>().ok());
        if out.len() != batch.len() + 1 {
            return Err(corrupt(format!(
                "append script answered {} results for {} requests",
                out.len() - 1,
                batch.len()
            )));
        }
        let results: Vec<_> =
            out[1..].iter().zip(batch).map(|(line, r)| parse_append(line, epoch, r)).collect::<Result<_, _>>()?;
        if let (Some(epoch), Some(Ok(last))) = (epoch, results.iter().rev().find(|r| r.is_ok())) {
            self.notifier.publish(epoch, TailState { tail: last.tail, closed: last.closed, gone: false });
        }
        Ok(results)
    }

    /// With `wait_replicas > 0`, waits until that many replicas have the writes.
    async fn replicate(&self) -> Result<(), BackendError> {
        if self.settings.wait_replicas == 0 {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let acked: i64 = self
            .timed(
                redis::cmd("WAIT")
                    .arg(self.settings.wait_replicas)
                    .arg(self.settings.wait_timeout.as_millis() as u64)
                    .query_async(&mut *conn),
            )
            .await?;
        if acked < i64::from(self.settings.wait_replicas) {
            return Err(unavailable(format!(
                "only {acked} of {} replicas acknowledged in time; retry with the same producer headers",
                self.settings.wait_replicas
            )));
        }
        Ok(())
    }
}

/// Incarnations a fork keeps alive (see [`StreamRecord::references`]).
fn references(stat: &StaticPart) -> Vec<(StreamName, Epoch)> {
    super::fork_references(&stat.lineage, stat.fork.as_ref())
}

fn parse_append(
    line: &str,
    epoch: Option<Epoch>,
    req: &AppendRequest,
) -> Result<Result<AppendOutcome, AppendError>, BackendError> {
    let parts: Vec<&str> = line.split(' ').collect();
    let num = |i: usize| -> Result<u64, BackendError> {
        parts.get(i).and_then(|s| s.parse().ok()).ok_or_else(|| corrupt(format!("append reply {line:?}")))
    };
    let epoch_or = || epoch.ok_or_else(|| corrupt("append reply without epoch"));
    let ack = || -> Option<(u64, u64)> { Some((parts.get(3)?.parse().ok()?, parts.get(4)?.parse().ok()?)) };
    let outcome = |kind| -> Result<Result<AppendOutcome, AppendError>, BackendError> {
        Ok(Ok(AppendOutcome {
            kind,
            tail: num(1)?,
            epoch: epoch_or()?,
            closed: parts.get(2) == Some(&"1"),
            producer_ack: ack(),
        }))
    };
    match parts.as_slice() {
        ["W", ..] => outcome(AppendKind::Written),
        ["D", ..] => outcome(AppendKind::Duplicate),
        ["A", ..] => outcome(AppendKind::AlreadyClosed),
        ["E", "NF"] => Ok(Err(AppendError::NotFound)),
        ["E", "GONE"] => Ok(Err(AppendError::Gone)),
        ["E", "CLOSED", _] => Ok(Err(AppendError::Closed { tail: num(2)?, epoch: epoch_or()? })),
        ["E", "CT"] => Ok(Err(AppendError::ContentTypeMismatch)),
        ["E", "SEQ", ..] => Ok(Err(AppendError::SeqRegression {
            last: line["E SEQ ".len()..].to_owned(),
            received: req.stream_seq.clone().unwrap_or_default(),
        })),
        ["E", "STALE", _] => Ok(Err(AppendError::StaleProducerEpoch {
            current: num(2)?,
            received: req.producer.as_ref().map_or(0, |p| p.epoch),
        })),
        ["E", "NEWEPOCH", _] => Ok(Err(AppendError::NewEpochBadSeq(num(2)?))),
        ["E", "GAP", _, _] => Ok(Err(AppendError::ProducerSeqGap { expected: num(2)?, received: num(3)? })),
        _ => Err(corrupt(format!("unknown append reply {line:?}"))),
    }
}

fn parse_record(name: &StreamName, map: HashMap<String, String>) -> Result<Option<StreamRecord>, BackendError> {
    let Some(epoch) = map.get("epoch") else { return Ok(None) };
    let stat: StaticPart =
        serde_json::from_str(map.get("static").ok_or_else(|| corrupt("missing static"))?).map_err(corrupt)?;
    let num = |f: &str| -> Result<u64, BackendError> {
        map.get(f).map_or(Ok(0), |v| v.parse().map_err(|e| corrupt(format!("{f}: {e}"))))
    };
    let ms = |f: &str| -> Result<i64, BackendError> {
        map.get(f).map_or(Ok(0), |v| v.parse().map_err(|e| corrupt(format!("{f}: {e}"))))
    };
    let closed_by = match (map.get("cby_p"), map.get("cby_e"), map.get("cby_s")) {
        (Some(p), Some(e), Some(s)) => {
            Some(Closer { producer: p.clone(), epoch: e.parse().map_err(corrupt)?, seq: s.parse().map_err(corrupt)? })
        }
        _ => None,
    };
    let base = num("base")?;
    Ok(Some(StreamRecord {
        v: StreamRecord::VERSION,
        name: name.clone(),
        epoch: epoch.parse().map_err(corrupt)?,
        config: stat.config,
        tail: num("tail")?,
        hot_start: num("hot")?,
        base,
        fork: stat.fork,
        lineage: stat.lineage,
        closed: map.get("closed").is_some_and(|c| c == "1"),
        closed_by,
        stream_seq: map.get("sseq").cloned(),
        created_ms: stat.created_ms,
        last_write_ms: ms("lw")?,
        fork_refs: num("refs")? as u32,
        soft_deleted: map.get("soft").is_some_and(|c| c == "1"),
        bytes: num("bytes")?,
        hot_bytes: num("hbytes")?,
    }))
}

#[async_trait::async_trait]
impl HotLog for RedisHotLog {
    async fn create(&self, req: CreateRequest, now_ms: i64) -> Result<CreateOutcome, CreateError> {
        if let Some(existing) = self.record(&req.name).await? {
            let touch = self.last_touch(&req.name, existing.epoch).await?;
            if existing.soft_deleted {
                return Err(CreateError::NameSoftDeleted);
            }
            if !existing.expired(touch, now_ms) {
                return rules::confirm_existing(existing, &req);
            }
        }
        let plan = match &req.fork {
            None => None,
            Some(spec) => {
                let source = match self.record(&spec.source).await? {
                    Some(s) if !s.expired(self.last_touch(&s.name, s.epoch).await?, now_ms) => s,
                    _ => return Err(CreateError::SourceNotFound(spec.source.clone())),
                };
                let at = rules::resolve_fork_at(&source, spec)?;
                Some(rules::plan_fork(&source, &req, at)?)
            }
        };
        let epoch = rules::new_epoch();
        let (config, lineage, origin, base, prefix) = match plan {
            Some(p) => (p.config, p.lineage, Some(p.origin), p.base, p.prefix),
            None => (req.config.clone(), Vec::new(), None, 0, None),
        };
        let stat = StaticPart { config: config.clone(), lineage, fork: origin, created_ms: now_ms };
        // Take the fork's references first, so a source cannot vanish under a new fork.
        let refs = references(&stat);
        let mut taken = Vec::new();
        for (src, src_epoch) in &refs {
            let (verdict, _) = self.adjust_refs(src, *src_epoch, 1).await?;
            if verdict != "OK" {
                self.release_refs(&taken).await?;
                return Err(if verdict == "SOFT" {
                    CreateError::SourceSoftDeleted(src.clone())
                } else {
                    CreateError::SourceNotFound(src.clone())
                });
            }
            taken.push((src.clone(), *src_epoch));
        }
        let mut conn = self.conn().await?;
        let _: i64 =
            self.timed(redis::cmd("SADD").arg(STREAMS_INDEX).arg(req.name.as_str()).query_async(&mut *conn)).await?;
        drop(conn);
        let k = keys(&req.name);
        let mut inv = self.invoke(&self.scripts.create, &k);
        inv.arg(now_ms)
            .arg(epoch.to_string())
            .arg(serde_json::to_string(&stat).map_err(corrupt)?)
            .arg(essence(&config.content_type))
            .arg(config.ttl_secs.map(|t| t.to_string()).unwrap_or_default())
            .arg(config.expires_at.as_ref().map(|e| e.unix_ms.to_string()).unwrap_or_default())
            .arg(if req.closed { "1" } else { "0" })
            .arg(base)
            .arg(if prefix.is_some() { "1" } else { "0" })
            .arg(prefix.as_deref().unwrap_or(b""))
            .arg(if req.initial.is_some() { "1" } else { "0" })
            .arg(req.initial.as_deref().unwrap_or(b""));
        let out = self.run(&inv).await?;
        match out.first().map(String::as_str) {
            Some("CREATED") => {}
            Some("REPLACED") => {
                // The expired predecessor's own references go with it.
                let old: StaticPart =
                    serde_json::from_str(out.get(2).ok_or_else(|| corrupt("missing static"))?).map_err(corrupt)?;
                self.release_refs(&references(&old)).await?;
            }
            Some("EXISTS") => {
                self.release_refs(&taken).await?;
                let existing = self.record(&req.name).await?.ok_or(CreateError::ConfigMismatch)?;
                return rules::confirm_existing(existing, &req);
            }
            Some("SOFT") => {
                self.release_refs(&taken).await?;
                return Err(CreateError::NameSoftDeleted);
            }
            other => return Err(corrupt(format!("create reply {other:?}")).into()),
        }
        self.replicate().await?;
        let record = self.record(&req.name).await?.ok_or_else(|| corrupt("created record vanished"))?;
        self.notifier.publish(record.epoch, TailState { tail: record.tail, closed: record.closed, gone: false });
        Ok(CreateOutcome { created: true, record })
    }

    async fn append(&self, name: &StreamName, req: AppendRequest, now_ms: i64) -> Result<AppendOutcome, AppendError> {
        let (reply, rx) = oneshot::channel();
        let lead = {
            let mut queues = self.queues.lock().expect("queue lock");
            let queue = queues.entry(name.clone());
            let lead = matches!(queue, std::collections::hash_map::Entry::Vacant(_));
            let queue = queue.or_default();
            if queue.len() >= MAX_QUEUED_PER_STREAM {
                return Err(AppendError::Overloaded);
            }
            queue.push(PendingAppend { req, now: now_ms, reply });
            lead
        };
        if lead {
            // The flush runs in its own task so a caller that goes away cannot strand the queue.
            let this = self.me.upgrade().expect("the hot log outlives its requests");
            tokio::spawn(this.flush(name.clone()));
        }
        rx.await.map_err(|_| AppendError::Backend(unavailable("append leader stopped")))?
    }

    async fn append_batch(
        &self,
        name: &StreamName,
        reqs: Vec<AppendRequest>,
        now_ms: i64,
    ) -> Result<Vec<Result<AppendOutcome, AppendError>>, BackendError> {
        // One script call, bypassing the stream's leader queue: Redis runs a script atomically,
        // so the batch lands whole (interleaved with HTTP batches only at batch boundaries).
        let refs: Vec<&AppendRequest> = reqs.iter().collect();
        self.run_append_script(name, &refs, now_ms).await
    }

    async fn delete(&self, name: &StreamName) -> Result<DeleteOutcome, DeleteError> {
        let mut inv = self.invoke(&self.scripts.delete, &keys(name));
        inv.arg(crate::now_ms());
        let out = self.run(&inv).await?;
        match out.first().map(String::as_str) {
            Some("NF") => Err(DeleteError::NotFound),
            Some("GONE") => Err(DeleteError::Gone),
            Some("SOFT") => Ok(DeleteOutcome::SoftDeleted),
            Some("DELETED") => Ok(DeleteOutcome::Deleted(self.removed(name, &out).await?)),
            other => Err(corrupt(format!("delete reply {other:?}")).into()),
        }
    }

    async fn expire(
        &self,
        name: &StreamName,
        epoch: Epoch,
        now_ms: i64,
    ) -> Result<Option<DeleteOutcome>, BackendError> {
        let mut inv = self.invoke(&self.scripts.delete, &keys(name));
        inv.arg(now_ms).arg(epoch.to_string());
        let out = self.run(&inv).await?;
        match out.first().map(String::as_str) {
            Some("NO") => Ok(None),
            Some("SOFT") => Ok(Some(DeleteOutcome::SoftDeleted)),
            Some("DELETED") => Ok(Some(DeleteOutcome::Deleted(self.removed(name, &out).await?))),
            other => Err(corrupt(format!("expire reply {other:?}"))),
        }
    }

    async fn record(&self, name: &StreamName) -> Result<Option<StreamRecord>, BackendError> {
        let mut conn = self.conn().await?;
        let map: HashMap<String, String> =
            self.timed(redis::cmd("HGETALL").arg(keys(name).record).query_async(&mut *conn)).await?;
        parse_record(name, map)
    }

    async fn list(&self) -> Result<Vec<StreamName>, BackendError> {
        let mut conn = self.conn().await?;
        let names: Vec<String> = self.timed(redis::cmd("SMEMBERS").arg(STREAMS_INDEX).query_async(&mut *conn)).await?;
        Ok(names.iter().filter_map(|n| StreamName::parse(n).ok()).collect())
    }

    async fn read(
        &self,
        name: &StreamName,
        epoch: Epoch,
        from: u64,
        until: u64,
        max_bytes: usize,
    ) -> Result<Vec<Chunk>, BackendError> {
        let k = keys(name);
        let mut out: Vec<Chunk> = Vec::new();
        let mut bytes = 0usize;
        let mut next = from;
        let mut conn = self.conn().await?;
        while next < until && (out.is_empty() || bytes < max_bytes) {
            let end = if until == u64::MAX { "+".to_owned() } else { format!("{}-1", until - 1) };
            // Read the epoch in the same transaction: chunks of another incarnation are never served.
            let (current, entries): (Option<String>, Value) = self
                .timed(
                    redis::pipe()
                        .atomic()
                        .cmd("HGET")
                        .arg(&k.record)
                        .arg("epoch")
                        .cmd("XRANGE")
                        .arg(&k.chunks)
                        .arg(format!("{next}-1"))
                        .arg(end)
                        .arg("COUNT")
                        .arg(READ_PAGE)
                        .query_async(&mut *conn),
                )
                .await?;
            if current.as_deref() != Some(epoch.to_string().as_str()) {
                return Ok(Vec::new());
            }
            let Value::Array(entries) = entries else { return Err(corrupt("XRANGE reply")) };
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                let (index, payload) = parse_entry(entry)?;
                if index != next || (!out.is_empty() && bytes + payload.len() > max_bytes) {
                    return Ok(out);
                }
                bytes += payload.len();
                next += 1;
                out.push(Chunk { index, payload });
            }
        }
        Ok(out)
    }

    async fn touch(&self, name: &StreamName, epoch: Epoch, now_ms: i64) -> Result<(), BackendError> {
        {
            let mut t = self.touches.lock().expect("touch lock");
            if t.len() >= MAX_TOUCH_ENTRIES {
                // Bounded: forgetting throttle state only means one extra touch per stream.
                t.clear();
            }
            let last = t.entry(epoch).or_insert(0);
            if now_ms - *last < TOUCH_EVERY_MS {
                return Ok(());
            }
            *last = now_ms;
        }
        let mut inv = self.scripts.touch.prepare_invoke();
        inv.key(keys(name).record).arg(epoch.to_string()).arg(now_ms);
        let mut conn = self.conn().await?;
        let _: i64 = self.timed(inv.invoke_async(&mut *conn)).await?;
        Ok(())
    }

    async fn last_touch(&self, name: &StreamName, epoch: Epoch) -> Result<i64, BackendError> {
        let mut conn = self.conn().await?;
        let (e, t): (Option<String>, Option<i64>) = self
            .timed(redis::cmd("HMGET").arg(keys(name).record).arg("epoch").arg("tch").query_async(&mut *conn))
            .await?;
        Ok(if e.as_deref() == Some(epoch.to_string().as_str()) { t.unwrap_or(0) } else { 0 })
    }

    async fn trim(&self, name: &StreamName, epoch: Epoch, upto: u64) -> Result<(), BackendError> {
        let k = keys(name);
        let mut inv = self.scripts.trim.prepare_invoke();
        inv.key(&k.record).key(&k.chunks).arg(epoch.to_string()).arg(upto);
        let mut conn = self.conn().await?;
        let _: i64 = self.timed(inv.invoke_async(&mut *conn)).await?;
        Ok(())
    }

    async fn restore(&self, rec: StreamRecord, now_ms: i64) -> Result<StreamRecord, BackendError> {
        let stat = StaticPart {
            config: rec.config.clone(),
            lineage: rec.lineage.clone(),
            fork: rec.fork.clone(),
            created_ms: rec.created_ms,
        };
        let mut conn = self.conn().await?;
        let _: i64 =
            self.timed(redis::cmd("SADD").arg(STREAMS_INDEX).arg(rec.name.as_str()).query_async(&mut *conn)).await?;
        drop(conn);
        let mut inv = self.invoke(&self.scripts.restore, &keys(&rec.name));
        inv.arg(rec.epoch.to_string())
            .arg(serde_json::to_string(&stat).map_err(corrupt)?)
            .arg(essence(&rec.config.content_type))
            .arg(rec.config.ttl_secs.map(|t| t.to_string()).unwrap_or_default())
            .arg(rec.config.expires_at.as_ref().map(|e| e.unix_ms.to_string()).unwrap_or_default())
            .arg(if rec.closed { "1" } else { "0" })
            .arg(rec.base)
            .arg(rec.tail)
            .arg(now_ms);
        let mut conn = self.conn().await?;
        let _: i64 = self.timed(inv.invoke_async(&mut *conn)).await?;
        drop(conn);
        self.record(&rec.name).await?.ok_or_else(|| corrupt("restored record vanished"))
    }

    async fn lease(&self, name: &StreamName, holder: &str, ttl: Duration) -> Result<bool, BackendError> {
        let mut inv = self.scripts.lease.prepare_invoke();
        inv.key(format!("tether:lease:{{{name}}}")).arg(holder).arg(ttl.as_millis() as u64).arg("take");
        let mut conn = self.conn().await?;
        let got: i64 = self.timed(inv.invoke_async(&mut *conn)).await?;
        Ok(got == 1)
    }

    async fn release(&self, name: &StreamName, holder: &str) -> Result<(), BackendError> {
        let mut inv = self.scripts.lease.prepare_invoke();
        inv.key(format!("tether:lease:{{{name}}}")).arg(holder).arg(0).arg("release");
        let mut conn = self.conn().await?;
        let _: i64 = self.timed(inv.invoke_async(&mut *conn)).await?;
        Ok(())
    }

    fn tier(&self) -> &'static str {
        "redis"
    }

    fn used_bytes(&self) -> Option<u64> {
        Some(self.used_memory.load(Ordering::Relaxed))
    }

    fn over_headroom(&self) -> bool {
        self.settings.max_memory_bytes.is_some_and(|max| self.used_memory.load(Ordering::Relaxed) >= max)
    }

    async fn ready(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn notifier(&self) -> &TailNotifier {
        &self.notifier
    }
}

fn parse_entry(entry: Value) -> Result<(u64, Bytes), BackendError> {
    let Value::Array(mut parts) = entry else { return Err(corrupt("stream entry")) };
    if parts.len() != 2 {
        return Err(corrupt("stream entry shape"));
    }
    let fields = parts.pop().expect("two parts");
    let id = text(&parts[0])?;
    let index = id.split('-').next().and_then(|i| i.parse().ok()).ok_or_else(|| corrupt(format!("entry id {id}")))?;
    let Value::Array(mut fields) = fields else { return Err(corrupt("entry fields")) };
    let payload = match fields.pop() {
        Some(Value::BulkString(b)) => Bytes::from(b),
        _ => return Err(corrupt("entry payload")),
    };
    Ok((index, payload))
}

/// Forwards `ts:{name}:n` notifications to local watchers; reconnects with backoff, and after
/// a reconnect nudges every watcher to re-read (notifications may have been missed meanwhile).
async fn listen(client: redis::Client, notifier: TailNotifier, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe("ts:*:n").await?;
            notifier.nudge_all();
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let Ok(payload) = msg.get_payload::<String>() else { continue };
                let mut parts = payload.split(' ');
                let (Some(e), Some(t), Some(c), Some(g)) = (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                if let (Ok(epoch), Ok(tail)) = (e.parse::<Epoch>(), t.parse::<u64>()) {
                    notifier.publish(epoch, TailState { tail, closed: c == "1", gone: g == "1" });
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = attempt => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "redis notification listener disconnected; reconnecting");
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Refreshes readiness and memory use once a second.
async fn probe_loop(log: Arc<RedisHotLog>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if let Err(e) = log.probe().await {
            tracing::warn!(error = %e, "redis probe failed");
        }
    }
}
