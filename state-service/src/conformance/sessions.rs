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

    concurrent(store).await;
}

/// Many writers at once (as when thousands of clients subscribe together): every write
/// lands, each on its own session, and a refused write among them changes nothing else.
async fn concurrent(store: Arc<dyn SessionStore>) {
    let off = "0000000000000007_00000000000000aa".to_string();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(store.create(&format!("user{i}"), 60, NOW).await.expect("create").id);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        for k in 0..25 {
            let (store, id, off) = (store.clone(), id.clone(), off.clone());
            tasks.spawn(async move {
                let n = StreamName::parse(&format!("c/{k}")).expect("valid");
                store.set_cursor(&id, &format!("user{i}"), &n, Some(off), NOW).await.map(|_| ())
            });
        }
        // Interleaved refusals: the wrong owner, and a session that does not exist.
        let (st, id) = (store.clone(), id.clone());
        tasks.spawn(async move {
            let n = StreamName::parse("c/foreign").expect("valid");
            match st.set_cursor(&id, "mallory", &n, Some("x".into()), NOW).await {
                Err(SessionError::NotFound) => Ok(()),
                other => panic!("a foreign write must be refused: {other:?}"),
            }
        });
        let st = store.clone();
        tasks.spawn(async move {
            match st.get(&new_session_id(), "nobody", NOW).await {
                Err(SessionError::NotFound) => Ok(()),
                other => panic!("unknown session: {other:?}"),
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("every concurrent write is acknowledged");
    }
    for (i, id) in ids.iter().enumerate() {
        let s = store.get(id, &format!("user{i}"), NOW).await.expect("read back");
        assert_eq!(s.cursors.len(), 25, "every acknowledged cursor of user{i} is stored, and nothing foreign");
        assert!(s.cursors.values().all(|o| *o == off));
    }
}
