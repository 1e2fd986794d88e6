use bytes::Bytes;
use proptest::prelude::*;
use tether_protocol::{Epoch, ProducerHeaders, ProducerId, StreamName};

use super::*;
use crate::store::{AppendError, AppendKind, AppendRequest, ExpiresAt, ForkSpec, SeqMode, StreamRecord};

fn record() -> StreamRecord {
    StreamRecord {
        v: StreamRecord::VERSION,
        name: StreamName::parse("s").unwrap(),
        epoch: Epoch::new(9).unwrap(),
        config: StreamConfig { content_type: "text/plain".into(), ttl_secs: None, expires_at: None },
        tail: 3,
        hot_start: 0,
        base: 0,
        fork: None,
        lineage: vec![],
        closed: false,
        closed_by: None,
        stream_seq: None,
        created_ms: 0,
        last_write_ms: 0,
        fork_refs: 0,
        soft_deleted: false,
        bytes: 0,
        hot_bytes: 0,
    }
}

fn append(payload: Option<&str>, producer: Option<(u64, u64)>) -> AppendRequest {
    AppendRequest {
        payload: payload.map(|p| Bytes::copy_from_slice(p.as_bytes())),
        content_type: Some("text/plain; charset=utf-8".into()),
        stream_seq: None,
        producer: producer.map(|(epoch, seq)| ProducerHeaders { id: ProducerId::parse("p").unwrap(), epoch, seq }),
        close: false,
        seq_mode: SeqMode::Contiguous,
    }
}

#[test]
fn precedence_fencing_before_closed() {
    let mut rec = record();
    rec.closed = true;
    let state = ProducerState { epoch: 2, last_seq: 0 };
    let r = decide_append(&rec, Some(&state), &append(Some("x"), Some((1, 5))));
    assert!(matches!(r, Err(AppendError::StaleProducerEpoch { current: 2, received: 1 })));
    let r = decide_append(&rec, None, &append(Some("x"), None));
    assert!(matches!(r, Err(AppendError::Closed { tail: 3, .. })));
}

#[test]
fn content_type_ignores_parameters_and_case() {
    let rec = record();
    assert!(decide_append(&rec, None, &append(Some("x"), None)).is_ok());
    let mut req = append(Some("x"), None);
    req.content_type = Some("application/json".into());
    assert!(matches!(decide_append(&rec, None, &req), Err(AppendError::ContentTypeMismatch)));
    req.payload = None;
    req.close = true;
    assert!(decide_append(&rec, None, &req).is_ok(), "close-only ignores the content type");
}

#[test]
fn duplicate_reports_highest_accepted_seq() {
    let rec = record();
    let state = ProducerState { epoch: 0, last_seq: 7 };
    let d = decide_append(&rec, Some(&state), &append(Some("x"), Some((0, 3)))).unwrap();
    assert_eq!((d.kind, d.producer_ack), (AppendKind::Duplicate, Some((0, 7))));
}

#[test]
fn monotonic_mode_accepts_gaps_and_dedupes_at_or_below_the_last() {
    let rec = record();
    let mono = |seq| AppendRequest { seq_mode: SeqMode::Monotonic, ..append(Some("x"), Some((0, seq))) };
    let first = decide_append(&rec, None, &mono(41)).unwrap();
    assert_eq!((first.kind, first.producer), (AppendKind::Written, Some(ProducerState { epoch: 0, last_seq: 41 })));
    let state = ProducerState { epoch: 0, last_seq: 41 };
    let gap = decide_append(&rec, Some(&state), &mono(57)).unwrap();
    assert_eq!((gap.kind, gap.producer_ack), (AppendKind::Written, Some((0, 57))));
    for seq in [0, 40, 41] {
        let dup = decide_append(&rec, Some(&state), &mono(seq)).unwrap();
        assert_eq!((dup.kind, dup.producer_ack), (AppendKind::Duplicate, Some((0, 41))), "seq {seq}");
    }
    let bumped = AppendRequest { seq_mode: SeqMode::Monotonic, ..append(Some("x"), Some((1, 3))) };
    assert_eq!(
        decide_append(&rec, Some(&state), &bumped).unwrap().kind,
        AppendKind::Written,
        "new epoch starts anywhere"
    );
    let stale = AppendRequest { seq_mode: SeqMode::Monotonic, ..append(Some("x"), Some((0, 99))) };
    let fenced = decide_append(&rec, Some(&ProducerState { epoch: 1, last_seq: 3 }), &stale);
    assert!(matches!(fenced, Err(AppendError::StaleProducerEpoch { current: 1, received: 0 })), "{fenced:?}");
    // The same gap is still refused in the HTTP (contiguous) mode.
    let http = decide_append(&rec, Some(&state), &append(Some("x"), Some((0, 57))));
    assert!(matches!(http, Err(AppendError::ProducerSeqGap { expected: 42, received: 57 })), "{http:?}");
}

#[test]
fn fork_lineage_composes() {
    let mut src = record();
    src.tail = 10;
    let mut req = CreateRequest {
        name: StreamName::parse("f").unwrap(),
        config: src.config.clone(),
        explicit_content_type: false,
        closed: false,
        initial: None,
        fork: Some(ForkSpec { source: src.name.clone(), at: None, sub_offset: 0, chunk_at: None }),
    };
    let plan = plan_fork(&src, &req, 6).unwrap();
    assert_eq!(plan.lineage.len(), 1);
    assert_eq!((plan.lineage[0].epoch, plan.lineage[0].until), (src.epoch, 6));
    // Fork of the fork, below the first fork's base: only the root is read.
    let mut mid = record();
    mid.name = StreamName::parse("f").unwrap();
    mid.epoch = Epoch::new(10).unwrap();
    mid.base = 6;
    mid.tail = 8;
    mid.lineage = plan.lineage.clone();
    let deeper = plan_fork(&mid, &req, 4).unwrap();
    assert_eq!(deeper.lineage.len(), 1);
    assert_eq!((deeper.lineage[0].epoch, deeper.lineage[0].until), (src.epoch, 4));
    let across = plan_fork(&mid, &req, 7).unwrap();
    assert_eq!(across.lineage.iter().map(|e| (e.epoch.get(), e.until)).collect::<Vec<_>>(), vec![(9, 6), (10, 7)]);
    assert!(matches!(plan_fork(&src, &req, 11), Err(CreateError::ForkOffsetBeyondTail)));
    req.fork.as_mut().unwrap().sub_offset = 2;
    req.fork.as_mut().unwrap().chunk_at = Some(Bytes::from_static(b"hello"));
    assert_eq!(plan_fork(&src, &req, 3).unwrap().prefix, Some(Bytes::from_static(b"he")));
    req.fork.as_mut().unwrap().sub_offset = 6;
    assert!(matches!(plan_fork(&src, &req, 3), Err(CreateError::SubOffsetOvershoot(6))));
}

#[test]
fn json_prefix_counts_messages() {
    let chunk = Bytes::from_static(br#"{"a":1},[1,2],"s,t""#);
    assert_eq!(prefix_of(&chunk, 2, true).unwrap(), Bytes::from_static(br#"{"a":1},[1,2]"#));
    assert!(prefix_of(&chunk, 4, true).is_err());
}

fn arb_record() -> impl Strategy<Value = StreamRecord> {
    (
        any::<u64>(),
        1u64..u64::MAX,
        proptest::option::of(any::<u32>()),
        any::<bool>(),
        proptest::option::of("[ -~]{0,12}"),
        any::<i64>(),
    )
        .prop_map(|(tail, epoch, ttl, closed, seq, ms)| {
            let mut r = record();
            r.tail = tail;
            r.epoch = Epoch::new(epoch).unwrap();
            r.config.ttl_secs = ttl.map(u64::from);
            r.config.expires_at = Some(ExpiresAt { text: "2030-01-01T00:00:00Z".into(), unix_ms: ms });
            r.closed = closed;
            r.stream_seq = seq;
            r.last_write_ms = ms;
            r
        })
}

proptest! {
    /// The persisted record format round-trips exactly.
    #[test]
    fn record_round_trip(rec in arb_record()) {
        let json = serde_json::to_vec(&rec).unwrap();
        prop_assert_eq!(serde_json::from_slice::<StreamRecord>(&json).unwrap(), rec);
    }

    #[test]
    fn garbage_records_are_errors(data in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = serde_json::from_slice::<StreamRecord>(&data);
    }
}
