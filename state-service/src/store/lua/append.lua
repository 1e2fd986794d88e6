-- Append a batch of requests to one stream, atomically, under the protocol rules
-- (mirror of state-service/src/store/rules.rs::decide_append).
-- KEYS: record, chunks, producers, channel
-- ARGV: now, then 10 per request: has_payload payload ct has_seq seq pid pepoch pseq close mono
--   (mono = '1': monotonic producer sequence, see SeqMode::Monotonic: gaps are legal)
-- Returns { epoch, result... } where each result is a string:
--   "W <tail> <closed> <ackE|-> <ackS|->"  written
--   "D <tail> <closed> <ackE|-> <ackS|->"  duplicate (nothing written)
--   "A <tail> 1 - -"                       close-only on a closed stream
--   "E NF" | "E GONE" | "E CLOSED <tail>" | "E CT" | "E SEQ <last>" | "E STALE <current>"
--   "E NEWEPOCH <seq>" | "E GAP <expected> <received>"
local rkey, ckey, pkey, chan = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = tonumber(ARGV[1])
local n = (#ARGV - 1) / 10
local r = load(rkey)
local out = { r and r.epoch or '' }
if not r or expired(r, now) then
  for i = 1, n do out[#out + 1] = 'E NF' end
  return out
end
local tail = tonumber(r.tail)
local bytes = tonumber(r.bytes or '0')
local hbytes = tonumber(r.hbytes or '0')
local producers = {}
local dirty_producers = {}
local wrote = false
local function pstate(pid)
  if producers[pid] == nil then
    local s = redis.call('HGET', pkey, pid)
    if s then
      local e, q = string.match(s, '^(%d+):(%d+)$')
      producers[pid] = { e = tonumber(e), s = tonumber(q) }
    else
      producers[pid] = false
    end
  end
  return producers[pid] or nil
end
for i = 0, n - 1 do
  local b = 1 + i * 10
  local has_payload, payload, ct = ARGV[b + 1] == '1', ARGV[b + 2], ARGV[b + 3]
  local has_seq, seq, pid = ARGV[b + 4] == '1', ARGV[b + 5], ARGV[b + 6]
  local pe, ps, close = tonumber(ARGV[b + 7]), tonumber(ARGV[b + 8]), ARGV[b + 9] == '1'
  local mono = ARGV[b + 10] == '1'
  local res
  local st = nil
  if pid ~= '' then st = pstate(pid) end
  if r.soft == '1' then
    res = 'E GONE'
  elseif st and pe < st.e then
    res = 'E STALE ' .. fmt(st.e)
  elseif r.closed == '1' then
    if pid ~= '' and r.cby_p == pid and tonumber(r.cby_e) == pe and tonumber(r.cby_s) == ps then
      res = 'D ' .. fmt(tail) .. ' 1 ' .. fmt(pe) .. ' ' .. fmt(ps)
    elseif close and not has_payload then
      res = 'A ' .. fmt(tail) .. ' 1 - -'
    else
      res = 'E CLOSED ' .. fmt(tail)
    end
  elseif has_payload and ct ~= r.ct then
    res = 'E CT'
  else
    local ack = '- -'
    if pid ~= '' then
      if st and pe == st.e then
        if ps <= st.s then
          res = 'D ' .. fmt(tail) .. ' 0 ' .. fmt(st.e) .. ' ' .. fmt(st.s)
        elseif ps ~= st.s + 1 and not mono then
          res = 'E GAP ' .. fmt(st.s + 1) .. ' ' .. fmt(ps)
        end
      elseif st and ps ~= 0 and not mono then
        res = 'E NEWEPOCH ' .. fmt(ps)
      elseif not st and ps ~= 0 and not mono then
        res = 'E GAP 0 ' .. fmt(ps)
      end
      ack = fmt(pe) .. ' ' .. fmt(ps)
    end
    if not res and has_seq and r.sseq and bytes_le(seq, r.sseq) then
      res = 'E SEQ ' .. r.sseq
    end
    if not res then
      if has_payload then
        redis.call('XADD', ckey, fmt(tail) .. '-1', 'd', payload)
        tail = tail + 1
        bytes = bytes + #payload
        hbytes = hbytes + #payload
      end
      if has_seq then r.sseq = seq end
      if pid ~= '' then
        producers[pid] = { e = pe, s = ps }
        dirty_producers[pid] = ARGV[b + 7] .. ':' .. ARGV[b + 8]
      end
      if close then
        r.closed = '1'
        if pid ~= '' then r.cby_p, r.cby_e, r.cby_s = pid, ARGV[b + 7], ARGV[b + 8] end
      end
      wrote = true
      res = 'W ' .. fmt(tail) .. ' ' .. (r.closed == '1' and '1' or '0') .. ' ' .. ack
    end
  end
  out[#out + 1] = res
end
if wrote then
  r.tail = fmt(tail)
  local fields = { 'tail', r.tail, 'bytes', fmt(bytes), 'hbytes', fmt(hbytes), 'lw', ARGV[1], 'closed', r.closed or '0' }
  if r.sseq then fields[#fields + 1] = 'sseq'; fields[#fields + 1] = r.sseq end
  if r.cby_p then
    for _, f in ipairs({ 'cby_p', 'cby_e', 'cby_s' }) do fields[#fields + 1] = f; fields[#fields + 1] = r[f] end
  end
  redis.call('HSET', rkey, unpack(fields))
  for pid, v in pairs(dirty_producers) do redis.call('HSET', pkey, pid, v) end
  notify(chan, r, '0')
end
return out
