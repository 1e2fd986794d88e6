//! The outbox as a redb table (`kafka_outbox_v1`: u64 sequence → event JSON) in the embedded
//! store's database file. Each operation is one write transaction; the hot log's writer thread
//! and the session store take the same write lock, which redb serialises.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{Outbox, OutboxEntry, OutboxId};
use crate::store::BackendError;

pub(crate) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("kafka_outbox_v1");

pub struct EmbeddedOutbox {
    db: Arc<Database>,
    /// fsync each write (the hot log's `fsync` setting).
    fsync: bool,
}

fn backend(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("outbox: {e}"))
}

impl EmbeddedOutbox {
    /// Opens (creating) the outbox table in `db`.
    pub fn open(db: Arc<Database>, fsync: bool) -> Result<Self, BackendError> {
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(OUTBOX).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(Self { db, fsync })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database, Durability) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let db = self.db.clone();
        let durability = if self.fsync { Durability::Immediate } else { Durability::None };
        tokio::task::spawn_blocking(move || f(&db, durability)).await.map_err(backend)?
    }
}

fn parse_id(id: &OutboxId) -> Option<u64> {
    id.0.parse().ok()
}

#[async_trait::async_trait]
impl Outbox for EmbeddedOutbox {
    async fn push(&self, events: &[Bytes], max: u64) -> Result<usize, BackendError> {
        let events = events.to_vec();
        self.blocking(move |db, durability| {
            let mut txn = db.begin_write().map_err(backend)?;
            txn.set_durability(durability);
            let accepted = {
                let mut table = txn.open_table(OUTBOX).map_err(backend)?;
                let held = table.len().map_err(backend)?;
                let room = usize::try_from(max.saturating_sub(held)).unwrap_or(usize::MAX);
                let next = table.last().map_err(backend)?.map_or(0, |(k, _)| k.value() + 1);
                let accepted = events.len().min(room);
                for (key, e) in (next..).zip(&events[..accepted]) {
                    table.insert(key, e.as_ref()).map_err(backend)?;
                }
                accepted
            };
            txn.commit().map_err(backend)?;
            Ok(accepted)
        })
        .await
    }

    async fn peek(&self, limit: usize) -> Result<Vec<OutboxEntry>, BackendError> {
        self.blocking(move |db, _| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(OUTBOX).map_err(backend)?;
            let mut out = Vec::new();
            for row in table.iter().map_err(backend)?.take(limit) {
                let (k, v) = row.map_err(backend)?;
                out.push(OutboxEntry {
                    id: OutboxId(k.value().to_string()),
                    payload: Bytes::copy_from_slice(v.value()),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn remove(&self, ids: &[OutboxId]) -> Result<(), BackendError> {
        let keys: Vec<u64> = ids.iter().filter_map(parse_id).collect();
        if keys.is_empty() {
            return Ok(());
        }
        self.blocking(move |db, durability| {
            let mut txn = db.begin_write().map_err(backend)?;
            txn.set_durability(durability);
            {
                let mut table = txn.open_table(OUTBOX).map_err(backend)?;
                for k in keys {
                    table.remove(k).map_err(backend)?;
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn depth(&self) -> Result<u64, BackendError> {
        self.blocking(|db, _| {
            let txn = db.begin_read().map_err(backend)?;
            txn.open_table(OUTBOX).map_err(backend)?.len().map_err(backend)
        })
        .await
    }

    /// One process owns the database file (redb locks it).
    async fn lease(&self, _holder: &str, _ttl: Duration) -> Result<bool, BackendError> {
        Ok(true)
    }

    fn tier(&self) -> &'static str {
        "embedded"
    }
}
