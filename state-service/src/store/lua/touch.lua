-- Record a read for the sliding TTL. KEYS: record. ARGV: epoch, now
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local t = tonumber(redis.call('HGET', KEYS[1], 'tch') or '0')
if tonumber(ARGV[2]) > t then redis.call('HSET', KEYS[1], 'tch', ARGV[2]) end
return 1
