-- Forget a batch once PostgreSQL has committed it. KEYS[1] leases, KEYS[2] inflight.
-- ARGV: batch id. Returns the number of keys the batch held (0 if already forgotten).
local bid = ARGV[1]
local list = redis.call('HGET', KEYS[2], bid)
redis.call('ZREM', KEYS[1], bid)
if not list then return 0 end
local fields = {bid}
for k in string.gmatch(list, '[^\n]+') do fields[#fields + 1] = bid .. '|' .. k end
redis.call('HDEL', KEYS[2], unpack(fields))
return #fields - 1
