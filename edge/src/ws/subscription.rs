//! One client subscription: backlog from the state service, then live from the hub, handed
//! over without a gap or a duplicate.
//!
//! The live receiver is joined *before* the backlog is read, so nothing appended meanwhile is
//! missed. Every chunk is checked against the position the client has (`next`): an older one
//! is a duplicate and skipped, the expected one is delivered, a later one proves a gap and
//! sends the subscription back to the state service to read what is missing. Falling out of
//! the live ring (`Lagged`) does the same. A position the state service refuses ends the
//! subscription with an explicit `reset` verdict; a hole is never delivered silently.

use std::sync::Arc;
use std::time::Instant;

use tether_protocol::frames::{Frame, GoneReason};
use tether_protocol::ws::{From, ResetReason, ServerMsg, Verdict};
use tether_protocol::{Offset, StreamName};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::Outbound;
use crate::hub::{Delivered, Hub, LiveEvent};
use crate::metrics::Metrics;
use crate::upstream::{FrameReader, Upstream, UpstreamError};

pub struct Subscription {
    pub id: Option<u64>,
    pub stream: StreamName,
    pub from: From,
    pub binary: bool,
    pub hub: Arc<Hub>,
    pub upstream: Arc<Upstream>,
    pub out: Outbound,
    pub metrics: Arc<Metrics>,
    pub cancel: CancellationToken,
    /// Told the resolved start offset, so the session cursor can record it.
    pub started: Option<tokio::sync::oneshot::Sender<Offset>>,
}

/// How a subscription ended.
enum End {
    /// Stream closed and fully delivered, a reset, or the client went away.
    Done,
}

fn reset_reason(e: &UpstreamError) -> Option<ResetReason> {
    match e.code()? {
        "stream_not_found" => Some(ResetReason::NotFound),
        "stream_deleted" => Some(ResetReason::StreamDeleted),
        "offset_past_retention" => Some(ResetReason::OffsetPastRetention),
        "offset_epoch_mismatch" => Some(ResetReason::EpochChanged),
        "offset_beyond_tail" => Some(ResetReason::OffsetBeyondTail),
        _ => None,
    }
}

impl Subscription {
    pub async fn run(mut self) {
        let t0 = Instant::now();
        self.metrics.subscriptions.inc();
        let _ = self.drive(t0).await;
        self.metrics.subscriptions.dec();
    }

    async fn send(&self, msg: ServerMsg) -> Result<(), End> {
        self.out.text(&msg).await.map_err(|_| End::Done)
    }

    async fn deliver(&self, d: &Delivered) -> Result<(), End> {
        let frame = match (self.binary, d.text()) {
            (false, Some(text)) => super::OutFrame::Text(text.clone()),
            _ => super::OutFrame::Binary(d.binary().clone()),
        };
        self.metrics.chunks_delivered.inc();
        self.metrics.bytes_delivered.inc_by(d.data.len() as u64);
        self.out.send(frame).await.map_err(|_| End::Done)
    }

    async fn reset(&self, reason: ResetReason, requested: Option<String>) -> Result<(), End> {
        let label = format!("reset:{}", serde_json::to_value(reason).expect("serialises").as_str().unwrap_or("?"));
        self.metrics.resume_verdicts.with_label_values(&[&label]).inc();
        self.send(ServerMsg::Reset { id: self.id, stream: self.stream.clone(), reason, requested }).await?;
        Err(End::Done)
    }

    /// Reads from the state service starting at `next` until caught up. Returns the new
    /// position and whether the stream is closed there.
    async fn catch_up(&self, next: &mut Offset, mut first: Option<FrameReader>) -> Result<bool, End> {
        self.metrics.catchups.inc();
        let mut attempts = 0u32;
        loop {
            let opened = match first.take() {
                Some(r) => Ok(r),
                None => self.upstream.frames(&self.stream, &next.to_string(), false).await,
            };
            let mut reader = match opened {
                Ok(r) => r,
                Err(e) => {
                    if let Some(reason) = reset_reason(&e) {
                        return self.reset(reason, Some(next.to_string())).await.map(|_| false);
                    }
                    self.metrics.upstream_errors.with_label_values(&[e.kind()]).inc();
                    attempts += 1;
                    if attempts > 8 {
                        let msg = ServerMsg::Error {
                            id: self.id,
                            code: tether_protocol::ws::ErrorCode::Unavailable,
                            message: format!("state service unavailable: {e}"),
                            stream: Some(self.stream.clone()),
                            retry_after_ms: Some(1000),
                        };
                        let _ = self.send(msg).await;
                        return Err(End::Done);
                    }
                    let wait = std::time::Duration::from_millis(50 << attempts.min(5));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = self.cancel.cancelled() => return Err(End::Done),
                    }
                }
            };
            loop {
                let frame = tokio::select! {
                    f = reader.next() => f,
                    _ = self.cancel.cancelled() => return Err(End::Done),
                };
                match frame {
                    Ok(Some(Frame::Chunk { offset, next: after, data })) => {
                        if offset != *next {
                            // The state service answers from exactly where we asked.
                            tracing::error!(stream = %self.stream, %offset, expected = %next, "catch-up out of order");
                            let msg = ServerMsg::Error {
                                id: self.id,
                                code: tether_protocol::ws::ErrorCode::Internal,
                                message: "the state service answered from another position; resubscribe".into(),
                                stream: Some(self.stream.clone()),
                                retry_after_ms: Some(1000),
                            };
                            let _ = self.send(msg).await;
                            return Err(End::Done);
                        }
                        self.deliver(&Delivered::new(self.stream.clone(), offset, after, data)).await?;
                        *next = after;
                    }
                    Ok(Some(Frame::Tail { next: tail, closed })) => {
                        if tail == *next {
                            return Ok(closed);
                        }
                        break;
                    }
                    Ok(Some(Frame::Keepalive)) => {}
                    Ok(Some(Frame::Gone(_))) => {
                        return self.reset(ResetReason::StreamDeleted, None).await.map(|_| false);
                    }
                    // A batch that ended before the tail: read on from `next`.
                    Ok(None) => break,
                    Err(e) => {
                        self.metrics.upstream_errors.with_label_values(&[e.kind()]).inc();
                        break;
                    }
                }
            }
        }
    }

    async fn drive(&mut self, t0: Instant) -> Result<(), End> {
        let mut live = self.hub.join(&self.stream);
        let from = match self.from {
            From::Start => "-1".to_owned(),
            From::Now => "now".to_owned(),
            From::At(o) => o.to_string(),
        };
        // The first read resolves `start`/`now` and checks a resume offset.
        let first = match self.upstream.frames(&self.stream, &from, false).await {
            Ok(r) => r,
            Err(e) => {
                let requested = matches!(self.from, From::At(_)).then(|| from.clone());
                if let Some(reason) = reset_reason(&e) {
                    return self.reset(reason, requested).await;
                }
                self.metrics.upstream_errors.with_label_values(&[e.kind()]).inc();
                let msg = ServerMsg::Error {
                    id: self.id,
                    code: tether_protocol::ws::ErrorCode::Unavailable,
                    message: e.to_string(),
                    stream: Some(self.stream.clone()),
                    retry_after_ms: Some(1000),
                };
                let _ = self.send(msg).await;
                return Err(End::Done);
            }
        };
        let verdict = if matches!(self.from, From::At(_)) { Verdict::Resumed } else { Verdict::Started };
        self.metrics
            .resume_verdicts
            .with_label_values(&[if verdict == Verdict::Resumed { "resumed" } else { "started" }])
            .inc();
        self.metrics.resume_seconds.observe(t0.elapsed().as_secs_f64());
        let start = first.start;
        self.send(ServerMsg::Subscribed { id: self.id, stream: self.stream.clone(), verdict, from: start }).await?;
        if let Some(tx) = self.started.take() {
            let _ = tx.send(start);
        }
        let mut next = start;
        let mut announced = false;
        // The first read's body is the start of the backlog.
        let mut first = Some(first);
        loop {
            if self.catch_up(&mut next, first.take()).await? {
                return self.closed(next).await;
            }
            if !announced {
                self.send(ServerMsg::CaughtUp { stream: self.stream.clone(), next }).await?;
                announced = true;
            }
            // Live until a gap, a lag or a broken topic sends us back to the store.
            loop {
                let ev = tokio::select! {
                    ev = live.rx.recv() => ev,
                    _ = self.cancel.cancelled() => return Err(End::Done),
                };
                match ev {
                    Ok(LiveEvent::Chunk(d)) => {
                        if d.offset == next {
                            self.deliver(&d).await?;
                            next = d.next;
                        } else if d.offset.index() < next.index() {
                            continue;
                        } else {
                            break;
                        }
                    }
                    Ok(LiveEvent::Tail { next: tail, closed }) => {
                        if tail != next {
                            break;
                        }
                        if closed {
                            return self.closed(next).await;
                        }
                    }
                    Ok(LiveEvent::Gone(GoneReason::Deleted)) => {
                        return self.reset(ResetReason::StreamDeleted, None).await;
                    }
                    Ok(LiveEvent::Gone(GoneReason::Replaced)) => {
                        return self.reset(ResetReason::EpochChanged, None).await;
                    }
                    Err(RecvError::Lagged(_)) => {
                        self.metrics.detached.inc();
                        break;
                    }
                    Err(RecvError::Closed) => {
                        live = self.hub.join(&self.stream);
                        break;
                    }
                }
            }
        }
    }

    async fn closed(&self, next: Offset) -> Result<(), End> {
        self.send(ServerMsg::Closed { stream: self.stream.clone(), next }).await?;
        Err(End::Done)
    }
}
