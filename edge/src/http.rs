//! The edge's HTTP surface: `/v1/ws` (WebSocket upgrade), the Durable Streams protocol under
//! `/v1/stream/` proxied to the state service with the same JWT rules, and `/healthz`,
//! `/readyz`, `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use fastwebsockets::upgrade::IncomingUpgrade;
use futures::TryStreamExt;
use http_body_util::BodyExt;
use tether_protocol::StreamName;
use tether_protocol::headers as h;
use tether_protocol::ws::SUBPROTOCOL;

use crate::Edge;
use crate::auth::token_from_request;
use crate::error::EdgeError;
use crate::limits::IpSlot;
use crate::upstream::Retry;

pub fn router(edge: Arc<Edge>) -> Router {
    Router::new()
        .route("/v1/ws", get(ws_upgrade))
        .route("/v1/stream/{*name}", any(proxy))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(edge.clone(), count_requests))
        .with_state(edge)
}

/// A JSON error answer outside the handlers (admission refusals).
pub fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        serde_json::json!({ "error": { "code": code, "message": message, "party": "client", "retryable": true } });
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
    resp
}

async fn count_requests(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let resp = next.run(req).await;
    edge.metrics.http_requests.with_label_values(&[method.as_str(), resp.status().as_str()]).inc();
    resp
}

async fn metrics(State(edge): State<Arc<Edge>>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], edge.metrics.render()).into_response()
}

/// Ready while not draining and at least one state instance is ready.
async fn readyz(State(edge): State<Arc<Edge>>) -> Response {
    if edge.drain.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    let probe = edge
        .upstream
        .send("readyz", Retry::Idempotent, |c, b| {
            c.get(format!("{b}/readyz")).timeout(std::time::Duration::from_secs(2))
        })
        .await;
    match probe {
        Ok(r) if r.status().is_success() => "ready".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "no state service instance is ready").into_response(),
    }
}

async fn ws_upgrade(
    State(edge): State<Arc<Edge>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    slot: Option<Extension<Arc<IpSlot>>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    upgrade: IncomingUpgrade,
) -> Result<Response, EdgeError> {
    if edge.drain.is_cancelled() {
        edge.metrics.connections_refused.with_label_values(&["draining"]).inc();
        return Err(EdgeError::Draining);
    }
    let Ok(permit) = edge.connections.clone().try_acquire_owned() else {
        edge.metrics.connections_refused.with_label_values(&["capacity"]).inc();
        return Err(EdgeError::AtCapacity);
    };
    // A token on the upgrade is checked before upgrading, so a bad one gets a plain 401.
    let identity = match token_from_request(&headers, uri.query()) {
        Some((token, _)) => Some((edge.authenticate(Some(&token))?, Some(token))),
        None if edge.cfg.dev_anonymous => Some((edge.authenticate(None)?, None)),
        None => None,
    };
    let (mut resp, fut) = upgrade.upgrade().map_err(|e| EdgeError::BadRequest(e.to_string()))?;
    let offered = headers.get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
    if offered.split(',').any(|p| p.trim() == SUBPROTOCOL) {
        resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
    }
    let handshake = edge.cfg.handshake_timeout;
    let e = edge.clone();
    edge.sockets.spawn(async move {
        let _permit = permit;
        let _slot = slot;
        match tokio::time::timeout(handshake, fut).await {
            Ok(Ok(ws)) => crate::ws::conn::serve(e, ws, identity, peer).await,
            Ok(Err(err)) => tracing::debug!(%peer, error = %err, "upgrade failed"),
            Err(_) => {
                e.metrics.connections_refused.with_label_values(&["handshake_timeout"]).inc();
            }
        }
    });
    Ok(resp.map(|_| Body::empty()))
}

/// Hop-by-hop headers, and ones the edge sets itself, never forwarded.
const SKIP_REQUEST: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "authorization",
    "proxy-authorization",
    "content-length",
];
const SKIP_RESPONSE: &[&str] = &["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"];

/// The query without the `token` parameter (tokens never reach the state service or its logs).
fn strip_token(query: Option<&str>) -> String {
    let kept: Vec<&str> =
        query.unwrap_or("").split('&').filter(|p| !p.is_empty() && !p.starts_with("token=") && *p != "token").collect();
    if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) }
}

async fn proxy(State(edge): State<Arc<Edge>>, req: Request) -> Result<Response, EdgeError> {
    let (parts, body) = req.into_parts();
    let raw = parts.uri.path().trim_start_matches("/v1/stream/");
    let name = StreamName::parse(raw).map_err(|e| EdgeError::BadRequest(e.to_string()))?;
    if parts.method != Method::OPTIONS {
        let token = token_from_request(&parts.headers, parts.uri.query());
        let identity = edge.authenticate(token.as_ref().map(|(t, _)| t.as_str()))?;
        let write = matches!(parts.method, Method::PUT | Method::POST | Method::DELETE);
        let allowed = if write { identity.perms.can_write(&name) } else { identity.perms.can_read(&name) };
        if !allowed {
            return Err(EdgeError::Forbidden {
                stream: name.to_string(),
                access: if write { "write" } else { "read" },
            });
        }
        // A fork reads its source.
        if let Some(src) = parts.headers.get("stream-forked-from").and_then(|v| v.to_str().ok()) {
            let src = StreamName::parse(src.trim_start_matches("/v1/stream/"))
                .map_err(|e| EdgeError::BadRequest(e.to_string()))?;
            if !identity.perms.can_read(&src) {
                return Err(EdgeError::Forbidden { stream: src.to_string(), access: "read" });
            }
        }
    }
    let limit = edge.cfg.max_http_body_bytes;
    let body =
        http_body_util::Limited::new(body, limit).collect().await.map_err(|_| EdgeError::TooLarge(limit))?.to_bytes();
    let path = format!("/v1/stream/{name}{}", strip_token(parts.uri.query()));
    let host = parts.headers.get("host").cloned();
    let retry = if parts.method == Method::POST && parts.headers.get(h::PRODUCER_ID).is_none() {
        Retry::IfNotSent
    } else {
        Retry::Idempotent
    };
    let method = parts.method.clone();
    let resp = edge
        .upstream
        .send(name.as_str(), retry, |c, base| {
            let mut r = c.request(method.clone(), format!("{base}{path}"));
            for (k, v) in &parts.headers {
                if !SKIP_REQUEST.contains(&k.as_str()) {
                    r = r.header(k, v);
                }
            }
            if let Some(host) = &host {
                r = r.header("x-forwarded-host", host);
            }
            r.body(body.clone())
        })
        .await?;
    let mut out = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        if !SKIP_RESPONSE.contains(&k.as_str()) {
            out = out.header(HeaderName::from_bytes(k.as_str().as_bytes()).expect("valid"), v.as_bytes());
        }
    }
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    Ok(out.body(Body::from_stream(stream)).expect("status and headers come from a valid response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_leave_the_edge() {
        assert_eq!(strip_token(Some("offset=-1&token=abc&live=sse")), "?offset=-1&live=sse");
        assert_eq!(strip_token(Some("token=abc")), "");
        assert_eq!(strip_token(None), "");
        assert_eq!(strip_token(Some("tokenish=1")), "?tokenish=1");
    }
}
