//! Sessions in Redis: `tether:sess:{id}` (hash: sub, created_ms, ttl_secs) and
//! `tether:sess:{id}:c` (hash: stream → offset), both hash-tagged on the id and both given the
//! sliding TTL on every use. Ownership and expiry are checked inside one script per operation.

use std::collections::BTreeMap;

use deadpool_redis::Pool;
use redis::Script;
use tether_protocol::{SessionId, StreamName};

use super::{MAX_CURSORS, Session, SessionError, SessionStore, new_session_id};
use crate::store::BackendError;

/// Keys outlive the logical expiry by this much, so the `exp_ms` check (which follows the
/// caller's clock) decides, and Redis only garbage-collects.
const GC_MARGIN_MS: i64 = 60_000;

/// KEYS: meta, cursors. ARGV: sub, now_ms, gc_margin_ms, [stream, offset|"", max_cursors].
/// Returns nil (absent, expired or foreign), -1 (too many cursors), or
/// {created_ms, ttl_secs, stream, offset, ...}.
const TOUCH: &str = r#"
local meta, curs = KEYS[1], KEYS[2]
local now = tonumber(ARGV[2])
local f = redis.call('HMGET', meta, 'sub', 'exp_ms', 'ttl_secs', 'created_ms')
if f[1] ~= ARGV[1] or tonumber(f[2]) <= now then return false end
if ARGV[4] then
  if ARGV[5] == '' then
    redis.call('HDEL', curs, ARGV[4])
  else
    if redis.call('HEXISTS', curs, ARGV[4]) == 0 and redis.call('HLEN', curs) >= tonumber(ARGV[6]) then return -1 end
    redis.call('HSET', curs, ARGV[4], ARGV[5])
  end
end
local ttl_ms = tonumber(f[3]) * 1000
redis.call('HSET', meta, 'exp_ms', now + ttl_ms)
redis.call('PEXPIRE', meta, ttl_ms + tonumber(ARGV[3]))
redis.call('PEXPIRE', curs, ttl_ms + tonumber(ARGV[3]))
local out = { f[4], f[3] }
local flat = redis.call('HGETALL', curs)
for i = 1, #flat do out[#out + 1] = flat[i] end
return out
"#;

/// KEYS: meta, cursors. ARGV: sub, now_ms.
const DELETE: &str = r#"
local f = redis.call('HMGET', KEYS[1], 'sub', 'exp_ms')
if f[1] ~= ARGV[1] or tonumber(f[2]) <= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"#;

pub struct RedisSessions {
    pool: Pool,
    touch: Script,
    delete: Script,
}

fn keys(id: &SessionId) -> (String, String) {
    (format!("tether:sess:{{{id}}}"), format!("tether:sess:{{{id}}}:c"))
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("redis: {e}"))
}

impl RedisSessions {
    pub fn new(pool: Pool) -> Self {
        Self { pool, touch: Script::new(TOUCH), delete: Script::new(DELETE) }
    }

    async fn run_touch(
        &self,
        id: &SessionId,
        sub: &str,
        cursor: Option<(&StreamName, Option<&str>)>,
        now_ms: i64,
    ) -> Result<Session, SessionError> {
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        let (meta, curs) = keys(id);
        let mut inv = self.touch.key(&meta);
        inv.key(&curs).arg(sub).arg(now_ms).arg(GC_MARGIN_MS);
        if let Some((stream, offset)) = cursor {
            inv.arg(stream.as_str()).arg(offset.unwrap_or("")).arg(MAX_CURSORS);
        }
        let reply: redis::Value = inv.invoke_async(&mut *conn).await.map_err(unavailable)?;
        let items = match reply {
            redis::Value::Nil => return Err(SessionError::NotFound),
            redis::Value::Int(-1) => return Err(SessionError::TooManyCursors(MAX_CURSORS, MAX_CURSORS)),
            redis::Value::Array(items) => items,
            other => return Err(unavailable(format!("unexpected session reply {other:?}")).into()),
        };
        let text: Vec<String> =
            items.into_iter().map(|v| redis::from_redis_value(v).map_err(unavailable)).collect::<Result<_, _>>()?;
        let num = |s: &str| s.parse::<i64>().map_err(|e| BackendError::Corrupt(format!("session field: {e}")));
        let created_ms = num(text.first().map(String::as_str).unwrap_or(""))?;
        let ttl_secs = num(text.get(1).map(String::as_str).unwrap_or(""))? as u64;
        let mut cursors = BTreeMap::new();
        for pair in text[2..].chunks(2) {
            if let [stream, offset] = pair {
                let stream = StreamName::parse(stream).map_err(|e| BackendError::Corrupt(e.to_string()))?;
                cursors.insert(stream, offset.clone());
            }
        }
        Ok(Session {
            v: 1,
            id: id.clone(),
            sub: sub.to_owned(),
            cursors,
            created_ms,
            ttl_secs,
            expires_ms: now_ms + ttl_secs as i64 * 1000,
        })
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisSessions {
    async fn create(&self, sub: &str, ttl_secs: u64, now_ms: i64) -> Result<Session, SessionError> {
        let id = new_session_id();
        let (meta, _) = keys(&id);
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(&meta)
            .arg("sub")
            .arg(sub)
            .arg("created_ms")
            .arg(now_ms)
            .arg("ttl_secs")
            .arg(ttl_secs)
            .arg("exp_ms")
            .arg(now_ms + ttl_secs as i64 * 1000)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&meta)
            .arg(ttl_secs as i64 * 1000 + GC_MARGIN_MS)
            .ignore()
            .query_async::<()>(&mut *conn)
            .await
            .map_err(unavailable)?;
        Ok(Session {
            v: 1,
            id,
            sub: sub.to_owned(),
            cursors: BTreeMap::new(),
            created_ms: now_ms,
            ttl_secs,
            expires_ms: now_ms + ttl_secs as i64 * 1000,
        })
    }

    async fn get(&self, id: &SessionId, sub: &str, now_ms: i64) -> Result<Session, SessionError> {
        self.run_touch(id, sub, None, now_ms).await
    }

    async fn set_cursor(
        &self,
        id: &SessionId,
        sub: &str,
        stream: &StreamName,
        offset: Option<String>,
        now_ms: i64,
    ) -> Result<Session, SessionError> {
        self.run_touch(id, sub, Some((stream, offset.as_deref())), now_ms).await
    }

    async fn delete(&self, id: &SessionId, sub: &str, now_ms: i64) -> Result<(), SessionError> {
        let (meta, curs) = keys(id);
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        let deleted: i64 = self
            .delete
            .key(&meta)
            .key(&curs)
            .arg(sub)
            .arg(now_ms)
            .invoke_async(&mut *conn)
            .await
            .map_err(unavailable)?;
        if deleted == 1 { Ok(()) } else { Err(SessionError::NotFound) }
    }
}
