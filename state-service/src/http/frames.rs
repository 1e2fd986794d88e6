//! `GET /v1/frames/{name}?offset=O[&live=true]`: the edge's read, in the TFR1 framing of
//! [`tether_protocol::frames`], so every chunk keeps its boundary and offset across the hop.
//!
//! Without `live` the body carries one bounded batch and ends with a `Tail` frame only when
//! the batch reached the tail; the edge keeps reading from the last `next` until it sees one.
//! With `live=true` the response follows the stream: chunks as they are appended, a `Tail`
//! frame each time it catches up, a `Keepalive` every [`KEEPALIVE`] while idle, and `Gone`
//! when the stream is deleted or replaced. It ends when the stream is closed and drained, on
//! shutdown, or when the edge goes away. Errors before the first byte are ordinary JSON errors.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use tether_protocol::frames::{CONTENT_TYPE, Frame, GoneReason, MAGIC};
use tether_protocol::headers as h;
use tether_protocol::{ReadFrom, StreamName};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::read::scopeguard;
use super::{ApiError, AppState};
use crate::store::StreamRecord;
use crate::streams::{ReadError, Streams};

/// Idle live responses send a keepalive this often, so a dead edge or state is noticed.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// Encoded batches buffered towards a slow edge before reading waits.
const BUFFER_BATCHES: usize = 4;

struct FramesQuery {
    from: ReadFrom,
    live: bool,
}

fn parse_query(raw: Option<&str>) -> Result<FramesQuery, ApiError> {
    let mut from = None;
    let mut live = false;
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("offset", v) => from = Some(ReadFrom::parse(v)?),
            ("live", "true") => live = true,
            ("live", "false") => live = false,
            (k, v) => return Err(ApiError::BadQuery(format!("unexpected parameter {k}={v}"))),
        }
    }
    let from = from.ok_or_else(|| ApiError::BadQuery("offset is required".into()))?;
    Ok(FramesQuery { from, live })
}

pub async fn get_frames(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let name = StreamName::parse(&raw)?;
    let q = parse_query(query.as_deref())?;
    let rec = state.streams.live_record(&name, crate::now_ms()).await?;
    let at = Streams::resolve(&rec, q.from)?;
    let mut hm = HeaderMap::new();
    hm.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    hm.insert(h::STREAM_EPOCH, HeaderValue::from_str(&rec.epoch.to_string()).expect("hex digits"));
    if let Ok(ct) = HeaderValue::from_str(&rec.config.content_type) {
        hm.insert("stream-content-type", ct);
    }
    hm.insert(h::STREAM_NEXT_OFFSET, HeaderValue::from_str(&Streams::mint(&rec, at).to_string()).expect("ascii"));
    if !q.live {
        let mut body = BytesMut::from(&MAGIC[..]);
        let batch = if at < rec.tail {
            state.streams.read(&rec, at, state.streams.cfg.read_max_bytes).await?
        } else {
            crate::streams::ReadBatch { start: at, chunks: Vec::new() }
        };
        let next = batch.next();
        encode_chunks(&rec, &batch.chunks, &mut body);
        if next >= rec.tail {
            Frame::Tail { next: Streams::mint(&rec, next), closed: rec.closed }.encode(&mut body);
        }
        return Ok((StatusCode::OK, hm, body.freeze()).into_response());
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(BUFFER_BATCHES);
    tx.try_send(Ok(Bytes::from_static(MAGIC))).expect("fresh channel has room");
    tokio::spawn(pump(state, rec, at, tx));
    Ok((StatusCode::OK, hm, Body::from_stream(ReceiverStream::new(rx))).into_response())
}

fn encode_chunks(rec: &StreamRecord, chunks: &[crate::store::Chunk], out: &mut BytesMut) {
    for c in chunks {
        let frame = Frame::Chunk {
            offset: Streams::mint(rec, c.index),
            next: Streams::mint(rec, c.index + 1),
            data: c.payload.clone(),
        };
        frame.encode(out);
    }
}

/// Follows the stream until it ends, the edge leaves, or shutdown.
async fn pump(state: AppState, mut rec: StreamRecord, mut at: u64, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let streams = &state.streams;
    let mut rx = streams.watch(&rec);
    streams.metrics.live_waiters.inc();
    let _waiting = scopeguard(|| streams.metrics.live_waiters.dec());
    let mut announced_tail = false;
    loop {
        match streams.live_record(&rec.name, crate::now_ms()).await {
            Ok(r) if r.epoch == rec.epoch => rec = r,
            Ok(_) => return send_gone(&tx, GoneReason::Replaced).await,
            Err(ReadError::NotFound | ReadError::Gone) => return send_gone(&tx, GoneReason::Deleted).await,
            Err(e) => {
                tracing::warn!(stream = %rec.name, error = %e, "framed live read failed; ending response");
                return;
            }
        }
        if at < rec.tail {
            let batch = match streams.read(&rec, at, streams.cfg.read_max_bytes).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(stream = %rec.name, error = %e, "framed live read failed; ending response");
                    return;
                }
            };
            at = batch.next();
            let mut out = BytesMut::new();
            encode_chunks(&rec, &batch.chunks, &mut out);
            announced_tail = at >= rec.tail;
            if announced_tail {
                Frame::Tail { next: Streams::mint(&rec, at), closed: rec.closed }.encode(&mut out);
            }
            if tx.send(Ok(out.freeze())).await.is_err() {
                return;
            }
            continue;
        }
        if !announced_tail {
            let mut out = BytesMut::new();
            Frame::Tail { next: Streams::mint(&rec, at), closed: rec.closed }.encode(&mut out);
            if tx.send(Ok(out.freeze())).await.is_err() {
                return;
            }
            announced_tail = true;
        }
        if rec.closed {
            return;
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(KEEPALIVE) => {
                let mut out = BytesMut::new();
                Frame::Keepalive.encode(&mut out);
                if tx.send(Ok(out.freeze())).await.is_err() {
                    return;
                }
            }
            _ = state.shutdown.cancelled() => return,
            _ = tx.closed() => return,
        }
    }
}

async fn send_gone(tx: &mpsc::Sender<Result<Bytes, std::io::Error>>, reason: GoneReason) {
    let mut out = BytesMut::new();
    Frame::Gone(reason).encode(&mut out);
    let _ = tx.send(Ok(out.freeze())).await;
}
