//! The edge's accept loop: per-IP admission before any byte is parsed, a header-read
//! deadline (the handshake timeout), WebSocket upgrades, and graceful stop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::Edge;
use crate::http::refusal;

/// Accepts until `stop`, then waits for open connections (WebSockets end when the drain
/// tells them to) to finish.
pub async fn serve(listener: TcpListener, app: Router, edge: Arc<Edge>, stop: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(edge.cfg.handshake_timeout).keep_alive(true);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let slot = edge.per_ip.acquire(peer.ip()).map(Arc::new);
        let app = app.clone();
        let edge2 = edge.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let mut app = app.clone();
            let refused = slot.is_none();
            let edge = edge2.clone();
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            // An upgraded WebSocket outlives this HTTP connection: it keeps the slot.
            if let Some(s) = &slot {
                req.extensions_mut().insert(s.clone());
            }
            async move {
                if refused {
                    edge.metrics.connections_refused.with_label_values(&["per_ip"]).inc();
                    return Ok::<_, Infallible>(refusal(
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        "too_many_connections",
                        "too many connections from this address",
                    ));
                }
                Ok(app.call(req.map(axum::body::Body::new)).await.expect("infallible"))
            }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
