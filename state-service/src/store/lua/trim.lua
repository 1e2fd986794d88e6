-- Drop archived chunks below ARGV[2] of incarnation ARGV[1]. KEYS: record, chunks
local r = load(KEYS[1])
if not r or r.epoch ~= ARGV[1] then return 0 end
local upto = math.min(tonumber(ARGV[2]), tonumber(r.tail))
if upto <= tonumber(r.hot) then return 0 end
-- Payload bytes leaving the hot log (once per sealed segment, so the scan is cheap).
local gone = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[2], r.hot .. '-1', fmt(upto - 1) .. '-1')) do
  gone = gone + #e[2][2]
end
redis.call('XTRIM', KEYS[2], 'MINID', fmt(upto) .. '-1')
redis.call('HSET', KEYS[1], 'hot', fmt(upto), 'hbytes', fmt(math.max(0, tonumber(r.hbytes or '0') - gone)))
return 1
