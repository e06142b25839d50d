-- queue_view.lua: an operator's read of one sale's waiting room (docs/WAITING_ROOM.md,
-- "Operating it"): the line, admission's counters and its measured pace, in one atomic read.
-- Read-only: it writes nothing and creates no key, for any sale (I9).
--
--   fs:{sale:ID}:meta      hash   state, wr (1 = waiting room), admit_pm
--   fs:{sale:ID}:wr:meta   hash   cohort_n, ranked (1 = sealed), paused, cursor, admitted,
--                                 noshows, booked (book.lua), sold_out, m0_ms m0_n (the older
--                                 30 s rate mark lua/queue_admit.lua keeps)
--   fs:{sale:ID}:wr:cohort list   the lobby / cohort in arrival order
--   fs:{sale:ID}:wr:fifo   list   later joiners
--   fs:{sale:ID}:wr:adm    zset   admitted, not yet booked nor expired
--   fs:{sale:ID}:stock     hash   item id -> units remaining
--
--                 wr:ranked (cohort_n, shuffled)           wr:fifo
--   line:   [ 1 2 3 ... cohort_n | cohort_n+1 ... cohort_n+LLEN(fifo) ]
--                      ^ cursor: entries admitted so far, in line order
--
-- KEYS: 1 meta, 2 wr:meta, 3 wr:cohort, 4 wr:fifo, 5 wr:adm, 6 stock
-- ARGV: none
--
-- Returns {'view', cohort_len, fifo_len, noshows, booked, sold_out (0|1), room_paused (0|1: the
--          room's own pause), now_ms, state, <the line: the 10 fields of queue_line in
--          lua/lib/queue_line.lua, whose paused also counts a paused sale>}
--   now_ms Redis' clock; state the sale's state (active, paused, stopped). The measured rate
--   and the rest are computed from the line by QueueLine (shared/booking/waitingroom.h), as for
--   the buyers' position and ETA.
-- or {'unknown_sale'} (not in Redis) or {'no_waiting_room'}.

-- @include queue_line

local meta = redis.call('HMGET', KEYS[1], 'state', 'wr')
if not meta[1] then
    return {'unknown_sale'}
end
if meta[2] ~= '1' then
    return {'no_waiting_room'}
end
local wr = redis.call('HMGET', KEYS[2], 'noshows', 'booked', 'sold_out', 'paused')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local reply = {'view', redis.call('LLEN', KEYS[3]), redis.call('LLEN', KEYS[4]),
    tonumber(wr[1] or '0'), tonumber(wr[2] or '0'), wr[3] == '1' and 1 or 0,
    wr[4] == '1' and 1 or 0, now, meta[1]}
for _, v in ipairs(queue_line(KEYS[1], KEYS[2], KEYS[5], KEYS[6])) do
    reply[#reply + 1] = v
end
return reply
