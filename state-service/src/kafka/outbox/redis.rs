//! The outbox in Redis, shared by every instance: the stream `tether:outbox` (entries
//! `e` → event JSON, ids assigned by Redis) and the relay lease `tether:outbox:lease` (see
//! docs/FORMATS.md). The bound is checked and the events appended in one script, so concurrent
//! writers cannot overshoot it; one instance at a time relays (the lease), so events are not
//! sent twice except after a relay dies between sending and removing.

use std::time::Duration;

use bytes::Bytes;
use deadpool_redis::Pool;
use redis::{Script, Value};

use super::{Outbox, OutboxEntry, OutboxId};
use crate::store::BackendError;

pub const OUTBOX_KEY: &str = "tether:outbox";
pub const LEASE_KEY: &str = "tether:outbox:lease";

/// KEYS: outbox. ARGV: max, event... Returns how many were appended.
const PUSH: &str = r#"
local held = redis.call('XLEN', KEYS[1])
local max = tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  if held + n >= max then break end
  redis.call('XADD', KEYS[1], '*', 'e', ARGV[i])
  n = n + 1
end
return n
"#;

/// KEYS: lease. ARGV: holder, ttl_ms. Returns 1 when `holder` holds the lease afterwards.
const LEASE: &str = r#"
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

pub struct RedisOutbox {
    pool: Pool,
    push: Script,
    lease: Script,
    /// Bound of every operation (`redis_timeout`).
    timeout: Duration,
}

fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("redis outbox: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> BackendError {
    BackendError::Corrupt(format!("redis outbox: {e}"))
}

impl RedisOutbox {
    pub fn new(pool: Pool, timeout: Duration) -> Self {
        Self { pool, push: Script::new(PUSH), lease: Script::new(LEASE), timeout }
    }

    async fn timed<T>(&self, fut: impl Future<Output = redis::RedisResult<T>>) -> Result<T, BackendError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(unavailable("operation timed out")),
        }
    }

    async fn conn(&self) -> Result<deadpool_redis::Connection, BackendError> {
        self.pool.get().await.map_err(unavailable)
    }
}

/// Parses an `XRANGE` reply: `[[id, [field, value, ...]], ...]`.
fn entries(v: Value) -> Result<Vec<OutboxEntry>, BackendError> {
    let Value::Array(rows) = v else { return Err(corrupt("XRANGE did not answer an array")) };
    rows.into_iter()
        .map(|row| {
            let Value::Array(mut parts) = row else { return Err(corrupt("entry is not an array")) };
            if parts.len() != 2 {
                return Err(corrupt("entry is not [id, fields]"));
            }
            let fields = parts.pop().expect("two parts");
            let id: String = redis::from_redis_value(parts.pop().expect("two parts")).map_err(corrupt)?;
            let fields: Vec<Vec<u8>> = redis::from_redis_value(fields).map_err(corrupt)?;
            let payload = fields
                .chunks(2)
                .find(|kv| kv.first().map(Vec::as_slice) == Some(b"e"))
                .and_then(|kv| kv.get(1))
                .ok_or_else(|| corrupt(format!("entry {id} has no event")))?;
            Ok(OutboxEntry { id: OutboxId(id), payload: Bytes::copy_from_slice(payload) })
        })
        .collect()
}

#[async_trait::async_trait]
impl Outbox for RedisOutbox {
    async fn push(&self, events: &[Bytes], max: u64) -> Result<usize, BackendError> {
        let mut conn = self.conn().await?;
        let mut inv = self.push.key(OUTBOX_KEY);
        inv.arg(max);
        for e in events {
            inv.arg(e.as_ref());
        }
        let n: usize = self.timed(inv.invoke_async(&mut *conn)).await?;
        Ok(n)
    }

    async fn peek(&self, limit: usize) -> Result<Vec<OutboxEntry>, BackendError> {
        let mut conn = self.conn().await?;
        let v: Value = self
            .timed(
                redis::cmd("XRANGE").arg(OUTBOX_KEY).arg("-").arg("+").arg("COUNT").arg(limit).query_async(&mut *conn),
            )
            .await?;
        entries(v)
    }

    async fn remove(&self, ids: &[OutboxId]) -> Result<(), BackendError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let mut cmd = redis::cmd("XDEL");
        cmd.arg(OUTBOX_KEY);
        for id in ids {
            cmd.arg(id.as_str());
        }
        let _: i64 = self.timed(cmd.query_async(&mut *conn)).await?;
        Ok(())
    }

    async fn depth(&self) -> Result<u64, BackendError> {
        let mut conn = self.conn().await?;
        self.timed(redis::cmd("XLEN").arg(OUTBOX_KEY).query_async(&mut *conn)).await
    }

    async fn lease(&self, holder: &str, ttl: Duration) -> Result<bool, BackendError> {
        let mut conn = self.conn().await?;
        let mut inv = self.lease.key(LEASE_KEY);
        inv.arg(holder).arg(ttl.as_millis() as u64);
        let held: i64 = self.timed(inv.invoke_async(&mut *conn)).await?;
        Ok(held == 1)
    }

    fn tier(&self) -> &'static str {
        "redis"
    }
}
