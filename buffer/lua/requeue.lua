-- Put a dead-lettered batch back as a new leased batch that is due at once.
-- KEYS[1] leases, KEYS[2] inflight, KEYS[3] dead, KEYS[4] dead index.
-- ARGV: dead-letter id, new batch id.
-- Returns the number of keys requeued (0 if there is no such dead letter).
local did, bid = ARGV[1], ARGV[2]
local list = redis.call('HGET', KEYS[3], did)
if not list then return 0 end
local fields, del, n = {bid, list}, {did, did .. '#meta'}, 0
for k in string.gmatch(list, '[^\n]+') do
  fields[#fields + 1] = bid .. '|' .. k
  fields[#fields + 1] = redis.call('HGET', KEYS[3], did .. '|' .. k)
  del[#del + 1] = did .. '|' .. k
  n = n + 1
end
redis.call('HSET', KEYS[2], unpack(fields))
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000, bid)
redis.call('HDEL', KEYS[3], unpack(del))
redis.call('ZREM', KEYS[4], did)
return n
