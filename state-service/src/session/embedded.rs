//! Sessions in the embedded redb database (one row per session, JSON value).
//!
//! Writes go through one writer thread that group-commits: every operation queued while a
//! commit is in flight joins the next write transaction (at most [`MAX_BATCH`]), so ten
//! thousand clients subscribing at once cost a handful of commits instead of ten thousand
//! fsyncs, and session writes never hold up the hot log's writer for long. Operations in one
//! batch run in order on the same transaction; one that fails (unknown session, too many
//! cursors) has changed nothing and fails alone, while a storage error rolls back the batch
//! and fails all of it.

use std::sync::Arc;

use redb::{Database, Durability, ReadableTable, Table, TableDefinition};
use tether_protocol::{SessionId, StreamName};
use tokio::sync::{mpsc, oneshot};

use super::{MAX_CURSORS, Session, SessionError, SessionStore, new_session_id};
use crate::store::BackendError;

pub(crate) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions_v1");

/// Operations per write transaction, at most.
const MAX_BATCH: usize = 1024;
/// Operations waiting for the writer, at most (senders wait beyond this).
const QUEUE: usize = 4096;

type SessionTable<'t> = Table<'t, &'static str, &'static [u8]>;

/// What a job reports after running: whether it hit a storage error (the batch must roll
/// back), and how to answer its caller once the commit's outcome is known.
type Finish = Box<dyn FnOnce(Option<&BackendError>) + Send>;

/// One queued operation; `None` means the transaction could not even be opened.
type Job = Box<dyn for<'t> FnOnce(Option<&mut SessionTable<'t>>) -> (bool, Finish) + Send>;

pub struct EmbeddedSessions {
    jobs: mpsc::Sender<Job>,
}

fn unavailable(e: impl std::fmt::Display) -> SessionError {
    SessionError::Backend(BackendError::Unavailable(e.to_string()))
}

impl EmbeddedSessions {
    /// Starts the writer thread; `fsync = false` commits without waiting for the disk (the
    /// same trade as the embedded hot log's `fsync` setting).
    pub fn new(db: Arc<Database>, fsync: bool) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("tether-sessions".into())
            .spawn(move || writer_loop(&db, rx, fsync))
            .expect("spawning the session writer thread");
        Self { jobs }
    }

    /// Runs `f` inside the next group commit and answers once that commit is durable.
    async fn write<T: Send + 'static>(
        &self,
        f: impl for<'t> FnOnce(&mut SessionTable<'t>) -> Result<T, SessionError> + Send + 'static,
    ) -> Result<T, SessionError> {
        let (tx, rx) = oneshot::channel::<Result<T, SessionError>>();
        let job: Job = Box::new(move |table| {
            let out = match table {
                Some(t) => f(t),
                None => Err(unavailable("the session store could not open a write transaction")),
            };
            let failed = matches!(out, Err(SessionError::Backend(_)));
            let finish: Finish = Box::new(move |commit: Option<&BackendError>| {
                let answer = match commit {
                    Some(e) if out.is_ok() => Err(SessionError::Backend(e.clone())),
                    _ => out,
                };
                let _ = tx.send(answer);
            });
            (failed, finish)
        });
        self.jobs.send(job).await.map_err(|_| unavailable("the session writer has stopped"))?;
        rx.await.map_err(|_| unavailable("the session writer has stopped"))?
    }

    /// Runs `f` on the live session of `id` owned by `sub`, then stores (or removes) it.
    async fn update<T: Send + 'static>(
        &self,
        id: &SessionId,
        sub: &str,
        now_ms: i64,
        f: impl FnOnce(&mut Option<Session>) -> Result<T, SessionError> + Send + 'static,
    ) -> Result<T, SessionError> {
        let (id, sub) = (id.clone(), sub.to_owned());
        self.write(move |table| {
            let current = table.get(id.as_str()).map_err(unavailable)?.map(|v| v.value().to_vec());
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
            // `f` fails before anything is written, so a refused operation changes nothing.
            let out = f(&mut session)?;
            match session {
                Some(mut s) => {
                    s.expires_ms = now_ms + (s.ttl_secs as i64) * 1000;
                    let json = serde_json::to_vec(&s).map_err(unavailable)?;
                    table.insert(id.as_str(), json.as_slice()).map_err(unavailable)?;
                }
                None => {
                    table.remove(id.as_str()).map_err(unavailable)?;
                }
            }
            Ok(out)
        })
        .await
    }
}

fn writer_loop(db: &Database, mut rx: mpsc::Receiver<Job>, fsync: bool) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        run_batch(db, jobs, fsync);
    }
}

fn run_batch(db: &Database, mut jobs: Vec<Job>, fsync: bool) {
    let txn = db.begin_write().map_err(|e| BackendError::Unavailable(e.to_string())).map(|mut txn| {
        txn.set_durability(if fsync { Durability::Immediate } else { Durability::None });
        txn
    });
    let txn = match txn {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "session store: cannot begin a write transaction");
            jobs.into_iter().for_each(|job| job(None).1(Some(&e)));
            return;
        }
    };
    let mut finishers = Vec::with_capacity(jobs.len());
    let mut failed = false;
    let opened = txn.open_table(SESSIONS).map(|mut table| {
        for job in jobs.drain(..) {
            let (f, finish) = job(Some(&mut table));
            failed |= f;
            finishers.push(finish);
        }
    });
    if let Err(e) = opened {
        tracing::error!(error = %e, "session store: cannot open the sessions table");
        let e = BackendError::Unavailable(e.to_string());
        finishers.extend(jobs.into_iter().map(|job| job(None).1));
        return finishers.into_iter().for_each(|f| f(Some(&e)));
    }
    let outcome = if failed {
        txn.abort().map_err(|e| BackendError::Unavailable(e.to_string())).and(Err(BackendError::Unavailable(
            "another session write in the same batch failed; nothing was stored".into(),
        )))
    } else {
        txn.commit().map_err(|e| BackendError::Unavailable(e.to_string()))
    };
    if let Err(e) = &outcome {
        tracing::error!(error = %e, operations = finishers.len(), "session group commit failed; rolled back");
    }
    finishers.into_iter().for_each(|f| f(outcome.as_ref().err()));
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
        let s = session.clone();
        self.write(move |table| {
            let json = serde_json::to_vec(&s).map_err(unavailable)?;
            table.insert(s.id.as_str(), json.as_slice()).map_err(unavailable)?;
            Ok(())
        })
        .await?;
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
