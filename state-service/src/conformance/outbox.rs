//! Conformance suite for [`Outbox`] implementations.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::kafka::outbox::{Outbox, OutboxId};

fn ev(i: usize) -> Bytes {
    Bytes::from(format!(r#"{{"v":1,"n":{i}}}"#))
}

/// Runs every check against `outbox`, which must start empty and be the only user of its
/// store while the suite runs.
pub async fn run(outbox: Arc<dyn Outbox>) {
    assert_eq!(outbox.depth().await.expect("depth"), 0);
    assert!(outbox.peek(10).await.expect("peek").is_empty());

    // FIFO, in batches, and peeking does not consume.
    let first: Vec<Bytes> = (0..5).map(ev).collect();
    assert_eq!(outbox.push(&first, 100).await.expect("push"), 5);
    assert_eq!(outbox.push(&[ev(5), ev(6)], 100).await.expect("push"), 2);
    assert_eq!(outbox.depth().await.expect("depth"), 7);
    let head = outbox.peek(3).await.expect("peek");
    assert_eq!(head.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(), vec![ev(0), ev(1), ev(2)]);
    assert_eq!(outbox.peek(3).await.expect("peek again"), head, "peek is repeatable");

    // Removing delivered events; unknown and repeated ids are ignored.
    let delivered: Vec<OutboxId> = head[..2].iter().map(|e| e.id.clone()).collect();
    outbox.remove(&delivered).await.expect("remove");
    outbox.remove(&delivered).await.expect("remove again");
    let rest = outbox.peek(100).await.expect("peek");
    assert_eq!(rest.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(), (2..7).map(ev).collect::<Vec<_>>());
    assert_eq!(outbox.depth().await.expect("depth"), 5);

    // The bound refuses the newest: a prefix of the batch is stored, the rest is not.
    let more: Vec<Bytes> = (7..12).map(ev).collect();
    assert_eq!(outbox.push(&more, 8).await.expect("push at the bound"), 3);
    assert_eq!(outbox.push(&[ev(99)], 8).await.expect("full"), 0);
    let all = outbox.peek(100).await.expect("peek");
    assert_eq!(all.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(), (2..10).map(ev).collect::<Vec<_>>());

    // Draining everything, then new events still come after.
    outbox.remove(&all.iter().map(|e| e.id.clone()).collect::<Vec<_>>()).await.expect("drain");
    assert_eq!(outbox.depth().await.expect("depth"), 0);
    assert_eq!(outbox.push(&[ev(20)], 8).await.expect("push after drain"), 1);
    assert_eq!(outbox.peek(5).await.expect("peek").iter().map(|e| e.payload.clone()).collect::<Vec<_>>(), vec![ev(20)]);

    // Concurrent writers never overshoot the bound.
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let outbox = outbox.clone();
            tokio::spawn(
                async move { outbox.push(&(0..10).map(|i| ev(100 + w * 10 + i)).collect::<Vec<_>>(), 50).await },
            )
        })
        .collect();
    let mut stored = 0;
    for w in writers {
        stored += w.await.expect("writer").expect("push");
    }
    assert_eq!(stored, 49, "one was held already; the bound is 50");
    assert_eq!(outbox.depth().await.expect("depth"), 50);

    // The relay lease: renewable by its holder, refused to others while it lasts.
    assert!(outbox.lease("relay-a", Duration::from_secs(30)).await.expect("lease"));
    assert!(outbox.lease("relay-a", Duration::from_secs(30)).await.expect("renew"));
    if outbox.tier() != "embedded" {
        assert!(!outbox.lease("relay-b", Duration::from_secs(30)).await.expect("lease"), "one relay at a time");
    }
}
