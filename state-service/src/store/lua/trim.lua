-- Drop archived chunks below ARGV[2] of incarnation ARGV[1]. KEYS: record, chunks
local r = load(KEYS[1])
if not r or r.epoch ~= ARGV[1] then return 0 end
local upto = math.min(tonumber(ARGV[2]), tonumber(r.tail))
if upto <= tonumber(r.hot) then return 0 end
redis.call('XTRIM', KEYS[2], 'MINID', fmt(upto) .. '-1')
redis.call('HSET', KEYS[1], 'hot', fmt(upto))
return 1
