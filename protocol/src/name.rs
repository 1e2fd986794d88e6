//! `StreamName`: the validated name of a stream, as it appears after `/v1/stream/`.

use std::fmt;

/// Longest accepted stream name, in bytes.
pub const MAX_STREAM_NAME_BYTES: usize = 256;

/// 1-256 bytes of `[A-Za-z0-9._~:/-]`, `/`-separated segments, none of them empty, `.` or `..`,
/// no leading or trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct StreamName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamNameError {
    #[error("stream name is empty")]
    Empty,
    #[error("stream name is {0} bytes; the limit is {MAX_STREAM_NAME_BYTES}")]
    TooLong(usize),
    #[error("stream name contains {0:?}; allowed are A-Z a-z 0-9 . _ ~ : / -")]
    BadChar(char),
    #[error("stream name must not start or end with '/'")]
    EdgeSlash,
    #[error("stream name has an empty, '.' or '..' segment")]
    BadSegment,
}

impl StreamName {
    pub fn parse(raw: &str) -> Result<Self, StreamNameError> {
        if raw.is_empty() {
            return Err(StreamNameError::Empty);
        }
        if raw.len() > MAX_STREAM_NAME_BYTES {
            return Err(StreamNameError::TooLong(raw.len()));
        }
        if let Some(c) =
            raw.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | ':' | '/' | '-')))
        {
            return Err(StreamNameError::BadChar(c));
        }
        if raw.starts_with('/') || raw.ends_with('/') {
            return Err(StreamNameError::EdgeSlash);
        }
        if raw.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(StreamNameError::BadSegment);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for StreamName {
    type Err = StreamNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for StreamName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in ["a", "chat/123", "a.b~c:d-e_f", "x/y/z", &"a".repeat(256)] {
            assert!(StreamName::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(StreamName::parse(""), Err(StreamNameError::Empty));
        assert_eq!(StreamName::parse(&"a".repeat(257)), Err(StreamNameError::TooLong(257)));
        assert_eq!(StreamName::parse("a b"), Err(StreamNameError::BadChar(' ')));
        assert_eq!(StreamName::parse("/a"), Err(StreamNameError::EdgeSlash));
        assert_eq!(StreamName::parse("a/"), Err(StreamNameError::EdgeSlash));
        for bad in ["a//b", "a/./b", "a/../b", ".", ".."] {
            assert_eq!(StreamName::parse(bad), Err(StreamNameError::BadSegment), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn serde_round_trip(raw in "[A-Za-z0-9._~:-]{1,20}(/[A-Za-z0-9_~:-][A-Za-z0-9._~:-]{0,10}){0,3}") {
            if let Ok(name) = StreamName::parse(&raw) {
                let json = serde_json::to_string(&name).unwrap();
                let back: StreamName = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back, name);
            }
        }

        #[test]
        fn never_panics(raw in ".{0,300}") {
            let _ = StreamName::parse(&raw);
        }
    }
}
