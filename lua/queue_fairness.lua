-- queue_fairness.lua: one page of a waiting room's fairness publication (GET
-- /api/v1/sales/{id}/fairness, docs/WAITING_ROOM.md "The publication"). Read only: a request
-- about an unknown sale or one without a waiting room makes no key (I9).
--
-- KEYS: 1 meta, 2 wr:meta, 3 wr:ranked
-- ARGV: 1 after (ranks 1..after are skipped), 2 limit
-- Returns:
--   {'unknown_sale'}   {'no_waiting_room'}
--   {'page', lobby_ms, close_ms, commitment, ranked (0|1), seed, digest, shuffle_seed,
--    cohort_n (-1 before the seal), sealed_ms (-1), now, id of rank after+1, ...}

local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_ms', 'wr', 'grace_ms', 'lobby_ms')
if not meta[1] then
    return {'unknown_sale'}
end
if meta[3] ~= '1' then
    return {'no_waiting_room'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('HMGET', KEYS[2], 'commitment', 'ranked', 'seed', 'digest', 'shuffle_seed',
    'cohort_n', 'sealed_ms')
local out = {'page', tonumber(meta[5] or '0'), tonumber(meta[2]) + tonumber(meta[4] or '0'),
    m[1] or '', 0, '', '', '', -1, -1, now}
if m[2] ~= '1' then
    return out
end
out[5] = 1
out[6] = m[3]
out[7] = m[4]
out[8] = m[5]
out[9] = tonumber(m[6])
out[10] = tonumber(m[7])
local after = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if after < out[9] and limit > 0 then
    local ids = redis.call('LRANGE', KEYS[3], after, after + limit - 1)
    for i = 1, #ids do
        out[#out + 1] = ids[i]
    end
end
return out
