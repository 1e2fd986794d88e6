//! Client sessions: which streams a client follows and how far it has acknowledged each.
//!
//! A session belongs to the user (`sub`) that created it; every lookup names the caller's `sub`
//! and a session owned by someone else is indistinguishable from a missing one. Sessions slide:
//! every read or update pushes the expiry `ttl` further.

pub mod embedded;
pub mod redis;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tether_protocol::{SessionId, StreamName};

/// Persisted session (format v1, see docs/FORMATS.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub v: u8,
    pub id: SessionId,
    pub sub: String,
    /// Last acknowledged offset (wire form) per stream, with the epoch it belongs to.
    pub cursors: BTreeMap<StreamName, String>,
    pub created_ms: i64,
    pub ttl_secs: u64,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    #[error("session not found")]
    NotFound,
    #[error("session holds {0} cursors; the limit is {1}")]
    TooManyCursors(usize, usize),
    #[error(transparent)]
    Backend(#[from] crate::store::BackendError),
}

/// Most cursors one session may hold.
pub const MAX_CURSORS: usize = 1024;

#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Creates a session for `sub`.
    async fn create(&self, sub: &str, ttl_secs: u64, now_ms: i64) -> Result<Session, SessionError>;

    /// The session if it exists, has not expired and belongs to `sub`; slides its expiry.
    async fn get(&self, id: &SessionId, sub: &str, now_ms: i64) -> Result<Session, SessionError>;

    /// Sets (`Some`) or removes (`None`) one stream's cursor; slides the expiry.
    async fn set_cursor(
        &self,
        id: &SessionId,
        sub: &str,
        stream: &StreamName,
        offset: Option<String>,
        now_ms: i64,
    ) -> Result<Session, SessionError>;

    async fn delete(&self, id: &SessionId, sub: &str, now_ms: i64) -> Result<(), SessionError>;
}

/// A fresh unguessable session id.
pub fn new_session_id() -> SessionId {
    SessionId::from_random(rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The persisted session format round-trips.
        #[test]
        fn session_round_trip(bits in any::<u128>(), sub in "[ -~]{1,40}", streams in proptest::collection::btree_map("[a-z]{1,8}(/[a-z0-9]{1,8}){0,2}", 1u64..1000, 0..10), ttl in 1u64..1_000_000) {
            let cursors = streams
                .into_iter()
                .map(|(s, i)| (StreamName::parse(&s).expect("valid"), format!("{i:016x}_00000000000000aa")))
                .collect();
            let s = Session { v: 1, id: SessionId::from_random(bits), sub, cursors, created_ms: 5, ttl_secs: ttl, expires_ms: 9 };
            let json = serde_json::to_vec(&s).expect("serialise");
            prop_assert_eq!(serde_json::from_slice::<Session>(&json).expect("parse"), s);
        }
    }
}
