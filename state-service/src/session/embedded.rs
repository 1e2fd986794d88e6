//! Sessions in the embedded redb database (one row per session, JSON value).

use std::sync::Arc;

use redb::{Database, Durability, ReadableTable, TableDefinition};
use tether_protocol::{SessionId, StreamName};

use super::{MAX_CURSORS, Session, SessionError, SessionStore, new_session_id};
use crate::store::BackendError;

pub(crate) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions_v1");

pub struct EmbeddedSessions {
    db: Arc<Database>,
}

impl EmbeddedSessions {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// Runs `f` on the live session inside one durable write transaction.
    async fn update<T: Send + 'static>(
        &self,
        id: &SessionId,
        sub: &str,
        now_ms: i64,
        f: impl FnOnce(&mut Option<Session>) -> Result<T, SessionError> + Send + 'static,
    ) -> Result<T, SessionError> {
        let db = self.db.clone();
        let (id, sub) = (id.clone(), sub.to_owned());
        tokio::task::spawn_blocking(move || {
            let err = |e: &dyn std::fmt::Display| SessionError::Backend(BackendError::Unavailable(e.to_string()));
            let mut txn = db.begin_write().map_err(|e| err(&e))?;
            txn.set_durability(Durability::Immediate);
            let out = {
                let mut table = txn.open_table(SESSIONS).map_err(|e| err(&e))?;
                let current = table.get(id.as_str()).map_err(|e| err(&e))?.map(|v| v.value().to_vec());
                let mut session = match current {
                    None => None,
                    Some(raw) => Some(
                        serde_json::from_slice::<Session>(&raw)
                            .map_err(|e| SessionError::Backend(BackendError::Corrupt(e.to_string())))?,
                    ),
                };
                session = session.filter(|s| s.sub == sub && s.expires_ms > now_ms);
                if session.is_none() {
                    // Expired or foreign: behave exactly like a missing session.
                    return Err(SessionError::NotFound);
                }
                let out = f(&mut session)?;
                match session {
                    Some(mut s) => {
                        s.expires_ms = now_ms + (s.ttl_secs as i64) * 1000;
                        let json = serde_json::to_vec(&s).map_err(|e| err(&e))?;
                        table.insert(id.as_str(), json.as_slice()).map_err(|e| err(&e))?;
                    }
                    None => {
                        table.remove(id.as_str()).map_err(|e| err(&e))?;
                    }
                }
                out
            };
            txn.commit().map_err(|e| err(&e))?;
            Ok(out)
        })
        .await
        .map_err(|e| SessionError::Backend(BackendError::Unavailable(e.to_string())))?
    }
}

#[async_trait::async_trait]
impl SessionStore for EmbeddedSessions {
    async fn create(&self, sub: &str, ttl_secs: u64, now_ms: i64) -> Result<Session, SessionError> {
        let session = Session {
            v: 1,
            id: new_session_id(),
            sub: sub.to_owned(),
            cursors: Default::default(),
            created_ms: now_ms,
            ttl_secs,
            expires_ms: now_ms + (ttl_secs as i64) * 1000,
        };
        let db = self.db.clone();
        let s = session.clone();
        tokio::task::spawn_blocking(move || -> Result<(), Box<redb::Error>> {
            let mut txn = db.begin_write().map_err(|e| Box::new(e.into()))?;
            txn.set_durability(Durability::Immediate);
            {
                let mut table = txn.open_table(SESSIONS).map_err(|e| Box::new(e.into()))?;
                let json = serde_json::to_vec(&s).expect("session serialises");
                table.insert(s.id.as_str(), json.as_slice()).map_err(|e| Box::new(e.into()))?;
            }
            txn.commit().map_err(|e| Box::new(e.into()))?;
            Ok(())
        })
        .await
        .map_err(|e| SessionError::Backend(BackendError::Unavailable(e.to_string())))?
        .map_err(|e| SessionError::Backend(BackendError::Unavailable(e.to_string())))?;
        Ok(session)
    }

    async fn get(&self, id: &SessionId, sub: &str, now_ms: i64) -> Result<Session, SessionError> {
        self.update(id, sub, now_ms, move |s| {
            let mut out = s.clone().expect("update passes a live session");
            out.expires_ms = now_ms + (out.ttl_secs as i64) * 1000;
            Ok(out)
        })
        .await
    }

    async fn set_cursor(
        &self,
        id: &SessionId,
        sub: &str,
        stream: &StreamName,
        offset: Option<String>,
        now_ms: i64,
    ) -> Result<Session, SessionError> {
        let stream = stream.clone();
        self.update(id, sub, now_ms, move |s| {
            let session = s.as_mut().expect("update passes a live session");
            match offset {
                Some(o) => {
                    if !session.cursors.contains_key(&stream) && session.cursors.len() >= MAX_CURSORS {
                        return Err(SessionError::TooManyCursors(session.cursors.len(), MAX_CURSORS));
                    }
                    session.cursors.insert(stream, o);
                }
                None => {
                    session.cursors.remove(&stream);
                }
            }
            let mut out = session.clone();
            out.expires_ms = now_ms + (out.ttl_secs as i64) * 1000;
            Ok(out)
        })
        .await
    }

    async fn delete(&self, id: &SessionId, sub: &str, now_ms: i64) -> Result<(), SessionError> {
        self.update(id, sub, now_ms, |s| {
            *s = None;
            Ok(())
        })
        .await
    }
}
