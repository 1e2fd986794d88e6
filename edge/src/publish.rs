//! WebSocket publishes, one connection's at a time and in order (a producer's sequence
//! numbers must arrive in order). Each becomes a Durable Streams append on the state
//! service, carrying the client's idempotent-producer fields, so a retried publish is
//! written exactly once.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tether_protocol::StreamName;
use tether_protocol::headers as h;
use tether_protocol::ws::{ErrorCode, Producer, ServerMsg};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Edge;
use crate::upstream::{Retry, UpstreamError, ok_or_status};
use crate::ws::Outbound;

pub struct PublishJob {
    pub id: u64,
    pub stream: StreamName,
    pub data: Bytes,
    pub producer: Option<Producer>,
    /// Create the stream with this content type if it does not exist.
    pub content_type: Option<String>,
}

/// Runs a connection's publishes in order until the connection ends.
pub async fn publisher(edge: Arc<Edge>, out: Outbound, mut rx: mpsc::Receiver<PublishJob>, cancel: CancellationToken) {
    // Content types learnt per stream: appends must name the stream's own.
    let mut types: HashMap<StreamName, String> = HashMap::new();
    loop {
        let job = tokio::select! {
            j = rx.recv() => match j { Some(j) => j, None => return },
            _ = cancel.cancelled() => return,
        };
        let reply = publish(&edge, &job, &mut types).await;
        let outcome = match &reply {
            ServerMsg::Published { duplicate: true, .. } => "duplicate",
            ServerMsg::Published { .. } => "written",
            _ => "refused",
        };
        edge.metrics.publishes.with_label_values(&[outcome]).inc();
        if out.text(&reply).await.is_err() {
            return;
        }
    }
}

fn refused(job: &PublishJob, e: &UpstreamError) -> ServerMsg {
    let (code, retry_after_ms) = match e {
        UpstreamError::Status { status, code, retry_after, .. } => (
            match (*status, code.as_str()) {
                (_, "stream_closed") => ErrorCode::StreamClosed,
                (400, _) => ErrorCode::BadRequest,
                (403 | 409, _) => ErrorCode::Conflict,
                (404, _) => ErrorCode::NotFound,
                (410, _) => ErrorCode::NotFound,
                (413, _) => ErrorCode::PayloadTooLarge,
                (429, _) => ErrorCode::RateLimited,
                (503, _) => ErrorCode::Unavailable,
                _ => ErrorCode::Internal,
            },
            retry_after.map(|s| s * 1000),
        ),
        _ => (ErrorCode::Unavailable, Some(1000)),
    };
    ServerMsg::Error {
        id: Some(job.id),
        code,
        message: e.to_string(),
        stream: Some(job.stream.clone()),
        retry_after_ms,
    }
}

async fn content_type(
    edge: &Edge,
    job: &PublishJob,
    types: &mut HashMap<StreamName, String>,
) -> Result<String, UpstreamError> {
    if let Some(ct) = types.get(&job.stream) {
        return Ok(ct.clone());
    }
    let path = format!("/v1/stream/{}", job.stream);
    let t = edge.upstream.timeout();
    let head = edge
        .upstream
        .send(job.stream.as_str(), Retry::Idempotent, |c, b| c.head(format!("{b}{path}")).timeout(t))
        .await?;
    let ct = match ok_or_status(head).await {
        Ok(resp) => resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        Err(UpstreamError::Status { status: 404, .. }) if job.content_type.is_some() => {
            let ct = job.content_type.clone().expect("checked");
            let put = edge
                .upstream
                .send(job.stream.as_str(), Retry::Idempotent, |c, b| {
                    c.put(format!("{b}{path}")).header("content-type", &ct).timeout(t)
                })
                .await?;
            ok_or_status(put).await?;
            ct
        }
        Err(e) => return Err(e),
    };
    if types.len() >= 1024 {
        types.clear();
    }
    types.insert(job.stream.clone(), ct.clone());
    Ok(ct)
}

async fn publish(edge: &Edge, job: &PublishJob, types: &mut HashMap<StreamName, String>) -> ServerMsg {
    let ct = match content_type(edge, job, types).await {
        Ok(ct) => ct,
        Err(e) => return refused(job, &e),
    };
    let path = format!("/v1/stream/{}", job.stream);
    let t = edge.upstream.timeout();
    // With producer fields a retry is deduplicated by the state service, so any transport
    // failure may move on to the next instance; without them only a refused connection may.
    let retry = if job.producer.is_some() { Retry::Idempotent } else { Retry::IfNotSent };
    let resp = edge
        .upstream
        .send(job.stream.as_str(), retry, |c, b| {
            let mut r = c.post(format!("{b}{path}")).header("content-type", &ct).body(job.data.clone()).timeout(t);
            if let Some(p) = &job.producer {
                r = r
                    .header(h::PRODUCER_ID, &p.id)
                    .header(h::PRODUCER_EPOCH, p.epoch.to_string())
                    .header(h::PRODUCER_SEQ, p.seq.to_string());
            }
            r
        })
        .await;
    match resp {
        Ok(resp) => match ok_or_status(resp).await {
            Ok(resp) => {
                let duplicate = job.producer.is_some() && resp.status() == reqwest::StatusCode::NO_CONTENT;
                let next = resp.headers().get(h::STREAM_NEXT_OFFSET).and_then(|v| v.to_str().ok()).map(str::to_owned);
                ServerMsg::Published { id: job.id, stream: job.stream.clone(), next, duplicate }
            }
            Err(e) => {
                if e.code() == Some("content_type_mismatch") {
                    types.remove(&job.stream);
                }
                refused(job, &e)
            }
        },
        Err(e) => refused(job, &e),
    }
}
