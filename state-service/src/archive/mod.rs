//! The segment archive: sealed, immutable segments plus one manifest per stream incarnation.
//!
//! Key layout (docs/FORMATS.md): `streams/{name}/{epoch}/seg-{first:016x}.tseg` and
//! `streams/{name}/{epoch}/manifest.json`. Segments are created with a conditional put, so a
//! retried or concurrent seal can never overwrite or duplicate one. The conformance suite in
//! `crate::conformance::archive` runs against every implementation.

pub mod archiver;
pub mod local;
pub mod reader;
pub mod s3;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tether_protocol::{Epoch, StreamName};

use crate::store::StreamRecord;

/// One sealed segment as listed in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    pub first: u64,
    /// One past the last chunk.
    pub end: u64,
    pub bytes: u64,
}

/// Per-incarnation manifest (format v1): the sealed segments in order, contiguous, plus a
/// snapshot of the stream record so the stream can be served after the hot log forgot it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub v: u8,
    pub name: StreamName,
    pub epoch: Epoch,
    pub segments: Vec<SegmentEntry>,
    pub record: StreamRecord,
}

impl Manifest {
    pub const VERSION: u8 = 1;

    /// Index one past the last archived chunk (the first archivable one if none).
    pub fn end(&self) -> Option<u64> {
        self.segments.last().map(|s| s.end)
    }

    /// The segment holding chunk `index`.
    pub fn find(&self, index: u64) -> Option<&SegmentEntry> {
        let i = self.segments.partition_point(|s| s.end <= index);
        self.segments.get(i).filter(|s| s.first <= index)
    }
}

pub fn segment_key(name: &StreamName, epoch: Epoch, first: u64) -> String {
    format!("streams/{name}/{epoch}/seg-{first:016x}.tseg")
}

pub fn manifest_key(name: &StreamName, epoch: Epoch) -> String {
    format!("streams/{name}/{epoch}/manifest.json")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// The key already held an object; it was left untouched.
    Exists,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive unavailable: {0}")]
    Unavailable(String),
    #[error("archived object {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
}

/// An object store for segments and manifests.
#[async_trait::async_trait]
pub trait Archive: Send + Sync + 'static {
    /// Creates `key` only if it does not exist yet.
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, ArchiveError>;
    /// Creates or replaces `key` atomically (readers see the old or the new object).
    async fn put(&self, key: &str, data: Bytes) -> Result<(), ArchiveError>;
    async fn get(&self, key: &str) -> Result<Option<Bytes>, ArchiveError>;
    /// Removes every object under `prefix`.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), ArchiveError>;
    /// Keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError>;

    /// Name of the tier for metrics labels (`local`, `s3`).
    fn tier(&self) -> &'static str;
}

pub async fn load_manifest(
    archive: &dyn Archive,
    name: &StreamName,
    epoch: Epoch,
) -> Result<Option<Manifest>, ArchiveError> {
    let key = manifest_key(name, epoch);
    match archive.get(&key).await? {
        None => Ok(None),
        Some(raw) => {
            serde_json::from_slice(&raw).map(Some).map_err(|e| ArchiveError::Corrupt { key, reason: e.to_string() })
        }
    }
}

/// Pointer to a stream's current incarnation, so the stream can be found from its name alone
/// after the hot log forgot it.
pub fn latest_key(name: &StreamName) -> String {
    format!("streams/{name}/latest.json")
}

#[derive(Serialize, Deserialize)]
struct Latest {
    v: u8,
    epoch: Epoch,
}

pub async fn store_latest(archive: &dyn Archive, name: &StreamName, epoch: Epoch) -> Result<(), ArchiveError> {
    let json = serde_json::to_vec(&Latest { v: 1, epoch }).expect("pointer serialises");
    archive.put(&latest_key(name), json.into()).await
}

pub async fn load_latest(archive: &dyn Archive, name: &StreamName) -> Result<Option<Epoch>, ArchiveError> {
    let key = latest_key(name);
    match archive.get(&key).await? {
        None => Ok(None),
        Some(raw) => serde_json::from_slice::<Latest>(&raw)
            .map(|l| Some(l.epoch))
            .map_err(|e| ArchiveError::Corrupt { key, reason: e.to_string() }),
    }
}

pub fn incarnation_prefix(name: &StreamName, epoch: Epoch) -> String {
    format!("streams/{name}/{epoch}/")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::store::{StreamConfig, StreamRecord};

    fn manifest(epoch: u64, ends: &[u64]) -> Manifest {
        let name = StreamName::parse("m/s").expect("valid");
        let epoch = Epoch::new(epoch).expect("non-zero");
        let mut first = 0;
        let segments = ends
            .iter()
            .map(|len| {
                let s = SegmentEntry { first, end: first + len, bytes: len * 10 };
                first += len;
                s
            })
            .collect();
        let record = StreamRecord {
            v: StreamRecord::VERSION,
            name: name.clone(),
            epoch,
            config: StreamConfig { content_type: "text/plain".into(), ttl_secs: None, expires_at: None },
            tail: first,
            hot_start: first,
            base: 0,
            fork: None,
            lineage: vec![],
            closed: true,
            closed_by: None,
            stream_seq: None,
            created_ms: 1,
            last_write_ms: 2,
            fork_refs: 0,
            soft_deleted: false,
            bytes: 3,
            hot_bytes: 0,
        };
        Manifest { v: Manifest::VERSION, name, epoch, segments, record }
    }

    proptest! {
        /// The persisted manifest format round-trips, and `find` locates every archived chunk.
        #[test]
        fn manifest_round_trip(epoch in 1u64..u64::MAX, lens in proptest::collection::vec(1u64..500, 0..20), probe in 0u64..12_000) {
            let m = manifest(epoch, &lens);
            let json = serde_json::to_vec(&m).expect("serialise");
            prop_assert_eq!(serde_json::from_slice::<Manifest>(&json).expect("parse"), m.clone());
            match m.find(probe) {
                Some(s) => prop_assert!(s.first <= probe && probe < s.end),
                None => prop_assert!(probe >= m.end().unwrap_or(0)),
            }
        }
    }
}
