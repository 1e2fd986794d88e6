//! Client sessions, stored by the state service (never on the edge): creation, lookup for
//! `resume`, and cursor updates. Requests are routed by the user's `sub`, so one user's
//! sessions stay on one state instance when they are not shared through Redis.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use tether_protocol::{Offset, SessionId, StreamName};

use crate::upstream::{Retry, Upstream, UpstreamError, ok_or_status};

/// Header naming the verified user (the state service checks session ownership with it).
const SUB_HEADER: &str = "tether-sub";

#[derive(Deserialize)]
pub struct SessionDoc {
    pub id: SessionId,
    pub cursors: BTreeMap<StreamName, String>,
}

#[derive(Clone)]
pub struct Sessions {
    upstream: Arc<Upstream>,
    ttl_secs: u64,
}

impl Sessions {
    pub fn new(upstream: Arc<Upstream>, ttl: std::time::Duration) -> Self {
        Self { upstream, ttl_secs: ttl.as_secs().max(1) }
    }

    pub async fn create(&self, sub: &str) -> Result<SessionId, UpstreamError> {
        let body = serde_json::json!({ "ttl_secs": self.ttl_secs });
        let t = self.upstream.timeout();
        let resp = self
            .upstream
            .send(sub, Retry::IfNotSent, |c, base| {
                c.post(format!("{base}/v1/sessions")).header(SUB_HEADER, sub).json(&body).timeout(t)
            })
            .await?;
        let doc: SessionDoc = parse(ok_or_status(resp).await?).await?;
        Ok(doc.id)
    }

    /// The session's cursors, if it exists and belongs to `sub`.
    pub async fn get(&self, id: &SessionId, sub: &str) -> Result<SessionDoc, UpstreamError> {
        let t = self.upstream.timeout();
        let resp = self
            .upstream
            .send(sub, Retry::Idempotent, |c, base| {
                c.get(format!("{base}/v1/sessions/{id}")).header(SUB_HEADER, sub).timeout(t)
            })
            .await?;
        parse(ok_or_status(resp).await?).await
    }

    /// Sets (or with `None` removes) one stream's cursor.
    pub async fn set_cursor(
        &self,
        id: &SessionId,
        sub: &str,
        stream: &StreamName,
        offset: Option<Offset>,
    ) -> Result<(), UpstreamError> {
        let body = serde_json::json!({ "stream": stream, "offset": offset.map(|o| o.to_string()) });
        let t = self.upstream.timeout();
        let resp = self
            .upstream
            .send(sub, Retry::Idempotent, |c, base| {
                c.post(format!("{base}/v1/sessions/{id}/cursors")).header(SUB_HEADER, sub).json(&body).timeout(t)
            })
            .await?;
        ok_or_status(resp).await.map(drop)
    }

    pub async fn delete(&self, id: &SessionId, sub: &str) -> Result<(), UpstreamError> {
        let t = self.upstream.timeout();
        let resp = self
            .upstream
            .send(sub, Retry::Idempotent, |c, base| {
                c.delete(format!("{base}/v1/sessions/{id}")).header(SUB_HEADER, sub).timeout(t)
            })
            .await?;
        ok_or_status(resp).await.map(drop)
    }
}

async fn parse<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, UpstreamError> {
    let bytes = resp.bytes().await.map_err(|e| UpstreamError::Transport(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Transport(format!("bad session document: {e}")))
}
