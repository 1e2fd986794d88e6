//! The edge's side of the state service: a few multiplexed HTTP/2 connections per state
//! instance, rendezvous hashing of keys (stream names, session ids) over the instances for
//! cache locality, and failover to the next instance when one cannot be reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tether_protocol::StreamName;
use tether_protocol::frames::{Decoder, Frame, FrameError};

use crate::metrics::Metrics;

/// How long an instance that refused a connection is skipped (unless all are down).
const DOWN_FOR_MS: i64 = 2_000;
/// A live framed response that stays silent this long is considered dead (the state sends a
/// keepalive every 15 s).
pub const LIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(40);

/// Why a state-service request failed. Every variant is the upstream's fault; the flag says
/// whether trying again (maybe elsewhere) can help.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no state service instance is reachable: {0}")]
    Unavailable(String),
    #[error("state service request failed: {0}")]
    Transport(String),
    #[error("state service answered {status}: {code}: {message}")]
    Status { status: u16, code: String, message: String, retry_after: Option<u64> },
    #[error("state service sent a malformed frame stream: {0}")]
    Framing(#[from] FrameError),
    #[error("state service went silent")]
    Silent,
}

impl UpstreamError {
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Unavailable(_) => "unavailable",
            UpstreamError::Transport(_) => "transport",
            UpstreamError::Status { .. } => "status",
            UpstreamError::Framing(_) => "framing",
            UpstreamError::Silent => "silent",
        }
    }

    /// The state's error code when it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            UpstreamError::Status { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn retryable(&self) -> bool {
        match self {
            UpstreamError::Status { status, .. } => *status == 503 || *status == 429,
            _ => true,
        }
    }
}

struct Endpoint {
    base: String,
    clients: Vec<reqwest::Client>,
    next_client: AtomicUsize,
    down_until_ms: AtomicI64,
}

impl Endpoint {
    fn client(&self) -> &reqwest::Client {
        let i = self.next_client.fetch_add(1, Ordering::Relaxed);
        &self.clients[i % self.clients.len()]
    }
}

/// Whether a failed attempt may be repeated on the next instance.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads and idempotent writes: any transport failure moves on.
    Idempotent,
    /// Only when the request provably never left (connection refused).
    IfNotSent,
}

pub struct Upstream {
    endpoints: Vec<Arc<Endpoint>>,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// 64-bit FNV-1a followed by a finaliser; stable across processes and versions, so every
/// edge ranks instances the same way.
fn score(key: &str, base: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in base.bytes().chain([0xff]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

impl Upstream {
    pub fn new(
        urls: &[String],
        connections: usize,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let mut endpoints = Vec::new();
        for url in urls {
            let mut clients = Vec::new();
            for _ in 0..connections {
                clients.push(
                    reqwest::Client::builder()
                        .http2_prior_knowledge()
                        .http2_keep_alive_interval(Duration::from_secs(10))
                        .http2_keep_alive_timeout(Duration::from_secs(5))
                        .http2_keep_alive_while_idle(true)
                        // Live responses are streams of small DATA frames. h2 limits how many
                        // small frames may sit unread to half the connection window (its flood
                        // guard answers more with GOAWAY, failing every request on the
                        // connection), so the window is large: 64 MiB per connection, 4 MiB per
                        // stream, both bounded by what the hub and subscriptions read promptly.
                        .http2_initial_connection_window_size(64 << 20)
                        .http2_initial_stream_window_size(4 << 20)
                        .connect_timeout(Duration::from_secs(3))
                        .tcp_nodelay(true)
                        .build()?,
                );
            }
            endpoints.push(Arc::new(Endpoint {
                base: url.trim_end_matches('/').to_owned(),
                clients,
                next_client: AtomicUsize::new(0),
                down_until_ms: AtomicI64::new(0),
            }));
        }
        Ok(Self { endpoints, timeout, metrics })
    }

    /// Instances in rendezvous order for `key`, reachable ones first.
    fn order(&self, key: &str) -> Vec<Arc<Endpoint>> {
        let mut eps = self.endpoints.clone();
        eps.sort_by_key(|e| std::cmp::Reverse(score(key, &e.base)));
        let now = now_ms();
        eps.sort_by_key(|e| e.down_until_ms.load(Ordering::Relaxed) > now);
        eps
    }

    /// The instance that owns `key` when all are up (tests and diagnostics).
    pub fn owner(&self, key: &str) -> String {
        let mut eps = self.endpoints.clone();
        eps.sort_by_key(|e| std::cmp::Reverse(score(key, &e.base)));
        eps[0].base.clone()
    }

    /// Sends the request `build` makes (given a client and a base URL), trying instances in
    /// order. Non-2xx answers are returned as they are; only transport failures move on.
    pub async fn send(
        &self,
        key: &str,
        retry: Retry,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut last = String::from("no state URL configured");
        for ep in self.order(key) {
            match build(ep.client(), &ep.base).send().await {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    self.metrics.upstream_errors.with_label_values(&["transport"]).inc();
                    let refused = e.is_connect();
                    if refused {
                        ep.down_until_ms.store(now_ms() + DOWN_FOR_MS, Ordering::Relaxed);
                    }
                    last = format!("{}: {e}", ep.base);
                    tracing::warn!(state = %ep.base, error = ?e, "state service request failed");
                    if !(refused || retry == Retry::Idempotent) {
                        return Err(UpstreamError::Transport(last));
                    }
                }
            }
        }
        Err(UpstreamError::Unavailable(last))
    }

    /// The default timeout of short requests.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Opens a framed read of `stream` from `from` (`-1`, `now` or an offset).
    pub async fn frames(&self, stream: &StreamName, from: &str, live: bool) -> Result<FrameReader, UpstreamError> {
        let path = format!("/v1/frames/{stream}?offset={from}{}", if live { "&live=true" } else { "" });
        let timeout = self.timeout;
        let resp = self
            .send(stream.as_str(), Retry::Idempotent, |c, base| {
                let r = c.get(format!("{base}{path}"));
                if live { r } else { r.timeout(timeout) }
            })
            .await?;
        let resp = ok_or_status(resp).await?;
        let start = resp
            .headers()
            .get(tether_protocol::headers::STREAM_NEXT_OFFSET)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| tether_protocol::Offset::parse(v).ok())
            .ok_or_else(|| UpstreamError::Transport("framed response without stream-next-offset".into()))?;
        Ok(FrameReader { start, body: Box::pin(resp.bytes_stream()), decoder: Decoder::new(), live })
    }
}

/// Turns a non-2xx answer into [`UpstreamError::Status`] with the state's JSON error code.
pub async fn ok_or_status(resp: reqwest::Response) -> Result<reqwest::Response, UpstreamError> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let retry_after =
        resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let body = resp.bytes().await.unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let field = |k: &str| {
        parsed.as_ref().and_then(|v| v.pointer(&format!("/error/{k}"))).and_then(|v| v.as_str()).map(str::to_owned)
    };
    Err(UpstreamError::Status {
        status,
        code: field("code").unwrap_or_else(|| format!("http_{status}")),
        message: field("message").unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect()),
        retry_after,
    })
}

type ByteStream = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Frames of one framed response, decoded as they arrive.
pub struct FrameReader {
    /// The resolved offset the read started at.
    pub start: tether_protocol::Offset,
    body: ByteStream,
    decoder: Decoder,
    live: bool,
}

impl FrameReader {
    /// The next frame; `None` when the response ended.
    pub async fn next(&mut self) -> Result<Option<Frame>, UpstreamError> {
        loop {
            if let Some(f) = self.decoder.next_frame()? {
                return Ok(Some(f));
            }
            let piece = if self.live {
                tokio::time::timeout(LIVE_IDLE_TIMEOUT, self.body.next()).await.map_err(|_| UpstreamError::Silent)?
            } else {
                self.body.next().await
            };
            match piece {
                Some(Ok(bytes)) => self.decoder.feed(&bytes),
                Some(Err(e)) => return Err(UpstreamError::Transport(e.to_string())),
                None if self.decoder.pending() == 0 => return Ok(None),
                None => return Err(UpstreamError::Transport("framed response cut mid-frame".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_spreads_and_is_stable() {
        let m = Arc::new(Metrics::new());
        let urls: Vec<String> = (0..3).map(|i| format!("http://s{i}:1")).collect();
        let up = Upstream::new(&urls, 1, Duration::from_secs(1), m.clone()).expect("client");
        let mut counts = std::collections::HashMap::new();
        for i in 0..3000 {
            *counts.entry(up.owner(&format!("stream/{i}"))).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 3);
        assert!(counts.values().all(|&c| c > 800), "{counts:?}");
        // Removing an instance only moves the keys it owned.
        let up2 = Upstream::new(&urls[..2], 1, Duration::from_secs(1), m).expect("client");
        for i in 0..300 {
            let k = format!("stream/{i}");
            if up.owner(&k) != "http://s2:1" {
                assert_eq!(up.owner(&k), up2.owner(&k));
            }
        }
    }
}
