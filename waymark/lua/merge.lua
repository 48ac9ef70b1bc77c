-- Merge one request's events for one shard into the buffer, atomically.
-- KEYS[1] buf hash (keyid -> msgpack entry), KEYS[2] due zset (keyid -> due ms),
-- KEYS[3 .. 2+NB] event-id dedup buckets (newest first), then 2 keys per source (max seq, ring).
-- ARGV: payload, merge window ms, dedup ttl s, source ttl s, NB, ring bits, tail limit.
-- payload = {events, ops}; events[i] = {event_id, source_slot (0 = none), seq};
-- ops[j] = {event_index, keyid, 'c' | 'k', urgent (0|1), data}.
-- A course entry is {state, attempts, accepted_ms}, a chapter entry is laid out as described at
-- read_chapter; accepted_ms is when the key was first dirtied, for lag.
-- Returns {flags, pending}: one char per event, '1' accepted or '0' duplicate, and the number
-- of keys now pending in the shard (for the ingest's high-water check).
local payload = cmsgpack.unpack(ARGV[1])
local window = tonumber(ARGV[2])
local dedup_ttl = tonumber(ARGV[3])
local src_ttl = tonumber(ARGV[4])
local nb = tonumber(ARGV[5])
local ring = tonumber(ARGV[6])
local tail_limit = tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local events, ops = payload[1], payload[2]

local ok = {}
local ids, idx = {}, {}
for i = 1, #events do
  ok[i] = true
  if events[i][2] == 0 then
    ids[#ids + 1] = events[i][1]
    idx[#idx + 1] = i
  end
end

-- Event-id dedup: one SMISMEMBER per bucket for the whole request, then within the request.
if #ids > 0 then
  for b = 0, nb - 1 do
    local flags = redis.call('SMISMEMBER', KEYS[3 + b], unpack(ids))
    for j = 1, #ids do
      if flags[j] == 1 then ok[idx[j]] = false end
    end
  end
  local fresh, seen = {}, {}
  for j = 1, #ids do
    local i = idx[j]
    if ok[i] then
      if seen[ids[j]] then ok[i] = false else
        seen[ids[j]] = true
        fresh[#fresh + 1] = ids[j]
      end
    end
  end
  if #fresh > 0 then
    redis.call('SADD', KEYS[3], unpack(fresh))
    redis.call('EXPIRE', KEYS[3], dedup_ttl)
  end
end

-- Source/seq dedup: highest seq per source plus a ring of the last `ring` seqs.
local src_base = 3 + nb
local maxes = {}
for i = 1, #events do
  local e = events[i]
  local s = e[2]
  if s > 0 then
    local mkey, rkey = KEYS[src_base + 2 * (s - 1)], KEYS[src_base + 2 * (s - 1) + 1]
    local m = maxes[s]
    if m == nil then m = tonumber(redis.call('GET', mkey) or '0') end
    local q = e[3]
    if q > m then
      if q - m >= ring then redis.call('DEL', rkey) else
        for x = m + 1, q - 1 do redis.call('SETBIT', rkey, x % ring, 0) end
      end
      redis.call('SETBIT', rkey, q % ring, 1)
      m = q
    elseif q > m - ring and redis.call('GETBIT', rkey, q % ring) == 0 then
      redis.call('SETBIT', rkey, q % ring, 1)
    else
      ok[i] = false
    end
    maxes[s] = m
  end
end
for s, m in pairs(maxes) do
  redis.call('SET', KEYS[src_base + 2 * (s - 1)], m, 'EX', src_ttl)
  redis.call('EXPIRE', KEYS[src_base + 2 * (s - 1) + 1], src_ttl)
end

local function after(a_ts, a_id, b_ts, b_id)
  return a_ts > b_ts or (a_ts == b_ts and a_id > b_id)
end

-- The in-order fold step of waymark/model.py `fold`; base fields by position:
-- 1 upto_ts 2 upto_id 3 first 4 last 5 prog 6 c_ts 7 c_id 8 c_at 9 u_ts 10 u_id
-- 11 time_ms 12 pos 13 pos_ts 14 pos_id
local function fold(b, ev)
  local ts, id, kind, p, tm, pos = ev[1], ev[2], ev[3], ev[4], ev[5], ev[6]
  if #b == 0 then
    b[1], b[2], b[3], b[4], b[5], b[6], b[7] = -1, '', ts, ts, 0, -1, ''
    b[8], b[9], b[10], b[11], b[12], b[13], b[14] = -1, -1, '', 0, -1, -1, ''
  else
    b[3] = math.min(b[3], ts)
    b[4] = math.max(b[4], ts)
  end
  local in_order = after(ts, id, b[1], b[2])
  b[11] = b[11] + tm
  if pos >= 0 and after(ts, id, b[13], b[14]) then b[12], b[13], b[14] = pos, ts, id end
  local after_u = after(ts, id, b[9], b[10])
  if kind == 'P' then
    if after_u then b[5] = math.max(b[5], p) end
  elseif kind == 'C' then
    if after_u then
      b[5] = math.max(b[5], p)
      if b[8] == -1 or ts < b[8] then b[8] = ts end
    end
    if after(ts, id, b[6], b[7]) then b[6], b[7] = ts, id end
  elseif kind == 'U' and after_u then
    b[9], b[10] = ts, id
    if in_order then
      b[5], b[8] = 0, -1
    elseif b[8] ~= -1 and b[8] <= ts then
      if after(b[6], b[7], ts, id) then b[8] = b[6] else b[8] = -1 end
    end
  end
  if in_order then b[1], b[2] = ts, id end
end

-- A chapter entry is one msgpack array, written so the common case never decodes its tail:
--   0xdd, u32 length (1 + events), header {base, accepted_ms, last_ts, last_id}, event, event, ...
-- Events are kept in (ts, id) order; one arriving after the last is appended as bytes. The tail
-- holds between tail_limit and 2 * tail_limit events: past that, the oldest are folded into the
-- base down to tail_limit, so at least the tail_limit most recent events are always kept.
-- (An entry written before this layout, {base, tail, accepted_ms}, is read as well.)
local function read_chapter(raw, now)
  if raw == false or raw == nil then
    return {hdr = {{}, now, -1, ''}, n = 0, bytes = ''}
  end
  if string.byte(raw, 1) ~= 0xdd then
    local old = cmsgpack.unpack(raw)
    local evs, last = old[2], old[2][#old[2]]
    return {hdr = {old[1], old[3] or now, last and last[1] or -1, last and last[2] or ''},
            n = #evs, evs = evs}
  end
  local b2, b3, b4, b5 = string.byte(raw, 2, 5)
  local n = ((b2 * 256 + b3) * 256 + b4) * 256 + b5 - 1
  local off, hdr = cmsgpack.unpack_one(raw, 5)
  return {hdr = hdr, n = n, bytes = off == -1 and '' or string.sub(raw, off + 1)}
end

local function write_chapter(entry)
  local bytes = entry.bytes
  if entry.evs ~= nil then
    bytes = #entry.evs > 0 and cmsgpack.pack(unpack(entry.evs)) or ''
  end
  local len = entry.n + 1
  return string.char(0xdd, math.floor(len / 16777216) % 256, math.floor(len / 65536) % 256,
                     math.floor(len / 256) % 256, len % 256) .. cmsgpack.pack(entry.hdr) .. bytes
end

local function add_chapter_event(entry, ev)
  local hdr = entry.hdr
  local base = hdr[1]
  if #base > 0 and not after(ev[1], ev[2], base[1], base[2]) then
    fold(base, ev)
    return
  end
  local appended = false
  if entry.evs == nil and after(ev[1], ev[2], hdr[3], hdr[4]) then
    entry.bytes = entry.bytes .. cmsgpack.pack(ev)
    entry.n = entry.n + 1
    hdr[3], hdr[4] = ev[1], ev[2]
    if entry.n <= 2 * tail_limit then return end
    appended = true
  end
  if entry.evs == nil then
    entry.evs = entry.n > 0 and {cmsgpack.unpack(entry.bytes)} or {}
    entry.bytes = nil
  end
  local tail = entry.evs
  if not appended then
    local i = #tail
    while i >= 1 and after(tail[i][1], tail[i][2], ev[1], ev[2]) do i = i - 1 end
    table.insert(tail, i + 1, ev)
  end
  if #tail > 2 * tail_limit then
    local drop = #tail - tail_limit
    for k = 1, drop do fold(base, tail[k]) end
    local kept = {}
    for k = drop + 1, #tail do kept[#kept + 1] = tail[k] end
    tail = kept
    entry.evs = kept
  end
  entry.n = #tail
  hdr[3], hdr[4] = tail[#tail][1], tail[#tail][2]
end

-- Course entry: {state, attempts}; state by position: 1 reset_ts 2 reset_id 3 enroll_status
-- 4 enroll_ts 5 enroll_id 6 seen_ts 7 view_chapter 8 view_ts 9 view_id.
-- data = {sub, ts, id, extra}: 'R' reset, 'E' enrollment, 'V' view, 'Q' quiz attempt.
local function add_course_event(entry, d)
  local s = entry[1]
  local sub, ts, id, extra = d[1], d[2], d[3], d[4]
  if ts > s[6] then s[6] = ts end
  if sub == 'R' then
    if after(ts, id, s[1], s[2]) then s[1], s[2] = ts, id end
  elseif sub == 'E' then
    if after(ts, id, s[4], s[5]) then s[3], s[4], s[5] = extra, ts, id end
  elseif sub == 'V' then
    if after(ts, id, s[8], s[9]) then s[7], s[8], s[9] = extra, ts, id end
  elseif sub == 'Q' then
    entry[2][#entry[2] + 1] = {id, extra}
  end
end

local entries, urgent = {}, {}
for j = 1, #ops do
  local op = ops[j]
  if ok[op[1]] then
    local key = op[2]
    local entry = entries[key]
    if entry == nil then
      local raw = redis.call('HGET', KEYS[1], key)
      if op[3] == 'c' then
        entry = read_chapter(raw, now)
        entry.chapter = true
      elseif raw then
        entry = cmsgpack.unpack(raw)
      else
        entry = {{-1, '', '', -1, '', -1, '', -1, ''}, {}, now}
      end
      entries[key] = entry
    end
    if op[3] == 'c' then add_chapter_event(entry, op[5]) else add_course_event(entry, op[5]) end
    if op[4] == 1 then urgent[key] = true end
  end
end
for key, entry in pairs(entries) do
  redis.call('HSET', KEYS[1], key, entry.chapter and write_chapter(entry) or cmsgpack.pack(entry))
  if urgent[key] then
    redis.call('ZADD', KEYS[2], 'LT', now, key)
  else
    redis.call('ZADD', KEYS[2], 'NX', now + window, key)
  end
end

local out = {}
for i = 1, #events do out[i] = ok[i] and '1' or '0' end
return {table.concat(out), redis.call('ZCARD', KEYS[2])}
