//! Local-directory archive: each key is a file under the root; writes go to a temporary file,
//! are fsynced, then linked (conditional create) or renamed (replace) into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{Archive, ArchiveError, PutOutcome};

pub struct LocalArchive {
    root: PathBuf,
}

impl LocalArchive {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, ArchiveError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(unavailable)?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, ArchiveError> {
        if key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(ArchiveError::Unavailable(format!("invalid archive key {key:?}")));
        }
        Ok(self.root.join(key))
    }
}

fn unavailable(e: std::io::Error) -> ArchiveError {
    ArchiveError::Unavailable(e.to_string())
}

/// Writes `data` to a fresh temporary file next to `dest` and fsyncs it.
fn write_temp(dest: &Path, data: &[u8]) -> std::io::Result<PathBuf> {
    let dir = dest.parent().expect("archive paths have a parent");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{:016x}", rand::random::<u64>()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(tmp)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path.parent().expect("archive paths have a parent"))?.sync_all()
}

#[async_trait::async_trait]
impl Archive for LocalArchive {
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, ArchiveError> {
        let dest = self.path(key)?;
        tokio::task::spawn_blocking(move || {
            let tmp = write_temp(&dest, &data)?;
            // hard_link fails if `dest` exists: an atomic create-if-absent.
            let linked = std::fs::hard_link(&tmp, &dest);
            std::fs::remove_file(&tmp)?;
            match linked {
                Ok(()) => {
                    sync_dir(&dest)?;
                    Ok(PutOutcome::Created)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(PutOutcome::Exists),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| ArchiveError::Unavailable(e.to_string()))?
        .map_err(unavailable)
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), ArchiveError> {
        let dest = self.path(key)?;
        tokio::task::spawn_blocking(move || {
            let tmp = write_temp(&dest, &data)?;
            std::fs::rename(&tmp, &dest)?;
            sync_dir(&dest)
        })
        .await
        .map_err(|e| ArchiveError::Unavailable(e.to_string()))?
        .map_err(unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, ArchiveError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), ArchiveError> {
        let dir = self.path(prefix.trim_end_matches('/'))?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn tier(&self) -> &'static str {
        "local"
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let entry = entry?;
                    let path = entry.path();
                    if entry.file_type()?.is_dir() {
                        stack.push(path);
                    } else if let Ok(rel) = path.strip_prefix(&root) {
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(&prefix) && !key.rsplit('/').next().unwrap_or("").starts_with(".tmp-") {
                            out.push(key);
                        }
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| ArchiveError::Unavailable(e.to_string()))?
        .map_err(unavailable)
    }
}
