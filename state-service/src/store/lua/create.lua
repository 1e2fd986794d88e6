-- Create a stream incarnation.
-- KEYS: record, chunks, producers, channel
-- ARGV: now epoch static ct ttl|'' exp|'' closed base has_prefix prefix has_initial initial
-- Returns { 'CREATED', tail } | { 'EXISTS' } | { 'SOFT' } | { 'REPLACED', old_epoch, old_static, tail }
local rkey, ckey, pkey, chan = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = tonumber(ARGV[1])
local old = load(rkey)
local replaced = nil
if old then
  if old.soft == '1' then return { 'SOFT' } end
  if not expired(old, now) then return { 'EXISTS' } end
  local gone = remove(rkey, ckey, pkey, chan, old)
  if gone[1] == 'SOFT' then return { 'SOFT' } end
  replaced = gone
end
redis.call('DEL', ckey, pkey)
local tail = tonumber(ARGV[8])
local bytes = 0
if ARGV[9] == '1' then
  redis.call('XADD', ckey, fmt(tail) .. '-1', 'd', ARGV[10])
  tail = tail + 1
  bytes = bytes + #ARGV[10]
end
if ARGV[11] == '1' then
  redis.call('XADD', ckey, fmt(tail) .. '-1', 'd', ARGV[12])
  tail = tail + 1
  bytes = bytes + #ARGV[12]
end
local fields = { 'v', '1', 'epoch', ARGV[2], 'tail', fmt(tail), 'hot', ARGV[8], 'base', ARGV[8],
  'closed', ARGV[7], 'ct', ARGV[4], 'lw', ARGV[1], 'tch', ARGV[1], 'refs', '0', 'soft', '0',
  'bytes', fmt(bytes), 'hbytes', fmt(bytes), 'static', ARGV[3] }
if ARGV[5] ~= '' then fields[#fields + 1] = 'ttl'; fields[#fields + 1] = ARGV[5] end
if ARGV[6] ~= '' then fields[#fields + 1] = 'exp'; fields[#fields + 1] = ARGV[6] end
redis.call('HSET', rkey, unpack(fields))
if replaced then return { 'REPLACED', replaced[2], replaced[3], fmt(tail) } end
return { 'CREATED', fmt(tail) }
