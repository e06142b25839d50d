-- queue_admit.lua: one admission tick of a sealed waiting room (docs/WAITING_ROOM.md,
-- "Admission"), atomically. The scheduler's driver runs it per sale every tick (250 ms) through
-- WaitingRoomService::admitTick; lua/queue_join.lua draws the key layout.
--
--   fs:{sale:ID}:meta      hash   read: state, ends_ms, wr, admit_pm, adm_ttl_ms
--   fs:{sale:ID}:wr:meta   hash   read: ranked (1 once wr:ranked is complete), cohort_n, paused;
--                                 written: cursor (entries admitted so far, in line order),
--                                 allow / allow_ms (the rate's allowance and when it was
--                                 counted), admitted, noshows, sold_out (1|0), and the 30 s rate
--                                 marks m0_ms m0_n m1_ms m1_n (admitted at the two latest marks;
--                                 the position/ETA read the rate from them)
--   fs:{sale:ID}:wr:ranked list   the cohort in rank order (the seal)
--   fs:{sale:ID}:wr:fifo   list   later joiners, arrival order: admitted after the whole cohort
--   fs:{sale:ID}:wr:adm    zset   admitted, not yet booked: entry -> expiry ms (book.lua removes
--                                 an entry when it books)
--   fs:{sale:ID}:wr:done   hash   entry -> noshow (here) | booked (book.lua)
--   fs:{sale:ID}:stock     hash   item id -> units remaining
--
-- KEYS: 1 meta, 2 wr:meta, 3 wr:ranked, 4 wr:fifo, 5 wr:adm, 6 wr:done, 7 stock
-- ARGV: 1 k, the admit factor (admitted-but-unbooked <= ceil(k x remaining units)),
--       2 the most entries one tick admits (1000)
--
-- In order:
--   1. No-shows: admissions past their expiry leave wr:adm (at most 1,000 a tick), marked noshow
--      in wr:done, counted in noshows: their place is freed for the next in line.
--   2. remaining = the sum of the stock hash. 0: sold_out = 1, nothing admitted; > 0: sold_out
--      = 0 (stock came back: an expired or declined hold, lua/release.lua).
--   3. Paused (wr:meta paused = 1, or the sale itself paused): the allowance clock is moved to
--      now, so a resume brings no flood.
--   4. allowance += elapsed ms x admit_pm / 60000, capped at one second's worth (at least 1);
--      the first tick after the seal starts with that second's worth.
--   5. n = min(floor(allowance), ceil(k x remaining) - outstanding, ARGV[2], entries left);
--      the next n from wr:ranked at the cursor, then wr:fifo at cursor - cohort_n, enter wr:adm
--      with expiry now + adm_ttl_ms; the cursor moves by n.
-- Writes nothing for an unknown sale, one without a waiting room, one not sealed yet or one
-- that has ended (I9).
--
-- Returns {outcome, admitted, expired, cursor, outstanding, remaining, sold_out (0|1)}, outcome
-- one of 'ok' 'paused' 'sold_out' (the counts after this tick), or {'unknown_sale'}
-- {'no_waiting_room'} {'not_sealed'} {'closed'}.

local meta = redis.call('HMGET', KEYS[1], 'state', 'ends_ms', 'wr', 'admit_pm', 'adm_ttl_ms')
local state = meta[1]
if not state then
    return {'unknown_sale'}
end
if meta[3] ~= '1' then
    return {'no_waiting_room'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if (state ~= 'active' and state ~= 'paused') or now >= tonumber(meta[2]) then
    return {'closed'}
end
local wr = redis.call('HMGET', KEYS[2], 'ranked', 'cohort_n', 'paused', 'cursor', 'allow',
    'allow_ms', 'admitted', 'm1_ms')
if wr[1] ~= '1' then
    return {'not_sealed'}
end

-- 1. No-shows.
local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 1000)
if #expired > 0 then
    redis.call('ZREM', KEYS[5], unpack(expired))
    local done = {}
    for i, e in ipairs(expired) do
        done[2 * i - 1] = e
        done[2 * i] = 'noshow'
    end
    redis.call('HSET', KEYS[6], unpack(done))
    redis.call('HINCRBY', KEYS[2], 'noshows', #expired)
end

local cursor = tonumber(wr[4] or '0')
local outstanding = redis.call('ZCARD', KEYS[5])

-- 2. What is left to sell.
local remaining = 0
for _, v in ipairs(redis.call('HVALS', KEYS[7])) do
    remaining = remaining + tonumber(v)
end
if remaining <= 0 then
    redis.call('HSET', KEYS[2], 'sold_out', 1)
    return {'sold_out', 0, #expired, cursor, outstanding, 0, 1}
end
redis.call('HSET', KEYS[2], 'sold_out', 0)

-- 3. Paused.
if wr[3] == '1' or state == 'paused' then
    redis.call('HSET', KEYS[2], 'allow_ms', now)
    return {'paused', 0, #expired, cursor, outstanding, remaining, 0}
end

-- 4. The rate's allowance.
local per_minute = tonumber(meta[4] or '600')
local cap = math.max(1, per_minute / 60)
local allow
if wr[6] then
    allow = tonumber(wr[5] or '0') + math.max(0, now - tonumber(wr[6])) * per_minute / 60000
else
    allow = cap
end
allow = math.min(allow, cap)

-- 5. Admit.
local cohort_n = tonumber(wr[2] or '0')
local left = cohort_n + redis.call('LLEN', KEYS[4]) - cursor
local n = math.min(math.floor(allow), math.ceil(tonumber(ARGV[1]) * remaining) - outstanding,
    tonumber(ARGV[2]), left)
local admitted = tonumber(wr[7] or '0')
local ids = {}
if n > 0 then
    if cursor < cohort_n then
        ids = redis.call('LRANGE', KEYS[3], cursor, math.min(cursor + n, cohort_n) - 1)
    end
    if #ids < n then
        local from = math.max(0, cursor - cohort_n)
        for _, e in ipairs(redis.call('LRANGE', KEYS[4], from, from + (n - #ids) - 1)) do
            ids[#ids + 1] = e
        end
    end
    n = #ids
end
if n > 0 then
    local expiry = now + tonumber(meta[5])
    local z = {}
    for i, e in ipairs(ids) do
        z[2 * i - 1] = expiry
        z[2 * i] = e
    end
    redis.call('ZADD', KEYS[5], unpack(z))
    cursor = cursor + n
    outstanding = outstanding + n
    allow = allow - n
    admitted = admitted + n
end
redis.call('HSET', KEYS[2], 'cursor', cursor, 'allow', tostring(allow), 'allow_ms', now,
    'admitted', admitted)
-- The 30 s rate marks: m1 the latest, m0 the one before.
if not wr[8] then
    redis.call('HSET', KEYS[2], 'm0_ms', now, 'm0_n', admitted - n, 'm1_ms', now, 'm1_n',
        admitted - n)
elseif now - tonumber(wr[8]) >= 30000 then
    local m1 = redis.call('HMGET', KEYS[2], 'm1_ms', 'm1_n')
    redis.call('HSET', KEYS[2], 'm0_ms', m1[1], 'm0_n', m1[2], 'm1_ms', now, 'm1_n', admitted)
end
return {'ok', n, #expired, cursor, outstanding, remaining, 0}
