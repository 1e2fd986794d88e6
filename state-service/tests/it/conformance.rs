//! Runs the shared conformance suites against the embedded implementations.

use std::sync::Arc;

use tether_state::archive::local::LocalArchive;
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
            EmbeddedHotLog::open(db, true, 0).expect("hot log") as Arc<dyn HotLog>
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
    conformance::sessions::run(Arc::new(EmbeddedSessions::new(db))).await;
}
