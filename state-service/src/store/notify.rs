//! Live-tail notification: one `watch` channel per stream incarnation.
//!
//! A notification only says "the tail moved"; readers then read by offset, so a lost or
//! coalesced notification delays data but never loses or reorders it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tether_protocol::Epoch;
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TailState {
    pub tail: u64,
    pub closed: bool,
    /// The incarnation was deleted or expired.
    pub gone: bool,
}

/// Registry of tail watchers. Entries are dropped when the last receiver goes away.
#[derive(Clone, Default)]
pub struct TailNotifier {
    inner: Arc<Mutex<HashMap<Epoch, watch::Sender<TailState>>>>,
}

impl TailNotifier {
    /// Watch `epoch`, starting from `current` if nobody watched it yet. Subscribe *before*
    /// reading the tail so no change between the read and the wait is missed.
    pub fn subscribe(&self, epoch: Epoch, current: TailState) -> watch::Receiver<TailState> {
        let mut map = self.inner.lock().expect("notifier lock poisoned");
        map.entry(epoch).or_insert_with(|| watch::channel(current).0).subscribe()
    }

    /// Publish a new tail; cheap when nobody watches.
    pub fn publish(&self, epoch: Epoch, state: TailState) {
        let mut map = self.inner.lock().expect("notifier lock poisoned");
        if let Some(tx) = map.get(&epoch) {
            if tx.receiver_count() == 0 {
                map.remove(&epoch);
            } else {
                tx.send_if_modified(|cur| {
                    let changed = *cur != state && (state.tail >= cur.tail || state.gone);
                    if changed {
                        *cur = state;
                    }
                    changed
                });
            }
        }
    }

    /// Wakes every watcher without a new state, so it re-reads (used after notifications may
    /// have been missed, e.g. while the Redis subscription was reconnecting).
    pub fn nudge_all(&self) {
        let map = self.inner.lock().expect("notifier lock poisoned");
        for tx in map.values() {
            tx.send_modify(|_| {});
        }
    }

    /// Number of incarnations currently watched.
    pub fn watched(&self) -> usize {
        self.inner.lock().expect("notifier lock poisoned").len()
    }
}
