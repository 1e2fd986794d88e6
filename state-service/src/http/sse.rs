//! `live=sse`: catch-up then live data as Server-Sent Events.
//!
//! Every `data` event is followed by a `control` event carrying the next offset, so a client
//! that reconnects resumes exactly after the last event it saw. Payload lines are split on
//! CR, LF and CRLF and each becomes its own `data:` line, so payload bytes can never end an
//! event or inject one. Binary streams travel as base64. The response ends after
//! `sse_max_duration`, on shutdown, when the stream is closed and drained, or when it is deleted.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use tether_protocol::headers as h;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::read::{ReadQuery, next_cursor, scopeguard};
use super::{ApiError, AppState};
use crate::store::{StreamRecord, is_text_content_type};
use crate::streams::{Streams, render_body};

/// Events buffered towards a slow client before the producer side waits.
const SSE_BUFFER_EVENTS: usize = 8;

pub async fn serve(state: AppState, rec: StreamRecord, q: ReadQuery) -> Result<Response, ApiError> {
    let from = q.offset.expect("checked by ReadQuery::parse");
    let start = Streams::resolve(&rec, from)?;
    let base64 = !is_text_content_type(&rec.config.content_type);
    let mut hm = HeaderMap::new();
    hm.insert("content-type", HeaderValue::from_static("text/event-stream"));
    hm.insert("cache-control", HeaderValue::from_static("no-cache"));
    hm.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if base64 {
        hm.insert(h::STREAM_SSE_DATA_ENCODING, HeaderValue::from_static("base64"));
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(SSE_BUFFER_EVENTS);
    tokio::spawn(pump(state, rec, start, q.cursor, base64, tx));
    Ok((StatusCode::OK, hm, Body::from_stream(ReceiverStream::new(rx))).into_response())
}

/// Feeds events until the client leaves or the response must end.
async fn pump(
    state: AppState,
    mut rec: StreamRecord,
    mut at: u64,
    mut cursor: Option<u64>,
    base64: bool,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let streams = &state.streams;
    let deadline = tokio::time::Instant::now() + streams.cfg.sse_max_duration;
    let mut rx = streams.watch(&rec);
    streams.metrics.live_waiters.inc();
    let _waiting = scopeguard(|| streams.metrics.live_waiters.dec());
    let mut announced_tail = false;
    loop {
        match streams.live_record(&rec.name, crate::now_ms()).await {
            Ok(r) if r.epoch == rec.epoch => rec = r,
            // Deleted or replaced: end the response; the client's reconnect gets the verdict.
            _ => return,
        }
        if at < rec.tail {
            let batch = match streams.read(&rec, at, streams.cfg.read_max_bytes).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(stream = %rec.name, error = %e, "SSE read failed; ending response");
                    return;
                }
            };
            at = batch.next();
            let mut event = data_event(&render_body(rec.is_json(), &batch.chunks), base64);
            event.extend_from_slice(&control_event(&rec, at, &mut cursor));
            if tx.send(Ok(event.freeze())).await.is_err() {
                return;
            }
            announced_tail = at >= rec.tail;
            continue;
        }
        if !announced_tail {
            if tx.send(Ok(control_event(&rec, at, &mut cursor).freeze())).await.is_err() {
                return;
            }
            announced_tail = true;
        }
        if rec.closed {
            return;
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep_until(deadline) => return,
            _ = state.shutdown.cancelled() => return,
            _ = tx.closed() => return,
        }
    }
}

fn data_event(body: &[u8], base64: bool) -> BytesMut {
    let mut out = BytesMut::with_capacity(body.len() + 32);
    out.extend_from_slice(b"event: data\n");
    if base64 {
        let text = base64::engine::general_purpose::STANDARD.encode(body);
        out.extend_from_slice(b"data:");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\n");
    } else {
        for line in split_lines(body) {
            // Readers strip one space after `data:`; add one only when the line starts with a
            // space of its own, so that space survives.
            out.extend_from_slice(if line.first() == Some(&b' ') { b"data: " } else { b"data:" });
            out.extend_from_slice(line);
            out.extend_from_slice(b"\n");
        }
    }
    out.extend_from_slice(b"\n");
    out
}

/// Splits on CRLF, CR or LF (SSE's line terminators).
fn split_lines(body: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' => {
                lines.push(&body[start..i]);
                if body.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            b'\n' => {
                lines.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push(&body[start..]);
    lines
}

fn control_event(rec: &StreamRecord, at: u64, cursor: &mut Option<u64>) -> BytesMut {
    let mut ctl = serde_json::Map::new();
    ctl.insert("streamNextOffset".into(), Streams::mint(rec, at).to_string().into());
    let at_tail = at >= rec.tail;
    if rec.closed && at_tail {
        ctl.insert("streamClosed".into(), true.into());
        ctl.insert("upToDate".into(), true.into());
    } else {
        let c = next_cursor(*cursor, crate::now_ms());
        *cursor = Some(c);
        ctl.insert("streamCursor".into(), c.to_string().into());
        if at_tail {
            ctl.insert("upToDate".into(), true.into());
        }
    }
    let mut out = BytesMut::new();
    out.extend_from_slice(b"event: control\ndata:");
    out.extend_from_slice(serde_json::Value::Object(ctl).to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_every_terminator() {
        assert_eq!(split_lines(b"a\r\nb\rc\nd"), vec![&b"a"[..], b"b", b"c", b"d"]);
        assert_eq!(split_lines(b""), vec![&b""[..]]);
        assert_eq!(&data_event(b" lead", false)[..], b"event: data\ndata:  lead\n\n");
        let ev = data_event(b"x\r\n\r\nevent: control", false);
        assert_eq!(&ev[..], b"event: data\ndata:x\ndata:\ndata:event: control\n\n");
    }
}
