//! Reads archived chunks: manifest lookup, segment fetch, seek with the segment index.
//!
//! Manifests and decoded segments are immutable once listed, so they are cached by key
//! without invalidation (bounded by entry count).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tether_protocol::{Epoch, Segment, StreamName};

use super::{Archive, ArchiveError, Manifest, load_manifest, segment_key};
use crate::store::Chunk;

/// Most segments kept in the in-process cache.
const SEGMENT_CACHE_ENTRIES: usize = 256;

pub struct ArchiveReader {
    archive: Arc<dyn Archive>,
    segments: Mutex<HashMap<String, Bytes>>,
}

/// What the archive holds for a position.
pub enum ArchiveRead {
    Chunks(Vec<Chunk>),
    /// No manifest or no segment covers the position: past retention.
    Missing,
}

impl ArchiveReader {
    pub fn new(archive: Arc<dyn Archive>) -> Self {
        Self { archive, segments: Mutex::new(HashMap::new()) }
    }

    pub fn archive(&self) -> &Arc<dyn Archive> {
        &self.archive
    }

    pub async fn manifest(&self, name: &StreamName, epoch: Epoch) -> Result<Option<Manifest>, ArchiveError> {
        load_manifest(self.archive.as_ref(), name, epoch).await
    }

    /// Chunks from `from` (inclusive) to `until` (exclusive), at most `max_bytes` (at least one).
    pub async fn read(
        &self,
        name: &StreamName,
        epoch: Epoch,
        from: u64,
        until: u64,
        max_bytes: usize,
    ) -> Result<ArchiveRead, ArchiveError> {
        let Some(manifest) = self.manifest(name, epoch).await? else {
            return Ok(ArchiveRead::Missing);
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut at = from;
        while at < until && (out.is_empty() || bytes < max_bytes) {
            let Some(entry) = manifest.find(at) else { break };
            let key = segment_key(name, epoch, entry.first);
            let data = self.segment(&key).await?;
            let seg = Segment::decode_from(&data, at)
                .map_err(|e| ArchiveError::Corrupt { key: key.clone(), reason: e.to_string() })?;
            for rec in seg.records {
                if rec.index >= until || (!out.is_empty() && bytes + rec.payload.len() > max_bytes) {
                    return Ok(ArchiveRead::Chunks(out));
                }
                bytes += rec.payload.len();
                at = rec.index + 1;
                out.push(Chunk { index: rec.index, payload: rec.payload });
            }
        }
        Ok(if out.is_empty() { ArchiveRead::Missing } else { ArchiveRead::Chunks(out) })
    }

    async fn segment(&self, key: &str) -> Result<Bytes, ArchiveError> {
        if let Some(hit) = self.segments.lock().expect("segment cache lock").get(key) {
            return Ok(hit.clone());
        }
        let data = self.archive.get(key).await?.ok_or_else(|| ArchiveError::Corrupt {
            key: key.to_owned(),
            reason: "listed in the manifest but missing".into(),
        })?;
        let mut cache = self.segments.lock().expect("segment cache lock");
        if cache.len() >= SEGMENT_CACHE_ENTRIES {
            let victim = cache.keys().next().cloned();
            if let Some(v) = victim {
                cache.remove(&v);
            }
        }
        cache.insert(key.to_owned(), data.clone());
        Ok(data)
    }
}
