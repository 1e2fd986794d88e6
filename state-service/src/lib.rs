//! Tether state service: durable, offset-addressed stream logs behind the Durable Streams
//! HTTP API, with a hot log, a segment archive and client sessions behind storage traits.

pub mod archive;
pub mod config;
pub mod conformance;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod session;
pub mod store;
pub mod streams;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::archive::Archive;
use crate::archive::archiver::{Archiver, SealPolicy};
use crate::archive::local::LocalArchive;
use crate::archive::reader::{ArchiveReader, CacheSettings};
use crate::archive::s3::{S3Archive, S3Settings};
use crate::config::{Config, LogFormat};
use crate::http::AppState;
use crate::kafka::Kafka;
use crate::kafka::outbox::Outbox;
use crate::kafka::outbox::embedded::EmbeddedOutbox;
use crate::kafka::outbox::redis::RedisOutbox;
use crate::metrics::Metrics;
use crate::session::SessionStore;
use crate::session::embedded::EmbeddedSessions;
use crate::session::redis::RedisSessions;
use crate::store::HotLog;
use crate::store::embedded::{EmbeddedHotLog, open_database};
use crate::store::redis::{RedisHotLog, RedisSettings};
use crate::streams::Streams;

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Installs the global `tracing` subscriber (text or JSON, filtered by `RUST_LOG`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A running state service.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub shutdown: CancellationToken,
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Opens the storage, binds `cfg.listen` and serves until `shutdown` is cancelled; in-flight
/// requests then get `cfg.shutdown_grace` to finish (live reads end at once).
pub async fn start(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let metrics = Arc::new(Metrics::new());
    let (hot, sessions, outbox): (Arc<dyn HotLog>, Arc<dyn SessionStore>, Arc<dyn Outbox>) = match &cfg.redis {
        None => {
            let db = open_database(&cfg.data_dir.join("hot")).context("opening the embedded store")?;
            let hot = EmbeddedHotLog::open(db.clone(), cfg.fsync, cfg.hot_max_chunks, now_ms())
                .context("loading the embedded store")?;
            let outbox = EmbeddedOutbox::open(db.clone(), cfg.fsync).context("opening the event outbox")?;
            (hot, Arc::new(EmbeddedSessions::new(db, cfg.fsync)), Arc::new(outbox))
        }
        Some(r) => {
            let settings = RedisSettings {
                url: r.url.clone(),
                wait_replicas: r.wait_replicas,
                wait_timeout: r.wait_timeout,
                op_timeout: r.timeout,
                max_memory_bytes: r.max_memory_bytes,
                errors: metrics.redis_errors.clone(),
            };
            let hot = RedisHotLog::connect(settings, shutdown.clone()).await.context("connecting to Redis")?;
            let pool = hot.pool().clone();
            (hot, Arc::new(RedisSessions::new(pool.clone())), Arc::new(RedisOutbox::new(pool, r.timeout)))
        }
    };
    let archive: Arc<dyn Archive> = match &cfg.s3 {
        None => Arc::new(LocalArchive::new(cfg.data_dir.join("archive")).context("opening the local archive")?),
        Some(s3) => Arc::new(
            S3Archive::connect(&S3Settings {
                bucket: s3.bucket.clone(),
                region: s3.region.clone(),
                endpoint: s3.endpoint.clone(),
                force_path_style: s3.force_path_style,
                prefix: s3.prefix.clone(),
                operation_timeout: s3.timeout,
            })
            .await,
        ),
    };
    let cache = CacheSettings {
        memory_bytes: cfg.cache_memory_bytes,
        disk_bytes: cfg.cache_disk_bytes,
        dir: cfg.cache_dir.clone(),
    };
    let reader =
        Arc::new(ArchiveReader::new(archive, &cache, metrics.clone()).await.context("opening the segment cache")?);
    let archiver = Archiver::new(
        hot.clone(),
        reader.clone(),
        SealPolicy {
            max_chunks: cfg.seal_max_chunks,
            max_bytes: cfg.seal_max_bytes,
            idle: cfg.seal_idle,
            max_age: cfg.seal_max_age,
            interval: cfg.archive_interval,
        },
        metrics.clone(),
    );
    // Background loops stop at `shutdown` and are awaited (within the grace) before `done`
    // completes: an archive pass or a Kafka batch in flight finishes instead of being cut off.
    let background = tokio_util::task::TaskTracker::new();
    let kafka = Kafka::start(cfg.kafka.as_ref(), outbox, metrics.clone(), shutdown.clone(), &background)?;
    let archiver = archiver.with_events(kafka.events.clone());
    let streams = Arc::new(Streams {
        hot,
        archive: reader,
        cfg: cfg.clone(),
        metrics: metrics.clone(),
        archiver_wake: archiver.waker(),
        events: kafka.events.clone(),
    });
    kafka.start_ingest(streams.clone(), shutdown.clone(), &background)?;
    let state = AppState { streams: streams.clone(), sessions, shutdown: shutdown.clone() };
    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    background.spawn(archiver.run(shutdown.clone()));
    background.spawn(sweep_loop(streams.clone(), shutdown.clone()));
    metrics.ready.set(1);
    let archive_kind = if cfg.s3.is_some() { "s3" } else { "local" };
    let hot_kind = if cfg.redis.is_some() { "redis" } else { "embedded" };
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), hot_log = hot_kind, archive = archive_kind, "tether-state serving");
    let app = http::router(state);
    let reader_for_close = streams.archive.clone();
    let grace = cfg.shutdown_grace;
    let stop = shutdown.clone();
    let handle = shutdown.clone();
    let done = tokio::spawn(async move {
        let server = http::serve::serve(listener, app, stop);
        tokio::select! {
            () = server => {}
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "shutdown grace elapsed; dropping remaining connections");
            }
        }
        metrics.ready.set(0);
        background.close();
        if tokio::time::timeout(grace, background.wait()).await.is_err() {
            tracing::warn!(?grace, "background tasks (archiver, expiry sweep, Kafka) did not stop within the grace");
        }
        reader_for_close.close().await;
        tracing::info!("tether-state stopped");
        Ok(())
    });
    Ok(Running { addr, shutdown: handle, done })
}

/// How often expired streams are removed. Clients never see an expired stream in between
/// (every request checks expiry itself); the sweep only reclaims space.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Removes expired streams every [`SWEEP_INTERVAL`] until shutdown.
async fn sweep_loop(streams: Arc<Streams>, shutdown: CancellationToken) {
    loop {
        if let Err(e) = streams.sweep_expired(now_ms()).await {
            tracing::warn!(error = %e, "expiry sweep failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
    }
}
