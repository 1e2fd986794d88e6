-- Shared helpers, prepended to every Tether hot-log script.
-- Record hash fields: epoch tail hot base closed cby_p cby_e cby_s sseq ct ttl exp lw tch refs soft bytes static
local function fmt(n) return string.format('%.0f', n) end

-- Byte-wise a <= b (Lua's own comparison follows the server's collation locale).
local function bytes_le(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a <= #b
end

local function load(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local r = {}
  for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
  return r
end

local function expired(r, now)
  local exp = tonumber(r.exp)
  if exp and exp <= now then return true end
  local ttl = tonumber(r.ttl)
  if ttl then
    local last = math.max(tonumber(r.lw) or 0, tonumber(r.tch) or 0)
    if last + ttl * 1000 <= now then return true end
  end
  return false
end

local function notify(chan, r, gone)
  redis.call('PUBLISH', chan, r.epoch .. ' ' .. r.tail .. ' ' .. (r.closed or '0') .. ' ' .. gone)
end

-- Removes an incarnation, or soft-deletes it while forks read through it.
local function remove(rkey, ckey, pkey, chan, r)
  if tonumber(r.refs or '0') > 0 then
    redis.call('HSET', rkey, 'soft', '1')
    notify(chan, r, '1')
    return { 'SOFT' }
  end
  redis.call('DEL', rkey, ckey, pkey)
  notify(chan, r, '1')
  return { 'DELETED', r.epoch, r.static }
end
