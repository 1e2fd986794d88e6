//! Lifecycle events: what Tether did (streams created, closed, deleted, expired, archived;
//! sessions created and resumed; appends refused), as versioned JSON for the events topic.
//!
//! Emitting never blocks and never fails the request that caused it: [`Events::emit`] hands the
//! event to a bounded in-memory queue ([`QUEUE_DEPTH`]) that one writer task moves, in batches,
//! into the durable [`Outbox`]; the relay (`super::relay`) delivers the outbox to Kafka. Past
//! either bound the newest events are dropped and counted
//! (`tether_state_kafka_events_dropped_total{reason}`). Schema: docs/PROTOCOL.md.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::outbox::Outbox;
use crate::metrics::Metrics;

/// Version of the event document (`"v"`); bumped only for incompatible changes.
pub const EVENT_VERSION: u8 = 1;
/// Events waiting for the outbox writer; past it new events are dropped (`queue_full`).
pub const QUEUE_DEPTH: usize = 4096;
/// Most events written to the outbox in one write.
const WRITE_BATCH: usize = 512;

/// One lifecycle event as sent to Kafka (and stored in the outbox).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub v: u8,
    /// Unique per event (128 random bits, hex): delivery is at-least-once, consumers dedupe on it.
    pub id: String,
    /// When it happened, RFC 3339 UTC with milliseconds.
    pub at: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The event types; `type` in the JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    #[serde(rename = "stream.created")]
    StreamCreated {
        stream: String,
        epoch: String,
        content_type: String,
        closed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forked_from: Option<String>,
        /// `http` or `kafka`.
        source: String,
    },
    #[serde(rename = "stream.closed")]
    StreamClosed {
        stream: String,
        epoch: String,
        /// The offset after the last chunk (the EOF offset readers see).
        next_offset: String,
    },
    #[serde(rename = "stream.deleted")]
    StreamDeleted {
        stream: String,
        epoch: String,
        /// True when forks still read it: data is kept for them, clients get 410.
        soft: bool,
    },
    #[serde(rename = "stream.expired")]
    StreamExpired { stream: String, epoch: String },
    #[serde(rename = "stream.archived")]
    StreamArchived {
        stream: String,
        epoch: String,
        /// The segment's range: offsets of its first chunk and of the chunk after its last.
        first_offset: String,
        next_offset: String,
        chunks: u64,
    },
    #[serde(rename = "session.created")]
    SessionCreated { session: String, sub: String },
    #[serde(rename = "session.resumed")]
    SessionResumed { session: String, sub: String, streams: usize },
    #[serde(rename = "append.rejected")]
    AppendRejected {
        stream: String,
        /// The stable error code (`stream_closed`, `producer_seq_gap`, ...).
        reason: String,
        /// The HTTP status answered (for Kafka ingest: the status an HTTP append would get).
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        producer_id: Option<String>,
        source: String,
    },
}

impl EventKind {
    /// The `type` text.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::StreamCreated { .. } => "stream.created",
            EventKind::StreamClosed { .. } => "stream.closed",
            EventKind::StreamDeleted { .. } => "stream.deleted",
            EventKind::StreamExpired { .. } => "stream.expired",
            EventKind::StreamArchived { .. } => "stream.archived",
            EventKind::SessionCreated { .. } => "session.created",
            EventKind::SessionResumed { .. } => "session.resumed",
            EventKind::AppendRejected { .. } => "append.rejected",
        }
    }

    /// The Kafka record key: the stream name, or the session id for session events (so one
    /// stream's, or one session's, events stay in order on one partition).
    pub fn key(&self) -> &str {
        match self {
            EventKind::StreamCreated { stream, .. }
            | EventKind::StreamClosed { stream, .. }
            | EventKind::StreamDeleted { stream, .. }
            | EventKind::StreamExpired { stream, .. }
            | EventKind::StreamArchived { stream, .. }
            | EventKind::AppendRejected { stream, .. } => stream,
            EventKind::SessionCreated { session, .. } | EventKind::SessionResumed { session, .. } => session,
        }
    }
}

impl Event {
    pub fn new(kind: EventKind, at_ms: i64) -> Self {
        Event { v: EVENT_VERSION, id: format!("{:032x}", rand::random::<u128>()), at: rfc3339(at_ms), kind }
    }

    pub fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("events serialise"))
    }
}

/// Unix milliseconds as RFC 3339 UTC (`2026-01-02T03:04:05.678Z`).
pub fn rfc3339(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(&fmt).expect("a UTC timestamp formats")
}

/// The emitting side, cheap to clone; a no-op when no events topic is configured.
#[derive(Clone, Default)]
pub struct Events {
    inner: Option<Arc<Sender>>,
}

struct Sender {
    tx: mpsc::Sender<Event>,
    metrics: Arc<Metrics>,
}

impl Events {
    /// Events off: [`Events::emit`] does nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues an event without waiting; a full queue drops it (counted).
    pub fn emit(&self, kind: EventKind) {
        let Some(s) = &self.inner else { return };
        if s.tx.try_send(Event::new(kind, crate::now_ms())).is_err() {
            s.metrics.kafka_events_dropped.with_label_values(&["queue_full"]).inc();
        }
    }
}

/// Starts the outbox writer: events go from [`Events::emit`] into `outbox` (at most `max`
/// held); `written` is notified after each write so the relay need not poll. The writer runs
/// on `tasks` and drains what was already queued when it stops.
pub fn start_writer(
    outbox: Arc<dyn Outbox>,
    max: u64,
    metrics: Arc<Metrics>,
    written: Arc<Notify>,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Events {
    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    let events = Events { inner: Some(Arc::new(Sender { tx, metrics: metrics.clone() })) };
    tasks.spawn(write_loop(rx, outbox, max, metrics, written, shutdown));
    events
}

async fn write_loop(
    mut rx: mpsc::Receiver<Event>,
    outbox: Arc<dyn Outbox>,
    max: u64,
    metrics: Arc<Metrics>,
    written: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            e = rx.recv() => match e {
                Some(e) => e,
                None => return,
            },
            _ = shutdown.cancelled() => {
                // What was emitted before shutdown still goes into the outbox (one write).
                let mut rest = Vec::new();
                while let Ok(e) = rx.try_recv() {
                    rest.push(e.encode());
                }
                if !rest.is_empty() {
                    write_once(outbox.as_ref(), &rest, max, &metrics).await;
                }
                return;
            }
        };
        let mut batch = vec![first.encode()];
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e.encode()),
                Err(_) => break,
            }
        }
        let mut backoff = Duration::from_millis(50);
        loop {
            if write_once(outbox.as_ref(), &batch, max, &metrics).await {
                written.notify_one();
                break;
            }
            // The store is down: keep this batch (the oldest events) and let the queue absorb
            // new ones until it is full.
            tokio::select! {
                _ = shutdown.cancelled() => {
                    metrics.kafka_events_dropped.with_label_values(&["outbox_unavailable"]).inc_by(batch.len() as u64);
                    return;
                }
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// One outbox write; false when the store failed (nothing was written).
async fn write_once(outbox: &dyn Outbox, batch: &[Bytes], max: u64, metrics: &Metrics) -> bool {
    match outbox.push(batch, max).await {
        Ok(accepted) => {
            if let Ok(depth) = outbox.depth().await {
                metrics.kafka_outbox_depth.set(depth as i64);
            }
            let refused = batch.len() - accepted;
            if refused > 0 {
                metrics.kafka_events_dropped.with_label_values(&["outbox_full"]).inc_by(refused as u64);
                tracing::warn!(refused, max, "event outbox is full; dropping the newest events");
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, events = batch.len(), "cannot write the event outbox; retrying");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_kind() -> impl Strategy<Value = EventKind> {
        let s = "[a-z0-9/]{1,12}";
        prop_oneof![
            (s, s, any::<bool>(), proptest::option::of(s)).prop_map(|(stream, ct, closed, forked_from)| {
                EventKind::StreamCreated {
                    stream,
                    epoch: "00000000000000aa".into(),
                    content_type: ct,
                    closed,
                    forked_from,
                    source: "http".into(),
                }
            }),
            (s, s).prop_map(|(stream, next_offset)| EventKind::StreamClosed {
                stream,
                epoch: "01".into(),
                next_offset
            }),
            (s, any::<bool>()).prop_map(|(stream, soft)| EventKind::StreamDeleted { stream, epoch: "02".into(), soft }),
            s.prop_map(|stream| EventKind::StreamExpired { stream, epoch: "03".into() }),
            (s, any::<u64>()).prop_map(|(stream, chunks)| EventKind::StreamArchived {
                stream,
                epoch: "04".into(),
                first_offset: "a".into(),
                next_offset: "b".into(),
                chunks
            }),
            (s, s).prop_map(|(session, sub)| EventKind::SessionCreated { session, sub }),
            (s, s, any::<usize>()).prop_map(|(session, sub, streams)| EventKind::SessionResumed {
                session,
                sub,
                streams
            }),
            (s, s, any::<u16>(), proptest::option::of(s)).prop_map(|(stream, reason, status, producer_id)| {
                EventKind::AppendRejected { stream, reason, status, producer_id, source: "kafka".into() }
            }),
        ]
    }

    proptest! {
        /// The event document round-trips, and `type` matches `name()`.
        #[test]
        fn event_round_trip(kind in arb_kind(), ms in 0i64..4_102_444_800_000) {
            let ev = Event::new(kind, ms);
            let bytes = ev.encode();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(json["type"].as_str(), Some(ev.kind.name()));
            prop_assert_eq!(json["v"].as_u64(), Some(1));
            prop_assert_eq!(serde_json::from_slice::<Event>(&bytes).unwrap(), ev);
        }
    }

    #[test]
    fn pinned_shape() {
        let ev = Event {
            v: 1,
            id: "0".repeat(32),
            at: rfc3339(1_767_323_045_678),
            kind: EventKind::StreamClosed {
                stream: "a/b".into(),
                epoch: "00000000000000aa".into(),
                next_offset: "x".into(),
            },
        };
        assert_eq!(
            String::from_utf8(ev.encode().to_vec()).unwrap(),
            r#"{"v":1,"id":"00000000000000000000000000000000","at":"2026-01-02T03:04:05.678Z","type":"stream.closed","stream":"a/b","epoch":"00000000000000aa","next_offset":"x"}"#
        );
    }
}
