//! Reads archived chunks: manifest lookup, segment fetch, seek with the segment index.
//!
//! Segment objects are immutable once written (conditional create, never overwritten), so they
//! sit in a foyer hybrid cache (memory + disk) keyed by object key, coherent without any
//! invalidation. Every fetch is counted by the tier that served it: `memory`, `disk`, or the
//! archive itself (`archive`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use foyer::{BlockEngineConfig, DeviceBuilder, FsDeviceBuilder, HybridCache, HybridCacheBuilder, Source};
use tether_protocol::{Epoch, Segment, StreamName};

use super::{Archive, ArchiveError, Manifest, load_manifest, segment_key};
use crate::metrics::Metrics;
use crate::store::Chunk;

/// Sizes and place of the segment cache.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    pub memory_bytes: usize,
    pub disk_bytes: usize,
    pub dir: PathBuf,
}

/// Most manifests remembered in memory.
const MANIFEST_CACHE_ENTRIES: usize = 10_000;

pub struct ArchiveReader {
    archive: Arc<dyn Archive>,
    cache: HybridCache<String, Vec<u8>>,
    /// Manifests only ever grow, so a remembered one is right about every segment it lists;
    /// a position past its end is looked up again.
    manifests: Mutex<HashMap<(StreamName, Epoch), Arc<Manifest>>>,
    metrics: Arc<Metrics>,
}

/// What the archive holds for a position.
pub enum ArchiveRead {
    Chunks(Vec<Chunk>),
    /// No manifest or no segment covers the position: past retention.
    Missing,
}

impl ArchiveReader {
    pub async fn new(
        archive: Arc<dyn Archive>,
        cache: &CacheSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ArchiveError> {
        let failed = |e: &dyn std::fmt::Display| ArchiveError::Unavailable(format!("segment cache: {e}"));
        std::fs::create_dir_all(&cache.dir).map_err(|e| failed(&e))?;
        let device =
            FsDeviceBuilder::new(&cache.dir).with_capacity(cache.disk_bytes).build().map_err(|e| failed(&e))?;
        let cache = HybridCacheBuilder::new()
            .with_name("tether-segments")
            .memory(cache.memory_bytes)
            .with_weighter(|k: &String, v: &Vec<u8>| k.len() + v.len())
            .storage()
            .with_engine_config(BlockEngineConfig::new(device).with_block_size(16 << 20))
            .build()
            .await
            .map_err(|e| failed(&e))?;
        Ok(Self { archive, cache, manifests: Mutex::new(HashMap::new()), metrics })
    }

    /// Flushes and closes the cache.
    pub async fn close(&self) {
        if let Err(e) = self.cache.close().await {
            tracing::warn!(error = %e, "closing the segment cache failed");
        }
    }

    pub fn archive(&self) -> &Arc<dyn Archive> {
        &self.archive
    }

    pub async fn manifest(&self, name: &StreamName, epoch: Epoch) -> Result<Option<Manifest>, ArchiveError> {
        let loaded = load_manifest(self.archive.as_ref(), name, epoch).await?;
        if let Some(m) = &loaded {
            self.remember_manifest(m);
        }
        Ok(loaded)
    }

    /// Write-through from the archiver after it stored `manifest`.
    pub fn remember_manifest(&self, manifest: &Manifest) {
        let mut cache = self.manifests.lock().expect("manifest cache lock");
        if cache.len() >= MANIFEST_CACHE_ENTRIES {
            // Bounded: dropping an arbitrary entry only costs one more lookup later.
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert((manifest.name.clone(), manifest.epoch), Arc::new(manifest.clone()));
    }

    /// The remembered manifest when it covers `index`, else a fresh one.
    async fn manifest_covering(
        &self,
        name: &StreamName,
        epoch: Epoch,
        index: u64,
    ) -> Result<Option<Arc<Manifest>>, ArchiveError> {
        let remembered = self.manifests.lock().expect("manifest cache lock").get(&(name.clone(), epoch)).cloned();
        if let Some(m) = remembered.filter(|m| m.find(index).is_some()) {
            return Ok(Some(m));
        }
        Ok(self.manifest(name, epoch).await?.map(Arc::new))
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
        let Some(manifest) = self.manifest_covering(name, epoch, from).await? else {
            return Ok(ArchiveRead::Missing);
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut at = from;
        while at < until && (out.is_empty() || bytes < max_bytes) {
            let Some(entry) = manifest.find(at) else { break };
            let key = segment_key(name, epoch, entry.first);
            let Some(data) = self.segment(&key).await? else { break };
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

    /// Write-through from the archiver: a freshly sealed segment is served from the cache
    /// (also while the archive itself is unreachable).
    pub fn cache_segment(&self, key: &str, data: &Bytes) {
        self.cache.insert(key.to_owned(), data.to_vec());
    }

    async fn segment(&self, key: &str) -> Result<Option<Bytes>, ArchiveError> {
        let tier = |t: &str, r: &str| self.metrics.read_source.with_label_values(&[t, r]).inc();
        match self.cache.get(key).await {
            Ok(Some(entry)) => {
                tier(if entry.source() == Source::Disk { "disk" } else { "memory" }, "hit");
                return Ok(Some(Bytes::copy_from_slice(entry.value())));
            }
            Ok(None) => tier("cache", "miss"),
            // A broken cache only costs a fetch from the archive.
            Err(e) => tracing::warn!(error = %e, key, "segment cache read failed"),
        }
        let Some(data) = self.archive.get(key).await? else {
            // Listed but gone: the archive's own retention (bucket lifecycle) removed it.
            tier(self.archive.tier(), "miss");
            tracing::warn!(key, "segment listed in the manifest is gone from the archive (retention)");
            return Ok(None);
        };
        tier(self.archive.tier(), "hit");
        self.cache.insert(key.to_owned(), data.to_vec());
        Ok(Some(data))
    }
}
