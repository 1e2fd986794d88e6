//! Rust client for Tether's WebSocket protocol (docs/PROTOCOL.md).
//!
//! A [`Client`] keeps one connection to one of several edges. When the connection drops it
//! reconnects with jittered exponential backoff (to the next edge in the list) and resumes
//! every subscription from the exact position it had reached, so the application sees each
//! offset once, in order. Positions are also acknowledged to the session, so a process that
//! restarts can `resume` it. Publishes carry idempotent-producer fields and are re-sent after
//! a reconnect until answered: each is written exactly once.

pub mod conn;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tether_protocol::ws::{ClientMsg, ErrorCode, From, Producer, ResetReason, ServerMsg, Verdict};
use tether_protocol::{Offset, SessionId, StreamName};
use tokio::sync::{mpsc, oneshot};

use crate::conn::{Conn, ConnRx, Inbound};

/// Supplies a (fresh) token for each connection attempt.
pub type TokenFn = Arc<dyn Fn() -> Option<String> + Send + Sync>;

#[derive(Clone)]
pub struct Options {
    /// Edge WebSocket URLs (`ws://host:port/v1/ws`), tried in turn.
    pub urls: Vec<String>,
    pub token: TokenFn,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Acknowledge positions to the session after this many chunks (and every second).
    pub ack_every: u64,
    /// Events buffered for the application; when full, reading from the socket pauses.
    pub events_buffer: usize,
    /// Producer id for publishes (random by default).
    pub producer_id: String,
}

impl Options {
    pub fn new(urls: Vec<String>, token: Option<String>) -> Self {
        Self {
            urls,
            token: Arc::new(move || token.clone()),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            ack_every: 256,
            events_buffer: 1024,
            producer_id: format!("client-{:016x}", rand::random::<u64>()),
        }
    }
}

/// What the application sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Connected { edge: String, session: SessionId },
    Subscribed { stream: StreamName, verdict: Verdict, from: Offset },
    Chunk { stream: StreamName, offset: Offset, next: Offset, data: Bytes },
    CaughtUp { stream: StreamName, next: Offset },
    Closed { stream: StreamName, next: Offset },
    Reset { stream: StreamName, reason: ResetReason },
    Refused { stream: Option<StreamName>, code: ErrorCode, message: String },
    TokenExpiring { expires_in_ms: u64 },
    Disconnected { code: Option<u16>, reason: String },
}

/// Counters a test or an operator can read.
#[derive(Default, Debug)]
pub struct Stats {
    pub reconnects: AtomicU64,
    /// Chunks the server sent again that the client had already delivered (dropped).
    pub duplicates: AtomicU64,
    /// Chunks that did not continue from the previous position (a server bug if ever > 0).
    pub gaps: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub next: Option<String>,
    pub duplicate: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("publish refused ({code:?}): {message}")]
pub struct PublishError {
    pub code: ErrorCode,
    pub message: String,
}

enum Cmd {
    Subscribe(StreamName, From),
    Unsubscribe(StreamName),
    Publish {
        stream: StreamName,
        data: Bytes,
        binary: bool,
        content_type: Option<String>,
        done: oneshot::Sender<Result<Published, PublishError>>,
    },
    Resume(SessionId),
    Token(String),
}

pub struct Client {
    cmds: mpsc::Sender<Cmd>,
    events: mpsc::Receiver<Event>,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the client task has stopped")]
pub struct Stopped;

impl Client {
    /// Starts connecting in the background.
    pub fn connect(opts: Options) -> Self {
        let (cmds, cmd_rx) = mpsc::channel(256);
        let (ev_tx, events) = mpsc::channel(opts.events_buffer);
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(Driver::new(opts, ev_tx, stats.clone()).run(cmd_rx));
        Self { cmds, events, stats, task }
    }

    /// Follows `stream` from `from`; after reconnects it continues where it was.
    pub async fn subscribe(&self, stream: StreamName, from: From) -> Result<(), Stopped> {
        self.cmds.send(Cmd::Subscribe(stream, from)).await.map_err(|_| Stopped)
    }

    pub async fn unsubscribe(&self, stream: StreamName) -> Result<(), Stopped> {
        self.cmds.send(Cmd::Unsubscribe(stream)).await.map_err(|_| Stopped)
    }

    /// Restores the subscriptions of an earlier session at its acknowledged positions.
    pub async fn resume(&self, session: SessionId) -> Result<(), Stopped> {
        self.cmds.send(Cmd::Resume(session)).await.map_err(|_| Stopped)
    }

    /// Sends a fresh token on the open connection (answer to `TokenExpiring`).
    pub async fn refresh_token(&self, token: String) -> Result<(), Stopped> {
        self.cmds.send(Cmd::Token(token)).await.map_err(|_| Stopped)
    }

    /// Appends `data` exactly once, retrying across reconnects; `binary` sends it in a binary frame.
    pub async fn publish(
        &self,
        stream: StreamName,
        data: Bytes,
        binary: bool,
        content_type: Option<String>,
    ) -> Result<Result<Published, PublishError>, Stopped> {
        let (done, rx) = oneshot::channel();
        self.cmds.send(Cmd::Publish { stream, data, binary, content_type, done }).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

struct Follow {
    from: From,
    next: Option<Offset>,
    finished: bool,
    unacked: u64,
}

struct Pending {
    stream: StreamName,
    data: Bytes,
    binary: bool,
    content_type: Option<String>,
    seq: u64,
    done: oneshot::Sender<Result<Published, PublishError>>,
}

struct Driver {
    opts: Options,
    events: mpsc::Sender<Event>,
    stats: Arc<Stats>,
    follows: BTreeMap<StreamName, Follow>,
    pending: BTreeMap<u64, Pending>,
    seqs: HashMap<StreamName, u64>,
    next_id: u64,
    attempt: usize,
}

enum Flow {
    Reconnect(Option<u16>, String),
    Stop,
}

impl Driver {
    fn new(opts: Options, events: mpsc::Sender<Event>, stats: Arc<Stats>) -> Self {
        Self {
            opts,
            events,
            stats,
            follows: BTreeMap::new(),
            pending: BTreeMap::new(),
            seqs: HashMap::new(),
            next_id: 1,
            attempt: 0,
        }
    }

    async fn run(mut self, mut cmds: mpsc::Receiver<Cmd>) {
        let mut backoff = self.opts.backoff_min;
        loop {
            let url = self.opts.urls[self.attempt % self.opts.urls.len()].clone();
            self.attempt += 1;
            let token = (self.opts.token)();
            match Conn::connect(&url, token.as_deref(), 256).await {
                Ok((conn, rx)) => {
                    backoff = self.opts.backoff_min;
                    match self.session(conn, rx, &mut cmds).await {
                        Flow::Stop => return,
                        Flow::Reconnect(code, reason) => {
                            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                            if self.events.send(Event::Disconnected { code, reason }).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(%url, error = %e, "connect failed");
                }
            }
            // Jittered backoff; commands keep being accepted meanwhile.
            let wait = backoff.mul_f64(0.5 + rand::random::<f64>() / 2.0);
            backoff = (backoff * 2).min(self.opts.backoff_max);
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    c = cmds.recv() => match c {
                        Some(c) => self.offline(c),
                        None => return,
                    },
                }
            }
        }
    }

    /// A command while disconnected: remembered for the next connection.
    fn offline(&mut self, c: Cmd) {
        match c {
            Cmd::Subscribe(s, from) => {
                self.follows.insert(s, Follow { from, next: None, finished: false, unacked: 0 });
            }
            Cmd::Unsubscribe(s) => {
                self.follows.remove(&s);
            }
            Cmd::Publish { stream, data, binary, content_type, done } => {
                let seq = self.seqs.entry(stream.clone()).or_insert(0);
                let p = Pending { stream, data, binary, content_type, seq: *seq, done };
                *seq += 1;
                self.pending.insert(self.next_id, p);
                self.next_id += 1;
            }
            Cmd::Resume(_) | Cmd::Token(_) => {}
        }
    }

    fn resume_from(f: &Follow) -> From {
        f.next.map_or(f.from, From::At)
    }

    async fn session(&mut self, mut conn: Conn, mut rx: ConnRx, cmds: &mut mpsc::Receiver<Cmd>) -> Flow {
        // The welcome comes first.
        match tokio::time::timeout(Duration::from_secs(15), rx.inbound.recv()).await {
            Ok(Some(Inbound::Msg(ServerMsg::Welcome { edge, session, .. }, _))) => {
                if self.events.send(Event::Connected { edge, session }).await.is_err() {
                    return Flow::Stop;
                }
            }
            Ok(Some(Inbound::Closed(code, reason))) => return Flow::Reconnect(Some(code), reason),
            other => return Flow::Reconnect(None, format!("no welcome: {other:?}")),
        }
        let streams: Vec<(StreamName, From)> =
            self.follows.iter().filter(|(_, f)| !f.finished).map(|(s, f)| (s.clone(), Self::resume_from(f))).collect();
        for (stream, from) in streams {
            let id = self.take_id();
            if let Err(e) = conn.send(&ClientMsg::Subscribe { id, stream, from, binary: false }).await {
                return Flow::Reconnect(None, e.to_string());
            }
        }
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            if let Err(e) = self.send_publish(&mut conn, id).await {
                return Flow::Reconnect(None, e.to_string());
            }
        }
        let mut ack_tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                m = rx.inbound.recv() => match m {
                    Some(Inbound::Msg(msg, payload)) => match self.on_message(&mut conn, msg, payload).await {
                        Ok(()) => {}
                        Err(flow) => return flow,
                    },
                    Some(Inbound::Closed(code, reason)) => return Flow::Reconnect(Some(code), reason),
                    Some(Inbound::Failed(e)) => return Flow::Reconnect(None, e),
                    None => return Flow::Reconnect(None, "connection lost".into()),
                },
                c = cmds.recv() => {
                    let Some(c) = c else {
                        conn.close(1000).await;
                        return Flow::Stop;
                    };
                    if let Err(e) = self.online(&mut conn, c).await {
                        return Flow::Reconnect(None, e.to_string());
                    }
                }
                p = rx.pongs.recv() => if let Some(p) = p && let Err(e) = conn.write_pong(p).await {
                    return Flow::Reconnect(None, e.to_string());
                },
                _ = ack_tick.tick() => if let Err(e) = self.ack(&mut conn, 1).await {
                    return Flow::Reconnect(None, e.to_string());
                },
            }
        }
    }

    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    async fn send_publish(&mut self, conn: &mut Conn, id: u64) -> Result<(), fastwebsockets::WebSocketError> {
        let p = &self.pending[&id];
        let producer = Some(Producer { id: self.opts.producer_id.clone(), epoch: 0, seq: p.seq });
        if p.binary {
            let msg = ClientMsg::Publish {
                id,
                stream: p.stream.clone(),
                data: None,
                producer,
                content_type: p.content_type.clone(),
            };
            conn.send_binary(&msg, &p.data).await
        } else {
            let data = Some(String::from_utf8_lossy(&p.data).into_owned());
            let msg = ClientMsg::Publish {
                id,
                stream: p.stream.clone(),
                data,
                producer,
                content_type: p.content_type.clone(),
            };
            conn.send(&msg).await
        }
    }

    async fn online(&mut self, conn: &mut Conn, c: Cmd) -> Result<(), fastwebsockets::WebSocketError> {
        match c {
            Cmd::Subscribe(stream, from) => {
                self.follows.insert(stream.clone(), Follow { from, next: None, finished: false, unacked: 0 });
                let id = self.take_id();
                conn.send(&ClientMsg::Subscribe { id, stream, from, binary: false }).await
            }
            Cmd::Unsubscribe(stream) => {
                self.follows.remove(&stream);
                let id = self.take_id();
                conn.send(&ClientMsg::Unsubscribe { id, stream }).await
            }
            Cmd::Publish { .. } => {
                let id = self.next_id;
                self.offline(c);
                self.send_publish(conn, id).await
            }
            Cmd::Resume(session) => {
                let id = self.take_id();
                conn.send(&ClientMsg::Resume { id, session }).await
            }
            Cmd::Token(token) => conn.send(&ClientMsg::Auth { id: None, token }).await,
        }
    }

    /// Acknowledges streams with at least `min` unacknowledged chunks.
    async fn ack(&mut self, conn: &mut Conn, min: u64) -> Result<(), fastwebsockets::WebSocketError> {
        let due: Vec<(StreamName, Offset)> = self
            .follows
            .iter_mut()
            .filter(|(_, f)| f.unacked >= min)
            .filter_map(|(s, f)| {
                f.unacked = 0;
                f.next.map(|n| (s.clone(), n))
            })
            .collect();
        for (stream, offset) in due {
            conn.send(&ClientMsg::Ack { id: None, stream, offset }).await?;
        }
        Ok(())
    }

    async fn emit(&self, e: Event) -> Result<(), Flow> {
        self.events.send(e).await.map_err(|_| Flow::Stop)
    }

    async fn on_message(&mut self, conn: &mut Conn, msg: ServerMsg, payload: Option<Bytes>) -> Result<(), Flow> {
        match msg {
            ServerMsg::Subscribed { stream, verdict, from, .. } => {
                let f = self.follows.entry(stream.clone()).or_insert(Follow {
                    from: From::At(from),
                    next: None,
                    finished: false,
                    unacked: 0,
                });
                f.next = Some(from);
                self.emit(Event::Subscribed { stream, verdict, from }).await
            }
            ServerMsg::Chunk { stream, offset, next, data } => {
                let Some(f) = self.follows.get_mut(&stream) else { return Ok(()) };
                let expected = f.next.unwrap_or(offset);
                if offset != expected {
                    if offset.index() < expected.index() {
                        self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    self.stats.gaps.fetch_add(1, Ordering::Relaxed);
                }
                f.next = Some(next);
                f.unacked += 1;
                let ack_now = f.unacked >= self.opts.ack_every;
                let data = payload.unwrap_or_else(|| Bytes::from(data.unwrap_or_default()));
                self.emit(Event::Chunk { stream, offset, next, data }).await?;
                if ack_now {
                    self.ack(conn, self.opts.ack_every).await.map_err(|e| Flow::Reconnect(None, e.to_string()))?;
                }
                Ok(())
            }
            ServerMsg::CaughtUp { stream, next } => self.emit(Event::CaughtUp { stream, next }).await,
            ServerMsg::Closed { stream, next } => {
                if let Some(f) = self.follows.get_mut(&stream) {
                    f.finished = true;
                    f.unacked = f.unacked.max(1);
                }
                self.emit(Event::Closed { stream, next }).await
            }
            ServerMsg::Reset { stream, reason, .. } => {
                if let Some(f) = self.follows.get_mut(&stream) {
                    f.finished = true;
                }
                self.emit(Event::Reset { stream, reason }).await
            }
            ServerMsg::Published { id, next, duplicate, .. } => {
                if let Some(p) = self.pending.remove(&id) {
                    let _ = p.done.send(Ok(Published { next, duplicate }));
                }
                Ok(())
            }
            ServerMsg::Error { id, code, message, stream, .. } => {
                if let Some(p) = id.and_then(|id| self.pending.remove(&id)) {
                    let _ = p.done.send(Err(PublishError { code, message }));
                    return Ok(());
                }
                if let Some(s) = &stream
                    && matches!(code, ErrorCode::Forbidden | ErrorCode::Unavailable)
                    && let Some(f) = self.follows.get_mut(s)
                {
                    // Unavailable: the next reconnect retries; forbidden: stop following.
                    f.finished = code == ErrorCode::Forbidden;
                }
                self.emit(Event::Refused { stream, code, message }).await
            }
            ServerMsg::TokenExpiring { expires_in_ms } => self.emit(Event::TokenExpiring { expires_in_ms }).await,
            ServerMsg::Reconnect { retry_after_ms, reason } => {
                tokio::time::sleep(Duration::from_millis(retry_after_ms)).await;
                Err(Flow::Reconnect(Some(1012), reason))
            }
            ServerMsg::Welcome { .. } | ServerMsg::Ok { .. } | ServerMsg::Resumed { .. } => Ok(()),
        }
    }
}
