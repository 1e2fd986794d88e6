//! Idempotent producer identity and the header triple `Producer-Id/-Epoch/-Seq`.

/// Largest epoch or sequence number accepted (2^53-1, for JavaScript clients).
pub const MAX_PRODUCER_NUMBER: u64 = (1 << 53) - 1;
/// Longest accepted producer id, in bytes.
pub const MAX_PRODUCER_ID_BYTES: usize = 256;

/// A non-empty, client-chosen producer identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ProducerId(String);

impl ProducerId {
    pub fn parse(raw: &str) -> Result<Self, ProducerError> {
        if raw.is_empty() {
            return Err(ProducerError::EmptyId);
        }
        if raw.len() > MAX_PRODUCER_ID_BYTES {
            return Err(ProducerError::IdTooLong(raw.len()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated `(id, epoch, seq)` triple from one request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProducerHeaders {
    pub id: ProducerId,
    pub epoch: u64,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error("Producer-Id, Producer-Epoch and Producer-Seq must be sent together")]
    Incomplete,
    #[error("Producer-Id must not be empty")]
    EmptyId,
    #[error("Producer-Id is {0} bytes; the limit is {MAX_PRODUCER_ID_BYTES}")]
    IdTooLong(usize),
    #[error("{header} must be a decimal integer between 0 and 2^53-1, got {value:?}")]
    BadNumber { header: &'static str, value: String },
}

impl ProducerHeaders {
    /// Validates the three optional header values; all absent is `Ok(None)`.
    pub fn parse(id: Option<&str>, epoch: Option<&str>, seq: Option<&str>) -> Result<Option<Self>, ProducerError> {
        match (id, epoch, seq) {
            (None, None, None) => Ok(None),
            (Some(id), Some(epoch), Some(seq)) => Ok(Some(Self {
                id: ProducerId::parse(id)?,
                epoch: parse_number("Producer-Epoch", epoch)?,
                seq: parse_number("Producer-Seq", seq)?,
            })),
            _ => Err(ProducerError::Incomplete),
        }
    }
}

/// Strict decimal: digits only, no sign, no leading zeros (except "0"), at most 2^53-1.
pub fn parse_number(header: &'static str, raw: &str) -> Result<u64, ProducerError> {
    let bad = || ProducerError::BadNumber { header, value: raw.chars().take(40).collect() };
    if raw.is_empty() || raw.len() > 16 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if raw.len() > 1 && raw.starts_with('0') {
        return Err(bad());
    }
    let n: u64 = raw.parse().map_err(|_| bad())?;
    if n > MAX_PRODUCER_NUMBER { Err(bad()) } else { Ok(n) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn triple_rules() {
        assert_eq!(ProducerHeaders::parse(None, None, None), Ok(None));
        assert_eq!(ProducerHeaders::parse(Some("p"), None, Some("1")), Err(ProducerError::Incomplete));
        assert_eq!(ProducerHeaders::parse(Some(""), Some("0"), Some("0")), Err(ProducerError::EmptyId));
        for bad in ["-1", "1.5", "abc", "+1", "9007199254740992", "01", " 1", "1e3"] {
            assert!(ProducerHeaders::parse(Some("p"), Some(bad), Some("0")).is_err(), "{bad}");
        }
        let ok = ProducerHeaders::parse(Some("p"), Some("9007199254740991"), Some("0")).unwrap().unwrap();
        assert_eq!(ok.epoch, MAX_PRODUCER_NUMBER);
    }

    proptest! {
        #[test]
        fn numbers_round_trip(n in 0u64..=MAX_PRODUCER_NUMBER) {
            prop_assert_eq!(parse_number("x", &n.to_string()), Ok(n));
        }
    }
}
