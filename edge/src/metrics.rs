//! Prometheus metrics of the edge (names documented in README.md).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

pub struct Metrics {
    pub registry: Registry,
    pub connections_current: IntGauge,
    pub connections_opened: IntCounter,
    pub connections_closed: IntCounterVec,
    pub connections_refused: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub subscriptions: IntGauge,
    pub topics: IntGauge,
    pub chunks_delivered: IntCounter,
    pub bytes_delivered: IntCounter,
    pub resume_verdicts: IntCounterVec,
    pub detached: IntCounter,
    pub catchups: IntCounter,
    pub upstream_errors: IntCounterVec,
    pub publishes: IntCounterVec,
    pub http_requests: IntCounterVec,
    pub drain_phase: IntGauge,
    pub resume_seconds: Histogram,
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
        let resume_seconds = Histogram::with_opts(
            HistogramOpts::new("tether_edge_subscribe_seconds", "Time from subscribe or resume to its verdict")
                .buckets(vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
        )
        .expect("valid metric");
        registry.register(Box::new(resume_seconds.clone())).expect("unique metric");
        Self {
            connections_current: gauge("tether_edge_connections_current", "Open WebSocket connections"),
            connections_opened: counter("tether_edge_connections_opened_total", "WebSocket connections accepted"),
            connections_closed: vec(
                "tether_edge_connections_closed_total",
                "WebSocket connections closed, by reason",
                &["reason"],
            ),
            connections_refused: vec(
                "tether_edge_connections_refused_total",
                "Connections or requests refused by a limit, by reason",
                &["reason"],
            ),
            auth_failures: vec(
                "tether_edge_auth_failures_total",
                "Token verification failures, by reason",
                &["reason"],
            ),
            subscriptions: gauge("tether_edge_subscriptions_current", "Active client subscriptions"),
            topics: gauge("tether_edge_upstream_subscriptions_current", "Streams followed from the state service"),
            chunks_delivered: counter("tether_edge_chunks_delivered_total", "Chunks queued to clients"),
            bytes_delivered: counter("tether_edge_bytes_delivered_total", "Payload bytes queued to clients"),
            resume_verdicts: vec(
                "tether_edge_resume_verdicts_total",
                "Subscription verdicts: started, resumed or reset:<reason>",
                &["verdict"],
            ),
            detached: counter(
                "tether_edge_detached_total",
                "Subscribers detached from the live fan-out because they fell behind",
            ),
            catchups: counter("tether_edge_catchups_total", "Catch-up reads from the state service"),
            upstream_errors: vec(
                "tether_edge_upstream_errors_total",
                "Failed state-service requests, by kind",
                &["kind"],
            ),
            publishes: vec("tether_edge_publishes_total", "WebSocket publishes, by outcome", &["outcome"]),
            http_requests: vec(
                "tether_edge_http_requests_total",
                "HTTP requests by method and status",
                &["method", "status"],
            ),
            drain_phase: gauge(
                "tether_edge_drain_phase",
                "0 serving, 1 stopped accepting, 2 clients told to reconnect, 3 closing remaining",
            ),
            resume_seconds,
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
