//! Every error the HTTP API can answer, and the one exhaustive map from error to status,
//! JSON body and protocol headers.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tether_protocol::headers as h;
use tether_protocol::{Offset, OffsetError, ProducerError, StreamNameError};

use crate::archive::ArchiveError;
use crate::session::SessionError;
use crate::store::{AppendError, BackendError, CreateError, DeleteError};
use crate::streams::ReadError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Name(#[from] StreamNameError),
    #[error(transparent)]
    Offset(#[from] OffsetError),
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error("{0}")]
    BadHeader(String),
    #[error("{0}")]
    BadQuery(String),
    #[error("{0}")]
    BadBody(String),
    #[error("request body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request names {got} streams; the limit is {limit}")]
    TooManyStreams { got: usize, limit: usize },
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Create(#[from] CreateError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Delete(#[from] DeleteError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

fn backend_status(e: &BackendError) -> (StatusCode, &'static str) {
    match e {
        BackendError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
        BackendError::Corrupt(_) => (StatusCode::INTERNAL_SERVER_ERROR, "storage_corrupt"),
    }
}

fn archive_status(e: &ArchiveError) -> (StatusCode, &'static str) {
    match e {
        ArchiveError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "archive_unavailable"),
        ArchiveError::Corrupt { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "archive_corrupt"),
    }
}

impl ApiError {
    /// Status, stable error code, and protocol headers for this error.
    fn parts(&self) -> (StatusCode, &'static str, HeaderMap) {
        let mut headers = HeaderMap::new();
        let mut set = |k: &'static str, v: String| {
            headers.insert(k, HeaderValue::from_str(&v).expect("header values are ASCII"));
        };
        let (status, code) = match self {
            ApiError::Name(_) => (StatusCode::BAD_REQUEST, "invalid_stream_name"),
            ApiError::Offset(_) => (StatusCode::BAD_REQUEST, "invalid_offset"),
            ApiError::Producer(_) => (StatusCode::BAD_REQUEST, "invalid_producer_headers"),
            ApiError::BadHeader(_) => (StatusCode::BAD_REQUEST, "invalid_header"),
            ApiError::BadQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::BadBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            ApiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::TooManyStreams { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_streams"),
            ApiError::ShuttingDown => {
                set("retry-after", "1".into());
                (StatusCode::SERVICE_UNAVAILABLE, "shutting_down")
            }
            ApiError::Create(e) => match e {
                CreateError::ConfigMismatch => (StatusCode::CONFLICT, "config_mismatch"),
                CreateError::NameSoftDeleted => (StatusCode::CONFLICT, "name_soft_deleted"),
                CreateError::SourceNotFound(_) => (StatusCode::NOT_FOUND, "fork_source_not_found"),
                CreateError::SourceSoftDeleted(_) => (StatusCode::CONFLICT, "fork_source_deleted"),
                CreateError::ForkContentTypeMismatch => (StatusCode::CONFLICT, "content_type_mismatch"),
                CreateError::ForkOffsetBeyondTail => (StatusCode::BAD_REQUEST, "fork_offset_beyond_tail"),
                CreateError::ForkOffsetForeign => (StatusCode::BAD_REQUEST, "fork_offset_foreign"),
                CreateError::SubOffsetOvershoot(_) => (StatusCode::BAD_REQUEST, "fork_sub_offset_overshoot"),
                CreateError::Backend(b) => backend_status(b),
            },
            ApiError::Append(e) => match e {
                AppendError::NotFound => (StatusCode::NOT_FOUND, "stream_not_found"),
                AppendError::Gone => (StatusCode::GONE, "stream_deleted"),
                AppendError::Closed { tail, epoch } => {
                    set(h::STREAM_CLOSED, "true".into());
                    set(h::STREAM_NEXT_OFFSET, Offset::new(*tail, *epoch).to_string());
                    (StatusCode::CONFLICT, "stream_closed")
                }
                AppendError::ContentTypeMismatch => (StatusCode::CONFLICT, "content_type_mismatch"),
                AppendError::SeqRegression { .. } => (StatusCode::CONFLICT, "stream_seq_regression"),
                AppendError::StaleProducerEpoch { current, .. } => {
                    set(h::PRODUCER_EPOCH, current.to_string());
                    (StatusCode::FORBIDDEN, "stale_producer_epoch")
                }
                AppendError::NewEpochBadSeq(_) => (StatusCode::BAD_REQUEST, "new_epoch_must_start_at_zero"),
                AppendError::ProducerSeqGap { expected, received } => {
                    set(h::PRODUCER_EXPECTED_SEQ, expected.to_string());
                    set(h::PRODUCER_RECEIVED_SEQ, received.to_string());
                    (StatusCode::CONFLICT, "producer_seq_gap")
                }
                AppendError::Backpressure => {
                    set("retry-after", "1".into());
                    (StatusCode::SERVICE_UNAVAILABLE, "archive_backlog_full")
                }
                AppendError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "stream_overloaded"),
                AppendError::Backend(b) => backend_status(b),
            },
            ApiError::Read(e) => match e {
                ReadError::NotFound => (StatusCode::NOT_FOUND, "stream_not_found"),
                ReadError::Gone => (StatusCode::GONE, "stream_deleted"),
                ReadError::OffsetGone(_) => (StatusCode::GONE, "offset_past_retention"),
                ReadError::StaleOffset(_) => (StatusCode::GONE, "offset_epoch_mismatch"),
                ReadError::OffsetBeyondTail(_) => (StatusCode::BAD_REQUEST, "offset_beyond_tail"),
                ReadError::Backend(b) => backend_status(b),
                ReadError::Archive(a) => archive_status(a),
            },
            ApiError::Delete(e) => match e {
                DeleteError::NotFound => (StatusCode::NOT_FOUND, "stream_not_found"),
                DeleteError::Gone => (StatusCode::GONE, "stream_deleted"),
                DeleteError::Backend(b) => backend_status(b),
            },
            ApiError::Session(e) => match e {
                SessionError::NotFound => (StatusCode::NOT_FOUND, "session_not_found"),
                SessionError::TooManyCursors(..) => (StatusCode::UNPROCESSABLE_ENTITY, "too_many_cursors"),
                SessionError::Backend(b) => backend_status(b),
            },
            ApiError::Backend(b) => backend_status(b),
            ApiError::Archive(a) => archive_status(a),
        };
        if status == StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key("retry-after") {
            headers.insert("retry-after", HeaderValue::from_static("1"));
        }
        (status, code, headers)
    }

    /// Stable code for metrics labels.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    /// The HTTP status this error answers.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, headers) = self.parts();
        if status.is_server_error() {
            tracing::warn!(%status, code, error = %self, "request failed");
        }
        let body = json!({ "error": { "code": code, "message": self.to_string() } });
        (status, headers, axum::Json(body)).into_response()
    }
}
