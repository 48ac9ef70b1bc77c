-- Move part of a leased batch to the dead-letter area, forgetting the whole batch when asked.
-- KEYS[1] leases, KEYS[2] inflight, KEYS[3] dead hash (same layout as inflight, plus meta),
-- KEYS[4] dead index zset (dead-letter id -> ms).
-- ARGV: batch id, dead-letter id, meta (msgpack), finish (1: forget the batch), keyids...
local bid, did, meta, finish = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local keys, fields = {}, {did, '', did .. '#meta', meta}
for i = 5, #ARGV do
  local v = redis.call('HGET', KEYS[2], bid .. '|' .. ARGV[i])
  if v then
    keys[#keys + 1] = ARGV[i]
    fields[#fields + 1] = did .. '|' .. ARGV[i]
    fields[#fields + 1] = v
  end
end
fields[2] = table.concat(keys, '\n')
redis.call('HSET', KEYS[3], unpack(fields))
local t = redis.call('TIME')
redis.call('ZADD', KEYS[4], tonumber(t[1]) * 1000, did)
if finish == '1' then
  local list = redis.call('HGET', KEYS[2], bid)
  redis.call('ZREM', KEYS[1], bid)
  if list then
    local del = {bid}
    for k in string.gmatch(list, '[^\n]+') do del[#del + 1] = bid .. '|' .. k end
    redis.call('HDEL', KEYS[2], unpack(del))
  end
end
return #keys
