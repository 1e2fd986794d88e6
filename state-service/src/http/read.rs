//! Read handlers: `GET` catch-up and long-poll (SSE lives in [`super::sse`]), `HEAD`, and the
//! batch metadata lookup edges use to resume many subscriptions at once.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tether_protocol::headers as h;
use tether_protocol::{ReadFrom, StreamName};

use super::write::stream_headers;
use super::{ApiError, AppState, header};
use crate::streams::{ReadError, Streams, render_body};

/// Parsed query of a `GET`.
pub struct ReadQuery {
    /// `None`: no `offset` parameter.
    pub offset: Option<ReadFrom>,
    pub live: Live,
    pub cursor: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Live {
    No,
    LongPoll,
    Sse,
}

impl ReadQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut params: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_pairs(raw.unwrap_or("")) {
            params.entry(k).or_default().push(v);
        }
        let one = |k: &str| -> Result<Option<String>, ApiError> {
            match params.get(k).map(Vec::as_slice) {
                None => Ok(None),
                Some([v]) => Ok(Some(v.clone())),
                Some(_) => Err(ApiError::BadQuery(format!("parameter {k} given more than once"))),
            }
        };
        let offset = one("offset")?.map(|o| ReadFrom::parse(&o)).transpose()?;
        let live = match one("live")?.as_deref() {
            None => Live::No,
            Some("long-poll") => Live::LongPoll,
            Some("sse") => Live::Sse,
            Some(other) => return Err(ApiError::BadQuery(format!("live must be long-poll or sse, got {other:?}"))),
        };
        if live != Live::No && offset.is_none() {
            return Err(ApiError::BadQuery("live reads need an offset parameter".into()));
        }
        let cursor = one("cursor")?.and_then(|c| c.parse().ok());
        Ok(Self { offset, live, cursor })
    }
}

/// Minimal `application/x-www-form-urlencoded` decoding.
fn form_pairs(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Cursor interval length and origin (2024-10-09T00:00:00Z), per the protocol.
const CURSOR_INTERVAL_SECS: i64 = 20;
const CURSOR_EPOCH_SECS: i64 = 1_728_432_000;

/// The next collapsing cursor: the current interval, or strictly past the client's.
pub fn next_cursor(client: Option<u64>, now_ms: i64) -> u64 {
    let current = ((now_ms / 1000 - CURSOR_EPOCH_SECS) / CURSOR_INTERVAL_SECS).max(0) as u64;
    match client {
        Some(c) if c >= current => c + 1 + rand::random::<u64>() % (3600 / CURSOR_INTERVAL_SECS as u64),
        _ => current,
    }
}

pub async fn get_stream(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = StreamName::parse(&raw)?;
    let q = ReadQuery::parse(query.as_deref())?;
    let streams = &state.streams;
    let now = crate::now_ms();
    let rec = streams.live_record(&name, now).await?;
    streams.hot.touch(&name, rec.epoch, now).await?;
    match q.live {
        Live::Sse => return super::sse::serve(state.clone(), rec, q).await,
        Live::LongPoll => return long_poll(&state, rec, q).await,
        Live::No => {}
    }
    let from = q.offset.unwrap_or(ReadFrom::Start);
    let start = Streams::resolve(&rec, from)?;
    let mut hm = HeaderMap::new();
    hm.insert("content-type", content_type(&rec.config.content_type));
    if from == ReadFrom::Now {
        set_position(&mut hm, &rec, rec.tail);
        hm.insert("cache-control", HeaderValue::from_static("no-store"));
        let body = if rec.is_json() { "[]" } else { "" };
        return Ok((StatusCode::OK, hm, body).into_response());
    }
    let batch = streams.read(&rec, start, streams.cfg.read_max_bytes).await?;
    let next = batch.next();
    set_position(&mut hm, &rec, next);
    let closed = rec.closed && next == rec.tail;
    let etag = format!(
        "\"{}:{}:{}{}\"",
        rec.epoch,
        Streams::mint(&rec, start),
        Streams::mint(&rec, next),
        if closed { ":c" } else { "" }
    );
    hm.insert("etag", HeaderValue::from_str(&etag).expect("etag is ASCII"));
    // A range that ends before the tail is immutable and may be cached; the tail may grow.
    let cache = if next < rec.tail { "public, max-age=60, stale-while-revalidate=300" } else { "no-cache" };
    hm.insert("cache-control", HeaderValue::from_static(cache));
    if header(&headers, "if-none-match")?.is_some_and(|inm| inm.split(',').any(|t| t.trim() == etag)) {
        return Ok((StatusCode::NOT_MODIFIED, hm).into_response());
    }
    Ok((StatusCode::OK, hm, render_body(rec.is_json(), &batch.chunks)).into_response())
}

/// `Stream-Next-Offset`, `Stream-Up-To-Date`, `Stream-Closed` for a read that ends at `next`.
fn set_position(hm: &mut HeaderMap, rec: &crate::store::StreamRecord, next: u64) {
    let offset = Streams::mint(rec, next).to_string();
    hm.insert(h::STREAM_NEXT_OFFSET, HeaderValue::from_str(&offset).expect("offsets are ASCII"));
    hm.insert(h::STREAM_EPOCH, HeaderValue::from_str(&rec.epoch.to_string()).expect("hex is ASCII"));
    if next >= rec.tail {
        hm.insert(h::STREAM_UP_TO_DATE, HeaderValue::from_static("true"));
        if rec.closed {
            hm.insert(h::STREAM_CLOSED, HeaderValue::from_static("true"));
        }
    }
}

fn content_type(ct: &str) -> HeaderValue {
    HeaderValue::from_str(ct).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

async fn long_poll(state: &AppState, mut rec: crate::store::StreamRecord, q: ReadQuery) -> Result<Response, ApiError> {
    let streams = &state.streams;
    let start = Streams::resolve(&rec, q.offset.expect("checked by ReadQuery::parse"))?;
    let deadline = tokio::time::Instant::now() + streams.cfg.long_poll_timeout;
    let mut rx = streams.watch(&rec);
    streams.metrics.live_waiters.inc();
    let _waiting = scopeguard(|| streams.metrics.live_waiters.dec());
    loop {
        // Re-read after subscribing so an append between the two is not missed.
        rec = streams
            .live_record(&rec.name, crate::now_ms())
            .await
            .and_then(|r| if r.epoch == rec.epoch { Ok(r) } else { Err(ReadError::NotFound) })?;
        if start < rec.tail || rec.closed {
            break;
        }
        let timed_out = tokio::select! {
            changed = rx.changed() => changed.is_err(),
            _ = tokio::time::sleep_until(deadline) => true,
            _ = state.shutdown.cancelled() => true,
        };
        if timed_out {
            break;
        }
        if rx.borrow().gone {
            return Err(ReadError::NotFound.into());
        }
    }
    let mut hm = HeaderMap::new();
    hm.insert("content-type", content_type(&rec.config.content_type));
    if start >= rec.tail {
        set_position(&mut hm, &rec, start.max(rec.tail));
        if !rec.closed {
            hm.insert(h::STREAM_CURSOR, HeaderValue::from(next_cursor(q.cursor, crate::now_ms())));
        }
        hm.insert("cache-control", HeaderValue::from_static("no-store"));
        return Ok((StatusCode::NO_CONTENT, hm).into_response());
    }
    let batch = streams.read(&rec, start, streams.cfg.read_max_bytes).await?;
    let next = batch.next();
    set_position(&mut hm, &rec, next);
    if !(rec.closed && next == rec.tail) {
        hm.insert(h::STREAM_CURSOR, HeaderValue::from(next_cursor(q.cursor, crate::now_ms())));
    }
    hm.insert("cache-control", HeaderValue::from_static("no-cache"));
    Ok((StatusCode::OK, hm, render_body(rec.is_json(), &batch.chunks)).into_response())
}

/// Runs `f` when dropped (keeps a gauge right on every exit path).
pub fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

pub async fn head_stream(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, ApiError> {
    let name = StreamName::parse(&raw)?;
    let rec = state.streams.live_record(&name, crate::now_ms()).await?;
    Ok((StatusCode::OK, stream_headers(&rec)).into_response())
}

#[derive(Deserialize)]
pub struct BatchMetaRequest {
    pub streams: Vec<String>,
}

/// `POST /v1/meta {"streams": [...]}`: tail, epoch and status of many streams in one call.
pub async fn batch_meta(
    State(state): State<AppState>,
    Json(req): Json<BatchMetaRequest>,
) -> Result<Response, ApiError> {
    let limit = state.streams.cfg.max_streams_per_request;
    if req.streams.len() > limit {
        return Err(ApiError::TooManyStreams { got: req.streams.len(), limit });
    }
    let now = crate::now_ms();
    let mut out = serde_json::Map::new();
    for raw in &req.streams {
        let name = StreamName::parse(raw)?;
        let value = match state.streams.live_record(&name, now).await {
            Ok(rec) => serde_json::json!({
                "status": if rec.closed { "closed" } else { "open" },
                "epoch": rec.epoch.to_string(),
                "next_offset": Streams::mint(&rec, rec.tail).to_string(),
                "content_type": rec.config.content_type,
            }),
            Err(ReadError::NotFound) => serde_json::json!({ "status": "not_found" }),
            Err(ReadError::Gone) => serde_json::json!({ "status": "deleted" }),
            Err(e) => return Err(e.into()),
        };
        out.insert(name.to_string(), value);
    }
    Ok(Json(serde_json::Value::Object(out)).into_response())
}
