-- Change a source incarnation's fork count; removes it when soft-deleted and unreferenced.
-- KEYS: record, chunks, producers, channel. ARGV: epoch, delta
-- Returns { 'OK' } | { 'MISSING' } | { 'SOFT' } (refused increment) | { 'DELETED', epoch, static }
local rkey, ckey, pkey, chan = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local r = load(rkey)
if not r or r.epoch ~= ARGV[1] then return { 'MISSING' } end
local delta = tonumber(ARGV[2])
if delta > 0 and r.soft == '1' then return { 'SOFT' } end
local refs = math.max(0, tonumber(r.refs or '0') + delta)
redis.call('HSET', rkey, 'refs', fmt(refs))
r.refs = fmt(refs)
if r.soft == '1' and refs == 0 then return remove(rkey, ckey, pkey, chan, r) end
return { 'OK' }
