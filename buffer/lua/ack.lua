-- Forget a batch once PostgreSQL has committed it. KEYS[1] leases, KEYS[2] inflight,
-- KEYS[3] the shard's replay stream. ARGV: batch id, replay retention ms (0: keep nothing).
-- With a retention, the batch's entries go to the replay stream (b = batch id, then keyid ->
-- entry), trimmed to the retention, for `waymark replay` after a database restore.
-- Returns the number of keys the batch held (0 if already forgotten).
local bid = ARGV[1]
local list = redis.call('HGET', KEYS[2], bid)
redis.call('ZREM', KEYS[1], bid)
if not list then return 0 end
local fields = {bid}
local kids = {}
for k in string.gmatch(list, '[^\n]+') do
  fields[#fields + 1] = bid .. '|' .. k
  kids[#kids + 1] = k
end
local retention = tonumber(ARGV[2])
if retention > 0 then
  local vals = redis.call('HMGET', KEYS[2], unpack(fields, 2))
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local args = {KEYS[3], 'MINID', '~', tostring(now - retention), '*', 'b', bid}
  for i = 1, #kids do
    if vals[i] then  -- a key dead-lettered out of the batch is not in it any more
      args[#args + 1] = kids[i]
      args[#args + 1] = vals[i]
    end
  end
  redis.call('XADD', unpack(args))
end
redis.call('HDEL', KEYS[2], unpack(fields))
return #fields - 1
