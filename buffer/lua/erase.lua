-- Erase one learner from one shard of the buffer, atomically, and set their tombstone.
-- KEYS[1] buf, KEYS[2] due, KEYS[3] leases, KEYS[4] inflight, KEYS[5] dead, KEYS[6] deadidx,
-- KEYS[7] erased zset (user id -> erased_ms). Tail keys t:<keyid> are named from KEYS[1]'s prefix
-- (as drain.lua does), so every key lies in the shard's hash slot.
-- ARGV: user id, the previous erased_ms (-1: none), rows found in PostgreSQL (0 or more),
-- tombstone lifetime ms.
-- Pending entries go (hash field, tail, due); every leased or dead-lettered batch loses the
-- learner's entries (a batch left empty is forgotten: the worker holding it acknowledges nothing
-- more, and its apply drops what it holds by the tombstone). The tombstone stays at the previous
-- erased_ms when nothing at all was found (so erasing twice answers the same), else it is now.
-- Returns {erased_ms, entries removed}.
local user, previous, found, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local prefix = user .. '|'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tail_prefix = string.sub(KEYS[1], 1, #KEYS[1] - 3) .. 't:'
local removed = 0

local function mine(kid)
  return string.sub(kid, 1, #prefix) == prefix
end

-- Every field of hash `key` for which keep_field(field) is true, scanned whole.
local function fields_of(key, pattern, want)
  local out, cursor = {}, '0'
  repeat
    local page = redis.call('HSCAN', key, cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = page[1]
    for i = 1, #page[2], 2 do
      if want(page[2][i]) then out[#out + 1] = page[2][i] end
    end
  until cursor == '0'
  return out
end

-- Pending entries: buf fields are keyids.
for _, kid in ipairs(fields_of(KEYS[1], prefix .. '*', mine)) do
  redis.call('HDEL', KEYS[1], kid)
  redis.call('ZREM', KEYS[2], kid)
  redis.call('DEL', tail_prefix .. kid)
  removed = removed + 1
end
-- Keys that are due without an entry any more (none should be) go as well.
local due_left = {}
local cursor = '0'
repeat
  local page = redis.call('ZSCAN', KEYS[2], cursor, 'MATCH', prefix .. '*', 'COUNT', 1000)
  cursor = page[1]
  for i = 1, #page[2], 2 do
    if mine(page[2][i]) then due_left[#due_left + 1] = page[2][i] end
  end
until cursor == '0'
for _, kid in ipairs(due_left) do redis.call('ZREM', KEYS[2], kid) end

-- Leased and dead-lettered batches: fields `<batch>` (keyids joined by "\n") and
-- `<batch>|<keyid>` (the entry); the batch id holds no "|".
local function strip(hash, index)
  local batches = {}
  local entries = fields_of(hash, '*|' .. prefix .. '*', function(f)
    local bar = string.find(f, '|', 1, true)
    return bar ~= nil and mine(string.sub(f, bar + 1))
  end)
  for _, f in ipairs(entries) do
    local bar = string.find(f, '|', 1, true)
    batches[string.sub(f, 1, bar - 1)] = true
    redis.call('HDEL', hash, f)
    removed = removed + 1
  end
  for bid in pairs(batches) do
    local list = redis.call('HGET', hash, bid) or ''
    local left = {}
    for k in string.gmatch(list, '[^\n]+') do
      if not mine(k) then left[#left + 1] = k end
    end
    if #left > 0 then
      redis.call('HSET', hash, bid, table.concat(left, '\n'))
    else
      redis.call('HDEL', hash, bid, bid .. '#meta')
      redis.call('ZREM', index, bid)
    end
  end
end
strip(KEYS[4], KEYS[3])
strip(KEYS[5], KEYS[6])

local erased_ms = now
if previous >= 0 and found == 0 and removed == 0 then erased_ms = previous end
redis.call('ZADD', KEYS[7], erased_ms, user)
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - keep)
return {erased_ms, removed}
