-- lib/queue_line.lua: spliced by RedisScript::load where a script has the line
-- "-- @include queue_line" (lua/queue_status.lua, lua/live.lua): the sale-wide state of a
-- waiting room's line, read only, for the buyer's position and ETA (docs/WAITING_ROOM.md,
-- "Position and ETA"). Parsed by QueueLine::fromReply (shared/booking/waitingroom.h).

-- The units left in a sale: the sum of its stock hash.
local function stock_remaining(stock_key)
    local remaining = 0
    for _, v in ipairs(redis.call('HVALS', stock_key)) do
        remaining = remaining + tonumber(v)
    end
    return remaining
end

-- {sealed (1|0), cohort_n (-1 before the seal), cursor, outstanding, remaining, admitted,
--  m0_ms, m0_n (the older 30 s rate mark of lua/queue_admit.lua; 0 before the first tick),
--  paused (1|0: admission or the sale), admit_pm (the sale's setting)}
local function queue_line(meta_key, wr_meta_key, adm_key, stock_key)
    local m = redis.call('HMGET', meta_key, 'state', 'admit_pm')
    local w = redis.call('HMGET', wr_meta_key, 'ranked', 'cohort_n', 'cursor', 'admitted',
        'm0_ms', 'm0_n', 'paused')
    local sealed = 0
    if w[1] == '1' then
        sealed = 1
    end
    local paused = 0
    if w[7] == '1' or m[1] == 'paused' then
        paused = 1
    end
    return {sealed, tonumber(w[2] or '-1'), tonumber(w[3] or '0'), redis.call('ZCARD', adm_key),
        stock_remaining(stock_key), tonumber(w[4] or '0'), tonumber(w[5] or '0'),
        tonumber(w[6] or '0'), paused, tonumber(m[2] or '0')}
end
