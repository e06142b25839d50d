-- queue_seal_finish.lua: the two closing stages of a waiting room's seal
-- (shared/waitingroom/sealer.h, docs/WAITING_ROOM.md "The seal").
--
-- Stage 'ranked': the sealer has written the cohort in rank order to wr:ranking (DEL, then
-- RPUSH in batches). Checks that it holds cohort_n ids, then RENAMEs it onto wr:ranked in one
-- step (a reader never sees a half-written list, also when a new leader redoes the seal) and
-- publishes seed, digest, shuffle_seed, sealed_ms (kept from the first seal) and ranked = 1.
-- A redo must publish the same seed, digest and shuffle seed, or nothing is changed.
-- Stage 'positions': the sealer has written wr:rank (id -> rank); checks it holds cohort_n ids,
-- sets positions = 1 and drops wr:addr (the address cap is of no use after the close).
--
-- KEYS: 1 wr:meta, 2 wr:ranking, 3 wr:ranked, 4 wr:rank, 5 wr:addr
-- ARGV: 1 stage ('ranked' | 'positions'), 2 cohort_n, 3 seed hex, 4 digest, 5 shuffle_seed hex
-- Returns:
--   {'ranked', sealed_ms}   {'positions'}
--   {'not_begun'}   {'size_mismatch', expected, found}   {'redo_mismatch', field}

local m = redis.call('HMGET', KEYS[1], 'cohort_n', 'ranked', 'seed', 'digest', 'shuffle_seed')
if not m[1] then
    return {'not_begun'}
end
local n = tonumber(m[1])
if tonumber(ARGV[2]) ~= n then
    return {'size_mismatch', n, tonumber(ARGV[2])}
end
if ARGV[1] == 'positions' then
    local found = redis.call('HLEN', KEYS[4])
    if found ~= n then
        return {'size_mismatch', n, found}
    end
    redis.call('HSET', KEYS[1], 'positions', 1)
    redis.call('DEL', KEYS[5])
    return {'positions'}
end
if m[2] == '1' then
    if m[3] ~= ARGV[3] then return {'redo_mismatch', 'seed'} end
    if m[4] ~= ARGV[4] then return {'redo_mismatch', 'digest'} end
    if m[5] ~= ARGV[5] then return {'redo_mismatch', 'shuffle_seed'} end
end
local found = redis.call('LLEN', KEYS[2])
if found ~= n then
    return {'size_mismatch', n, found}
end
if n > 0 then
    redis.call('RENAME', KEYS[2], KEYS[3])
else
    redis.call('DEL', KEYS[3])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSETNX', KEYS[1], 'sealed_ms', now)
redis.call('HSET', KEYS[1], 'seed', ARGV[3], 'digest', ARGV[4], 'shuffle_seed', ARGV[5],
    'ranked', 1)
return {'ranked', tonumber(redis.call('HGET', KEYS[1], 'sealed_ms'))}
