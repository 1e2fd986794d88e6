//! Conformance suite for [`Archive`] implementations.

use std::sync::Arc;

use bytes::Bytes;

use crate::archive::{Archive, PutOutcome};

/// Runs every check against `archive` (keys are made unique per run with `prefix`).
pub async fn run(archive: Arc<dyn Archive>, prefix: &str) {
    let key = |k: &str| format!("{prefix}/{k}");
    assert_eq!(archive.get(&key("missing")).await.expect("get"), None);

    let first = archive.put_if_absent(&key("a/seg-1"), Bytes::from_static(b"one")).await.expect("put");
    assert_eq!(first, PutOutcome::Created);
    let second = archive.put_if_absent(&key("a/seg-1"), Bytes::from_static(b"two")).await.expect("put");
    assert_eq!(second, PutOutcome::Exists);
    assert_eq!(archive.get(&key("a/seg-1")).await.expect("get"), Some(Bytes::from_static(b"one")), "never overwritten");

    archive.put(&key("a/manifest.json"), Bytes::from_static(b"v1")).await.expect("put");
    archive.put(&key("a/manifest.json"), Bytes::from_static(b"v2")).await.expect("replace");
    assert_eq!(archive.get(&key("a/manifest.json")).await.expect("get"), Some(Bytes::from_static(b"v2")));

    let racers: Vec<_> = (0..8)
        .map(|i| {
            let archive = archive.clone();
            let k = key("race/seg");
            tokio::spawn(async move { archive.put_if_absent(&k, Bytes::from(vec![i as u8; 64])).await })
        })
        .collect();
    let mut created = 0;
    for r in racers {
        if r.await.expect("task").expect("put") == PutOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one concurrent conditional put wins");

    archive.put(&key("b/x"), Bytes::from_static(b"x")).await.expect("put");
    let listed = archive.list(&key("a/")).await.expect("list");
    assert_eq!(listed, vec![key("a/manifest.json"), key("a/seg-1")]);

    archive.delete_prefix(&key("a/")).await.expect("delete");
    assert!(archive.list(&key("a/")).await.expect("list").is_empty());
    assert_eq!(archive.get(&key("b/x")).await.expect("get"), Some(Bytes::from_static(b"x")), "other prefixes stay");
    archive.delete_prefix(&key("nothing/")).await.expect("deleting nothing is fine");
}
