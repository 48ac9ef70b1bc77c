-- Merge one request's events into the buffer, atomically: every shard the request touches, in
-- one call (a single Redis), or one shard per call (a cluster, where each shard's keys live on
-- their own master).
-- KEYS: each shard's keys in turn: buf hash (keyid -> msgpack entry), due zset (keyid -> due ms),
-- erased zset (user id -> erased_ms), NB event-id dedup buckets (newest first), then 2 keys per
-- source (max seq, ring).
-- ARGV: merge window ms, dedup ttl s, source ttl s, NB, ring bits, tail limit, tail cap, inline
-- bytes (see read_chapter; 0: every chapter entry keeps its events in a tail key), then for each
-- shard in turn: its number of keys, its payload.
-- Every array's layout is a Struct of buffer/entries.py (positions are the fields in order):
-- payload = MergeRequest {events, ops, users};
-- events[i] = EventSlot {event_id, source_slot, seq, user_slot, ts};
-- ops[j] = ChapterOp {'c', event_index, keyid, urgent, TailEvent} or
--          CourseOp {'k', event_index, keyid, urgent, CourseChange}.
-- A course entry is CourseEntry {state, attempts, accepted_ms, enrollments[, resets, layout]}, a chapter entry is laid out as
-- described at read_chapter; accepted_ms is when the key was first dirtied, for lag.
-- Returns, for each shard in turn, {flags, pending, erased}: one char per event, '1' accepted,
-- '0' duplicate or 'e' refused (its learner was erased at or after its ts: it is neither stored
-- nor remembered as seen), the number of keys now pending in the shard (for the ingest's
-- high-water check), and {user, erased_ms, ...} of each learner with a refused event.
local window = tonumber(ARGV[1])
local dedup_ttl = tonumber(ARGV[2])
local src_ttl = tonumber(ARGV[3])
local nb = tonumber(ARGV[4])
local ring = tonumber(ARGV[5])
local tail_limit = tonumber(ARGV[6])
local tail_cap = tonumber(ARGV[7])
local inline_limit = tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- A source's ring of recent seqs (see the source/seq dedup in merge_shard): clear the bits of
-- seqs from..to, fewer than ring of them.
local function clear_bits(r, from, to)
  local x = from
  while x <= to do
    local p = x % ring
    if p % 8 == 0 and to - x >= 7 then
      r[p / 8 + 1] = 0
      x = x + 8
    else
      local bi = math.floor(p / 8) + 1
      r[bi] = bit.band(r[bi], bit.bnot(bit.rshift(0x80, p % 8)))
      x = x + 1
    end
  end
end

local function after(a_ts, a_id, b_ts, b_id)
  return a_ts > b_ts or (a_ts == b_ts and a_id > b_id)
end

-- The fold step of buffer/fold.py `fold` (a differential test holds the two together); the
-- fields of Base by position:
-- 1 upto_ts 2 upto_id 3 first 4 last 5 prog 6 c_ts 7 c_id 8 c_at 9 u_ts 10 u_id
-- 11 time_ms 12 pos 13 pos_ts 14 pos_id
local function fold(b, ev)
  local ts, id, kind, p, tm, pos = ev[1], ev[2], ev[3], ev[4], ev[5], ev[6]
  if kind == 'V' then return end  -- a view changes nothing in the fold
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

-- A chapter entry is laid out in one of two ways; its events are msgpack arrays, concatenated in
-- arrival order.
-- - Inline, while its events take at most inline_limit bytes: the buf hash holds the entry whole,
--   [base, [event, ...], accepted_ms] (0x93, the base, the events' array with a 32-bit length in
--   front, accepted_ms as a uint64), and no other key. It is the layout of format 0, which
--   every release reads (merge.lua rewrites it tailed; drain.lua passes it on as it is; the
--   worker decodes it), so HTTP servers and workers of older releases may run beside this one.
-- - Tailed: the buf hash holds the header alone, ChapterHeader {base, accepted_ms, last_ts,
--   last_id, n}, and its events lie in the string key wm:{wm.N}:t:<keyid>, where every event is
--   APPENDed as bytes and never read; drain.lua joins the two. An inline entry that outgrows
--   inline_limit moves its events there, once.
-- Either way the worker receives every event (it sorts them, and keeps them in the chapter event
-- log). Only past tail_cap events in one entry (far more than a learner sends within a merge
-- window) are the events read, sorted, and the oldest folded into the base down to tail_limit:
-- memory per key stays bounded, and what was folded is summed, not logged.
-- (Entries of earlier layouts are read as well and rewritten in these.)

local function be_bytes(n, width)  -- a non-negative integer below 2^53, big-endian
  local b = {}
  for k = width, 1, -1 do
    b[k] = n % 256
    n = math.floor(n / 256)
  end
  return string.char(unpack(b))
end

-- entry: hdr (the header: an inline entry's last_ts, last_id are found when it moves), add (the
-- packed events to store), tkey, and either inline (the packed events held inline so far: the
-- entry is inline) or evs (every event, decoded: past tail_cap, or an entry of an earlier
-- layout); neither: tailed.
local function read_chapter(raw, now, tkey)
  if not raw then
    return {hdr = {{}, now, -1, '', 0}, add = {}, tkey = tkey, inline = ''}
  end
  local first = string.byte(raw, 1)
  if first == 0x95 then
    return {hdr = cmsgpack.unpack(raw), add = {}, tkey = tkey}
  end
  if first == 0x93 then
    local off, base = cmsgpack.unpack_one(raw, 1)
    if string.byte(raw, off + 1) == 0xdd and string.byte(raw, #raw - 8) == 0xcf then
      local n = 0
      for k = off + 2, off + 5 do n = n * 256 + string.byte(raw, k) end
      local accepted = cmsgpack.unpack(string.sub(raw, -9))
      return {hdr = {base, accepted, -1, '', n}, add = {}, tkey = tkey,
              inline = string.sub(raw, off + 6, #raw - 9)}
    end
  end
  local hdr, evs
  if first == 0xdd then
    local off, h = cmsgpack.unpack_one(raw, 5)
    evs = off == -1 and {} or {cmsgpack.unpack(string.sub(raw, off + 1))}
    hdr = {h[1], h[2], h[3], h[4], #evs}
  else
    local old = cmsgpack.unpack(raw)
    evs = old[2]
    local last = evs[#evs]
    hdr = {old[1], old[3] or now, last and last[1] or -1, last and last[2] or '', #evs}
  end
  return {hdr = hdr, evs = evs, add = {}, tkey = tkey}
end

local function note_latest(hdr, evs)  -- an inline entry's header learns its latest event
  for k = 1, #evs do
    if after(evs[k][1], evs[k][2], hdr[3], hdr[4]) then hdr[3], hdr[4] = evs[k][1], evs[k][2] end
  end
end

local function write_chapter(buf, key, entry)
  local hdr = entry.hdr
  if entry.inline ~= nil then
    local evs = entry.inline .. table.concat(entry.add)
    if #evs <= inline_limit then
      redis.call('HSET', buf, key, string.char(0x93) .. cmsgpack.pack(hdr[1]) ..
                 string.char(0xdd) .. be_bytes(hdr[5], 4) .. evs ..
                 string.char(0xcf) .. be_bytes(hdr[2], 8))
      return
    end
    note_latest(hdr, {cmsgpack.unpack(evs)})  -- outgrown: tailed from now on
    redis.call('SET', entry.tkey, evs)
  elseif entry.evs ~= nil then
    if #entry.evs > 0 then
      redis.call('SET', entry.tkey, cmsgpack.pack(unpack(entry.evs)))
    else
      redis.call('DEL', entry.tkey)
    end
  elseif #entry.add > 0 then
    redis.call('APPEND', entry.tkey, table.concat(entry.add))
  end
  redis.call('HSET', buf, key, cmsgpack.pack(hdr))
end

local function add_chapter_event(entry, ev)
  local hdr = entry.hdr
  local base = hdr[1]
  if #base > 0 and not after(ev[1], ev[2], base[1], base[2]) then
    fold(base, ev)
    return
  end
  if entry.evs == nil and hdr[5] < tail_cap then
    entry.add[#entry.add + 1] = cmsgpack.pack(ev)
    hdr[5] = hdr[5] + 1
    if after(ev[1], ev[2], hdr[3], hdr[4]) then hdr[3], hdr[4] = ev[1], ev[2] end
    return
  end
  if entry.evs == nil then
    local raw = (entry.inline or redis.call('GET', entry.tkey) or '') .. table.concat(entry.add)
    entry.evs = #raw > 0 and {cmsgpack.unpack(raw)} or {}
    if entry.inline ~= nil then note_latest(hdr, entry.evs) end
    entry.add, entry.inline = {}, nil
  end
  local tail = entry.evs
  tail[#tail + 1] = ev
  hdr[5] = #tail
  if after(ev[1], ev[2], hdr[3], hdr[4]) then hdr[3], hdr[4] = ev[1], ev[2] end
  if #tail <= tail_cap then return end
  table.sort(tail, function(a, b) return after(b[1], b[2], a[1], a[2]) end)
  local drop = #tail - tail_limit
  for k = 1, drop do fold(base, tail[k]) end
  local kept = {}
  for k = drop + 1, #tail do kept[#kept + 1] = tail[k] end
  entry.evs = kept
  hdr[5] = #kept
  hdr[3], hdr[4] = kept[#kept][1], kept[#kept][2]
end

-- Course entry: {state, attempts, accepted_ms, enrollments[, resets, layout]}; state (CourseState) by position:
-- 1 reset_ts 2 reset_id 3 enroll_status 4 enroll_ts 5 enroll_id 6 seen_ts 7 view_chapter
-- 8 view_ts 9 view_id.
-- d = CourseChange {kind, ts, id, extra}: 'R' reset, 'E' enrollment, 'V' view, 'Q' quiz attempt.
local function add_course_event(entry, d)
  local s = entry[1]
  local sub, ts, id, extra = d[1], d[2], d[3], d[4]
  if ts > s[6] then s[6] = ts end
  -- entries older than the enrollments (4) and resets (5) lists lack them: no holes in the array
  if entry[3] == nil then entry[3] = now end
  if entry[4] == nil then entry[4] = {} end
  if sub == 'R' then
    if after(ts, id, s[1], s[2]) then s[1], s[2] = ts, id end
    -- every reset reaches the worker (whether a course was ever completed needs each epoch);
    -- 6 fields, never 5: an older drain.lua takes any 5-array for a chapter header
    if entry[5] == nil then entry[5] = {} end
    entry[5][#entry[5] + 1] = {id, ts}
    entry[6] = 1
  elseif sub == 'E' then
    if after(ts, id, s[4], s[5]) then s[3], s[4], s[5] = extra, ts, id end
    -- every enrollment reaches the worker (its history)
    entry[4][#entry[4] + 1] = {id, ts, extra}
  elseif sub == 'V' then
    if after(ts, id, s[8], s[9]) then s[7], s[8], s[9] = extra, ts, id end
  elseif sub == 'Q' then
    entry[2][#entry[2] + 1] = {id, extra}
  end
end

-- One shard's part of the request: K its keys, in the order given at the top.
local function merge_shard(K, payload)
  local events, ops, users = payload[1], payload[2], payload[3] or {}

  -- Tombstones first, checked in the same atomic step as the write: an event of an erased
  -- learner at or before the erasure is refused, whenever the erasure happened.
  local erased_at, erased_raw, refused = {}, {}, {}
  if #users > 0 then
    local scores = redis.call('ZMSCORE', K[3], unpack(users))
    for u = 1, #users do
      if scores[u] then erased_at[u], erased_raw[u] = tonumber(scores[u]), scores[u] end
    end
  end
  local ok = {}
  local ids, idx = {}, {}
  for i = 1, #events do
    local e = events[i]
    local at = erased_at[e[4] or 0]
    if at ~= nil and e[5] <= at then
      ok[i] = false
      refused[i] = true
    else
      ok[i] = true
      if e[2] == 0 then
        ids[#ids + 1] = e[1]
        idx[#idx + 1] = i
      end
    end
  end

  -- Event-id dedup: one SMISMEMBER per bucket for the whole request, then within the request.
  if #ids > 0 then
    for b = 0, nb - 1 do
      local flags = redis.call('SMISMEMBER', K[4 + b], unpack(ids))
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
      redis.call('SADD', K[4], unpack(fresh))
      redis.call('EXPIRE', K[4], dedup_ttl)
    end
  end

  -- Source/seq dedup: highest seq per source plus a ring of the last `ring` seqs, a bitmap in
  -- SETBIT's layout (bit i is bit 7 - i % 8 of byte i // 8). Each source's ring is read once per
  -- request and written back once, so the work per event is a few bit operations in the script.
  local src_base = 4 + nb
  local nbytes = ring / 8
  local maxes, rings = {}, {}
  for i = 1, #events do
    local e = events[i]
    local s = e[2]
    if s > 0 and not refused[i] then
      local mkey, rkey = K[src_base + 2 * (s - 1)], K[src_base + 2 * (s - 1) + 1]
      local m, r = maxes[s], rings[s]
      if m == nil then
        m = tonumber(redis.call('GET', mkey) or '0')
        local raw = redis.call('GET', rkey) or ''
        r = {string.byte(raw, 1, nbytes)}
        for k = #r + 1, nbytes do r[k] = 0 end
        rings[s] = r
      end
      local q = e[3]
      local pos = q % ring
      local byte, mask = math.floor(pos / 8) + 1, bit.rshift(0x80, pos % 8)
      if q > m then
        if q - m >= ring then
          for k = 1, nbytes do r[k] = 0 end
        else
          clear_bits(r, m + 1, q - 1)
        end
        r[byte] = bit.bor(r[byte], mask)
        m = q
      elseif q > m - ring and bit.band(r[byte], mask) == 0 then
        r[byte] = bit.bor(r[byte], mask)
      else
        ok[i] = false
      end
      maxes[s] = m
    end
  end
  for s, m in pairs(maxes) do
    redis.call('SET', K[src_base + 2 * (s - 1)], m, 'EX', src_ttl)
    redis.call('SET', K[src_base + 2 * (s - 1) + 1], string.char(unpack(rings[s])), 'EX', src_ttl)
  end
  local tail_prefix = string.sub(K[1], 1, #K[1] - 3) .. 't:'

  local entries, urgent = {}, {}
  for j = 1, #ops do
    local op = ops[j]
    if ok[op[2]] then
      local key = op[3]
      local entry = entries[key]
      if entry == nil then
        local raw = redis.call('HGET', K[1], key)
        if op[1] == 'c' then
          entry = read_chapter(raw, now, tail_prefix .. key)
          entry.chapter = true
        elseif raw then
          entry = cmsgpack.unpack(raw)
        else
          entry = {{-1, '', '', -1, '', -1, '', -1, ''}, {}, now, {}}
        end
        entries[key] = entry
      end
      if op[1] == 'c' then add_chapter_event(entry, op[5]) else add_course_event(entry, op[5]) end
      if op[4] then urgent[key] = true end
    end
  end
  -- An urgent key also raises the shard's urgent flag: drain.lua then takes what is due at once,
  -- however few keys that is (see the lingering there).
  local urgent_flag = string.sub(K[1], 1, #K[1] - 3) .. 'urgent'
  for key, entry in pairs(entries) do
    if entry.chapter then
      write_chapter(K[1], key, entry)
    else
      redis.call('HSET', K[1], key, cmsgpack.pack(entry))
    end
    if urgent[key] then
      redis.call('ZADD', K[2], 'LT', now, key)
    else
      redis.call('ZADD', K[2], 'NX', now + window, key)
    end
  end

  if next(urgent) ~= nil then redis.call('SET', urgent_flag, 1) end

  local out, named, erased = {}, {}, {}
  for i = 1, #events do
    if refused[i] then
      out[i] = 'e'
      local u = events[i][4]
      if not named[u] then
        named[u] = true
        erased[#erased + 1] = users[u]
        erased[#erased + 1] = erased_raw[u]
      end
    else
      out[i] = ok[i] and '1' or '0'
    end
  end
  return {table.concat(out), redis.call('ZCARD', K[2]), erased}
end

local results, first = {}, 1
for s = 1, (#ARGV - 8) / 2 do
  local n = tonumber(ARGV[7 + 2 * s])
  local K = {}
  for k = 1, n do K[k] = KEYS[first + k - 1] end
  first = first + n
  results[s] = merge_shard(K, cmsgpack.unpack(ARGV[8 + 2 * s]))
end
return results
