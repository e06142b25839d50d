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
-- Returns {'view', cohort_len, fifo_len, cohort_n, sealed, cursor, admitted, outstanding,
--          noshows, booked, paused, sold_out, remaining, admit_pm, rate_pm, now_ms, state}
--   cohort_n -1 before the seal; sealed, paused (the room's own pause), sold_out 0|1;
--   rate_pm the entries admitted per minute since the older rate mark, as a decimal string
--   ("" when there is no mark yet or no time has passed since it); now_ms Redis' clock;
--   state the sale's state (active, paused, stopped).
-- or {'unknown_sale'} (not in Redis) or {'no_waiting_room'}.

local meta = redis.call('HMGET', KEYS[1], 'state', 'wr', 'admit_pm')
if not meta[1] then
    return {'unknown_sale'}
end
if meta[2] ~= '1' then
    return {'no_waiting_room'}
end
local wr = redis.call('HMGET', KEYS[2], 'cohort_n', 'ranked', 'paused', 'cursor', 'admitted',
    'noshows', 'booked', 'sold_out', 'm0_ms', 'm0_n')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local remaining = 0
for _, v in ipairs(redis.call('HVALS', KEYS[6])) do
    remaining = remaining + tonumber(v)
end

local admitted = tonumber(wr[5] or '0')
local rate = ''
if wr[9] and wr[10] and now > tonumber(wr[9]) then
    rate = string.format('%.3f', (admitted - tonumber(wr[10])) * 60000 / (now - tonumber(wr[9])))
end

return {'view', redis.call('LLEN', KEYS[3]), redis.call('LLEN', KEYS[4]),
    tonumber(wr[1] or '-1'), wr[2] == '1' and 1 or 0, tonumber(wr[4] or '0'), admitted,
    redis.call('ZCARD', KEYS[5]), tonumber(wr[6] or '0'), tonumber(wr[7] or '0'),
    wr[3] == '1' and 1 or 0, wr[8] == '1' and 1 or 0, remaining, tonumber(meta[3] or '600'), rate,
    now, meta[1]}
