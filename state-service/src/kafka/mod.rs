//! Kafka: topics ingested into streams exactly once ([`ingest`]), and lifecycle events out
//! through a durable outbox ([`events`], [`outbox`], [`relay`]). Everything here is optional:
//! without `kafka_brokers` the state service runs as before, and a Kafka outage never blocks
//! an append or a read.

pub mod events;
pub mod ingest;
pub mod outbox;
pub mod producer;
pub mod relay;
pub mod routes;

use std::sync::Arc;

use anyhow::Context;
use rdkafka::ClientConfig;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::KafkaConfig;
use crate::metrics::Metrics;
use crate::streams::Streams;
use events::Events;
use outbox::Outbox;
use producer::SharedProducer;

/// Producer ids of Kafka ingest start with this (`kafka:{topic}:{partition}`); HTTP producers
/// may not use it.
pub const PRODUCER_PREFIX: &str = "kafka:";

/// Settings every client of this instance shares: brokers plus the configured properties.
pub fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers);
    for (k, v) in cfg.properties.iter() {
        c.set(k, v);
    }
    c
}

/// The Kafka side of a running instance.
pub struct Kafka {
    /// Where lifecycle events are emitted (a no-op handle without an events topic).
    pub events: Events,
    cfg: Option<KafkaConfig>,
    producer: Option<SharedProducer>,
}

impl Kafka {
    /// Starts the producer, the outbox writer and the relay when Kafka is configured. Connects
    /// lazily: an unreachable cluster does not delay the start. The tasks go on `tasks`, so
    /// shutdown can wait for them to stop.
    pub fn start(
        cfg: Option<&KafkaConfig>,
        outbox: Arc<dyn Outbox>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> anyhow::Result<Self> {
        let off = || Self { events: Events::disabled(), cfg: None, producer: None };
        let Some(cfg) = cfg else { return Ok(off()) };
        if cfg.routes.is_empty() && cfg.events_topic.is_none() {
            tracing::warn!("kafka_brokers is set but there are neither routes nor an events topic: Kafka stays off");
            return Ok(off());
        }
        let producer =
            SharedProducer::new(client_config(cfg), cfg.produce_timeout).context("creating the Kafka producer")?;
        let events = match &cfg.events_topic {
            None => Events::disabled(),
            Some(topic) => {
                let written = Arc::new(Notify::new());
                let events = events::start_writer(
                    outbox.clone(),
                    cfg.outbox_max_events,
                    metrics.clone(),
                    written.clone(),
                    shutdown.clone(),
                    tasks,
                );
                let relay = relay::Relay {
                    outbox,
                    producer: producer.clone(),
                    topic: topic.clone(),
                    metrics,
                    written,
                    holder: format!("{:016x}", rand::random::<u64>()),
                };
                tasks.spawn(relay.run(shutdown));
                tracing::info!(topic, "lifecycle events on");
                events
            }
        };
        Ok(Self { events, cfg: Some(cfg.clone()), producer: Some(producer) })
    }

    /// Starts the ingest consumer when routes are configured.
    pub fn start_ingest(
        &self,
        streams: Arc<Streams>,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> anyhow::Result<()> {
        let (Some(cfg), Some(producer)) = (&self.cfg, &self.producer) else { return Ok(()) };
        if cfg.routes.is_empty() {
            return Ok(());
        }
        ingest::spawn(cfg, streams, producer.clone(), shutdown, tasks).context("starting the Kafka ingest")
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Args, Config};

    fn resolve(toml: &str, brokers_env: Option<&str>) -> Result<Config, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.toml");
        std::fs::write(&path, toml).expect("write");
        let mut args = Args { config: Some(path), ..Args::default() };
        args.values.kafka_brokers = brokers_env.map(str::to_owned);
        Config::resolve(&args).map_err(|e| e.to_string())
    }

    #[test]
    fn routes_load_from_the_config_file_and_are_validated() {
        let cfg = resolve(
            r#"
kafka_brokers = "k:9092"
kafka_dead_letter_topic = "dlq"

[[kafka_route]]
topic = "trading.order-filled"
stream = "assessment/{payload./assessmentId}"
content_type = "application/json"

[[kafka_route]]
topic_pattern = "^market\\..*"
stream = "market/btc"

[kafka_properties]
"security.protocol" = "sasl_ssl"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "tether"
"sasl.password" = "secret"
"#,
            None,
        )
        .expect("valid");
        let k = cfg.kafka.as_ref().expect("kafka on");
        assert_eq!((k.routes.len(), k.group_id.as_str()), (2, "tether-state"));
        assert_eq!(k.routes[1].content_type, "application/octet-stream");
        let shown = toml::to_string_pretty(&cfg).expect("--check-config output");
        assert!(shown.contains(r#""sasl.password" = "***""#) && !shown.contains("secret"), "{shown}");

        let bad = |toml: &str| resolve(toml, Some("k:9092")).expect_err(toml);
        assert!(bad("[[kafka_route]]\ntopic = \"t\"\nstream = \"a/{nope}\"\n").contains("unknown placeholder"));
        assert!(bad("[[kafka_route]]\nstream = \"a\"\n").contains("exactly one of topic"));
        assert!(bad("[[kafka_route]]\ntopic = \"t\"\nstream = \"a\"\nextra = 1\n").contains("extra"));
        let looping = "kafka_dead_letter_topic = \"t\"\n[[kafka_route]]\ntopic = \"t\"\nstream = \"a\"\n";
        assert!(bad(looping).contains("loop"));
        let no_brokers = resolve("[[kafka_route]]\ntopic = \"t\"\nstream = \"a\"\n", None).expect_err("needs brokers");
        assert!(no_brokers.contains("kafka_brokers"), "{no_brokers}");
        assert!(resolve("", None).expect("valid").kafka.is_none(), "Kafka is optional");
    }
}
