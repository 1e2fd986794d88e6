-- Recreate a record from its archive snapshot when Redis has forgotten the stream.
-- KEYS: record, chunks, producers, channel
-- ARGV: epoch static ct ttl|'' exp|'' closed base tail now
-- Returns 1 if restored, 0 if a record already exists (someone else restored or recreated it).
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
local fields = { 'v', '1', 'epoch', ARGV[1], 'tail', ARGV[8], 'hot', ARGV[8], 'base', ARGV[7],
  'closed', ARGV[6], 'ct', ARGV[3], 'lw', ARGV[9], 'tch', ARGV[9], 'refs', '0', 'soft', '0',
  'bytes', '0', 'hbytes', '0', 'static', ARGV[2] }
if ARGV[4] ~= '' then fields[#fields + 1] = 'ttl'; fields[#fields + 1] = ARGV[4] end
if ARGV[5] ~= '' then fields[#fields + 1] = 'exp'; fields[#fields + 1] = ARGV[5] end
redis.call('HSET', KEYS[1], unpack(fields))
return 1
