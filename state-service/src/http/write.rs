//! Mutating handlers: `PUT` (create / fork), `POST` (append / close), `DELETE`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::value::RawValue;
use tether_protocol::headers as h;
use tether_protocol::{Offset, ProducerHeaders, ReadFrom, StreamName};

use super::{ApiError, AppState, closed_header, header};
use crate::kafka::events::EventKind;
use crate::store::{
    AppendKind, AppendRequest, CreateRequest, ExpiresAt, ForkSpec, SeqMode, StreamConfig, StreamRecord,
    is_json_content_type,
};
use crate::streams::{ReadError, Streams};

const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// Longest accepted `Stream-TTL`: ten years.
const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

pub async fn put_stream(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let name = StreamName::parse(&raw)?;
    let explicit_ct = header(&headers, "content-type")?.filter(|c| !c.is_empty());
    let config = StreamConfig {
        content_type: explicit_ct.unwrap_or(DEFAULT_CONTENT_TYPE).to_owned(),
        ttl_secs: parse_ttl(header(&headers, h::STREAM_TTL)?)?,
        expires_at: parse_expires_at(header(&headers, h::STREAM_EXPIRES_AT)?)?,
    };
    if config.ttl_secs.is_some() && config.expires_at.is_some() {
        return Err(ApiError::BadHeader("send Stream-TTL or Stream-Expires-At, not both".into()));
    }
    let streams = &state.streams;
    if streams.hot.record(&name).await?.is_none() {
        // A stream the hot log forgot keeps its identity: recreating it must not start over.
        // With the archive unreachable, creation goes on (new streams stay available during an
        // S3 outage); should the name have had an archived past, its old offsets then get the
        // explicit `offset_epoch_mismatch` verdict, never someone else's bytes.
        match streams.recover(&name, crate::now_ms()).await {
            Ok(_) => {}
            Err(ReadError::Archive(e)) => {
                streams.metrics.recovery_skipped.inc();
                tracing::warn!(stream = %name, error = %e, "archive unreachable; creating without the recovery check");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut fork = parse_fork(&headers)?;
    let body = read_body(&headers, body, streams.cfg.max_chunk_bytes).await?;
    // A fork's content type (and so its JSON mode) comes from the source when not given.
    let json_mode = match (&fork, explicit_ct) {
        (Some(spec), None) => match streams.hot.record(&spec.source).await? {
            Some(src) => src.is_json(),
            None => false,
        },
        _ => is_json_content_type(&config.content_type),
    };
    let initial = if body.is_empty() {
        None
    } else if json_mode {
        flatten_json(&body, true)?
    } else {
        Some(body)
    };
    if let Some(spec) = fork.as_mut().filter(|s| s.sub_offset > 0) {
        spec.chunk_at = fork_chunk(streams, spec).await?;
    }
    let req = CreateRequest {
        name: name.clone(),
        config,
        explicit_content_type: explicit_ct.is_some(),
        closed: closed_header(&headers),
        initial,
        fork,
    };
    let outcome = streams.hot.create(req, crate::now_ms()).await?;
    let rec = &outcome.record;
    let mut resp_headers = stream_headers(rec);
    let status = if outcome.created {
        let location = format!("{}/v1/stream/{}", origin(&headers), name);
        resp_headers.insert(
            "location",
            HeaderValue::from_str(&location).map_err(|_| ApiError::BadHeader("bad Host header".into()))?,
        );
        if rec.closed {
            streams.archiver_wake.notify_one();
        }
        streams.events.emit(EventKind::StreamCreated {
            stream: name.to_string(),
            epoch: rec.epoch.to_string(),
            content_type: rec.config.content_type.clone(),
            closed: rec.closed,
            forked_from: rec.fork.as_ref().map(|f| f.source.to_string()),
            source: "http".into(),
        });
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, resp_headers).into_response())
}

pub async fn post_stream(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let name = StreamName::parse(&raw)?;
    let streams = &state.streams;
    let close = closed_header(&headers);
    let producer = ProducerHeaders::parse(
        header(&headers, h::PRODUCER_ID)?,
        header(&headers, h::PRODUCER_EPOCH)?,
        header(&headers, h::PRODUCER_SEQ)?,
    )?;
    if producer.as_ref().is_some_and(|p| p.id.as_str().starts_with(crate::kafka::PRODUCER_PREFIX)) {
        // Kafka ingest's producer ids; an HTTP producer using one could fence the ingest.
        return Err(ApiError::BadHeader(format!(
            "Producer-Id prefix {:?} is reserved for Kafka ingest",
            crate::kafka::PRODUCER_PREFIX
        )));
    }
    let stream_seq = header(&headers, h::STREAM_SEQ)?.map(str::to_owned);
    let content_type = header(&headers, "content-type")?.filter(|c| !c.is_empty()).map(str::to_owned);
    let body = read_body(&headers, body, streams.cfg.max_chunk_bytes).await?;
    let payload = if body.is_empty() {
        if !close {
            return Err(ApiError::BadBody("an append needs a body (or Stream-Closed: true to close)".into()));
        }
        None
    } else {
        let Some(ct) = &content_type else {
            return Err(ApiError::BadHeader("Content-Type is required when appending data".into()));
        };
        if is_json_content_type(ct) { flatten_json(&body, false)? } else { Some(body) }
    };
    if payload.is_some() && streams.hot.over_headroom() {
        let err = ApiError::from(crate::store::AppendError::Backpressure);
        rejected(streams, &name, &err, producer.as_ref());
        return Err(err);
    }
    let has_producer = producer.is_some();
    let producer_for_events = producer.clone();
    let bytes = payload.as_ref().map_or(0, |p| p.len());
    let req = AppendRequest { payload, content_type, stream_seq, producer, close, seq_mode: SeqMode::Contiguous };
    let mut outcome = streams.hot.append(&name, req.clone(), crate::now_ms()).await;
    if matches!(outcome, Err(crate::store::AppendError::NotFound))
        && streams.recover(&name, crate::now_ms()).await?.is_some()
    {
        outcome = streams.hot.append(&name, req, crate::now_ms()).await;
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let err = ApiError::from(e);
            rejected(streams, &name, &err, producer_for_events.as_ref());
            return Err(err);
        }
    };
    let mut resp = HeaderMap::new();
    let next = Offset::new(outcome.tail, outcome.epoch);
    resp.insert(h::STREAM_NEXT_OFFSET, HeaderValue::from_str(&next.to_string()).expect("offsets are ASCII"));
    if outcome.closed {
        resp.insert(h::STREAM_CLOSED, HeaderValue::from_static("true"));
    }
    if let Some((epoch, seq)) = outcome.producer_ack {
        resp.insert(h::PRODUCER_EPOCH, HeaderValue::from(epoch));
        resp.insert(h::PRODUCER_SEQ, HeaderValue::from(seq));
    }
    let status = match outcome.kind {
        AppendKind::Written => {
            if bytes > 0 {
                streams.metrics.appends.inc();
                streams.metrics.append_bytes.inc_by(bytes as u64);
            }
            if close {
                streams.archiver_wake.notify_one();
                streams.events.emit(EventKind::StreamClosed {
                    stream: name.to_string(),
                    epoch: outcome.epoch.to_string(),
                    next_offset: next.to_string(),
                });
            }
            if has_producer && bytes > 0 { StatusCode::OK } else { StatusCode::NO_CONTENT }
        }
        AppendKind::Duplicate | AppendKind::AlreadyClosed => StatusCode::NO_CONTENT,
    };
    Ok((status, resp).into_response())
}

pub async fn delete_stream(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, ApiError> {
    let name = StreamName::parse(&raw)?;
    let streams = &state.streams;
    // An expired stream is already gone for clients; the sweeper removes it.
    let epoch = match streams.live_record(&name, crate::now_ms()).await {
        Err(ReadError::NotFound) => return Err(crate::store::DeleteError::NotFound.into()),
        Err(ReadError::Gone) => return Err(crate::store::DeleteError::Gone.into()),
        Err(e) => return Err(e.into()),
        Ok(rec) => rec.epoch,
    };
    let outcome = streams.hot.delete(&name).await?;
    streams.forget(&outcome);
    streams.events.emit(EventKind::StreamDeleted {
        stream: name.to_string(),
        epoch: epoch.to_string(),
        soft: outcome == crate::store::DeleteOutcome::SoftDeleted,
    });
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Counts a refused append and emits its `append.rejected` event.
fn rejected(streams: &Streams, name: &StreamName, err: &ApiError, producer: Option<&ProducerHeaders>) {
    streams.metrics.append_rejections.with_label_values(&[err.code()]).inc();
    streams.events.emit(EventKind::AppendRejected {
        stream: name.to_string(),
        reason: err.code().to_owned(),
        status: err.status().as_u16(),
        producer_id: producer.map(|p| p.id.as_str().to_owned()),
        source: "http".into(),
    });
}

/// Headers describing a stream after create / on HEAD.
pub fn stream_headers(rec: &StreamRecord) -> HeaderMap {
    let mut hm = HeaderMap::new();
    let text =
        |s: &str| HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    hm.insert("content-type", text(&rec.config.content_type));
    let next = Streams::mint(rec, rec.tail).to_string();
    hm.insert(h::STREAM_NEXT_OFFSET, HeaderValue::from_str(&next).expect("offsets are ASCII"));
    hm.insert(h::STREAM_EPOCH, HeaderValue::from_str(&rec.epoch.to_string()).expect("hex is ASCII"));
    if let Some(ttl) = rec.config.ttl_secs {
        hm.insert(h::STREAM_TTL, HeaderValue::from(ttl));
    }
    if let Some(at) = &rec.config.expires_at {
        hm.insert(h::STREAM_EXPIRES_AT, text(&at.text));
    }
    if rec.closed {
        hm.insert(h::STREAM_CLOSED, HeaderValue::from_static("true"));
    }
    hm
}

/// `scheme://host` of the request, for `Location`.
fn origin(headers: &HeaderMap) -> String {
    // Behind an edge the client's host arrives in X-Forwarded-Host.
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get("host"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

/// A rejected oversized body is still read (and dropped) up to this many bytes, so the client
/// can finish sending and read its 413 instead of seeing a reset connection.
const DRAIN_CAP: usize = 64 << 20;

/// Reads the body, refusing more than `limit` bytes with 413.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = header(headers, "content-length")?.and_then(|v| v.parse::<u64>().ok());
    let mut frames = body.into_data_stream();
    let mut buf = bytes::BytesMut::with_capacity(declared.map_or(0, |d| d.min(limit as u64) as usize));
    let mut seen = 0usize;
    let mut too_large = declared.is_some_and(|n| n > limit as u64);
    while let Some(frame) = frames.next().await {
        let frame = match frame {
            Ok(f) => f,
            Err(_) if too_large => break,
            // A body cut short is never stored as if it were whole.
            Err(e) => return Err(ApiError::BadBody(format!("request body ended early: {e}"))),
        };
        seen += frame.len();
        if seen > limit {
            too_large = true;
        }
        if too_large {
            if seen > DRAIN_CAP {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&frame);
    }
    if too_large {
        return Err(ApiError::TooLarge { limit });
    }
    Ok(buf.freeze())
}

/// Validates a JSON body and flattens one array level; messages are stored joined by `,`.
/// `None` for an empty array (allowed only on create).
fn flatten_json(body: &[u8], allow_empty: bool) -> Result<Option<Bytes>, ApiError> {
    let value: &RawValue =
        serde_json::from_slice(body).map_err(|e| ApiError::BadBody(format!("body is not valid JSON: {e}")))?;
    let text = value.get().trim();
    if !text.starts_with('[') {
        return Ok(Some(Bytes::copy_from_slice(text.as_bytes())));
    }
    let items: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|e| ApiError::BadBody(format!("body is not valid JSON: {e}")))?;
    if items.is_empty() {
        return if allow_empty {
            Ok(None)
        } else {
            Err(ApiError::BadBody("an empty JSON array appends nothing".into()))
        };
    }
    let joined: Vec<&str> = items.iter().map(|r| r.get().trim()).collect();
    Ok(Some(Bytes::from(joined.join(","))))
}

/// `Stream-TTL`: a plain decimal integer, no sign, no leading zeros.
fn parse_ttl(raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let bad = || ApiError::BadHeader(format!("Stream-TTL must be a whole number of seconds, got {raw:?}"));
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) || (raw.len() > 1 && raw.starts_with('0')) {
        return Err(bad());
    }
    let ttl: u64 = raw.parse().map_err(|_| bad())?;
    if ttl > MAX_TTL_SECS {
        return Err(bad());
    }
    Ok(Some(ttl))
}

fn parse_expires_at(raw: Option<&str>) -> Result<Option<ExpiresAt>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let at = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::BadHeader(format!("Stream-Expires-At must be an RFC 3339 timestamp, got {raw:?}")))?;
    let unix_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::BadHeader("Stream-Expires-At is out of range".into()))?;
    Ok(Some(ExpiresAt { text: raw.to_owned(), unix_ms }))
}

fn parse_fork(headers: &HeaderMap) -> Result<Option<ForkSpec>, ApiError> {
    let from = header(headers, h::STREAM_FORKED_FROM)?;
    let offset = header(headers, h::STREAM_FORK_OFFSET)?;
    let sub = header(headers, h::STREAM_FORK_SUB_OFFSET)?;
    let Some(from) = from else {
        if offset.is_some() || sub.is_some() {
            return Err(ApiError::BadHeader("Stream-Fork-Offset / -Sub-Offset need Stream-Forked-From".into()));
        }
        return Ok(None);
    };
    let path = match from.find("://") {
        Some(i) => from[i + 3..].find('/').map_or("", |j| &from[i + 3 + j..]),
        None => from,
    };
    let source = path
        .strip_prefix("/v1/stream/")
        .ok_or_else(|| ApiError::BadHeader(format!("Stream-Forked-From must be a /v1/stream/ path, got {from:?}")))?;
    let source = StreamName::parse(source)?;
    let at = match offset {
        None => None,
        Some(o) => match ReadFrom::parse(o)? {
            ReadFrom::At(o) => Some(o),
            ReadFrom::Start => Some(Offset::ZERO),
            ReadFrom::Now => None,
        },
    };
    let sub_offset = match sub {
        None => 0,
        Some(s) => tether_protocol::producer::parse_number(h::STREAM_FORK_SUB_OFFSET, s)
            .map_err(|e| ApiError::BadHeader(e.to_string()))?,
    };
    if sub_offset > 0 && at.is_none() {
        return Err(ApiError::BadHeader("Stream-Fork-Sub-Offset > 0 needs Stream-Fork-Offset".into()));
    }
    Ok(Some(ForkSpec { source, at, sub_offset, chunk_at: None }))
}

/// The source chunk a sub-offset fork cuts into (immutable, so read before the create).
async fn fork_chunk(streams: &Streams, spec: &ForkSpec) -> Result<Option<Bytes>, ApiError> {
    let src = match streams.live_record(&spec.source, crate::now_ms()).await {
        Ok(r) => r,
        // The create itself reports a missing or deleted source.
        Err(ReadError::NotFound | ReadError::Gone) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let at = match spec.at {
        Some(o) => match Streams::resolve(&src, ReadFrom::At(o)) {
            Ok(i) => i,
            Err(_) => return Ok(None),
        },
        None => return Ok(None),
    };
    Ok(streams.chunk_at(&src, at).await?)
}
