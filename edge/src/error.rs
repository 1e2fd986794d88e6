//! Errors of the edge's HTTP side, each saying who failed and whether a retry helps; the
//! status follows from that in one exhaustive match. (WebSocket failures map to close codes
//! in [`crate::ws::conn`].)

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;
use crate::upstream::UpstreamError;

/// Who caused a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Client,
    Upstream,
    Edge,
}

impl Party {
    fn as_str(self) -> &'static str {
        match self {
            Party::Client => "client",
            Party::Upstream => "upstream",
            Party::Edge => "edge",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("no {access} permission for stream {stream}")]
    Forbidden { stream: String, access: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("this edge is at its connection limit")]
    AtCapacity,
    #[error("this edge is draining; reconnect to another")]
    Draining,
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
}

impl EdgeError {
    pub fn party(&self) -> Party {
        match self {
            EdgeError::Auth(_) | EdgeError::Forbidden { .. } | EdgeError::BadRequest(_) | EdgeError::TooLarge(_) => {
                Party::Client
            }
            EdgeError::AtCapacity | EdgeError::Draining => Party::Edge,
            EdgeError::Upstream(_) => Party::Upstream,
        }
    }

    /// Whether the same request can succeed later (after a token refresh for 401).
    pub fn retryable(&self) -> bool {
        match self {
            EdgeError::Auth(_) | EdgeError::AtCapacity | EdgeError::Draining => true,
            EdgeError::Forbidden { .. } | EdgeError::BadRequest(_) | EdgeError::TooLarge(_) => false,
            EdgeError::Upstream(e) => e.retryable(),
        }
    }

    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            EdgeError::Auth(AuthError::Missing) => (StatusCode::UNAUTHORIZED, "token_missing"),
            EdgeError::Auth(AuthError::Expired) => (StatusCode::UNAUTHORIZED, "token_expired"),
            EdgeError::Auth(
                AuthError::TooLarge
                | AuthError::Malformed(_)
                | AuthError::AlgorithmNotAllowed(_)
                | AuthError::UnknownKid(_)
                | AuthError::NoKeyForAlgorithm(_)
                | AuthError::BadSignature
                | AuthError::NotYetValid
                | AuthError::WrongIssuer
                | AuthError::WrongAudience
                | AuthError::MissingExpiry
                | AuthError::MissingSubject
                | AuthError::BadPermissions(_),
            ) => (StatusCode::UNAUTHORIZED, "token_invalid"),
            EdgeError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            EdgeError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            EdgeError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            EdgeError::AtCapacity => (StatusCode::SERVICE_UNAVAILABLE, "edge_at_capacity"),
            EdgeError::Draining => (StatusCode::SERVICE_UNAVAILABLE, "edge_draining"),
            EdgeError::Upstream(UpstreamError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "state_unavailable")
            }
            EdgeError::Upstream(UpstreamError::Silent) => (StatusCode::GATEWAY_TIMEOUT, "state_timeout"),
            EdgeError::Upstream(
                UpstreamError::Transport(_) | UpstreamError::Framing(_) | UpstreamError::Status { .. },
            ) => (StatusCode::BAD_GATEWAY, "state_failed"),
        }
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = serde_json::json!({ "error": {
            "code": code,
            "message": self.to_string(),
            "party": self.party().as_str(),
            "retryable": self.retryable(),
        }});
        let mut resp = (status, Json(body)).into_response();
        let h = resp.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            let v = format!("Bearer error=\"invalid_token\", error_description=\"{code}\"");
            h.insert("www-authenticate", HeaderValue::from_str(&v).expect("ASCII"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert("retry-after", HeaderValue::from_static("1"));
        }
        h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        resp
    }
}
