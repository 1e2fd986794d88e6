//! The protocol rules every backend applies inside its atomic write: idempotent create,
//! fork resolution, and the append decision (closure, content type, producer, `Stream-Seq`).
//!
//! Pure functions over records, so each backend (and its Lua twin for Redis) is checked by
//! the same unit and conformance tests.

use bytes::Bytes;
use serde_json::value::RawValue;

use super::{
    AppendError, AppendKind, AppendRequest, Closer, CreateError, CreateRequest, ForkOrigin, LineageEntry,
    ProducerState, SeqMode, StreamConfig, StreamRecord, media_type_eq,
};
use tether_protocol::Epoch;

/// What an accepted append does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub kind: AppendKind,
    /// New producer state to store with the write.
    pub producer: Option<ProducerState>,
    /// `(epoch, seq)` to echo to the producer.
    pub producer_ack: Option<(u64, u64)>,
}

/// Decides an append against the current record and producer state, in protocol precedence:
/// producer fencing, closed stream, content type, producer sequence (per [`SeqMode`]),
/// `Stream-Seq`.
pub fn decide_append(
    rec: &StreamRecord,
    producer: Option<&ProducerState>,
    req: &AppendRequest,
) -> Result<Decision, AppendError> {
    if rec.soft_deleted {
        return Err(AppendError::Gone);
    }
    if let (Some(p), Some(state)) = (&req.producer, producer)
        && p.epoch < state.epoch
    {
        return Err(AppendError::StaleProducerEpoch { current: state.epoch, received: p.epoch });
    }
    if rec.closed {
        if let (Some(p), Some(closer)) = (&req.producer, &rec.closed_by)
            && closer.producer == p.id.as_str()
            && closer.epoch == p.epoch
            && closer.seq == p.seq
        {
            return Ok(Decision { kind: AppendKind::Duplicate, producer: None, producer_ack: Some((p.epoch, p.seq)) });
        }
        if req.close && req.payload.is_none() {
            return Ok(Decision { kind: AppendKind::AlreadyClosed, producer: None, producer_ack: None });
        }
        return Err(AppendError::Closed { tail: rec.tail, epoch: rec.epoch });
    }
    if req.payload.is_some() {
        match &req.content_type {
            Some(ct) if media_type_eq(ct, &rec.config.content_type) => {}
            _ => return Err(AppendError::ContentTypeMismatch),
        }
    }
    let mut decision = Decision { kind: AppendKind::Written, producer: None, producer_ack: None };
    if let Some(p) = &req.producer {
        let contiguous = req.seq_mode == SeqMode::Contiguous;
        match producer {
            Some(state) if p.epoch == state.epoch => {
                if p.seq <= state.last_seq {
                    return Ok(Decision {
                        kind: AppendKind::Duplicate,
                        producer: None,
                        producer_ack: Some((state.epoch, state.last_seq)),
                    });
                }
                if contiguous && p.seq != state.last_seq + 1 {
                    return Err(AppendError::ProducerSeqGap { expected: state.last_seq + 1, received: p.seq });
                }
            }
            Some(_) if contiguous && p.seq != 0 => return Err(AppendError::NewEpochBadSeq(p.seq)),
            None if contiguous && p.seq != 0 => {
                return Err(AppendError::ProducerSeqGap { expected: 0, received: p.seq });
            }
            _ => {}
        }
        decision.producer = Some(ProducerState { epoch: p.epoch, last_seq: p.seq });
        decision.producer_ack = Some((p.epoch, p.seq));
    }
    if let (Some(seq), Some(last)) = (&req.stream_seq, &rec.stream_seq)
        && seq.as_bytes() <= last.as_bytes()
    {
        return Err(AppendError::SeqRegression { last: last.clone(), received: seq.clone() });
    }
    Ok(decision)
}

/// Applies an accepted [`Decision`] to the record (the caller writes the chunk at the old tail).
pub fn apply_append(rec: &mut StreamRecord, req: &AppendRequest, now_ms: i64) {
    if let Some(payload) = &req.payload {
        rec.tail += 1;
        rec.bytes += payload.len() as u64;
        rec.hot_bytes += payload.len() as u64;
    }
    if let Some(seq) = &req.stream_seq {
        rec.stream_seq = Some(seq.clone());
    }
    if req.close {
        rec.closed = true;
        rec.closed_by =
            req.producer.as_ref().map(|p| Closer { producer: p.id.as_str().to_owned(), epoch: p.epoch, seq: p.seq });
    }
    rec.last_write_ms = now_ms;
}

/// True when a `PUT` for an existing stream is an idempotent repeat (200) rather than a
/// conflict (409). A fork re-creation must name the same source and divergence point.
pub fn same_create(existing: &StreamRecord, req: &CreateRequest, fork_at: Option<u64>) -> bool {
    let ct_ok = (!req.explicit_content_type && existing.fork.is_some())
        || media_type_eq(&existing.config.content_type, &req.config.content_type);
    let fork_ok = match (&existing.fork, &req.fork) {
        (None, None) => true,
        (Some(origin), Some(spec)) => {
            origin.source == spec.source
                && origin.sub_offset == spec.sub_offset
                && fork_at.is_none_or(|at| at == origin.at)
        }
        _ => false,
    };
    let config_ok = if req.fork.is_some() {
        // Forks may inherit expiry; only an explicitly requested one must match.
        (req.config.ttl_secs.is_none() || req.config.ttl_secs == existing.config.ttl_secs)
            && (req.config.expires_at.is_none() || req.config.expires_at == existing.config.expires_at)
    } else {
        req.config.ttl_secs == existing.config.ttl_secs && req.config.expires_at == existing.config.expires_at
    };
    ct_ok && fork_ok && config_ok && existing.closed == req.closed
}

/// The answer to a `PUT` for a stream that already exists: 200 with the existing record when
/// the request is an idempotent repeat, else 409.
pub fn confirm_existing(existing: StreamRecord, req: &CreateRequest) -> Result<super::CreateOutcome, CreateError> {
    let fork_at = req.fork.as_ref().and_then(|s| s.at.map(tether_protocol::Offset::index));
    if same_create(&existing, req, fork_at) {
        Ok(super::CreateOutcome { created: false, record: existing })
    } else {
        Err(CreateError::ConfigMismatch)
    }
}

/// A fork's resolved shape.
#[derive(Clone, Debug)]
pub struct ForkPlan {
    pub base: u64,
    pub lineage: Vec<LineageEntry>,
    pub origin: ForkOrigin,
    pub config: StreamConfig,
    /// Materialised prefix of the source chunk at `base` (sub-offset forks).
    pub prefix: Option<Bytes>,
}

/// Resolves a fork of `source` at chunk index `at` with `sub_offset`. `chunk_at` is the
/// source's chunk at `at`, if there is one (needed only when `sub_offset > 0`).
pub fn plan_fork(source: &StreamRecord, req: &CreateRequest, at: u64) -> Result<ForkPlan, CreateError> {
    let spec = req.fork.as_ref().expect("plan_fork is only called for forks");
    if source.soft_deleted {
        return Err(CreateError::SourceSoftDeleted(source.name.clone()));
    }
    if req.explicit_content_type && !media_type_eq(&req.config.content_type, &source.config.content_type) {
        return Err(CreateError::ForkContentTypeMismatch);
    }
    if at > source.tail {
        return Err(CreateError::ForkOffsetBeyondTail);
    }
    let prefix = if spec.sub_offset == 0 {
        None
    } else {
        let chunk = spec
            .chunk_at
            .as_ref()
            .filter(|_| at < source.tail)
            .ok_or(CreateError::SubOffsetOvershoot(spec.sub_offset))?;
        Some(prefix_of(chunk, spec.sub_offset, source.is_json())?)
    };
    let mut lineage: Vec<LineageEntry> = Vec::new();
    for entry in &source.lineage {
        if entry.until >= at {
            lineage.push(LineageEntry { until: at, ..entry.clone() });
            break;
        }
        lineage.push(entry.clone());
    }
    let covered = lineage.last().map_or(0, |e| e.until);
    if covered < at {
        lineage.push(LineageEntry { name: source.name.clone(), epoch: source.epoch, until: at });
    }
    lineage.retain(|e| e.until > 0);
    let mut config = req.config.clone();
    config.content_type = source.config.content_type.clone();
    if config.ttl_secs.is_none() && config.expires_at.is_none() {
        config.ttl_secs = source.config.ttl_secs;
        config.expires_at = source.config.expires_at.clone();
    }
    Ok(ForkPlan {
        base: at,
        lineage,
        origin: ForkOrigin { source: source.name.clone(), source_epoch: source.epoch, at, sub_offset: spec.sub_offset },
        config,
        prefix,
    })
}

/// The source chunk index a fork diverges at (`None`: the source's tail).
pub fn resolve_fork_at(source: &StreamRecord, spec: &super::ForkSpec) -> Result<u64, CreateError> {
    Ok(match spec.at {
        None => source.tail,
        Some(o) if o == tether_protocol::Offset::ZERO => 0,
        Some(o) => match o.epoch() {
            Some(e) if source.accepts_offset(o.index(), e) => o.index(),
            _ if o.index() > source.tail => return Err(CreateError::ForkOffsetBeyondTail),
            _ => return Err(CreateError::ForkOffsetForeign),
        },
    })
}

/// The first `n` bytes (or, for JSON chunks, the first `n` messages) of a chunk.
pub fn prefix_of(chunk: &Bytes, n: u64, json: bool) -> Result<Bytes, CreateError> {
    if !json {
        let n = usize::try_from(n).ok().filter(|n| *n <= chunk.len()).ok_or(CreateError::SubOffsetOvershoot(n))?;
        return Ok(chunk.slice(..n));
    }
    let messages = json_messages(chunk)
        .map_err(|e| CreateError::Backend(super::BackendError::Corrupt(format!("stored JSON chunk: {e}"))))?;
    let n = usize::try_from(n).ok().filter(|n| *n <= messages.len()).ok_or(CreateError::SubOffsetOvershoot(n))?;
    Ok(Bytes::from(messages[..n].join(",")))
}

/// Splits a stored JSON chunk (messages joined by `,`) back into its messages' raw text.
pub fn json_messages(chunk: &[u8]) -> Result<Vec<String>, serde_json::Error> {
    let mut text = Vec::with_capacity(chunk.len() + 2);
    text.push(b'[');
    text.extend_from_slice(chunk);
    text.push(b']');
    let raw: Vec<&RawValue> = serde_json::from_slice(&text)?;
    Ok(raw.iter().map(|r| r.get().to_owned()).collect())
}

/// A fresh random epoch (never zero).
pub fn new_epoch() -> Epoch {
    loop {
        if let Some(e) = Epoch::new(rand::random::<u64>()) {
            return e;
        }
    }
}

#[cfg(test)]
mod tests;
