//! The accept loop: HTTP/1.1 for clients and HTTP/2 with prior knowledge (h2c) for edges,
//! which multiplex all their reads, appends and live subscriptions over a handful of
//! connections. Shutdown stops accepting and lets in-flight requests finish.

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

/// Concurrent HTTP/2 streams per connection. Each live subscription of an edge holds one, so
/// the limit is far above hyper's default of 200 (an edge with thousands of followed streams
/// spreads them over a few connections).
pub const MAX_CONCURRENT_STREAMS: u32 = 16_384;

/// Serves `app` on `listener` until `shutdown`, then waits for open connections to finish
/// their in-flight requests (the caller bounds that wait).
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // Edges cancel requests in bulk (a thousand clients leaving cancels their catch-up reads):
    // hyper's rapid-reset guards (20 pending-accept resets, 1024 local-error resets) would answer
    // that with GOAWAY and fail every other request on the connection. Edges are trusted internal
    // peers, so the guards sit far higher (still bounded).
    builder
        .http2()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(Some(MAX_CONCURRENT_STREAMS as usize))
        .max_local_error_reset_streams(Some(MAX_CONCURRENT_STREAMS as usize * 4))
        .enable_connect_protocol();
    builder.http1().keep_alive(true);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: keep serving the connections we have.
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let mut app = app.clone();
            async move { Ok::<_, Infallible>(app.call(req.map(axum::body::Body::new)).await.expect("infallible")) }
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
