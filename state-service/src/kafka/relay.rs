//! The outbox relay: delivers stored lifecycle events to the events topic with the idempotent
//! producer, oldest first, and removes each from the outbox only once Kafka acknowledged it.
//! While Kafka is unreachable it backs off (up to [`MAX_BACKOFF`]) and the outbox fills up to
//! its bound; appends and reads never wait for it. Delivery is at-least-once: a relay that dies
//! between Kafka's ack and the removal sends those events again (consumers dedupe on `id`).

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::events::Event;
use super::outbox::{Outbox, OutboxId};
use super::producer::SharedProducer;
use crate::metrics::Metrics;

/// Events sent per round.
const BATCH: usize = 256;
/// How long the relay lease lasts; renewed every round.
const LEASE_TTL: Duration = Duration::from_secs(15);
/// Poll interval when nothing wakes the relay (events written by other instances).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Longest wait between failed rounds (each round is cheap: one lease renewal, one peek).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Relay {
    pub outbox: Arc<dyn Outbox>,
    pub producer: SharedProducer,
    pub topic: String,
    pub metrics: Arc<Metrics>,
    /// Notified by the outbox writer after each write.
    pub written: Arc<Notify>,
    /// This instance's lease identity.
    pub holder: String,
}

impl Relay {
    /// Delivers until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let (sent, failed) = match self.round().await {
                Ok(sent) => (sent, false),
                Err(e) => {
                    tracing::warn!(error = %e, ?backoff, "lifecycle events not delivered; retrying");
                    (0, true)
                }
            };
            if let Ok(depth) = self.outbox.depth().await {
                self.metrics.kafka_outbox_depth.set(depth as i64);
            }
            if sent == BATCH {
                continue;
            }
            let wait = if failed { backoff } else { IDLE_POLL };
            backoff = if failed { (backoff * 2).min(MAX_BACKOFF) } else { Duration::from_millis(100) };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.written.notified(), if !failed => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends up to [`BATCH`] events; returns how many left the outbox.
    async fn round(&self) -> Result<usize, String> {
        if !self.outbox.lease(&self.holder, LEASE_TTL).await.map_err(|e| e.to_string())? {
            return Ok(0);
        }
        let entries = self.outbox.peek(BATCH).await.map_err(|e| e.to_string())?;
        if entries.is_empty() {
            return Ok(0);
        }
        let producer = self.producer.get();
        let timeout = self.producer.queue_timeout();
        let mut done: Vec<OutboxId> = Vec::new();
        let mut sends = Vec::new();
        for e in &entries {
            match serde_json::from_slice::<Event>(&e.payload) {
                Ok(ev) => sends.push((e, ev)),
                Err(err) => {
                    // Written by a newer version, or damaged: it can never be sent as an event.
                    tracing::error!(id = e.id.as_str(), error = %err, "dropping an unreadable outbox entry");
                    self.metrics.kafka_events_dropped.with_label_values(&["corrupt"]).inc();
                    done.push(e.id.clone());
                }
            }
        }
        let results = join_all(sends.iter().map(|(e, ev)| {
            let headers = OwnedHeaders::new()
                .insert(Header { key: "tether-event-type", value: Some(ev.kind.name()) })
                .insert(Header { key: "tether-event-version", value: Some(&ev.v.to_string()) });
            let record = FutureRecord::to(&self.topic).key(ev.kind.key()).payload(e.payload.as_ref()).headers(headers);
            producer.send(record, timeout)
        }))
        .await;
        let mut first_error = None;
        for ((e, ev), result) in sends.iter().zip(results) {
            match result {
                Ok(_) => {
                    self.metrics.kafka_events.with_label_values(&[ev.kind.name()]).inc();
                    done.push(e.id.clone());
                }
                Err((err, _)) if permanent(err.rdkafka_error_code()) => {
                    tracing::error!(id = e.id.as_str(), error = %err, "Kafka refused a lifecycle event for good; dropping it");
                    self.metrics.kafka_events_dropped.with_label_values(&["rejected"]).inc();
                    done.push(e.id.clone());
                }
                Err((err, _)) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        self.outbox.remove(&done).await.map_err(|e| e.to_string())?;
        self.producer.renew_if_fatal();
        match first_error {
            Some(e) => Err(e.to_string()),
            None => Ok(done.len()),
        }
    }
}

/// Errors that no retry can fix for this record.
fn permanent(code: Option<RDKafkaErrorCode>) -> bool {
    matches!(
        code,
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}
