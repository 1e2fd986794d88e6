//! The one idempotent producer of an instance (lifecycle events and dead letters), rebuilt if
//! librdkafka reports a fatal error (an idempotent producer can be fenced for good).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaResult;
use rdkafka::producer::{FutureProducer, Producer};

#[derive(Clone)]
pub struct SharedProducer {
    inner: Arc<RwLock<FutureProducer>>,
    config: ClientConfig,
    queue_timeout: Duration,
}

impl SharedProducer {
    /// `config` is the common client configuration; `timeout` bounds each record's delivery.
    pub fn new(mut config: ClientConfig, timeout: Duration) -> KafkaResult<Self> {
        config
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .set("linger.ms", "5");
        let producer: FutureProducer = config.create()?;
        Ok(Self { inner: Arc::new(RwLock::new(producer)), config, queue_timeout: Duration::from_secs(1) })
    }

    pub fn get(&self) -> FutureProducer {
        self.inner.read().expect("producer lock").clone()
    }

    /// How long a send may wait for room in librdkafka's local queue.
    pub fn queue_timeout(&self) -> Duration {
        self.queue_timeout
    }

    /// Replaces the producer after a fatal error (records in flight on the old one fail and are
    /// retried by their owners).
    pub fn renew_if_fatal(&self) {
        let fatal = self.inner.read().expect("producer lock").client().fatal_error();
        let Some((code, reason)) = fatal else { return };
        tracing::error!(?code, %reason, "Kafka producer hit a fatal error; creating a new one");
        match self.config.create::<FutureProducer>() {
            Ok(p) => *self.inner.write().expect("producer lock") = p,
            Err(e) => tracing::error!(error = %e, "cannot create a new Kafka producer"),
        }
    }
}
