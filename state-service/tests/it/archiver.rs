//! The archiver against the embedded hot log and local archive: sealing, reading back, and
//! completing the work of a pass that crashed half-way.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tether_protocol::{Segment, SegmentRecord, StreamName};
use tether_state::archive::archiver::{Archiver, SealPolicy};
use tether_state::archive::local::LocalArchive;
use tether_state::archive::reader::{ArchiveRead, ArchiveReader, CacheSettings};
use tether_state::archive::{Archive, Manifest, SegmentEntry, load_manifest, manifest_key, segment_key};
use tether_state::metrics::Metrics;
use tether_state::store::embedded::{EmbeddedHotLog, open_database};
use tether_state::store::{AppendRequest, CreateRequest, HotLog, SeqMode, StreamConfig, StreamRecord};

const NOW: i64 = 1_700_000_000_000;

struct Rig {
    _dir: tempfile::TempDir,
    hot: Arc<dyn HotLog>,
    archive: Arc<dyn Archive>,
    reader: Arc<ArchiveReader>,
    archiver: Archiver,
}

async fn rig(max_chunks: u64) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_database(&dir.path().join("hot")).expect("db");
    let hot: Arc<dyn HotLog> = EmbeddedHotLog::open(db, true, u64::MAX, NOW).expect("hot");
    let archive: Arc<dyn Archive> = Arc::new(LocalArchive::new(dir.path().join("archive")).expect("archive"));
    let metrics = Arc::new(Metrics::new());
    let cache = CacheSettings { memory_bytes: 1 << 20, disk_bytes: 16 << 20, dir: dir.path().join("cache") };
    let reader = Arc::new(ArchiveReader::new(archive.clone(), &cache, metrics.clone()).await.expect("reader"));
    let policy = SealPolicy {
        max_chunks,
        max_bytes: 1 << 20,
        idle: Duration::from_secs(3600),
        max_age: Duration::from_secs(60),
        interval: Duration::from_secs(1),
    };
    let archiver = Archiver::new(hot.clone(), reader.clone(), policy, metrics);
    Rig { _dir: dir, hot, archive, reader, archiver }
}

async fn stream_with(hot: &Arc<dyn HotLog>, name: &str, chunks: u64) -> StreamRecord {
    let name = StreamName::parse(name).expect("valid");
    let req = CreateRequest {
        name: name.clone(),
        config: StreamConfig { content_type: "text/plain".into(), ttl_secs: None, expires_at: None },
        explicit_content_type: true,
        closed: false,
        initial: None,
        fork: None,
    };
    hot.create(req, NOW).await.expect("create");
    for i in 0..chunks {
        let req = AppendRequest {
            payload: Some(Bytes::from(format!("chunk-{i}"))),
            content_type: Some("text/plain".into()),
            stream_seq: None,
            producer: None,
            close: false,
            seq_mode: SeqMode::Contiguous,
        };
        hot.append(&name, req, NOW).await.expect("append");
    }
    hot.record(&name).await.expect("record").expect("exists")
}

#[tokio::test]
async fn seals_full_segments_then_serves_them() {
    let r = rig(10).await;
    let rec = stream_with(&r.hot, "arch/a", 25).await;
    assert_eq!(r.archiver.pass(NOW).await.expect("pass"), 2, "two full segments; 5 chunks wait");
    let after = r.hot.record(&rec.name).await.expect("record").expect("exists");
    assert_eq!(after.hot_start, 20);
    let manifest = load_manifest(r.archive.as_ref(), &rec.name, rec.epoch).await.expect("load").expect("manifest");
    assert_eq!(manifest.segments.iter().map(|s| (s.first, s.end)).collect::<Vec<_>>(), vec![(0, 10), (10, 20)]);
    match r.reader.read(&rec.name, rec.epoch, 7, 25, usize::MAX).await.expect("archive read") {
        ArchiveRead::Chunks(c) => {
            assert_eq!(c.first().map(|c| c.index), Some(7));
            assert_eq!(c.last().map(|c| c.index), Some(19));
            assert!(c.iter().all(|c| c.payload == format!("chunk-{}", c.index).as_bytes()));
        }
        ArchiveRead::Missing => panic!("archived range missing"),
    }
    // Closing seals the remainder at once, whatever its size.
    let close = AppendRequest {
        payload: None,
        content_type: None,
        stream_seq: None,
        producer: None,
        close: true,
        seq_mode: SeqMode::Contiguous,
    };
    r.hot.append(&rec.name, close, NOW).await.expect("close");
    assert_eq!(r.archiver.pass(NOW).await.expect("pass"), 1);
    let manifest = load_manifest(r.archive.as_ref(), &rec.name, rec.epoch).await.expect("load").expect("manifest");
    assert_eq!(manifest.end(), Some(25));
    assert!(manifest.record.closed, "the manifest remembers the closed status");
    assert!(r.hot.read(&rec.name, rec.epoch, 0, 25, usize::MAX).await.expect("read").is_empty(), "all trimmed");
}

#[tokio::test]
async fn adopts_a_segment_written_before_a_crash() {
    let r = rig(10).await;
    let rec = stream_with(&r.hot, "arch/b", 10).await;
    // A previous pass wrote the segment object and died before listing it.
    let chunks = r.hot.read(&rec.name, rec.epoch, 0, 10, usize::MAX).await.expect("read");
    let records = chunks.into_iter().map(|c| SegmentRecord { index: c.index, payload: c.payload }).collect();
    let seg = Segment::new(rec.epoch, records).expect("segment");
    let key = segment_key(&rec.name, rec.epoch, 0);
    r.archive.put_if_absent(&key, seg.encode()).await.expect("put");
    assert_eq!(r.archiver.pass(NOW).await.expect("pass"), 1);
    let manifest = load_manifest(r.archive.as_ref(), &rec.name, rec.epoch).await.expect("load").expect("manifest");
    assert_eq!(manifest.segments.len(), 1);
    assert_eq!(
        r.archive.list(&format!("streams/{}/", rec.name)).await.expect("list").len(),
        3,
        "one segment, one manifest, the latest pointer"
    );
}

#[tokio::test]
async fn finishes_a_pass_that_crashed_before_trimming() {
    let r = rig(10).await;
    let rec = stream_with(&r.hot, "arch/c", 10).await;
    let chunks = r.hot.read(&rec.name, rec.epoch, 0, 10, usize::MAX).await.expect("read");
    let records = chunks.into_iter().map(|c| SegmentRecord { index: c.index, payload: c.payload }).collect();
    let encoded = Segment::new(rec.epoch, records).expect("segment").encode();
    r.archive.put_if_absent(&segment_key(&rec.name, rec.epoch, 0), encoded.clone()).await.expect("put");
    let manifest = Manifest {
        v: Manifest::VERSION,
        name: rec.name.clone(),
        epoch: rec.epoch,
        segments: vec![SegmentEntry { first: 0, end: 10, bytes: encoded.len() as u64 }],
        record: rec.clone(),
    };
    let json = serde_json::to_vec(&manifest).expect("json");
    r.archive.put(&manifest_key(&rec.name, rec.epoch), json.into()).await.expect("put");
    assert_eq!(r.archiver.pass(NOW).await.expect("pass"), 1);
    let after = load_manifest(r.archive.as_ref(), &rec.name, rec.epoch).await.expect("load").expect("manifest");
    assert_eq!(after.segments.len(), 1, "not listed twice");
    assert_eq!(r.hot.record(&rec.name).await.expect("record").expect("exists").hot_start, 10);
}

#[tokio::test]
async fn refuses_a_foreign_segment_under_its_key() {
    let r = rig(10).await;
    let rec = stream_with(&r.hot, "arch/d", 10).await;
    let bogus = Segment::new(rec.epoch, vec![SegmentRecord { index: 0, payload: Bytes::from_static(b"not ours") }])
        .expect("segment");
    r.archive.put_if_absent(&segment_key(&rec.name, rec.epoch, 0), bogus.encode()).await.expect("put");
    assert!(r.archiver.pass(NOW).await.is_err(), "a mismatching object is reported, not adopted");
    assert_eq!(r.hot.record(&rec.name).await.expect("record").expect("exists").hot_start, 0, "nothing trimmed");
}

#[tokio::test]
async fn seals_a_busy_stream_once_its_data_is_old_enough() {
    let r = rig(10).await;
    let rec = stream_with(&r.hot, "arch/age", 3).await;
    assert_eq!(r.archiver.pass(NOW).await.expect("pass"), 0, "3 chunks, not idle, not old: wait");
    // Still written to (never idle), but the waiting chunks are now a minute old.
    assert_eq!(r.archiver.pass(NOW + 59_000).await.expect("pass"), 0);
    assert_eq!(r.archiver.pass(NOW + 60_000).await.expect("pass"), 1, "max_age reached");
    assert_eq!(r.hot.record(&rec.name).await.expect("record").expect("exists").hot_start, 3);
}

#[tokio::test]
async fn seals_once_enough_bytes_wait() {
    let r = rig(1000).await;
    // 3 chunks of ~7 bytes, far below 1000 chunks; a 16-byte budget is exceeded.
    let dir_policy = SealPolicy {
        max_chunks: 1000,
        max_bytes: 16,
        idle: Duration::from_secs(3600),
        max_age: Duration::from_secs(3600),
        interval: Duration::from_secs(1),
    };
    let archiver = Archiver::new(r.hot.clone(), r.reader.clone(), dir_policy, Arc::new(Metrics::new()));
    let rec = stream_with(&r.hot, "arch/bytes", 3).await;
    assert!(rec.hot_bytes >= 16);
    assert!(archiver.pass(NOW).await.expect("pass") >= 1, "the byte budget triggers a seal");
    let after = r.hot.record(&rec.name).await.expect("record").expect("exists");
    assert!(after.hot_start > 0);
    assert!(after.hot_bytes < rec.hot_bytes);
}
