-- queue_seal_begin.lua: the first stage of a waiting room's seal (shared/waitingroom/sealer.h,
-- docs/WAITING_ROOM.md "The seal"). Redis' own clock decides, as it decided every join: before
-- starts_ms + grace_ms the cohort is still open and nothing is written. From then on the
-- cohort's size is frozen once, HSETNX cohort_n = LLEN wr:cohort and close_ms, so a sealer that
-- runs again (a new leader after a crash) seals exactly the same entries.
--
-- KEYS: 1 meta, 2 wr:meta, 3 wr:cohort
-- Returns:
--   {'unknown_sale'}   {'no_waiting_room'}   {'early', close_ms, now}
--   {'begun', cohort_n, close_ms, ranked (0|1), commitment, now}

local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_ms', 'wr', 'grace_ms')
if not meta[1] then
    return {'unknown_sale'}
end
if meta[3] ~= '1' then
    return {'no_waiting_room'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local close = tonumber(meta[2]) + tonumber(meta[4] or '0')
if now < close then
    return {'early', close, now}
end
redis.call('HSETNX', KEYS[2], 'cohort_n', redis.call('LLEN', KEYS[3]))
redis.call('HSETNX', KEYS[2], 'close_ms', close)
local m = redis.call('HMGET', KEYS[2], 'cohort_n', 'close_ms', 'ranked', 'commitment')
return {'begun', tonumber(m[1]), tonumber(m[2]), m[3] == '1' and 1 or 0, m[4] or '', now}
