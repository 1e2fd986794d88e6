//! Configuration of `tether-edge`: command-line flags, each also a `TETHER_*` environment
//! variable, over documented defaults. The field docs are the `--help` text.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Log output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Parser, Debug, Clone)]
#[command(name = "tether-edge", version, about = "Tether edge: WebSocket and HTTP termination, JWT, fan-out")]
pub struct Config {
    /// Address to serve clients on.
    #[arg(long, env = "TETHER_LISTEN", default_value = "127.0.0.1:4438")]
    pub listen: SocketAddr,
    /// State service base URL; repeat (or comma-separate) for several instances. Streams are
    /// spread over them by rendezvous hashing, with failover to the next.
    #[arg(long = "state-url", env = "TETHER_STATE_URL", value_delimiter = ',', required = true)]
    pub state_urls: Vec<String>,
    /// File holding the HS256/384/512 shared secret.
    #[arg(long, env = "TETHER_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// The HS* shared secret itself (prefer the file or a secret manager injecting this variable).
    #[arg(long, env = "TETHER_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key (RSA, EC P-256/P-384, Ed25519); repeatable. Its `kid` is the file stem.
    #[arg(long = "jwt-public-key-file", env = "TETHER_JWT_PUBLIC_KEY_FILE", value_delimiter = ',')]
    pub jwt_public_key_files: Vec<PathBuf>,
    /// JWKS URL, fetched at start and refreshed periodically (and on an unknown `kid`).
    #[arg(long, env = "TETHER_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// JWKS file, re-read periodically.
    #[arg(long, env = "TETHER_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// How often JWKS keys are refreshed.
    #[arg(long, env = "TETHER_JWKS_REFRESH", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jwks_refresh: Duration,
    /// Required `iss` claim.
    #[arg(long, env = "TETHER_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "TETHER_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[arg(long, env = "TETHER_JWT_LEEWAY", default_value = "30s", value_parser = humantime::parse_duration)]
    pub jwt_leeway: Duration,
    /// Longest accepted token, in bytes.
    #[arg(long, env = "TETHER_MAX_TOKEN_BYTES", default_value_t = 8192)]
    pub max_token_bytes: usize,
    /// DEV ONLY: requests without a token get read and write access to every stream as user
    /// `anonymous`. Off by default; logged loudly when on. Tokens, when sent, are still verified.
    #[arg(long, env = "TETHER_DEV_ANONYMOUS", default_value_t = false)]
    pub dev_anonymous: bool,
    /// Log format.
    #[arg(long, env = "TETHER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Most concurrent connections (WebSocket and HTTP) from one client IP.
    #[arg(long, env = "TETHER_MAX_CONNECTIONS_PER_IP", default_value_t = 1000)]
    pub max_connections_per_ip: usize,
    /// Most concurrent WebSocket connections on this edge.
    #[arg(long, env = "TETHER_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,
    /// Largest WebSocket frame a client may send, in bytes (larger: close 1009).
    #[arg(long, env = "TETHER_MAX_FRAME_BYTES", default_value_t = 1 << 20)]
    pub max_frame_bytes: usize,
    /// Largest reassembled WebSocket message a client may send, in bytes (larger: close 1009).
    #[arg(long, env = "TETHER_MAX_MESSAGE_BYTES", default_value_t = 1 << 20)]
    pub max_message_bytes: usize,
    /// Largest HTTP request body proxied to the state service, in bytes (larger: 413).
    #[arg(long, env = "TETHER_MAX_HTTP_BODY_BYTES", default_value_t = 16 << 20)]
    pub max_http_body_bytes: usize,
    /// Most stream subscriptions on one connection.
    #[arg(long, env = "TETHER_MAX_SUBSCRIPTIONS", default_value_t = 256)]
    pub max_subscriptions: usize,
    /// Sustained publishes per second per connection (token bucket).
    #[arg(long, env = "TETHER_PUBLISH_RATE", default_value_t = 200)]
    pub publish_rate: u32,
    /// Publish burst allowance per connection.
    #[arg(long, env = "TETHER_PUBLISH_BURST", default_value_t = 400)]
    pub publish_burst: u32,
    /// Time allowed for the HTTP upgrade request to arrive and complete.
    #[arg(long, env = "TETHER_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,
    /// Time allowed for the first `auth` frame when the upgrade carried no token.
    #[arg(long, env = "TETHER_AUTH_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub auth_timeout: Duration,
    /// Server ping interval.
    #[arg(long, env = "TETHER_PING_INTERVAL", default_value = "25s", value_parser = humantime::parse_duration)]
    pub ping_interval: Duration,
    /// Close a connection that sent nothing (not even a pong) for this long.
    #[arg(long, env = "TETHER_IDLE_TIMEOUT", default_value = "75s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Warn this long before the token expires (`token_expiring`).
    #[arg(long, env = "TETHER_TOKEN_WARNING", default_value = "60s", value_parser = humantime::parse_duration)]
    pub token_warning: Duration,
    /// Outgoing messages queued per connection; a subscription that cannot enqueue falls
    /// behind and catches up from the state service.
    #[arg(long, env = "TETHER_CLIENT_QUEUE", default_value_t = 512)]
    pub client_queue: usize,
    /// Live chunks buffered per followed stream for its subscribers; a subscriber further
    /// behind is detached and catches up from the state service.
    #[arg(long, env = "TETHER_FANOUT_BUFFER", default_value_t = 1024)]
    pub fanout_buffer: usize,
    /// Session lifetime after last use.
    #[arg(long, env = "TETHER_SESSION_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,
    /// HTTP/2 connections per state instance that all requests and subscriptions share.
    #[arg(long, env = "TETHER_UPSTREAM_CONNECTIONS", default_value_t = 4)]
    pub upstream_connections: usize,
    /// Timeout of non-streaming requests to the state service.
    #[arg(long, env = "TETHER_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub upstream_timeout: Duration,
    /// On SIGTERM: how long to wait for clients to leave after telling them to reconnect.
    #[arg(long, env = "TETHER_DRAIN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    pub drain_grace: Duration,
    /// On SIGTERM: clients are told to reconnect after a random delay up to this.
    #[arg(long, env = "TETHER_DRAIN_RETRY_SPREAD", default_value = "5s", value_parser = humantime::parse_duration)]
    pub drain_retry_spread: Duration,
    /// Identifier of this edge in welcomes and logs [default: random].
    #[arg(long, env = "TETHER_EDGE_ID")]
    pub edge_id: Option<String>,
    /// Validate the configuration, print it and exit.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Checks values a wrong setting would make dangerous or useless.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        for u in &self.state_urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return bad(&format!("state URL {u:?} must start with http:// or https://"));
            }
        }
        let keyed = self.jwt_secret_file.is_some()
            || self.jwt_secret.is_some()
            || !self.jwt_public_key_files.is_empty()
            || self.jwks_url.is_some()
            || self.jwks_file.is_some();
        if !keyed && !self.dev_anonymous {
            return bad("no JWT key configured: set --jwt-secret-file/TETHER_JWT_SECRET, --jwt-public-key-file, \
--jwks-url or --jwks-file (or --dev-anonymous for local development)");
        }
        if self.jwt_secret_file.is_some() && self.jwt_secret.is_some() {
            return bad("set either --jwt-secret-file or TETHER_JWT_SECRET, not both");
        }
        if self.idle_timeout <= self.ping_interval {
            return bad("idle-timeout must exceed ping-interval, or healthy idle clients are cut off");
        }
        if self.max_message_bytes < self.max_frame_bytes {
            return bad("max-message-bytes must be at least max-frame-bytes");
        }
        if self.client_queue < 8 || self.fanout_buffer < 8 {
            return bad("client-queue and fanout-buffer must be at least 8");
        }
        if self.upstream_connections == 0 || self.upstream_connections > 64 {
            return bad("upstream-connections must be between 1 and 64");
        }
        if self.publish_rate == 0 || self.publish_burst < self.publish_rate.min(1) {
            return bad("publish-rate must be positive and publish-burst at least 1");
        }
        if self.max_subscriptions == 0 || self.max_connections_per_ip == 0 {
            return bad("max-subscriptions and max-connections-per-ip must be positive");
        }
        Ok(())
    }
}
