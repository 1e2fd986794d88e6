//! Runs the shared conformance suites against the embedded implementations.

use std::sync::Arc;

use tether_state::archive::local::LocalArchive;
use tether_state::archive::s3::{S3Archive, S3Settings};
use tether_state::conformance;
use tether_state::session::embedded::EmbeddedSessions;
use tether_state::store::HotLog;
use tether_state::store::embedded::{EmbeddedHotLog, open_database};

#[tokio::test]
async fn embedded_hot_log() {
    let dirs = Arc::new(std::sync::Mutex::new(Vec::new()));
    conformance::hot_log::run(|| {
        let dirs = dirs.clone();
        async move {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = open_database(dir.path()).expect("open");
            dirs.lock().expect("lock").push(dir);
            EmbeddedHotLog::open(db, true, u64::MAX, 0).expect("hot log") as Arc<dyn HotLog>
        }
    })
    .await;
}

#[tokio::test]
async fn local_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = Arc::new(LocalArchive::new(dir.path()).expect("archive"));
    conformance::archive::run(archive, "suite").await;
}

#[tokio::test]
async fn embedded_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_database(dir.path()).expect("open");
    conformance::sessions::run(Arc::new(EmbeddedSessions::new(db, true))).await;
}

#[tokio::test]
async fn embedded_sessions_without_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_database(dir.path()).expect("open");
    conformance::sessions::run(Arc::new(EmbeddedSessions::new(db, false))).await;
}

#[tokio::test]
async fn s3_archive_against_moto() {
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "the S3 client reads the standard AWS chain: export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test (infra/test.sh does)"
    );
    let moto = tether_tests::servers::moto("tether-conformance").await;
    let archive = S3Archive::connect(&S3Settings {
        bucket: "tether-conformance".into(),
        region: "us-east-1".into(),
        endpoint: Some(moto.url.clone()),
        force_path_style: true,
        prefix: "it".into(),
        operation_timeout: std::time::Duration::from_secs(10),
    })
    .await;
    archive.ping().await.expect("bucket reachable");
    conformance::archive::run(Arc::new(archive), "suite").await;
}

#[tokio::test]
async fn redis_sessions() {
    let redis = tether_tests::servers::redis(false);
    let pool =
        deadpool_redis::Config::from_url(&redis.url).create_pool(Some(deadpool_redis::Runtime::Tokio1)).expect("pool");
    conformance::sessions::run(Arc::new(tether_state::session::redis::RedisSessions::new(pool))).await;
}

fn redis_settings(url: &str) -> tether_state::store::redis::RedisSettings {
    tether_state::store::redis::RedisSettings {
        url: url.to_owned(),
        wait_replicas: 0,
        wait_timeout: std::time::Duration::from_secs(1),
        op_timeout: std::time::Duration::from_secs(5),
        max_memory_bytes: None,
        errors: prometheus::IntCounter::new("redis_errors", "test").expect("counter"),
    }
}

#[tokio::test]
async fn redis_hot_log() {
    let redis = tether_tests::servers::redis(false);
    let url = redis.url.clone();
    let shutdown = tokio_util::sync::CancellationToken::new();
    conformance::hot_log::run(|| {
        let (url, shutdown) = (url.clone(), shutdown.clone());
        async move {
            let client = redis::Client::open(url.as_str()).expect("client");
            let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
            let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.expect("flush");
            tether_state::store::redis::RedisHotLog::connect(redis_settings(&url), shutdown).await.expect("hot log")
                as Arc<dyn HotLog>
        }
    })
    .await;
    shutdown.cancel();
}

#[tokio::test]
async fn embedded_outbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_database(dir.path()).expect("open");
    let outbox = tether_state::kafka::outbox::embedded::EmbeddedOutbox::open(db, true).expect("outbox");
    conformance::outbox::run(Arc::new(outbox)).await;
}

#[tokio::test]
async fn redis_outbox() {
    let redis = tether_tests::servers::redis(false);
    let pool =
        deadpool_redis::Config::from_url(&redis.url).create_pool(Some(deadpool_redis::Runtime::Tokio1)).expect("pool");
    let outbox = tether_state::kafka::outbox::redis::RedisOutbox::new(pool, std::time::Duration::from_secs(5));
    conformance::outbox::run(Arc::new(outbox)).await;
}
