//! Tether edge worker: terminates client WebSocket and HTTP connections, verifies JWTs,
//! enforces permissions and limits, and proxies to the state service. It keeps no state a
//! client depends on: kill it and its clients resume on another edge.

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod publish;
pub mod serve;
pub mod sessions;
pub mod upstream;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthConfig, AuthError, Identity, Permissions, Verifier};
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::sessions::Sessions;
use crate::upstream::Upstream;

/// Everything a connection or request handler shares.
pub struct Edge {
    pub cfg: Config,
    pub verifier: Option<Arc<Verifier>>,
    pub upstream: Arc<Upstream>,
    pub hub: Arc<Hub>,
    pub sessions: Sessions,
    pub metrics: Arc<Metrics>,
    /// Cancelled when draining starts: clients are told to reconnect elsewhere.
    pub drain: CancellationToken,
    /// WebSocket connection slots (`max_connections`).
    pub connections: Arc<Semaphore>,
    pub per_ip: Arc<limits::PerIp>,
    pub edge_id: String,
    /// Upgraded WebSocket connections, which outlive their HTTP connection; draining waits for them.
    pub sockets: tokio_util::task::TaskTracker,
}

impl Edge {
    /// Verifies `token`, or grants the dev anonymous policy when there is none and it is on.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Identity, AuthError> {
        let result = match (token, &self.verifier) {
            (Some(t), Some(v)) => v.verify(t),
            (None, _) if self.cfg.dev_anonymous => {
                return Ok(Identity { sub: "anonymous".into(), expires_at: None, perms: Permissions::all() });
            }
            (Some(_), None) | (None, _) => Err(AuthError::Missing),
        };
        if let Err(e) = &result {
            self.metrics.auth_failures.with_label_values(&[e.reason()]).inc();
        }
        result
    }
}

/// A running edge.
pub struct Running {
    pub addr: SocketAddr,
    /// Cancel to drain and stop.
    pub shutdown: CancellationToken,
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub edge: Arc<Edge>,
}

fn auth_config(cfg: &Config) -> anyhow::Result<Option<AuthConfig>> {
    let secret = match (&cfg.jwt_secret_file, &cfg.jwt_secret) {
        (Some(path), _) => Some(
            std::fs::read(path)
                .with_context(|| format!("reading the JWT secret file {}", path.display()))?
                .trim_ascii()
                .to_vec(),
        ),
        (None, Some(s)) => Some(s.as_bytes().to_vec()),
        (None, None) => None,
    };
    if secret.is_none() && cfg.jwt_public_key_files.is_empty() && cfg.jwks_url.is_none() && cfg.jwks_file.is_none() {
        return Ok(None);
    }
    Ok(Some(AuthConfig {
        secret,
        public_key_files: cfg.jwt_public_key_files.clone(),
        jwks_url: cfg.jwks_url.clone(),
        jwks_file: cfg.jwks_file.clone(),
        jwks_refresh: cfg.jwks_refresh,
        issuer: cfg.jwt_issuer.clone(),
        audience: cfg.jwt_audience.clone(),
        leeway: cfg.jwt_leeway,
        max_token_bytes: cfg.max_token_bytes,
    }))
}

/// Loads keys, binds `cfg.listen` and serves until `shutdown`; then drains in phases: stop
/// accepting, tell clients to reconnect elsewhere, wait up to `drain_grace`, close the rest.
pub async fn start(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    cfg.validate()?;
    let metrics = Arc::new(Metrics::new());
    let verifier = match auth_config(&cfg)? {
        Some(a) => Some(Verifier::new(a, shutdown.clone()).await.context("loading JWT keys")?),
        None => None,
    };
    if cfg.dev_anonymous {
        tracing::warn!(
            "DEV ANONYMOUS POLICY IS ON: requests without a token may read and write every stream. \
Never run this in production."
        );
    }
    let upstream = Arc::new(
        Upstream::new(&cfg.state_urls, cfg.upstream_connections, cfg.upstream_timeout, metrics.clone())
            .context("building the state service client")?,
    );
    let hub_stop = CancellationToken::new();
    let hub = Hub::new(upstream.clone(), metrics.clone(), cfg.fanout_buffer, hub_stop.clone());
    let edge_id = cfg.edge_id.clone().unwrap_or_else(|| format!("edge-{:08x}", rand::random::<u32>()));
    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let edge = Arc::new(Edge {
        sessions: Sessions::new(upstream.clone(), cfg.session_ttl),
        connections: Arc::new(Semaphore::new(cfg.max_connections)),
        per_ip: limits::PerIp::new(cfg.max_connections_per_ip),
        drain: CancellationToken::new(),
        cfg,
        verifier,
        upstream,
        hub,
        metrics,
        edge_id,
        sockets: tokio_util::task::TaskTracker::new(),
    });
    tracing::info!(%addr, edge = %edge.edge_id, states = ?edge.cfg.state_urls, "tether-edge serving");
    let app = http::router(edge.clone());
    let stop_accepting = CancellationToken::new();
    let server = tokio::spawn(serve::serve(listener, app, edge.clone(), stop_accepting.clone()));
    let e = edge.clone();
    let stop = shutdown.clone();
    let done = tokio::spawn(async move {
        stop.cancelled().await;
        drain(&e, stop_accepting, server, hub_stop).await;
        Ok(())
    });
    Ok(Running { addr, shutdown, done, edge })
}

/// The drain phases (exported as `tether_edge_drain_phase`).
async fn drain(
    edge: &Arc<Edge>,
    stop_accepting: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    hub_stop: CancellationToken,
) {
    tracing::info!("draining: no new connections");
    edge.metrics.drain_phase.set(1);
    stop_accepting.cancel();
    tracing::info!("draining: telling clients to reconnect elsewhere");
    edge.metrics.drain_phase.set(2);
    edge.drain.cancel();
    edge.sockets.close();
    let settled = async {
        let _ = server.await;
        edge.sockets.wait().await;
    };
    if tokio::time::timeout(edge.cfg.drain_grace, settled).await.is_err() {
        tracing::warn!(grace = ?edge.cfg.drain_grace, "drain grace elapsed; closing remaining connections");
    }
    edge.metrics.drain_phase.set(3);
    hub_stop.cancel();
    tracing::info!("tether-edge stopped");
}
