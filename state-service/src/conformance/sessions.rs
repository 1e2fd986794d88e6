//! Conformance suite for [`SessionStore`] implementations.

use std::sync::Arc;

use tether_protocol::StreamName;

use crate::session::{MAX_CURSORS, SessionError, SessionStore, new_session_id};

const NOW: i64 = 1_700_000_000_000;

pub async fn run(store: Arc<dyn SessionStore>) {
    let s = store.create("alice", 60, NOW).await.expect("create");
    assert_eq!(s.sub, "alice");
    assert!(s.cursors.is_empty());

    let got = store.get(&s.id, "alice", NOW + 1000).await.expect("owner reads");
    assert_eq!(got.id, s.id);
    assert!(matches!(store.get(&s.id, "mallory", NOW).await, Err(SessionError::NotFound)), "other users see nothing");
    assert!(matches!(store.get(&new_session_id(), "alice", NOW).await, Err(SessionError::NotFound)));

    let chat = StreamName::parse("chat/1").expect("valid");
    let off = "0000000000000003_00000000000000aa".to_string();
    let updated = store.set_cursor(&s.id, "alice", &chat, Some(off.clone()), NOW + 2000).await.expect("set cursor");
    assert_eq!(updated.cursors.get(&chat), Some(&off));
    assert!(matches!(store.set_cursor(&s.id, "mallory", &chat, None, NOW).await, Err(SessionError::NotFound)));
    let again = store.get(&s.id, "alice", NOW + 3000).await.expect("read back");
    assert_eq!(again.cursors.get(&chat), Some(&off));

    // Sliding expiry: each use pushes it 60 s past that use.
    assert!(store.get(&s.id, "alice", NOW + 62_000).await.is_ok(), "still alive: last use at +3 s");
    assert!(matches!(store.get(&s.id, "alice", NOW + 62_000 + 61_000).await, Err(SessionError::NotFound)), "expired");

    let t = store.create("bob", 60, NOW).await.expect("create");
    for i in 0..MAX_CURSORS {
        let n = StreamName::parse(&format!("s/{i}")).expect("valid");
        store.set_cursor(&t.id, "bob", &n, Some(off.clone()), NOW).await.expect("within limit");
    }
    let over = store.set_cursor(&t.id, "bob", &chat, Some(off.clone()), NOW).await;
    assert!(matches!(over, Err(SessionError::TooManyCursors(..))), "{over:?}");
    let removed = store.set_cursor(&t.id, "bob", &StreamName::parse("s/0").expect("valid"), None, NOW).await;
    assert_eq!(removed.expect("remove").cursors.len(), MAX_CURSORS - 1);

    store.delete(&t.id, "bob", NOW).await.expect("delete");
    assert!(matches!(store.get(&t.id, "bob", NOW).await, Err(SessionError::NotFound)));
}
