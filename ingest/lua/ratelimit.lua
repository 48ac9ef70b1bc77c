-- Rate limit, GCRA (a token bucket kept as one number): one key per credential.
-- KEYS[1] the credential's bucket: the theoretical arrival time (TAT), microseconds.
-- ARGV[1] emission interval (microseconds per request), ARGV[2] burst (requests).
-- Returns {allowed (1|0), retry_after_ms}. Time is Redis's own clock, so every ingest
-- process agrees whatever its host's clock says.
if redis.replicate_commands then redis.replicate_commands() end  -- 6.2: write after TIME
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, math.ceil((allow_at - now) / 1000)}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
