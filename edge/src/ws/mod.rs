//! `/v1/ws`: the client WebSocket endpoint (protocol in docs/PROTOCOL.md).
//!
//! Each connection has three tasks: a reader that parses frames into a one-slot channel (it
//! reserves the slot before reading, so a busy connection stops reading from the socket), the
//! connection loop in [`conn`] that owns the protocol state, and a writer that owns the
//! socket's write half and sends pings. Subscriptions run as their own tasks ([`subscription`])
//! and talk to the writer through the same bounded queue.

pub mod conn;
pub mod subscription;

use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketWrite};
use tether_protocol::ws::{CloseCode, ServerMsg};
use tokio::sync::mpsc;

/// What the writer sends.
pub enum OutFrame {
    Text(Bytes),
    Binary(Bytes),
    Pong(Vec<u8>),
    /// Close with a code and a short reason; the writer stops after it.
    Close(CloseCode, String),
}

/// The bounded queue towards a connection's writer.
#[derive(Clone)]
pub struct Outbound(mpsc::Sender<OutFrame>);

/// The connection's writer has gone.
#[derive(Debug)]
pub struct Gone;

impl Outbound {
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<OutFrame>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self(tx), rx)
    }

    pub async fn send(&self, f: OutFrame) -> Result<(), Gone> {
        self.0.send(f).await.map_err(|_| Gone)
    }

    pub async fn text(&self, msg: &ServerMsg) -> Result<(), Gone> {
        self.send(OutFrame::Text(Bytes::from(serde_json::to_vec(msg).expect("messages serialise")))).await
    }

    pub fn try_send(&self, f: OutFrame) -> Result<(), Gone> {
        self.0.try_send(f).map_err(|_| Gone)
    }
}

/// Owns the write half: drains the queue, pings every `ping`, ends after a close frame, when
/// every sender is gone, or when the socket fails. `wr` should sit on a buffered writer: frames
/// queued together go out in one write, flushed as soon as the queue is empty.
pub async fn writer<W>(mut wr: WebSocketWrite<W>, mut rx: mpsc::Receiver<OutFrame>, ping: Duration)
where
    W: tokio::io::AsyncWrite + Unpin,
{
    // The first ping comes after a random 75-100 % of the interval, so connections opened
    // together (a reconnect storm after an edge died) do not ping in lockstep forever.
    let phase = ping.mul_f64(rand::random_range(0.75..=1.0));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, ping);
    loop {
        let first = tokio::select! {
            f = rx.recv() => f,
            _ = tick.tick() => {
                let ping = wr.write_frame(Frame::new(true, OpCode::Ping, None, Payload::Borrowed(b"t"))).await;
                if ping.is_err() || wr.flush().await.is_err() {
                    return;
                }
                continue;
            }
        };
        let mut next = first;
        loop {
            let res = match next {
                Some(OutFrame::Text(b)) => wr.write_frame(Frame::text(Payload::Borrowed(&b))).await,
                Some(OutFrame::Binary(b)) => wr.write_frame(Frame::binary(Payload::Borrowed(&b))).await,
                Some(OutFrame::Pong(p)) => wr.write_frame(Frame::pong(Payload::Owned(p))).await,
                Some(OutFrame::Close(code, reason)) => {
                    let reason: String = reason.chars().take(120).collect();
                    let _ = wr.write_frame(Frame::close(code.code(), reason.as_bytes())).await;
                    let _ = wr.flush().await;
                    return;
                }
                None => {
                    let _ = wr.flush().await;
                    return;
                }
            };
            if let Err(e) = res {
                tracing::debug!(error = %e, "socket write failed");
                return;
            }
            match rx.try_recv() {
                Ok(f) => next = Some(f),
                Err(_) => break,
            }
        }
        if wr.flush().await.is_err() {
            return;
        }
    }
}
