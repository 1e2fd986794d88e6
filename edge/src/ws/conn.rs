//! One client connection: authentication, the session, subscriptions, publishes, acks,
//! token refresh, heartbeats and draining. Everything the client may do is checked here
//! against the verified token's permissions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{FragmentCollectorRead, Frame, OpCode, WebSocket, WebSocketError};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tether_protocol::ws::{ClientMsg, CloseCode, ErrorCode, From, ServerMsg, VERSION, decode_binary};
use tether_protocol::{Offset, SessionId, StreamName};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::subscription::Subscription;
use super::{OutFrame, Outbound, writer};
use crate::Edge;
use crate::auth::Identity;
use crate::limits::TokenBucket;
use crate::publish::{PublishJob, publisher};

/// What the reader task hands the connection loop.
enum Incoming {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    /// A ping or pong: the client is alive.
    Activity,
    Closed,
    TooBig,
    Broken(String),
}

struct SubHandle {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Why the connection loop ended (metric label and close frame).
struct Ending {
    code: CloseCode,
    reason: &'static str,
    message: String,
}

impl Ending {
    fn new(code: CloseCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into() }
    }
}

struct Conn {
    edge: Arc<Edge>,
    out: Outbound,
    identity: Identity,
    token: Option<String>,
    session: SessionId,
    subs: HashMap<StreamName, SubHandle>,
    cancel: CancellationToken,
    bucket: TokenBucket,
    publish: mpsc::Sender<PublishJob>,
    cursors: mpsc::Sender<(StreamName, Option<Offset>)>,
    warned: bool,
}

/// Serves one upgraded socket until it closes. `identity` is set when the upgrade request
/// carried a valid token; otherwise the first frame must be `auth`.
pub async fn serve(
    edge: Arc<Edge>,
    ws: WebSocket<TokioIo<Upgraded>>,
    identity: Option<(Identity, Option<String>)>,
    peer: SocketAddr,
) {
    let mut ws = ws;
    ws.set_max_message_size(edge.cfg.max_frame_bytes);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let (rd, wr) = ws.split(|io| {
        let (r, w) = tokio::io::split(io);
        // Frames queued together leave in one write; the writer flushes when its queue is empty.
        (r, tokio::io::BufWriter::with_capacity(4 * 1024, w))
    });
    let (out, out_rx) = Outbound::new(edge.cfg.client_queue);
    let writer_task = tokio::spawn(writer(wr, out_rx, edge.cfg.ping_interval));
    let (in_tx, mut in_rx) = mpsc::channel::<Incoming>(1);
    let reader_task =
        tokio::spawn(reader(FragmentCollectorRead::new(rd), in_tx, out.clone(), edge.cfg.max_message_bytes));
    edge.metrics.connections_opened.inc();
    edge.metrics.connections_current.inc();
    let ending = run(&edge, &out, &mut in_rx, identity).await;
    tracing::debug!(%peer, reason = ending.reason, "connection closing");
    edge.metrics.connections_closed.with_label_values(&[ending.reason]).inc();
    edge.metrics.connections_current.dec();
    let _ = out.try_send(OutFrame::Close(ending.code, ending.message));
    drop(out);
    reader_task.abort();
    // The writer ends after the close frame; a client that stopped reading cannot hold it.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer_task).await;
}

async fn reader<R: tokio::io::AsyncRead + Unpin>(
    mut rd: FragmentCollectorRead<R>,
    tx: mpsc::Sender<Incoming>,
    out: Outbound,
    max_message: usize,
) {
    loop {
        // Reserve before reading: a connection whose loop is busy stops reading its socket.
        let Ok(permit) = tx.reserve().await else { return };
        let activity = tx.clone();
        let mut obligated = |f: Frame<'_>| {
            let out = out.clone();
            let activity = activity.clone();
            let pong = (f.opcode == OpCode::Pong).then(|| f.payload.to_vec());
            async move {
                if let Some(p) = pong {
                    let _ = activity.try_send(Incoming::Activity);
                    out.send(OutFrame::Pong(p)).await.map_err(|_| std::io::Error::other("writer gone"))
                } else {
                    // The auto-close echo: the connection loop sends our own close frame.
                    Ok::<(), std::io::Error>(())
                }
            }
        };
        let frame = rd.read_frame(&mut obligated).await;
        let msg = match frame {
            Ok(f) => match f.opcode {
                OpCode::Text if f.payload.len() > max_message => Incoming::TooBig,
                OpCode::Binary if f.payload.len() > max_message => Incoming::TooBig,
                OpCode::Text => Incoming::Text(f.payload.to_vec()),
                OpCode::Binary => Incoming::Binary(f.payload.to_vec()),
                OpCode::Close => Incoming::Closed,
                _ => Incoming::Activity,
            },
            Err(WebSocketError::FrameTooLarge) => Incoming::TooBig,
            Err(WebSocketError::ConnectionClosed | WebSocketError::UnexpectedEOF) => Incoming::Closed,
            Err(e) => Incoming::Broken(e.to_string()),
        };
        let last = matches!(msg, Incoming::Closed | Incoming::TooBig | Incoming::Broken(_));
        permit.send(msg);
        if last {
            return;
        }
    }
}

/// Authenticates (if needed), opens the session, then runs the protocol until the end.
async fn run(
    edge: &Arc<Edge>,
    out: &Outbound,
    in_rx: &mut mpsc::Receiver<Incoming>,
    identity: Option<(Identity, Option<String>)>,
) -> Ending {
    let (identity, token) = match identity {
        Some(i) => i,
        None => match first_frame_auth(edge, in_rx).await {
            Ok(i) => i,
            Err(e) => return e,
        },
    };
    let session = match edge.sessions.create(&identity.sub).await {
        Ok(s) => s,
        Err(e) => {
            edge.metrics.upstream_errors.with_label_values(&[e.kind()]).inc();
            return Ending::new(CloseCode::UpstreamUnavailable, "upstream", "session store unavailable");
        }
    };
    let cancel = CancellationToken::new();
    let (publish, publish_rx) = mpsc::channel(64);
    tokio::spawn(publisher(edge.clone(), out.clone(), publish_rx, cancel.clone()));
    let (cursors, cursors_rx) = mpsc::channel(edge.cfg.max_subscriptions.max(16));
    let mut conn = Conn {
        edge: edge.clone(),
        out: out.clone(),
        identity,
        token,
        session: session.clone(),
        subs: HashMap::new(),
        cancel: cancel.clone(),
        bucket: TokenBucket::new(edge.cfg.publish_rate, edge.cfg.publish_burst),
        publish,
        cursors,
        warned: false,
    };
    let session_cell = Arc::new(std::sync::Mutex::new((session, conn.identity.sub.clone())));
    tokio::spawn(cursor_writer(edge.clone(), session_cell.clone(), cursors_rx));
    let welcome = ServerMsg::Welcome {
        version: VERSION,
        session: conn.session.clone(),
        sub: conn.identity.sub.clone(),
        edge: edge.edge_id.clone(),
        ping_interval_ms: edge.cfg.ping_interval.as_millis() as u64,
        token_expires_in_ms: conn.expires_in().map(|d| d.as_millis() as u64),
    };
    let ending = if out.text(&welcome).await.is_err() {
        Ending::new(CloseCode::Normal, "client_gone", "")
    } else {
        conn.main_loop(in_rx, &session_cell).await
    };
    cancel.cancel();
    ending
}

async fn first_frame_auth(
    edge: &Arc<Edge>,
    in_rx: &mut mpsc::Receiver<Incoming>,
) -> Result<(Identity, Option<String>), Ending> {
    let deadline = Instant::now() + edge.cfg.auth_timeout;
    loop {
        let msg = tokio::select! {
            m = in_rx.recv() => m,
            _ = tokio::time::sleep_until(deadline) => {
                edge.metrics.auth_failures.with_label_values(&["auth_timeout"]).inc();
                return Err(Ending::new(CloseCode::AuthTimeout, "auth_timeout", "no auth frame in time"));
            }
        };
        match msg {
            Some(Incoming::Activity) => continue,
            Some(Incoming::Text(t)) => match serde_json::from_slice::<ClientMsg>(&t) {
                Ok(ClientMsg::Auth { token, .. }) => {
                    return edge
                        .authenticate(Some(&token))
                        .map(|i| (i, Some(token)))
                        .map_err(|e| Ending::new(CloseCode::Unauthorized, "unauthorized", e.to_string()));
                }
                _ => return Err(Ending::new(CloseCode::Unauthorized, "unauthorized", "first message must be auth")),
            },
            Some(Incoming::Binary(_)) => {
                return Err(Ending::new(CloseCode::Unauthorized, "unauthorized", "first message must be auth"));
            }
            Some(Incoming::TooBig) => return Err(Ending::new(CloseCode::MessageTooBig, "too_big", "message too big")),
            None | Some(Incoming::Closed) => return Err(Ending::new(CloseCode::Normal, "client_closed", "")),
            Some(Incoming::Broken(e)) => return Err(Ending::new(CloseCode::BadMessage, "protocol_error", e)),
        }
    }
}

/// Writes acknowledged positions to the session, coalescing per stream while a write is in
/// flight (the queue holds at most one entry per subscription's worth of acks).
async fn cursor_writer(
    edge: Arc<Edge>,
    session: Arc<std::sync::Mutex<(SessionId, String)>>,
    mut rx: mpsc::Receiver<(StreamName, Option<Offset>)>,
) {
    // Ends when the connection drops its sender, after writing everything queued.
    while let Some(first) = rx.recv().await {
        let mut batch: HashMap<StreamName, Option<Offset>> = HashMap::from([first]);
        while let Ok((s, o)) = rx.try_recv() {
            batch.insert(s, o);
        }
        let (id, sub) = session.lock().expect("session lock is never poisoned").clone();
        for (stream, offset) in batch {
            if let Err(e) = edge.sessions.set_cursor(&id, &sub, &stream, offset).await {
                edge.metrics.upstream_errors.with_label_values(&[e.kind()]).inc();
                tracing::warn!(%stream, error = %e, "could not record a session cursor");
            }
        }
    }
}

fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>, stream: Option<&StreamName>) -> ServerMsg {
    ServerMsg::Error { id, code, message: message.into(), stream: stream.cloned(), retry_after_ms: None }
}

impl Conn {
    fn expires_in(&self) -> Option<Duration> {
        let exp = self.identity.expires_at?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Some(Duration::from_secs(exp.saturating_sub(now).max(0) as u64))
    }

    async fn reply(&self, msg: ServerMsg) -> Result<(), Ending> {
        self.out.text(&msg).await.map_err(|_| Ending::new(CloseCode::Normal, "client_gone", ""))
    }

    async fn main_loop(
        &mut self,
        in_rx: &mut mpsc::Receiver<Incoming>,
        session_cell: &Arc<std::sync::Mutex<(SessionId, String)>>,
    ) -> Ending {
        let idle = self.edge.cfg.idle_timeout;
        let mut last_seen = Instant::now();
        let drain = self.edge.drain.clone();
        loop {
            let far = Instant::now() + Duration::from_secs(86_400 * 365);
            let (warn_at, expire_at) = match self.expires_in() {
                Some(left) => {
                    let now = Instant::now();
                    let expire = now + left + self.edge.cfg.jwt_leeway;
                    let warn = (now + left).checked_sub(self.edge.cfg.token_warning).unwrap_or(now);
                    (if self.warned { far } else { warn }, expire)
                }
                None => (far, far),
            };
            let msg = tokio::select! {
                m = in_rx.recv() => m,
                _ = tokio::time::sleep_until(last_seen + idle) => {
                    return Ending::new(CloseCode::IdleTimeout, "idle_timeout", "nothing received within the idle timeout");
                }
                _ = tokio::time::sleep_until(warn_at) => {
                    self.warned = true;
                    let left = self.expires_in().unwrap_or_default();
                    if let Err(e) = self.reply(ServerMsg::TokenExpiring { expires_in_ms: left.as_millis() as u64 }).await {
                        return e;
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(expire_at) => {
                    self.edge.metrics.auth_failures.with_label_values(&["expired"]).inc();
                    return Ending::new(CloseCode::TokenExpired, "token_expired", "token expired");
                }
                _ = drain.cancelled() => {
                    let spread = self.edge.cfg.drain_retry_spread.as_millis() as u64;
                    let retry_after_ms = if spread == 0 { 0 } else { rand::random::<u64>() % spread };
                    let _ = self.reply(ServerMsg::Reconnect { retry_after_ms, reason: "edge draining".into() }).await;
                    return Ending::new(CloseCode::Restarting, "draining", "edge draining; reconnect elsewhere");
                }
            };
            last_seen = Instant::now();
            let result = match msg {
                Some(Incoming::Activity) => Ok(()),
                Some(Incoming::Text(t)) => match serde_json::from_slice::<ClientMsg>(&t) {
                    Ok(m) => self.handle(m, None, session_cell).await,
                    Err(e) => Err(Ending::new(CloseCode::BadMessage, "bad_message", format!("invalid message: {e}"))),
                },
                Some(Incoming::Binary(b)) => self.binary(b, session_cell).await,
                Some(Incoming::TooBig) => Err(Ending::new(CloseCode::MessageTooBig, "too_big", "message too big")),
                None | Some(Incoming::Closed) => Err(Ending::new(CloseCode::Normal, "client_closed", "")),
                Some(Incoming::Broken(e)) => Err(Ending::new(CloseCode::BadMessage, "protocol_error", e)),
            };
            if let Err(e) = result {
                return e;
            }
        }
    }

    /// A binary frame: a `publish` header with the payload after it.
    async fn binary(
        &mut self,
        frame: Vec<u8>,
        session_cell: &Arc<std::sync::Mutex<(SessionId, String)>>,
    ) -> Result<(), Ending> {
        let bad = |m: String| Ending::new(CloseCode::BadMessage, "bad_message", m);
        let (header, payload) = decode_binary(&frame).map_err(|e| bad(e.to_string()))?;
        let msg: ClientMsg = serde_json::from_slice(header).map_err(|e| bad(format!("invalid binary header: {e}")))?;
        match msg {
            ClientMsg::Publish { data: None, .. } => {
                self.handle(msg, Some(Bytes::copy_from_slice(payload)), session_cell).await
            }
            _ => Err(bad("binary frames carry publish messages without data".into())),
        }
    }

    async fn handle(
        &mut self,
        msg: ClientMsg,
        payload: Option<Bytes>,
        session_cell: &Arc<std::sync::Mutex<(SessionId, String)>>,
    ) -> Result<(), Ending> {
        match msg {
            ClientMsg::Auth { id, token } => self.refresh(id, token).await,
            ClientMsg::Subscribe { id, stream, from, binary } => self.subscribe(Some(id), stream, from, binary).await,
            ClientMsg::Unsubscribe { id, stream } => match self.subs.remove(&stream) {
                Some(h) if !h.task.is_finished() => {
                    h.cancel.cancel();
                    let _ = self.cursors.send((stream, None)).await;
                    self.reply(ServerMsg::Ok { id }).await
                }
                _ => self.reply(error(Some(id), ErrorCode::NotSubscribed, "not subscribed", Some(&stream))).await,
            },
            ClientMsg::Publish { id, stream, data, producer, content_type } => {
                if !self.identity.perms.can_write(&stream) {
                    self.edge.metrics.publishes.with_label_values(&["forbidden"]).inc();
                    return self
                        .reply(error(Some(id), ErrorCode::Forbidden, "no write permission", Some(&stream)))
                        .await;
                }
                if let Err(wait) = self.bucket.take(std::time::Instant::now()) {
                    self.edge.metrics.connections_refused.with_label_values(&["publish_rate"]).inc();
                    let msg = ServerMsg::Error {
                        id: Some(id),
                        code: ErrorCode::RateLimited,
                        message: "publish rate exceeded".into(),
                        stream: Some(stream),
                        retry_after_ms: Some(wait.as_millis() as u64 + 1),
                    };
                    return self.reply(msg).await;
                }
                let data = match (data, payload) {
                    (Some(text), None) => Bytes::from(text),
                    (None, Some(bytes)) => bytes,
                    _ => {
                        return self
                            .reply(error(Some(id), ErrorCode::BadRequest, "publish needs data", Some(&stream)))
                            .await;
                    }
                };
                let job = PublishJob { id, stream, data, producer, content_type };
                // Bounded: a client publishing faster than the state service accepts waits here,
                // which stops this connection's reads.
                self.publish.send(job).await.map_err(|_| Ending::new(CloseCode::Internal, "internal", "publisher gone"))
            }
            ClientMsg::Ack { id, stream, offset } => {
                if !self.subs.contains_key(&stream) && !self.identity.perms.can_read(&stream) {
                    return self.reply(error(id, ErrorCode::Forbidden, "no read permission", Some(&stream))).await;
                }
                let _ = self.cursors.send((stream, Some(offset))).await;
                match id {
                    Some(id) => self.reply(ServerMsg::Ok { id }).await,
                    None => Ok(()),
                }
            }
            ClientMsg::Resume { id, session } => self.resume(id, session, session_cell).await,
        }
    }

    async fn refresh(&mut self, id: Option<u64>, token: String) -> Result<(), Ending> {
        let identity = match self.edge.authenticate(Some(&token)) {
            Ok(i) => i,
            Err(e) => {
                return self.reply(error(id, ErrorCode::Unauthorized, e.to_string(), None)).await;
            }
        };
        if identity.sub != self.identity.sub {
            return Err(Ending::new(
                CloseCode::SubjectChanged,
                "subject_changed",
                "a refreshed token must name the same sub",
            ));
        }
        self.identity = identity;
        self.token = Some(token);
        self.warned = false;
        // Permissions may have shrunk: stop what the new token no longer allows.
        let refused: Vec<StreamName> = self.subs.keys().filter(|s| !self.identity.perms.can_read(s)).cloned().collect();
        for s in refused {
            if let Some(h) = self.subs.remove(&s) {
                h.cancel.cancel();
            }
            self.reply(error(None, ErrorCode::Forbidden, "the refreshed token does not allow this stream", Some(&s)))
                .await?;
        }
        match id {
            Some(id) => self.reply(ServerMsg::Ok { id }).await,
            None => Ok(()),
        }
    }

    async fn subscribe(&mut self, id: Option<u64>, stream: StreamName, from: From, binary: bool) -> Result<(), Ending> {
        if !self.identity.perms.can_read(&stream) {
            return self.reply(error(id, ErrorCode::Forbidden, "no read permission", Some(&stream))).await;
        }
        self.subs.retain(|_, h| !h.task.is_finished());
        if self.subs.contains_key(&stream) {
            return self.reply(error(id, ErrorCode::AlreadySubscribed, "already subscribed", Some(&stream))).await;
        }
        if self.subs.len() >= self.edge.cfg.max_subscriptions {
            self.edge.metrics.connections_refused.with_label_values(&["subscriptions"]).inc();
            let msg = format!("at most {} subscriptions per connection", self.edge.cfg.max_subscriptions);
            return self.reply(error(id, ErrorCode::TooManySubscriptions, msg, Some(&stream))).await;
        }
        let cancel = self.cancel.child_token();
        let (started_tx, started_rx) = oneshot::channel();
        let sub = Subscription {
            id,
            stream: stream.clone(),
            from,
            binary,
            hub: self.edge.hub.clone(),
            upstream: self.edge.upstream.clone(),
            out: self.out.clone(),
            metrics: self.edge.metrics.clone(),
            cancel: cancel.clone(),
            started: Some(started_tx),
        };
        let task = tokio::spawn(sub.run());
        // Record where the subscription starts, so `resume` restores it before any ack.
        let cursors = self.cursors.clone();
        let name = stream.clone();
        let explicit = matches!(from, From::At(_));
        tokio::spawn(async move {
            if let Ok(start) = started_rx.await
                && !explicit
            {
                let _ = cursors.send((name, Some(start))).await;
            }
        });
        if explicit && let From::At(o) = from {
            let _ = self.cursors.send((stream.clone(), Some(o))).await;
        }
        self.subs.insert(stream, SubHandle { cancel, task });
        Ok(())
    }

    async fn resume(
        &mut self,
        id: u64,
        session: SessionId,
        session_cell: &Arc<std::sync::Mutex<(SessionId, String)>>,
    ) -> Result<(), Ending> {
        // The token is checked again: a session never outlives the right to use it.
        if let Some(token) = self.token.clone()
            && let Err(e) = self.edge.authenticate(Some(&token))
        {
            self.edge.metrics.auth_failures.with_label_values(&[e.reason()]).inc();
            return Err(Ending::new(CloseCode::TokenExpired, "token_expired", e.to_string()));
        }
        let doc = match self.edge.sessions.get(&session, &self.identity.sub).await {
            Ok(d) => d,
            Err(e) if e.code() == Some("session_not_found") => {
                return self
                    .reply(error(Some(id), ErrorCode::SessionNotFound, "no such session for this user", None))
                    .await;
            }
            Err(e) => {
                self.edge.metrics.upstream_errors.with_label_values(&[e.kind()]).inc();
                return self.reply(error(Some(id), ErrorCode::Unavailable, e.to_string(), None)).await;
            }
        };
        let previous = std::mem::replace(&mut self.session, doc.id.clone());
        *session_cell.lock().expect("session lock is never poisoned") = (doc.id.clone(), self.identity.sub.clone());
        if previous != doc.id && self.subs.is_empty() {
            // The session opened for this connection was never used: do not leave it behind.
            let sessions = self.edge.sessions.clone();
            let sub = self.identity.sub.clone();
            tokio::spawn(async move {
                let _ = sessions.delete(&previous, &sub).await;
            });
        }
        let mut streams = Vec::new();
        for (stream, raw) in doc.cursors {
            let from = match Offset::parse(&raw) {
                Ok(o) => From::At(o),
                Err(_) => From::Start,
            };
            if self.subs.get(&stream).is_some_and(|h| !h.task.is_finished()) {
                streams.push(stream);
                continue;
            }
            self.subscribe(None, stream.clone(), from, false).await?;
            if self.subs.contains_key(&stream) {
                streams.push(stream);
            }
        }
        self.reply(ServerMsg::Resumed { id, session: doc.id, streams }).await
    }
}
