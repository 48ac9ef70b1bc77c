-- Take up to ARGV[1] due keys of one shard into a leased batch, atomically.
-- KEYS[1] buf, KEYS[2] due, KEYS[3] leases zset (batch id -> lease expiry ms),
-- KEYS[4] inflight hash (batch id -> keyids joined by "\n"; batch id|keyid -> entry).
-- ARGV: limit, lease ms, new batch id[, min keys, linger ms]. Returns {keyids, entries}, nil
-- when no key is due, or - fewer than min keys due, the oldest of them due for less than linger
-- ms, and no urgent key among them - the ms until it has been (a larger batch costs less per
-- key to apply). The shard's urgent flag (set by merge.lua with an urgent key) is cleared once a
-- drain takes every due key.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local keys = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
if #keys == 0 then return nil end
local urgent_flag = string.sub(KEYS[1], 1, #KEYS[1] - 3) .. 'urgent'
local min_keys, linger = tonumber(ARGV[4] or '1'), tonumber(ARGV[5] or '0')
if #keys < min_keys and redis.call('EXISTS', urgent_flag) == 0 then
  local waited = now - tonumber(redis.call('ZSCORE', KEYS[2], keys[1]))
  if waited < linger then return linger - waited end
end
if #keys < limit then redis.call('DEL', urgent_flag) end
local vals = redis.call('HMGET', KEYS[1], unpack(keys))
redis.call('HDEL', KEYS[1], unpack(keys))
-- A tailed chapter entry (see merge.lua), its header and its tail key, becomes one
-- DrainedChapter of buffer/entries.py: [header, [event, ...]], the events' array with a 32-bit
-- length in front. An inline chapter entry (InlineChapter) is whole already: it passes as it is.
-- A course entry (its keyid ends in '|') may be a 5-array too: it passes as it is.
local tail_prefix = string.sub(KEYS[1], 1, #KEYS[1] - 3) .. 't:'
for i = 1, #keys do
  local v = vals[i]
  if v and string.byte(v, 1) == 0x95 and string.sub(keys[i], -1) ~= '|' then
    local tkey = tail_prefix .. keys[i]
    local tail = redis.call('GET', tkey) or ''
    redis.call('DEL', tkey)
    local len = cmsgpack.unpack(v)[5]
    vals[i] = string.char(0x92) .. v .. string.char(0xdd, math.floor(len / 16777216) % 256,
              math.floor(len / 65536) % 256, math.floor(len / 256) % 256, len % 256) .. tail
  end
end
redis.call('ZREM', KEYS[2], unpack(keys))
local bid = ARGV[3]
local fields = {bid, table.concat(keys, '\n')}
for i = 1, #keys do
  fields[#fields + 1] = bid .. '|' .. keys[i]
  fields[#fields + 1] = vals[i]
end
redis.call('HSET', KEYS[4], unpack(fields))
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), bid)
return {keys, vals}
