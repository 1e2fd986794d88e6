-- Delete (or, with ARGV[2] = epoch, expire) a stream.
-- KEYS: record, chunks, producers, channel. ARGV: now, [epoch]
-- Returns { 'NF' } | { 'GONE' } | { 'NO' } | { 'SOFT' } | { 'DELETED', epoch, static }
local rkey, ckey, pkey, chan = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = tonumber(ARGV[1])
local r = load(rkey)
if ARGV[2] then
  if not r or r.epoch ~= ARGV[2] or r.soft == '1' or not expired(r, now) then return { 'NO' } end
  return remove(rkey, ckey, pkey, chan, r)
end
if not r or expired(r, now) then return { 'NF' } end
if r.soft == '1' then return { 'GONE' } end
return remove(rkey, ckey, pkey, chan, r)
