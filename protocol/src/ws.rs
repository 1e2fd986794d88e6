//! The client WebSocket protocol of `/v1/ws` (documented in docs/PROTOCOL.md).
//!
//! Text frames carry one JSON message each, tagged by `type`. A binary frame carries a
//! message whose payload is bytes: `header_len: u32` (big-endian), the JSON header (the same
//! message without `data`), then the payload. Stable, version 1: the welcome names it.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::{Offset, SessionId, StreamName};

/// Protocol version announced in the welcome.
pub const VERSION: u32 = 1;
/// Sub-protocol a server selects; browsers may also offer `tether.bearer.<jwt>` to carry a token.
pub const SUBPROTOCOL: &str = "tether.v1";
/// Prefix of the sub-protocol entry that carries a bearer token.
pub const BEARER_SUBPROTOCOL_PREFIX: &str = "tether.bearer.";

/// Offsets travel in their wire text form.
pub mod offset_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Offset;

    pub fn serialize<S: Serializer>(o: &Offset, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(o)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Offset, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Offset::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Where a subscription starts: `start`, `now`, or an offset (which names its epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    Start,
    Now,
    At(Offset),
}

impl Serialize for From {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            From::Start => s.serialize_str("start"),
            From::Now => s.serialize_str("now"),
            From::At(o) => s.collect_str(o),
        }
    }
}

impl<'de> Deserialize<'de> for From {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match raw.as_ref() {
            "start" | "-1" => Ok(From::Start),
            "now" => Ok(From::Now),
            other => Offset::parse(other).map(From::At).map_err(serde::de::Error::custom),
        }
    }
}

/// Idempotent-producer fields of a publish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Producer {
    pub id: String,
    pub epoch: u64,
    pub seq: u64,
}

/// Messages a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// First-frame authentication, or a fresh token on a long connection.
    Auth {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        token: String,
    },
    Subscribe {
        id: u64,
        stream: StreamName,
        from: From,
        /// Deliver every chunk in binary frames, even valid UTF-8.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        binary: bool,
    },
    Unsubscribe {
        id: u64,
        stream: StreamName,
    },
    /// `data` is the payload as text; binary payloads come in a binary frame instead.
    Publish {
        id: u64,
        stream: StreamName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        producer: Option<Producer>,
        /// Content type to create the stream with if it does not exist yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },
    /// Moves the session cursor: `offset` is the `next` of the last chunk the client has processed.
    Ack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        stream: StreamName,
        #[serde(with = "offset_text")]
        offset: Offset,
    },
    Resume {
        id: u64,
        session: SessionId,
    },
}

/// How a subscription began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// From `start` or `now`.
    Started,
    /// From the requested offset: nothing skipped, nothing repeated.
    Resumed,
}

/// Why a subscription cannot continue from where the client asked; the client must decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// The stream was deleted and recreated: the offset belongs to another incarnation.
    EpochChanged,
    /// The offset is older than what the archive retains.
    OffsetPastRetention,
    StreamDeleted,
    NotFound,
    /// The offset lies beyond the stream's tail.
    OffsetBeyondTail,
}

/// Messages the server sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Welcome {
        version: u32,
        session: SessionId,
        sub: String,
        edge: String,
        ping_interval_ms: u64,
        /// Milliseconds until the token expires, when it has an `exp`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_expires_in_ms: Option<u64>,
    },
    /// Success reply to a request without a more specific answer (auth, unsubscribe, ack).
    Ok {
        id: u64,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream: Option<StreamName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Subscribed {
        /// `None` when restored by `resume`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        stream: StreamName,
        verdict: Verdict,
        /// Offset of the first chunk that will be delivered.
        #[serde(with = "offset_text")]
        from: Offset,
    },
    Reset {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        stream: StreamName,
        reason: ResetReason,
        /// The offset the client asked for, when it named one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested: Option<String>,
    },
    /// One chunk. `data` is present in text frames; binary frames carry the payload after the header.
    Chunk {
        stream: StreamName,
        #[serde(with = "offset_text")]
        offset: Offset,
        #[serde(with = "offset_text")]
        next: Offset,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
    },
    /// The backlog is delivered; live chunks follow as they are appended.
    CaughtUp {
        stream: StreamName,
        #[serde(with = "offset_text")]
        next: Offset,
    },
    /// The stream ended: every chunk up to `next` was delivered and no more will come.
    Closed {
        stream: StreamName,
        #[serde(with = "offset_text")]
        next: Offset,
    },
    Published {
        id: u64,
        stream: StreamName,
        /// Where the chunk landed; absent for a duplicate the producer had already written.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        duplicate: bool,
    },
    Resumed {
        id: u64,
        session: SessionId,
        streams: Vec<StreamName>,
    },
    /// The token expires soon: send `auth` with a fresh one before `expires_in_ms`.
    TokenExpiring {
        expires_in_ms: u64,
    },
    /// This edge is going away: reconnect (to any edge) after `retry_after_ms`.
    Reconnect {
        retry_after_ms: u64,
        reason: String,
    },
}

/// Error codes of `error` replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Forbidden,
    Unauthorized,
    NotFound,
    Conflict,
    StreamClosed,
    PayloadTooLarge,
    RateLimited,
    TooManySubscriptions,
    AlreadySubscribed,
    NotSubscribed,
    SessionNotFound,
    Unavailable,
    Internal,
}

/// Close codes; each one is documented in docs/PROTOCOL.md with what a client should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCode {
    /// 1000: the client asked to close.
    Normal,
    /// 1009: a frame or message exceeded the size limit.
    MessageTooBig,
    /// 1011: internal error; reconnect with backoff.
    Internal,
    /// 1012: the edge is draining; reconnect (anywhere) after the announced delay.
    Restarting,
    /// 4000: unparsable or invalid message.
    BadMessage,
    /// 4001: the token was missing, malformed, forged or otherwise invalid.
    Unauthorized,
    /// 4002: no authentication arrived within the auth deadline.
    AuthTimeout,
    /// 4003: the token expired and no fresh one arrived.
    TokenExpired,
    /// 4004: a refreshed token names another user.
    SubjectChanged,
    /// 4008: nothing (not even a pong) arrived within the idle timeout.
    IdleTimeout,
    /// 4029: the connection is over a limit (publish flood); reconnect later.
    PolicyLimit,
    /// 4503: no state service instance is reachable; reconnect with backoff.
    UpstreamUnavailable,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::MessageTooBig => 1009,
            CloseCode::Internal => 1011,
            CloseCode::Restarting => 1012,
            CloseCode::BadMessage => 4000,
            CloseCode::Unauthorized => 4001,
            CloseCode::AuthTimeout => 4002,
            CloseCode::TokenExpired => 4003,
            CloseCode::SubjectChanged => 4004,
            CloseCode::IdleTimeout => 4008,
            CloseCode::PolicyLimit => 4029,
            CloseCode::UpstreamUnavailable => 4503,
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        [
            CloseCode::Normal,
            CloseCode::MessageTooBig,
            CloseCode::Internal,
            CloseCode::Restarting,
            CloseCode::BadMessage,
            CloseCode::Unauthorized,
            CloseCode::AuthTimeout,
            CloseCode::TokenExpired,
            CloseCode::SubjectChanged,
            CloseCode::IdleTimeout,
            CloseCode::PolicyLimit,
            CloseCode::UpstreamUnavailable,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    /// Whether reconnecting (with the same credentials) can help.
    pub fn retryable(self) -> bool {
        !matches!(self, CloseCode::Unauthorized | CloseCode::SubjectChanged | CloseCode::BadMessage)
    }
}

/// Builds a binary frame: header length, JSON header, payload.
pub fn encode_binary(header: &ServerMsg, payload: &[u8]) -> Bytes {
    encode_binary_json(&serde_json::to_vec(header).expect("messages serialise"), payload)
}

/// Same as [`encode_binary`] for a header already serialised (client publishes use it too).
pub fn encode_binary_json(header: &[u8], payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + header.len() + payload.len());
    out.put_u32(u32::try_from(header.len()).expect("headers are small"));
    out.put_slice(header);
    out.put_slice(payload);
    out.freeze()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("binary frame shorter than its header length")]
    Truncated,
}

/// Splits a binary frame into its JSON header and payload.
pub fn decode_binary(frame: &[u8]) -> Result<(&[u8], &[u8]), BinaryError> {
    let len = frame.get(..4).ok_or(BinaryError::Truncated)?;
    let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
    let rest = &frame[4..];
    if rest.len() < len {
        return Err(BinaryError::Truncated);
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Epoch;

    fn name() -> impl Strategy<Value = StreamName> {
        "[a-z]{1,8}(/[a-z0-9]{1,8}){0,2}".prop_map(|s| StreamName::parse(&s).expect("valid"))
    }

    fn offset() -> impl Strategy<Value = Offset> {
        (0u64..1 << 40, 1u64..u64::MAX).prop_map(|(i, e)| Offset::new(i, Epoch::new(e).expect("non-zero")))
    }

    fn client_msg() -> impl Strategy<Value = ClientMsg> {
        let from = prop_oneof![Just(From::Start), Just(From::Now), offset().prop_map(From::At)];
        prop_oneof![
            (any::<Option<u64>>(), "[ -~]{0,40}").prop_map(|(id, token)| ClientMsg::Auth { id, token }),
            (any::<u64>(), name(), from, any::<bool>()).prop_map(|(id, stream, from, binary)| ClientMsg::Subscribe {
                id,
                stream,
                from,
                binary
            }),
            (any::<u64>(), name()).prop_map(|(id, stream)| ClientMsg::Unsubscribe { id, stream }),
            (any::<u64>(), name(), any::<Option<String>>(), any::<Option<(String, u64, u64)>>()).prop_map(
                |(id, stream, data, p)| ClientMsg::Publish {
                    id,
                    stream,
                    data,
                    producer: p.map(|(id, epoch, seq)| Producer { id, epoch, seq }),
                    content_type: None,
                }
            ),
            (any::<Option<u64>>(), name(), offset()).prop_map(|(id, stream, offset)| ClientMsg::Ack {
                id,
                stream,
                offset
            }),
            (any::<u64>(), any::<u128>())
                .prop_map(|(id, s)| ClientMsg::Resume { id, session: SessionId::from_random(s) }),
        ]
    }

    fn server_msg() -> impl Strategy<Value = ServerMsg> {
        prop_oneof![
            (name(), offset(), offset(), any::<Option<String>>())
                .prop_map(|(stream, offset, next, data)| ServerMsg::Chunk { stream, offset, next, data }),
            (name(), offset()).prop_map(|(stream, next)| ServerMsg::Closed { stream, next }),
            (name(), offset()).prop_map(|(stream, next)| ServerMsg::CaughtUp { stream, next }),
            (any::<Option<u64>>(), name(), offset()).prop_map(|(id, stream, from)| ServerMsg::Subscribed {
                id,
                stream,
                verdict: Verdict::Resumed,
                from
            }),
            (name(), any::<Option<String>>()).prop_map(|(stream, requested)| ServerMsg::Reset {
                id: None,
                stream,
                reason: ResetReason::EpochChanged,
                requested
            }),
            (any::<u64>(), any::<String>())
                .prop_map(|(retry_after_ms, reason)| ServerMsg::Reconnect { retry_after_ms, reason }),
        ]
    }

    proptest! {
        #[test]
        fn client_messages_round_trip(m in client_msg()) {
            let text = serde_json::to_string(&m).expect("serialise");
            prop_assert_eq!(serde_json::from_str::<ClientMsg>(&text).expect("parse"), m);
        }

        #[test]
        fn server_messages_round_trip_in_binary_frames(m in server_msg(), payload in proptest::collection::vec(any::<u8>(), 0..100)) {
            let frame = encode_binary(&m, &payload);
            let (header, body) = decode_binary(&frame).expect("whole");
            prop_assert_eq!(serde_json::from_slice::<ServerMsg>(header).expect("parse"), m);
            prop_assert_eq!(body, &payload[..]);
        }
    }

    #[test]
    fn close_codes_are_distinct_and_reversible() {
        for c in [CloseCode::Normal, CloseCode::TokenExpired, CloseCode::Restarting, CloseCode::UpstreamUnavailable] {
            assert_eq!(CloseCode::from_code(c.code()), Some(c));
        }
        assert!(decode_binary(&[0, 0, 0, 9, 1]).is_err());
        let sub: ClientMsg = serde_json::from_str(r#"{"type":"subscribe","id":1,"stream":"a/b","from":"-1"}"#).unwrap();
        assert!(matches!(sub, ClientMsg::Subscribe { from: From::Start, .. }));
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"subscribe","id":1,"stream":"a/b","from":"x"}"#).is_err());
    }
}
