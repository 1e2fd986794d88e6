//! Fan-out: one upstream live subscription per followed stream per edge, shared by every
//! client on this edge that follows the stream.
//!
//! A topic reads the stream's live framed response and broadcasts each event into a bounded
//! ring ([`tokio::sync::broadcast`]). A subscriber that falls more than the ring's capacity
//! behind gets `Lagged`: it is detached and catches up from the state service at its own
//! pace before rejoining, so one slow client neither slows the others nor grows memory. The
//! topic ends when its last subscriber leaves, when the stream is closed, or when it is gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tether_protocol::frames::{Frame, GoneReason};
use tether_protocol::ws::{ServerMsg, encode_binary};
use tether_protocol::{Offset, StreamName};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::upstream::{Upstream, UpstreamError};

/// One chunk, with its client messages rendered once for every subscriber.
pub struct Delivered {
    pub stream: StreamName,
    pub offset: Offset,
    pub next: Offset,
    pub data: Bytes,
    text: OnceLock<Option<Bytes>>,
    binary: OnceLock<Bytes>,
}

impl Delivered {
    pub fn new(stream: StreamName, offset: Offset, next: Offset, data: Bytes) -> Self {
        Self { stream, offset, next, data, text: OnceLock::new(), binary: OnceLock::new() }
    }

    /// The `chunk` message as a text frame, when the payload is valid UTF-8.
    pub fn text(&self) -> Option<&Bytes> {
        self.text
            .get_or_init(|| {
                let data = std::str::from_utf8(&self.data).ok()?;
                let msg = ServerMsg::Chunk {
                    stream: self.stream.clone(),
                    offset: self.offset,
                    next: self.next,
                    data: Some(data.to_owned()),
                };
                Some(Bytes::from(serde_json::to_vec(&msg).expect("messages serialise")))
            })
            .as_ref()
    }

    /// The `chunk` message as a binary frame (header, then payload).
    pub fn binary(&self) -> &Bytes {
        self.binary.get_or_init(|| {
            let header =
                ServerMsg::Chunk { stream: self.stream.clone(), offset: self.offset, next: self.next, data: None };
            encode_binary(&header, &self.data)
        })
    }
}

#[derive(Clone)]
pub enum LiveEvent {
    Chunk(Arc<Delivered>),
    /// Caught up to `next`; `closed` when the stream ended there.
    Tail {
        next: Offset,
        closed: bool,
    },
    Gone(GoneReason),
}

struct Topic {
    tx: broadcast::Sender<LiveEvent>,
    subscribers: AtomicUsize,
    idle: Notify,
}

pub struct Hub {
    topics: Mutex<HashMap<StreamName, Arc<Topic>>>,
    upstream: Arc<Upstream>,
    metrics: Arc<Metrics>,
    buffer: usize,
    shutdown: CancellationToken,
}

/// A subscriber's place in a topic; leaving (drop) may end the topic.
pub struct LiveReceiver {
    pub rx: broadcast::Receiver<LiveEvent>,
    topic: Arc<Topic>,
}

impl Drop for LiveReceiver {
    fn drop(&mut self) {
        if self.topic.subscribers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.topic.idle.notify_one();
        }
    }
}

impl Hub {
    pub fn new(
        upstream: Arc<Upstream>,
        metrics: Arc<Metrics>,
        buffer: usize,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self { topics: Mutex::new(HashMap::new()), upstream, metrics, buffer, shutdown })
    }

    /// Joins the live fan-out of `stream`, starting its upstream subscription if this edge
    /// does not follow the stream yet. Events sent after this call are all seen (or `Lagged`).
    pub fn join(self: &Arc<Self>, stream: &StreamName) -> LiveReceiver {
        let mut topics = self.topics.lock().expect("hub lock is never poisoned");
        if let Some(t) = topics.get(stream) {
            t.subscribers.fetch_add(1, Ordering::AcqRel);
            return LiveReceiver { rx: t.tx.subscribe(), topic: t.clone() };
        }
        let (tx, rx) = broadcast::channel(self.buffer);
        let topic = Arc::new(Topic { tx, subscribers: AtomicUsize::new(1), idle: Notify::new() });
        topics.insert(stream.clone(), topic.clone());
        self.metrics.topics.inc();
        tokio::spawn(self.clone().follow(stream.clone(), topic.clone()));
        LiveReceiver { rx, topic }
    }

    /// Number of streams this edge follows upstream.
    pub fn topic_count(&self) -> usize {
        self.topics.lock().expect("hub lock is never poisoned").len()
    }

    /// Removes `topic` if nobody follows it any more; true when removed.
    fn retire_if_idle(&self, stream: &StreamName, topic: &Arc<Topic>) -> bool {
        let mut topics = self.topics.lock().expect("hub lock is never poisoned");
        if topic.subscribers.load(Ordering::Acquire) > 0 {
            return false;
        }
        if topics.get(stream).is_some_and(|t| Arc::ptr_eq(t, topic)) {
            topics.remove(stream);
            self.metrics.topics.dec();
        }
        true
    }

    fn retire(&self, stream: &StreamName, topic: &Arc<Topic>) {
        let mut topics = self.topics.lock().expect("hub lock is never poisoned");
        if topics.get(stream).is_some_and(|t| Arc::ptr_eq(t, topic)) {
            topics.remove(stream);
            self.metrics.topics.dec();
        }
    }

    /// The topic task: follows the stream upstream, reconnecting (with failover) from the
    /// last offset it saw, until nobody listens, the stream ends, or shutdown.
    async fn follow(self: Arc<Self>, stream: StreamName, topic: Arc<Topic>) {
        let mut from = String::from("now");
        let mut backoff = Duration::from_millis(50);
        loop {
            let reader = tokio::select! {
                r = self.upstream.frames(&stream, &from, true) => r,
                _ = topic.idle.notified() => if self.retire_if_idle(&stream, &topic) { return } else { continue },
                _ = self.shutdown.cancelled() => return self.retire(&stream, &topic),
            };
            let mut reader = match reader {
                Ok(r) => r,
                Err(UpstreamError::Status { status: 404 | 410, .. }) => {
                    // Subscribers find out why from their own catch-up read.
                    let _ = topic.tx.send(LiveEvent::Gone(GoneReason::Deleted));
                    return self.retire(&stream, &topic);
                }
                Err(e) => {
                    self.metrics.upstream_errors.with_label_values(&[e.kind()]).inc();
                    tracing::warn!(%stream, error = %e, "live subscription failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = topic.idle.notified() => if self.retire_if_idle(&stream, &topic) { return },
                        _ = self.shutdown.cancelled() => return self.retire(&stream, &topic),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            loop {
                let frame = tokio::select! {
                    f = reader.next() => f,
                    _ = topic.idle.notified() => if self.retire_if_idle(&stream, &topic) { return } else { continue },
                    _ = self.shutdown.cancelled() => return self.retire(&stream, &topic),
                };
                match frame {
                    Ok(Some(Frame::Chunk { offset, next, data })) => {
                        backoff = Duration::from_millis(50);
                        from = next.to_string();
                        let d = Delivered::new(stream.clone(), offset, next, data);
                        let _ = topic.tx.send(LiveEvent::Chunk(Arc::new(d)));
                    }
                    Ok(Some(Frame::Tail { next, closed })) => {
                        from = next.to_string();
                        let _ = topic.tx.send(LiveEvent::Tail { next, closed });
                        if closed {
                            return self.retire(&stream, &topic);
                        }
                    }
                    Ok(Some(Frame::Keepalive)) => {}
                    Ok(Some(Frame::Gone(reason))) => {
                        let _ = topic.tx.send(LiveEvent::Gone(reason));
                        return self.retire(&stream, &topic);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.metrics.upstream_errors.with_label_values(&[e.kind()]).inc();
                        tracing::warn!(%stream, error = %e, "live subscription broke; resuming");
                        break;
                    }
                }
            }
        }
    }
}
