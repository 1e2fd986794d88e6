//! Kafka ingest: consumes the routed topics as one consumer-group member and appends each
//! message to the stream its route names, exactly once, through the hot log's ordinary append
//! path (`HotLog::append_batch`, the same rules as HTTP appends).
//!
//! Exactly once: every message is appended as idempotent producer `kafka:{topic}:{partition}`
//! (epoch `kafka_producer_epoch`) with the Kafka offset as its sequence, in
//! [`SeqMode::Monotonic`]: per stream, an offset above the last one stored is new, any other is
//! a replay. The last sequence is stored atomically with the chunk, and a partition's messages
//! are appended in offset order (one worker task per partition, one atomic batch per stream),
//! so re-reading a partition from an older offset (restart, rebalance, two members briefly
//! owning a partition) appends nothing twice and skips nothing. Offsets are stored for the
//! auto-commit only after the whole batch is durable; a crash re-reads at most the uncommitted
//! tail.
//!
//! A message no stream can take (no field to route on, invalid name, too large, closed or
//! deleted stream, ...) goes to the dead-letter topic with its reason in `tether-dlq-reason`,
//! and its partition moves on. Storage errors (Redis down, backpressure) are retried with
//! backoff: they hold the partition, never skip it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use tether_protocol::{ProducerHeaders, StreamName};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::events::EventKind;
use super::producer::SharedProducer;
use super::routes::{IngestMessage, Reason, Routes, Unroutable, producer_id};
use crate::config::KafkaConfig;
use crate::metrics::Metrics;
use crate::store::{AppendError, AppendKind, AppendRequest, CreateError, CreateRequest, SeqMode, StreamConfig};
use crate::streams::{ReadError, Streams};

/// Most messages one partition hands to the store at once.
const MAX_BATCH: usize = 256;
/// Most payload bytes in one batch (a single larger message still goes alone).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Messages waiting for one partition's worker; past it the consumer loop waits.
const PARTITION_QUEUE: usize = 2 * MAX_BATCH;
/// Creating a missing stream is retried this often before its messages are dead-lettered
/// (something deletes it as fast as it is created).
const MAX_CREATES: u32 = 3;

/// The work was interrupted by shutdown; its offsets are not stored.
#[derive(Debug)]
struct Cancelled;

/// Starts the consumer (subscribed to every route's topic or pattern) and its loop.
pub fn spawn(
    cfg: &KafkaConfig,
    streams: Arc<Streams>,
    producer: SharedProducer,
    shutdown: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> anyhow::Result<()> {
    let routes = Routes::compile(&cfg.routes).map_err(anyhow::Error::msg)?;
    let metrics = streams.metrics.clone();
    let mut config = super::client_config(cfg);
    config
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        // Offsets are stored by the partition workers once their batch is durable.
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", cfg.lag_interval.as_millis().to_string());
    let context = IngestContext { metrics: metrics.clone(), revoked: Mutex::new(Vec::new()) };
    let consumer: StreamConsumer<IngestContext> = config.create_with_context(context)?;
    let topics = routes.subscription();
    consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    tracing::info!(?topics, group = %cfg.group_id, "Kafka ingest subscribed");
    let consumer = Arc::new(consumer);
    let ingest = Arc::new(Ingest {
        streams,
        routes,
        epoch: cfg.producer_epoch,
        dead_letter: cfg.dead_letter_topic.clone(),
        producer,
        consumer: consumer.clone(),
        metrics,
    });
    tasks.spawn(consume_loop(consumer, ingest, shutdown));
    Ok(())
}

/// Consumer callbacks: lag from librdkafka's statistics, revoked partitions, logs.
struct IngestContext {
    metrics: Arc<Metrics>,
    /// Partitions revoked since the consumer loop last looked; their workers are stopped.
    revoked: Mutex<Vec<(String, i32)>>,
}

impl ClientContext for IngestContext {
    fn stats(&self, stats: Statistics) {
        let gauge = &self.metrics.kafka_consumer_lag;
        gauge.reset();
        for (topic, t) in &stats.topics {
            for p in t.partitions.values().filter(|p| p.partition >= 0 && p.desired && p.hi_offset >= 0) {
                let mut done = p.stored_offset.max(p.committed_offset);
                if done < 0 {
                    done = p.lo_offset.max(0);
                }
                gauge.with_label_values(&[topic, &p.partition.to_string()]).set((p.hi_offset - done).max(0));
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::warn!(fac, "librdkafka: {message}")
            }
            _ => tracing::debug!(fac, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "Kafka consumer error");
    }
}

impl ConsumerContext for IngestContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let mut revoked = self.revoked.lock().expect("revoked lock");
                revoked.extend(tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())));
                tracing::info!(partitions = tpl.count(), "Kafka partitions revoked");
            }
            Rebalance::Assign(tpl) => tracing::info!(partitions = tpl.count(), "Kafka partitions assigned"),
            Rebalance::Error(e) => tracing::warn!(error = %e, "Kafka rebalance failed"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::debug!(error = %e, "Kafka offset commit did not complete");
        }
    }
}

impl IngestContext {
    fn take_revoked(&self) -> Vec<(String, i32)> {
        std::mem::take(&mut *self.revoked.lock().expect("revoked lock"))
    }
}

fn detach(m: &BorrowedMessage<'_>) -> IngestMessage {
    IngestMessage {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(bytes::Bytes::copy_from_slice),
        headers: m
            .headers()
            .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.map(bytes::Bytes::copy_from_slice))).collect())
            .unwrap_or_default(),
        payload: m.payload().map(bytes::Bytes::copy_from_slice),
    }
}

/// One partition's worker.
struct Partition {
    tx: mpsc::Sender<IngestMessage>,
    task: JoinHandle<()>,
}

/// Receives messages and hands each to its partition's worker until shutdown; then lets the
/// workers finish the batch they are appending and commits what they stored.
async fn consume_loop(consumer: Arc<StreamConsumer<IngestContext>>, ingest: Arc<Ingest>, shutdown: CancellationToken) {
    let mut partitions: HashMap<(String, i32), Partition> = HashMap::new();
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = consumer.recv() => m.map(|m| detach(&m)),
        };
        for tp in consumer.context().take_revoked() {
            // Another member owns it now; whatever this worker was doing is re-read there
            // (and recognised as already appended).
            if let Some(p) = partitions.remove(&tp) {
                p.task.abort();
            }
        }
        let msg = match received {
            Ok(m) => m,
            Err(e) => {
                // The context's `error` callback already logs it (librdkafka rate-limits those).
                tracing::debug!(error = %e, "Kafka consumer error");
                continue;
            }
        };
        let key = (msg.topic.clone(), msg.partition);
        let worker = partitions.entry(key.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(PARTITION_QUEUE);
            let task = tokio::spawn(run_partition(ingest.clone(), key.0.clone(), key.1, rx, shutdown.clone()));
            Partition { tx, task }
        });
        if worker.task.is_finished() {
            // Only a panic ends a worker before shutdown. Going on would commit past the batch
            // it lost, so ingest stops here, loudly; a restart re-reads from the last commit.
            tracing::error!(topic = %key.0, partition = key.1, "a Kafka partition worker died; stopping the ingest");
            break;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            sent = worker.tx.send(msg) => if sent.is_err() { break },
        }
    }
    for (_, p) in partitions.drain() {
        drop(p.tx);
        let _ = p.task.await;
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final Kafka offset commit");
    }
    consumer.unsubscribe();
    ingest.metrics.kafka_consumer_lag.reset();
    drop(ingest);
    // Dropping the consumer leaves the group and waits for that without a bound (forever while
    // the cluster is unreachable): do it on a thread of its own so it never holds up the exit.
    let closing = std::thread::Builder::new().name("kafka-consumer-close".into()).spawn(move || drop(consumer));
    if let Err(e) = closing {
        tracing::warn!(error = %e, "cannot close the Kafka consumer");
    }
    tracing::info!("Kafka ingest stopped");
}

/// Appends one partition's messages batch by batch, storing the offset after each batch.
async fn run_partition(
    ingest: Arc<Ingest>,
    topic: String,
    partition: i32,
    mut rx: mpsc::Receiver<IngestMessage>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
        };
        let mut bytes = first.payload.as_ref().map_or(0, |p| p.len());
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(m) => {
                    bytes += m.payload.as_ref().map_or(0, |p| p.len());
                    batch.push(m);
                }
                Err(_) => break,
            }
        }
        let last = batch.last().expect("a batch has a message").offset;
        if ingest.process(&batch, &shutdown).await.is_err() {
            return;
        }
        // Fails when the partition was revoked meanwhile: the new owner re-reads it.
        if let Err(e) = ingest.consumer.store_offset(&topic, partition, last) {
            tracing::debug!(%topic, partition, error = %e, "offset not stored");
        }
    }
}

/// What every partition worker shares.
struct Ingest {
    streams: Arc<Streams>,
    routes: Routes,
    epoch: u64,
    dead_letter: Option<String>,
    producer: SharedProducer,
    consumer: Arc<StreamConsumer<IngestContext>>,
    metrics: Arc<Metrics>,
}

/// One stream's share of a batch: `(index in the batch, route)` in offset order.
type Group = (StreamName, Vec<(usize, usize)>);

impl Ingest {
    /// Routes a batch, appends each stream's share (streams in parallel, each in one atomic
    /// write), then dead-letters what could not go anywhere, in offset order.
    async fn process(&self, batch: &[IngestMessage], shutdown: &CancellationToken) -> Result<(), Cancelled> {
        let max = self.streams.cfg.max_chunk_bytes;
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<StreamName, usize> = HashMap::new();
        let mut dead: Vec<(usize, Unroutable)> = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            match self.routes.route(m, max) {
                Ok(t) => {
                    let g = *index.entry(t.stream.clone()).or_insert_with(|| {
                        groups.push((t.stream.clone(), Vec::new()));
                        groups.len() - 1
                    });
                    groups[g].1.push((i, t.route));
                }
                Err(u) => dead.push((i, u)),
            }
        }
        for result in join_all(groups.iter().map(|g| self.deliver(g, batch, shutdown))).await {
            dead.extend(result?);
        }
        dead.sort_by_key(|(i, _)| *i);
        for (i, why) in dead {
            self.dead_letter(&batch[i], &why, shutdown).await?;
        }
        Ok(())
    }

    /// Appends one stream's messages; returns those the stream refused for good.
    async fn deliver(
        &self,
        (name, members): &Group,
        batch: &[IngestMessage],
        shutdown: &CancellationToken,
    ) -> Result<Vec<(usize, Unroutable)>, Cancelled> {
        let reqs: Vec<AppendRequest> = members
            .iter()
            .map(|&(i, route)| {
                let m = &batch[i];
                AppendRequest {
                    payload: m.payload.clone(),
                    content_type: Some(self.routes.get(route).content_type.clone()),
                    stream_seq: None,
                    producer: Some(ProducerHeaders {
                        id: producer_id(&m.topic, m.partition),
                        epoch: self.epoch,
                        seq: u64::try_from(m.offset).expect("consumed offsets are not negative"),
                    }),
                    close: false,
                    seq_mode: SeqMode::Monotonic,
                }
            })
            .collect();
        let content_type = &self.routes.get(members[0].1).content_type;
        let mut backoff = Backoff::default();
        let mut creates = 0;
        loop {
            if self.streams.hot.over_headroom() {
                self.metrics.kafka_ingest_retries.with_label_values(&["backpressure"]).inc();
                backoff.wait(shutdown).await?;
                continue;
            }
            let results = match self.streams.hot.append_batch(name, reqs.clone(), crate::now_ms()).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(stream = %name, error = %e, "Kafka ingest append failed; retrying");
                    self.metrics.kafka_ingest_retries.with_label_values(&["storage_unavailable"]).inc();
                    backoff.wait(shutdown).await?;
                    continue;
                }
            };
            if results.iter().all(|r| matches!(r, Err(AppendError::NotFound))) {
                creates += 1;
                let refused = match self.ensure_stream(name, content_type).await {
                    Ok(None) if creates <= MAX_CREATES => continue,
                    Ok(None) => {
                        Unroutable { reason: Reason::StreamDeleted, detail: "deleted as fast as created".into() }
                    }
                    Ok(Some(refused)) => refused,
                    Err(()) => {
                        self.metrics.kafka_ingest_retries.with_label_values(&["storage_unavailable"]).inc();
                        backoff.wait(shutdown).await?;
                        continue;
                    }
                };
                return Ok(members.iter().map(|&(i, _)| (i, refused.clone())).collect());
            }
            if let Some(Err(AppendError::StaleProducerEpoch { current, received })) =
                results.iter().find(|r| matches!(r, Err(AppendError::StaleProducerEpoch { .. })))
            {
                // Another instance runs a newer kafka_producer_epoch: this one is a zombie for
                // the stream and must not write; the partition waits until it moves or the
                // configuration catches up.
                tracing::error!(stream = %name, current, received, "Kafka ingest fenced by a newer producer epoch");
                self.metrics.kafka_ingest_retries.with_label_values(&["fenced"]).inc();
                backoff.wait(shutdown).await?;
                continue;
            }
            return Ok(self.account(name, members, batch, results));
        }
    }

    /// Counts each verdict and turns refusals into dead letters.
    fn account(
        &self,
        name: &StreamName,
        members: &[(usize, usize)],
        batch: &[IngestMessage],
        results: Vec<Result<crate::store::AppendOutcome, AppendError>>,
    ) -> Vec<(usize, Unroutable)> {
        let mut dead = Vec::new();
        for (&(i, _), result) in members.iter().zip(results) {
            let m = &batch[i];
            let (reason, code, status) = match result {
                Ok(o) => {
                    let written = o.kind == AppendKind::Written;
                    if written {
                        self.metrics.appends.inc();
                        self.metrics.append_bytes.inc_by(m.payload.as_ref().map_or(0, |p| p.len() as u64));
                    }
                    let label = if written { "appended" } else { "duplicate" };
                    self.metrics.kafka_ingested.with_label_values(&[&m.topic, label]).inc();
                    continue;
                }
                Err(AppendError::Closed { .. }) => (Reason::StreamClosed, "stream_closed", 409),
                Err(AppendError::Gone) => (Reason::StreamDeleted, "stream_deleted", 410),
                Err(AppendError::ContentTypeMismatch) => (Reason::ContentTypeMismatch, "content_type_mismatch", 409),
                Err(e) => {
                    // Not reachable in the monotonic mode on an existing stream; kept visible.
                    tracing::error!(stream = %name, error = %e, "unexpected verdict for a Kafka append");
                    (Reason::StreamDeleted, "stream_not_found", 404)
                }
            };
            self.metrics.append_rejections.with_label_values(&[code]).inc();
            self.streams.events.emit(EventKind::AppendRejected {
                stream: name.to_string(),
                reason: code.to_owned(),
                status,
                producer_id: Some(producer_id(&m.topic, m.partition).as_str().to_owned()),
                source: "kafka".into(),
            });
            dead.push((i, Unroutable { reason, detail: format!("stream {name}: {code}") }));
        }
        dead
    }

    /// Makes `name` exist: rebuilt from the archive if the hot log forgot it, else created with
    /// the route's content type. `Ok(Some)`: it cannot exist; `Err`: storage trouble, retry.
    async fn ensure_stream(&self, name: &StreamName, content_type: &str) -> Result<Option<Unroutable>, ()> {
        let now = crate::now_ms();
        match self.streams.recover(name, now).await {
            Ok(Some(_)) => return Ok(None),
            Ok(None) => {}
            Err(ReadError::Archive(e)) => {
                self.metrics.recovery_skipped.inc();
                tracing::warn!(stream = %name, error = %e, "archive unreachable; creating without the recovery check");
            }
            Err(e) => {
                tracing::warn!(stream = %name, error = %e, "cannot check the archive before creating a stream");
                return Err(());
            }
        }
        let req = CreateRequest {
            name: name.clone(),
            config: StreamConfig { content_type: content_type.to_owned(), ttl_secs: None, expires_at: None },
            explicit_content_type: true,
            closed: false,
            initial: None,
            fork: None,
        };
        match self.streams.hot.create(req, now).await {
            Ok(o) => {
                if o.created {
                    self.streams.events.emit(EventKind::StreamCreated {
                        stream: name.to_string(),
                        epoch: o.record.epoch.to_string(),
                        content_type: o.record.config.content_type.clone(),
                        closed: false,
                        forked_from: None,
                        source: "kafka".into(),
                    });
                }
                Ok(None)
            }
            // Created meanwhile with other settings: the append decides (content type).
            Err(CreateError::ConfigMismatch) => Ok(None),
            Err(CreateError::NameSoftDeleted) => {
                Ok(Some(Unroutable { reason: Reason::StreamDeleted, detail: format!("stream {name} is deleted") }))
            }
            Err(CreateError::Backend(e)) => {
                tracing::warn!(stream = %name, error = %e, "cannot create a stream for Kafka ingest");
                Err(())
            }
            Err(e) => Ok(Some(Unroutable { reason: Reason::InvalidStreamName, detail: e.to_string() })),
        }
    }

    /// Sends the original record to the dead-letter topic (retrying until Kafka takes it), or
    /// skips it when no such topic is configured.
    async fn dead_letter(
        &self,
        m: &IngestMessage,
        why: &Unroutable,
        shutdown: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let Some(topic) = &self.dead_letter else {
            tracing::warn!(topic = %m.topic, partition = m.partition, offset = m.offset, reason = why.reason.as_str(),
                detail = %why.detail, "skipping a Kafka message no stream can take (no dead-letter topic)");
            self.count_dead(m, why);
            return Ok(());
        };
        let partition = m.partition.to_string();
        let offset = m.offset.to_string();
        let mut backoff = Backoff::default();
        loop {
            let mut headers = OwnedHeaders::new_with_capacity(m.headers.len() + 5);
            for (k, v) in &m.headers {
                headers = headers.insert(Header { key: k, value: v.as_deref() });
            }
            for (k, v) in [
                ("tether-dlq-reason", why.reason.as_str()),
                ("tether-dlq-detail", why.detail.as_str()),
                ("tether-dlq-topic", m.topic.as_str()),
                ("tether-dlq-partition", partition.as_str()),
                ("tether-dlq-offset", offset.as_str()),
            ] {
                headers = headers.insert(Header { key: k, value: Some(v) });
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
            if let Some(k) = &m.key {
                record = record.key(k.as_ref());
            }
            if let Some(p) = &m.payload {
                record = record.payload(p.as_ref());
            }
            match self.producer.get().send(record, self.producer.queue_timeout()).await {
                Ok(_) => {
                    self.count_dead(m, why);
                    return Ok(());
                }
                Err((e, _)) => {
                    tracing::warn!(dead_letter_topic = %topic, error = %e, "cannot dead-letter a Kafka message; retrying");
                    self.metrics.kafka_ingest_retries.with_label_values(&["dead_letter_unavailable"]).inc();
                    self.producer.renew_if_fatal();
                    backoff.wait(shutdown).await?;
                }
            }
        }
    }

    fn count_dead(&self, m: &IngestMessage, why: &Unroutable) {
        self.metrics.kafka_dead_letters.with_label_values(&[why.reason.as_str()]).inc();
        self.metrics.kafka_ingested.with_label_values(&[&m.topic, "dead_lettered"]).inc();
    }
}

/// Exponential backoff between retries (50 ms doubling to 5 s), interrupted by shutdown.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(50))
    }
}

impl Backoff {
    async fn wait(&mut self, shutdown: &CancellationToken) -> Result<(), Cancelled> {
        tokio::select! {
            _ = shutdown.cancelled() => return Err(Cancelled),
            _ = tokio::time::sleep(self.0) => {}
        }
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        Ok(())
    }
}
