//! The HTTP API: Durable Streams under `/v1/stream/{name}`, batch metadata, sessions, and the
//! operational endpoints `/healthz`, `/readyz`, `/metrics`.

pub mod error;
pub mod frames;
pub mod read;
pub mod serve;
pub mod sessions;
pub mod sse;
pub mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

use crate::session::SessionStore;
use crate::streams::Streams;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub streams: Arc<Streams>,
    pub sessions: Arc<dyn SessionStore>,
    /// Cancelled when shutdown starts: live reads end, `/readyz` turns 503.
    pub shutdown: CancellationToken,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/stream/{*name}",
            get(read::get_stream)
                .head(read::head_stream)
                .put(write::put_stream)
                .post(write::post_stream)
                .delete(write::delete_stream)
                .options(preflight),
        )
        .route("/v1/frames/{*name}", get(frames::get_frames))
        .route("/v1/meta", post(read::batch_meta))
        .route("/v1/sessions", post(sessions::create))
        .route("/v1/sessions/{id}", get(sessions::get).delete(sessions::delete))
        .route("/v1/sessions/{id}/cursors", post(sessions::set_cursor))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), common_headers))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    if !state.streams.hot.ready().await {
        state.streams.metrics.ready.set(0);
        return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response();
    }
    state.streams.metrics.ready.set(1);
    "ready".into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(used) = state.streams.hot.used_bytes() {
        state.streams.metrics.backend_used_bytes.set(used as i64);
    }
    let body = state.streams.metrics.render();
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

/// Headers exposed to browser scripts.
const EXPOSED: &str = "stream-next-offset, stream-up-to-date, stream-cursor, stream-closed, stream-ttl, \
stream-expires-at, stream-sse-data-encoding, stream-epoch, producer-epoch, producer-seq, producer-expected-seq, \
producer-received-seq, etag, location, retry-after";

async fn preflight() -> Response {
    let mut h = HeaderMap::new();
    h.insert("access-control-allow-methods", HeaderValue::from_static("GET, HEAD, PUT, POST, DELETE, OPTIONS"));
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(
            "content-type, authorization, if-none-match, stream-seq, stream-ttl, stream-expires-at, stream-closed, \
stream-forked-from, stream-fork-offset, stream-fork-sub-offset, producer-id, producer-epoch, producer-seq",
        ),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    (StatusCode::NO_CONTENT, h).into_response()
}

/// Browser-safety and CORS headers on every response, and request metrics.
async fn common_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(HeaderName::from_static("access-control-expose-headers"), HeaderValue::from_static(EXPOSED));
    if method == Method::HEAD {
        h.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    state.streams.metrics.http_requests.with_label_values(&[method.as_str(), resp.status().as_str()]).inc();
    resp
}

/// One header as UTF-8 text; a non-text value is a 400.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ApiError::BadHeader(format!("header {name} is not valid text"))),
    }
}

/// `Stream-Closed` counts only when it is exactly `true` (any case).
pub fn closed_header(headers: &HeaderMap) -> bool {
    headers
        .get(tether_protocol::headers::STREAM_CLOSED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}
