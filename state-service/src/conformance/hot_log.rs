//! Conformance suite for [`HotLog`] implementations.

use std::sync::Arc;

use bytes::Bytes;
use tether_protocol::{Offset, ProducerHeaders, ProducerId, StreamName};

use crate::store::{
    AppendError, AppendKind, AppendRequest, CreateError, CreateRequest, DeleteError, DeleteOutcome, ForkSpec, HotLog,
    SeqMode, StreamConfig,
};

fn name(s: &str) -> StreamName {
    StreamName::parse(s).expect("test names are valid")
}

fn create_req(n: &str, ct: &str) -> CreateRequest {
    CreateRequest {
        name: name(n),
        config: StreamConfig { content_type: ct.into(), ttl_secs: None, expires_at: None },
        explicit_content_type: true,
        closed: false,
        initial: None,
        fork: None,
    }
}

fn data(payload: &str) -> AppendRequest {
    AppendRequest {
        payload: Some(Bytes::copy_from_slice(payload.as_bytes())),
        content_type: Some("text/plain".into()),
        stream_seq: None,
        producer: None,
        close: false,
        seq_mode: SeqMode::Contiguous,
    }
}

fn producer(id: &str, epoch: u64, seq: u64) -> Option<ProducerHeaders> {
    Some(ProducerHeaders { id: ProducerId::parse(id).expect("valid id"), epoch, seq })
}

const NOW: i64 = 1_700_000_000_000;

/// Runs every check against a fresh log from `make`.
pub async fn run<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn HotLog>>,
{
    create_is_idempotent(make().await).await;
    appends_read_back_in_order(make().await).await;
    producer_rules(make().await).await;
    monotonic_producer_batches(make().await).await;
    close_rules(make().await).await;
    concurrent_appends_are_all_kept_once(make().await).await;
    tail_notifications(make().await).await;
    delete_and_recreate_changes_epoch(make().await).await;
    forks_and_soft_delete(make().await).await;
    trim_drops_only_archived_chunks(make().await).await;
    expiry(make().await).await;
}

async fn create_is_idempotent(log: Arc<dyn HotLog>) {
    let first = log.create(create_req("c/a", "text/plain"), NOW).await.expect("create");
    assert!(first.created);
    let again = log.create(create_req("c/a", "TEXT/PLAIN"), NOW).await.expect("idempotent create");
    assert!(!again.created);
    assert_eq!(again.record.epoch, first.record.epoch);
    let conflict = log.create(create_req("c/a", "application/json"), NOW).await;
    assert!(matches!(conflict, Err(CreateError::ConfigMismatch)), "{conflict:?}");
    let mut with_body = create_req("c/b", "text/plain");
    with_body.initial = Some(Bytes::from_static(b"init"));
    with_body.closed = true;
    let rec = log.create(with_body, NOW).await.expect("create closed with body").record;
    assert_eq!((rec.tail, rec.closed), (1, true));
}

async fn appends_read_back_in_order(log: Arc<dyn HotLog>) {
    let rec = log.create(create_req("r/a", "text/plain"), NOW).await.expect("create").record;
    for i in 0..100 {
        let out = log.append(&rec.name, data(&format!("chunk-{i:03}")), NOW).await.expect("append");
        assert_eq!((out.kind, out.tail), (AppendKind::Written, i + 1));
    }
    let all = log.read(&rec.name, rec.epoch, 0, u64::MAX, usize::MAX).await.expect("read");
    assert_eq!(all.len(), 100);
    for (i, c) in all.iter().enumerate() {
        assert_eq!(c.index, i as u64);
        assert_eq!(c.payload, format!("chunk-{i:03}").as_bytes());
    }
    let some = log.read(&rec.name, rec.epoch, 10, 20, 30).await.expect("bounded read");
    assert_eq!(some.iter().map(|c| c.index).collect::<Vec<_>>(), vec![10, 11, 12]);
    let one = log.read(&rec.name, rec.epoch, 50, 51, 1).await.expect("at least one chunk");
    assert_eq!(one.len(), 1);
    let mismatch =
        log.append(&rec.name, AppendRequest { content_type: Some("application/json".into()), ..data("x") }, NOW).await;
    assert!(matches!(mismatch, Err(AppendError::ContentTypeMismatch)), "{mismatch:?}");
    let missing = log.append(&name("r/missing"), data("x"), NOW).await;
    assert!(matches!(missing, Err(AppendError::NotFound)), "{missing:?}");
    let seq = |s: &str| AppendRequest { stream_seq: Some(s.into()), ..data("s") };
    log.append(&rec.name, seq("09"), NOW).await.expect("first seq");
    log.append(&rec.name, seq("10"), NOW).await.expect("greater seq");
    let regress = log.append(&rec.name, seq("10"), NOW).await;
    assert!(matches!(regress, Err(AppendError::SeqRegression { .. })), "{regress:?}");
    assert_eq!(log.record(&rec.name).await.expect("record").expect("exists").tail, 102);
}

async fn producer_rules(log: Arc<dyn HotLog>) {
    let rec = log.create(create_req("p/a", "text/plain"), NOW).await.expect("create").record;
    let send = |p| {
        let log = log.clone();
        let n = rec.name.clone();
        async move { log.append(&n, AppendRequest { producer: p, ..data("p") }, NOW).await }
    };
    assert_eq!(send(producer("w", 0, 0)).await.expect("seq 0").kind, AppendKind::Written);
    assert_eq!(send(producer("w", 0, 1)).await.expect("seq 1").producer_ack, Some((0, 1)));
    let dup = send(producer("w", 0, 0)).await.expect("duplicate");
    assert_eq!((dup.kind, dup.producer_ack), (AppendKind::Duplicate, Some((0, 1))));
    assert!(matches!(send(producer("w", 0, 5)).await, Err(AppendError::ProducerSeqGap { expected: 2, received: 5 })));
    assert!(matches!(send(producer("w", 1, 3)).await, Err(AppendError::NewEpochBadSeq(3))));
    assert_eq!(send(producer("w", 1, 0)).await.expect("new epoch").kind, AppendKind::Written);
    assert!(matches!(
        send(producer("w", 0, 2)).await,
        Err(AppendError::StaleProducerEpoch { current: 1, received: 0 })
    ));
    assert!(matches!(
        send(producer("fresh", 0, 1)).await,
        Err(AppendError::ProducerSeqGap { expected: 0, received: 1 })
    ));
    assert_eq!(send(producer("other", 3, 0)).await.expect("independent producer").kind, AppendKind::Written);
    let tail = log.record(&rec.name).await.expect("record").expect("exists").tail;
    assert_eq!(tail, 4, "duplicates and rejections wrote nothing");
}

/// Kafka ingest's producer mode through `append_batch`: gaps are legal, replays are duplicates,
/// and one batch mixes verdicts request by request.
async fn monotonic_producer_batches(log: Arc<dyn HotLog>) {
    let rec = log.create(create_req("m/a", "text/plain"), NOW).await.expect("create").record;
    let mono = |seq: u64| AppendRequest {
        producer: producer("kafka:t:0", 0, seq),
        seq_mode: SeqMode::Monotonic,
        ..data(&format!("o{seq}"))
    };
    let first = log.append_batch(&rec.name, vec![mono(10), mono(12), mono(17)], NOW).await.expect("batch");
    assert!(first.iter().all(|r| matches!(r, Ok(o) if o.kind == AppendKind::Written)), "{first:?}");
    assert_eq!(first.last().and_then(|r| r.as_ref().ok()).map(|o| o.tail), Some(3));
    // A replay from an older offset: the known part is recognised, the new part is written.
    let replay = log.append_batch(&rec.name, vec![mono(12), mono(17), mono(18), mono(30)], NOW).await.expect("replay");
    let kinds: Vec<AppendKind> = replay.iter().map(|r| r.as_ref().expect("accepted").kind.clone()).collect();
    assert_eq!(kinds, vec![AppendKind::Duplicate, AppendKind::Duplicate, AppendKind::Written, AppendKind::Written]);
    let chunks = log.read(&rec.name, rec.epoch, 0, u64::MAX, usize::MAX).await.expect("read");
    let payloads: Vec<&[u8]> = chunks.iter().map(|c| c.payload.as_ref()).collect();
    assert_eq!(payloads, vec![&b"o10"[..], b"o12", b"o17", b"o18", b"o30"]);
    // The HTTP rule is unchanged for the same producer state.
    let http = log.append(&rec.name, AppendRequest { producer: producer("kafka:t:0", 0, 40), ..data("x") }, NOW).await;
    assert!(matches!(http, Err(AppendError::ProducerSeqGap { expected: 31, received: 40 })), "{http:?}");
    let wrong_type = AppendRequest { content_type: Some("application/json".into()), ..mono(50) };
    let mixed = log.append_batch(&rec.name, vec![mono(31), wrong_type, mono(51)], NOW).await.expect("mixed");
    assert!(matches!(mixed[1], Err(AppendError::ContentTypeMismatch)), "{mixed:?}");
    assert!(mixed[0].is_ok() && mixed[2].is_ok(), "{mixed:?}");
    let missing = log.append_batch(&name("m/none"), vec![mono(1), mono(2)], NOW).await.expect("answers");
    assert!(missing.iter().all(|r| matches!(r, Err(AppendError::NotFound))), "{missing:?}");
    assert_eq!(log.record(&rec.name).await.expect("record").expect("exists").tail, 7);
}

async fn close_rules(log: Arc<dyn HotLog>) {
    let rec = log.create(create_req("x/a", "text/plain"), NOW).await.expect("create").record;
    let closing = AppendRequest { close: true, producer: producer("w", 0, 0), ..data("final") };
    let out = log.append(&rec.name, closing.clone(), NOW).await.expect("append and close");
    assert_eq!((out.kind, out.closed, out.tail), (AppendKind::Written, true, 1));
    let retry =
        log.append(&rec.name, AppendRequest { payload: Some(Bytes::from_static(b"other")), ..closing }, NOW).await;
    assert_eq!(retry.expect("closing retry").kind, AppendKind::Duplicate);
    let more = log.append(&rec.name, data("late"), NOW).await;
    assert!(matches!(more, Err(AppendError::Closed { tail: 1, .. })), "{more:?}");
    let close_only = AppendRequest { payload: None, close: true, content_type: None, ..data("") };
    assert_eq!(log.append(&rec.name, close_only, NOW).await.expect("idempotent close").kind, AppendKind::AlreadyClosed);
    let read = log.read(&rec.name, rec.epoch, 0, u64::MAX, usize::MAX).await.expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].payload, Bytes::from_static(b"final"));
}

async fn concurrent_appends_are_all_kept_once(log: Arc<dyn HotLog>) {
    let rec = log.create(create_req("cc/a", "text/plain"), NOW).await.expect("create").record;
    let mut tasks = Vec::new();
    for w in 0..16u64 {
        let log = log.clone();
        let n = rec.name.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..25u64 {
                // Every request is sent twice: the retry must be recognised as a duplicate.
                for _ in 0..2 {
                    let req =
                        AppendRequest { producer: producer(&format!("w{w}"), 0, seq), ..data(&format!("{w}:{seq}")) };
                    log.append(&n, req, NOW).await.expect("append");
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let chunks = log.read(&rec.name, rec.epoch, 0, u64::MAX, usize::MAX).await.expect("read");
    assert_eq!(chunks.len(), 400);
    let mut seen: Vec<String> = chunks.iter().map(|c| String::from_utf8(c.payload.to_vec()).expect("utf8")).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 400, "no chunk twice");
}

async fn tail_notifications(log: Arc<dyn HotLog>) {
    let rec = log.create(create_req("n/a", "text/plain"), NOW).await.expect("create").record;
    let mut rx = log.notifier().subscribe(rec.epoch, Default::default());
    let writer = {
        let log = log.clone();
        let n = rec.name.clone();
        tokio::spawn(async move { log.append(&n, data("ping"), NOW).await })
    };
    rx.changed().await.expect("notified");
    assert!(rx.borrow().tail >= 1);
    writer.await.expect("task").expect("append");
}

async fn delete_and_recreate_changes_epoch(log: Arc<dyn HotLog>) {
    let old = log.create(create_req("d/a", "text/plain"), NOW).await.expect("create").record;
    log.append(&old.name, data("old"), NOW).await.expect("append");
    assert!(matches!(log.delete(&old.name).await, Ok(DeleteOutcome::Deleted(_))));
    assert!(matches!(log.delete(&old.name).await, Err(DeleteError::NotFound)));
    assert!(log.record(&old.name).await.expect("record").is_none());
    let new = log.create(create_req("d/a", "text/plain"), NOW).await.expect("recreate").record;
    assert_ne!(new.epoch, old.epoch);
    assert_eq!(new.tail, 0);
    assert!(
        log.read(&old.name, old.epoch, 0, u64::MAX, usize::MAX).await.expect("read").is_empty(),
        "old data is gone"
    );
}

async fn forks_and_soft_delete(log: Arc<dyn HotLog>) {
    let src = log.create(create_req("f/src", "text/plain"), NOW).await.expect("create").record;
    for p in ["a", "b", "c"] {
        log.append(&src.name, data(p), NOW).await.expect("append");
    }
    let mut fork = create_req("f/fork", "text/plain");
    fork.explicit_content_type = false;
    fork.fork =
        Some(ForkSpec { source: src.name.clone(), at: Some(Offset::new(2, src.epoch)), sub_offset: 0, chunk_at: None });
    let f = log.create(fork.clone(), NOW).await.expect("fork").record;
    assert_eq!((f.base, f.tail), (2, 2));
    assert_eq!(f.owner_of(1).1, src.epoch);
    assert_eq!(f.owner_of(2).1, f.epoch);
    assert!(!log.create(fork, NOW).await.expect("idempotent fork").created);
    log.append(&f.name, data("own"), NOW).await.expect("append to fork");
    assert_eq!(log.record(&src.name).await.expect("record").expect("src").fork_refs, 1);
    assert!(matches!(log.delete(&src.name).await, Ok(DeleteOutcome::SoftDeleted)));
    assert!(matches!(log.delete(&src.name).await, Err(DeleteError::Gone)));
    let again = log.create(create_req("f/src", "text/plain"), NOW).await;
    assert!(matches!(again, Err(CreateError::NameSoftDeleted)), "{again:?}");
    let inherited = log.read(&src.name, src.epoch, 0, 2, usize::MAX).await.expect("source data kept");
    assert_eq!(inherited.len(), 2);
    match log.delete(&f.name).await.expect("delete fork") {
        DeleteOutcome::Deleted(removed) => {
            assert_eq!(removed.len(), 2, "fork and its soft-deleted source: {removed:?}")
        }
        other => panic!("fork deletion: {other:?}"),
    }
    assert!(log.record(&src.name).await.expect("record").is_none(), "cascading GC removed the source");
    let mut orphan = create_req("f/orphan", "text/plain");
    orphan.fork = Some(ForkSpec { source: name("f/none"), at: None, sub_offset: 0, chunk_at: None });
    assert!(matches!(log.create(orphan, NOW).await, Err(CreateError::SourceNotFound(_))));
}

async fn trim_drops_only_archived_chunks(log: Arc<dyn HotLog>) {
    let rec = log.create(create_req("t/a", "text/plain"), NOW).await.expect("create").record;
    for i in 0..10 {
        log.append(&rec.name, data(&i.to_string()), NOW).await.expect("append");
    }
    // Chunks "0".."9" are one byte each: the unarchived byte count follows appends and trims.
    assert_eq!(log.record(&rec.name).await.expect("record").expect("exists").hot_bytes, 10);
    log.trim(&rec.name, rec.epoch, 6).await.expect("trim");
    assert_eq!(log.record(&rec.name).await.expect("record").expect("exists").hot_bytes, 4);
    assert!(
        log.read(&rec.name, rec.epoch, 0, 10, usize::MAX).await.expect("read").is_empty(),
        "trimmed range is absent"
    );
    assert_eq!(log.read(&rec.name, rec.epoch, 6, 10, usize::MAX).await.expect("read").len(), 4);
    assert_eq!(log.record(&rec.name).await.expect("record").expect("exists").hot_start, 6);
    log.trim(&rec.name, rec.epoch, 3).await.expect("trimming below hot_start is a no-op");
    assert_eq!(log.record(&rec.name).await.expect("record").expect("exists").hot_start, 6);
}

async fn expiry(log: Arc<dyn HotLog>) {
    let mut req = create_req("e/a", "text/plain");
    req.config.ttl_secs = Some(1);
    let rec = log.create(req, NOW).await.expect("create").record;
    assert!(log.expire(&rec.name, rec.epoch, NOW + 500).await.expect("expire").is_none(), "not yet");
    log.touch(&rec.name, rec.epoch, NOW + 900).await.expect("touch");
    assert!(log.expire(&rec.name, rec.epoch, NOW + 1500).await.expect("expire").is_none(), "a read slides the TTL");
    assert!(log.expire(&rec.name, rec.epoch, NOW + 2000).await.expect("expire").is_some());
    assert!(log.record(&rec.name).await.expect("record").is_none());
}
