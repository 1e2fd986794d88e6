//! Session endpoints for edges. The state service is internal: the edge has verified the
//! client's JWT and passes its `sub` in `Tether-Sub`; a session is only visible to that `sub`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tether_protocol::{Offset, SessionId, StreamName};

use super::{ApiError, AppState, header};
use crate::kafka::events::EventKind;

/// Header naming the verified user on whose behalf an edge acts.
pub const SUB_HEADER: &str = "tether-sub";
/// Default and maximum session lifetime after the last use.
const DEFAULT_TTL_SECS: u64 = 24 * 3600;
const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

fn sub(headers: &HeaderMap) -> Result<String, ApiError> {
    match header(headers, SUB_HEADER)? {
        Some(s) if !s.is_empty() && s.len() <= 256 => Ok(s.to_owned()),
        _ => Err(ApiError::BadHeader(format!("{SUB_HEADER} must name the user (1-256 bytes)"))),
    }
}

fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw).map_err(|e| ApiError::BadQuery(e.to_string()))
}

#[derive(Deserialize, Default)]
pub struct CreateBody {
    pub ttl_secs: Option<u64>,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Option<Json<CreateBody>>,
) -> Result<Response, ApiError> {
    let sub = sub(&headers)?;
    let ttl = body.and_then(|b| b.0.ttl_secs).unwrap_or(DEFAULT_TTL_SECS);
    if ttl == 0 || ttl > MAX_TTL_SECS {
        return Err(ApiError::BadBody(format!("ttl_secs must be between 1 and {MAX_TTL_SECS}")));
    }
    let session = state.sessions.create(&sub, ttl, crate::now_ms()).await?;
    state.streams.events.emit(EventKind::SessionCreated { session: session.id.to_string(), sub });
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = state.sessions.get(&session_id(&id)?, &sub(&headers)?, crate::now_ms()).await?;
    // An edge fetches the session when its client reconnects with it: that is the resume.
    state.streams.events.emit(EventKind::SessionResumed {
        session: session.id.to_string(),
        sub: session.sub.clone(),
        streams: session.cursors.len(),
    });
    Ok(Json(session).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.sessions.delete(&session_id(&id)?, &sub(&headers)?, crate::now_ms()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct CursorBody {
    pub stream: String,
    /// `null` removes the stream from the session.
    pub offset: Option<String>,
}

pub async fn set_cursor(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<CursorBody>,
) -> Result<Response, ApiError> {
    let stream = StreamName::parse(&body.stream)?;
    let offset = body.offset.map(|o| Offset::parse(&o).map(|o| o.to_string())).transpose()?;
    let session =
        state.sessions.set_cursor(&session_id(&id)?, &sub(&headers)?, &stream, offset, crate::now_ms()).await?;
    Ok(Json(session).into_response())
}
