-- queue_status.lua: a buyer's own waiting-room entry, read only (lua/queue_join.lua draws the
-- key layout). Writes nothing, so a poll about an unknown sale or a stranger's sale makes no
-- key (I9).
--
-- KEYS: 1 meta, 2 wr:meta, 3 wr:buyer, 4 wr:rank, 5 wr:adm, 6 wr:done, 7 stock
-- ARGV: 1 user id
-- Returns:
--   {'entry', entry, 'c'|'f', pos, joined_ms, flag, now, close_ms, commitment, open (1|0),
--    rank, cohort_n, admitted_until (ms; 0 = not admitted now), done ('booked' | 'noshow' | ''),
--    <the line: the 10 fields of queue_line in lua/lib/queue_line.lua>}
--       open = 0 once the sale is stopped or past ends_ms
--       rank: after the seal (shared/waitingroom/sealer.h) the place in line: a cohort entry's
--       from wr:rank once positions = 1, a FIFO entry's cohort_n + its FIFO position once
--       ranked = 1; -1 before. cohort_n: -1 until ranked = 1.
--       admitted_until is the entry's score in wr:adm, which the API signs into the admission
--       token as its expiry
--   {'unknown_sale'}   {'no_waiting_room'}   {'not_in_queue', now}

-- @include queue_line

local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_ms', 'ends_ms', 'wr', 'grace_ms')
local state = meta[1]
if not state then
    return {'unknown_sale'}
end
if meta[4] ~= '1' then
    return {'no_waiting_room'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local value = redis.call('HGET', KEYS[3], ARGV[1])
if not value then
    return {'not_in_queue', now}
end
local entry, kind, pos, joined, flag = string.match(value,
    '^([^|]*)|([cf])|([0-9]+)|([0-9]+)|?([a]?)$')
local open = 1
if (state ~= 'active' and state ~= 'paused') or now >= tonumber(meta[3]) then
    open = 0
end
local wr = redis.call('HMGET', KEYS[2], 'commitment', 'ranked', 'positions', 'cohort_n')
local rank, n = -1, -1
if wr[2] == '1' then
    n = tonumber(wr[4])
    if kind == 'f' then
        rank = n + tonumber(pos)
    elseif wr[3] == '1' then
        rank = tonumber(redis.call('HGET', KEYS[4], entry) or '-1')
    end
end
local reply = {'entry', entry, kind, tonumber(pos), tonumber(joined), flag, now,
    tonumber(meta[2]) + tonumber(meta[5]), wr[1] or '', open, rank, n,
    tonumber(redis.call('ZSCORE', KEYS[5], entry) or '0'), redis.call('HGET', KEYS[6], entry) or ''}
for _, v in ipairs(queue_line(KEYS[1], KEYS[2], KEYS[5], KEYS[7])) do
    reply[#reply + 1] = v
end
return reply
