//! Prometheus metrics of the state service (names documented in README.md).

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub appends: IntCounter,
    pub append_bytes: IntCounter,
    pub append_rejections: IntCounterVec,
    pub read_source: IntCounterVec,
    pub live_waiters: IntGauge,
    pub hot_chunks: IntGauge,
    pub segments_sealed: IntCounter,
    pub archive_errors: IntCounter,
    pub streams_expired: IntCounter,
    pub streams_recovered: IntCounter,
    pub recovery_skipped: IntCounter,
    pub ready: IntGauge,
    pub redis_errors: IntCounter,
    pub backend_used_bytes: IntGauge,
    pub kafka_consumer_lag: IntGaugeVec,
    pub kafka_ingested: IntCounterVec,
    pub kafka_dead_letters: IntCounterVec,
    pub kafka_ingest_retries: IntCounterVec,
    pub kafka_events: IntCounterVec,
    pub kafka_events_dropped: IntCounterVec,
    pub kafka_outbox_depth: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        Self {
            kafka_consumer_lag: gauge_vec(
                "tether_state_kafka_consumer_lag",
                "Records of an assigned partition not yet appended (high watermark minus stored offset)",
                &["topic", "partition"],
            ),
            kafka_ingested: vec(
                "tether_state_kafka_ingested_total",
                "Kafka messages ingested, by topic and result (appended, duplicate, dead_lettered)",
                &["topic", "result"],
            ),
            kafka_dead_letters: vec(
                "tether_state_kafka_dead_letters_total",
                "Kafka messages no stream could take, by reason",
                &["reason"],
            ),
            kafka_ingest_retries: vec(
                "tether_state_kafka_ingest_retries_total",
                "Ingest steps retried, by reason (storage_unavailable, backpressure, fenced, dead_letter_unavailable)",
                &["reason"],
            ),
            kafka_events: vec(
                "tether_state_kafka_events_total",
                "Lifecycle events delivered to Kafka, by type",
                &["type"],
            ),
            kafka_events_dropped: vec(
                "tether_state_kafka_events_dropped_total",
                "Lifecycle events dropped, by reason (queue_full, outbox_full, outbox_unavailable, rejected, corrupt)",
                &["reason"],
            ),
            kafka_outbox_depth: gauge("tether_state_kafka_outbox_depth", "Lifecycle events waiting in the outbox"),
            http_requests: vec(
                "tether_state_http_requests_total",
                "HTTP requests by method and status",
                &["method", "status"],
            ),
            appends: counter("tether_state_appends_total", "Chunks appended"),
            append_bytes: counter("tether_state_append_bytes_total", "Payload bytes appended"),
            append_rejections: vec("tether_state_append_rejections_total", "Appends refused, by reason", &["reason"]),
            read_source: vec("tether_state_read_source_total", "Chunk reads by tier and result", &["tier", "result"]),
            live_waiters: gauge("tether_state_live_waiters", "Long-poll and SSE readers waiting for data"),
            hot_chunks: gauge("tether_state_archive_backlog_chunks", "Chunks in the hot log not yet archived"),
            segments_sealed: counter("tether_state_segments_sealed_total", "Segments written to the archive"),
            archive_errors: counter("tether_state_archive_errors_total", "Failed archive passes"),
            streams_expired: counter("tether_state_streams_expired_total", "Streams removed by TTL or Expires-At"),
            streams_recovered: counter(
                "tether_state_streams_recovered_total",
                "Streams rebuilt from the archive after the hot log forgot them",
            ),
            recovery_skipped: counter(
                "tether_state_recovery_checks_skipped_total",
                "Creates that could not check the archive for a forgotten stream (archive unreachable)",
            ),
            backend_used_bytes: gauge(
                "tether_state_hot_log_used_bytes",
                "Memory the hot log backend uses (Redis used_memory)",
            ),
            redis_errors: counter("tether_state_redis_errors_total", "Failed or timed-out Redis operations"),
            ready: gauge("tether_state_ready", "1 when the service accepts traffic"),
            registry,
        }
    }

    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encode error: {e}\n"))
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
