-- Re-lease one batch whose lease expired (its worker died or hung), keeping its batch id.
-- KEYS[1] leases, KEYS[2] inflight. ARGV: lease ms. Returns {batch id, keyids, entries} or nil.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #expired == 0 then return nil end
local bid = expired[1]
local list = redis.call('HGET', KEYS[2], bid)
if not list then
  redis.call('ZREM', KEYS[1], bid)
  return nil
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), bid)
local keys, fields = {}, {}
for k in string.gmatch(list, '[^\n]+') do
  keys[#keys + 1] = k
  fields[#fields + 1] = bid .. '|' .. k
end
return {bid, keys, redis.call('HMGET', KEYS[2], unpack(fields))}
