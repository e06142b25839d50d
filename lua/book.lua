-- book.lua: decide one booking atomically, in one round trip.
--
-- Key layout of one sale (every key shares the hash tag, so this runs on Redis Cluster too):
--
--   fs:{sale:ID}:meta          hash    state (active|paused|stopped), starts_ms, ends_ms,
--                                      limit, rate, burst, hold_ms, default_item, name, and the
--                                      conservation counters (shared/stats/conservation.h):
--                                      units_accepted (+qty here, per booking accepted),
--                                      units_returned_expire / units_returned_cancel (release.lua)
--   fs:{sale:ID}:stock         hash    item id -> units remaining
--   fs:{sale:ID}:price         hash    item id -> price in cents
--   fs:{sale:ID}:users         hash    user id -> units held across all items
--   fs:{sale:ID}:bucket        hash    tokens, ts_ms              (admission token bucket)
--   fs:{sale:ID}:idem:U:K      string  "rid|item|qty|expires_ms"  (Idempotency-Key K of user U)
--   fs:{sale:ID}:res:RID       hash    user, item, qty, price, status, expires_ms
--   fs:{sale:ID}:stream        stream  one entry per accepted booking, read by the worker
--   fs:{sale:ID}:reservations  set     every reservation id accepted (reconciliation's index)
--   fs:{sale:ID}:rl:ip:IP      string  GCRA theoretical arrival time of a client IP (ms)
--   fs:{sale:ID}:rl:u:U        string  GCRA theoretical arrival time of a user (ms)
--   fs:{sale:ID}:pow:NONCE     string  a proof-of-work challenge already spent
--   fs:{sale:ID}:wr:buyer      hash    user -> "<entry>|c|pos|ms" or "<entry>|f|pos|ms[|a]"
--   fs:{sale:ID}:wr:adm        zset    admitted, unbooked entries -> admission expiry (ms)
--   fs:{sale:ID}:wr:done       hash    entry -> booked | noshow    (the waiting room's ends)
--   fs:{sale:ID}:wr:meta       hash    the waiting room's counters (booked += 1 here)
--                                      (lua/queue_join.lua draws the waiting room's layout)
--
-- The stream entry is {type=book, rid, user, item, qty, price, ts, expires_ms[, arr]}: the field
-- list of shared/booking/streamentry.h, which names, writes and parses it for the worker and
-- reconciliation. tests/lua/tst_booklua.cpp parses this script's entry with that parser.
--
-- KEYS: 1 meta, 2 stock, 3 price, 4 users, 5 bucket, 6 idem, 7 res, 8 stream, 9 reservations,
--       10 rl ip, 11 rl user, 12 pow nonce   (10-12 may be absent when their feature is off),
--       13 wr:buyer, 14 wr:adm, 15 wr:done, 16 wr:meta (used only when the sale has a waiting
--       room; the API always declares them, as Redis Cluster asks of every key a script touches)
-- ARGV: 1 user id, 2 item id ('' = the sale's only item), 3 quantity, 4 reservation id,
--       5 idempotency key ('' = none; KEYS[6] is then unused), 6 idempotency TTL in ms,
--       7 IP rate per s (0 = off), 8 IP burst, 9 user rate per s (0 = off), 10 user burst,
--       11 difficulty the presented challenge was issued with (-1 = none presented; the API
--       checked the challenge's signature and that the solution meets it), 12 ms until the
--       challenge expires,
--       13 arrival time at the API in microseconds ('' = unknown; kept in the stream entry),
--       14 deadline in ms since the epoch ('' or absent = none): when Redis runs the script at
--       or after it, the API has already answered 503 (its Redis timeout), so nothing is booked,
--       15 admission entry ('' or absent = no X-Admission-Token; the API checked the token's MAC,
--       sale, buyer and expiry and passes the entry id it names)
--
-- Checks, in order: sale exists, rate limits, idempotent replay, state and time window, waiting-room
-- admission (a sale with wr=1: the buyer's own entry, admitted, not expired, not spent; the proof
-- of work was spent at the join, so it is not asked again), proof of work (required, issued at
-- least as hard as the sale asks now, not spent before), item, per-user cap, stock, admission
-- bucket.
-- A token (bucket or admission) is spent only by a booking that is otherwise accepted: a refusal
-- for stock or the cap leaves the admission usable until it expires. An accepted waiting-room
-- booking ends its admission: ZREM wr:adm, wr:done[entry] = booked, wr:meta booked += 1.
-- Writes nothing for an unknown sale or one that has ended (stopped or past ends_ms): rate
-- limits are skipped for those, so such requests create no key (tests/security/tst_redisbounds).
--
-- Returns an array whose first element is the outcome's code (shared/booking/outcome.cpp: the
-- same name is the metric label, and gives the problem type and status):
--   {'accepted', rid, item, qty, expires_ms, remaining, replayed (0|1), price}
--   {'unknown_sale'}   {'not_started', starts_ms, now_ms}   {'closed'}   {'paused'}
--   {'item_required'}   {'unknown_item'}   {'insufficient_stock', remaining}
--   {'sold_out', whole}   (whole: 1 when every item of the sale is at 0, else 0; always 0
--                          for a sale of more than 16 items)
--   {'per_user_limit', held, limit}   {'throttled', retry_after_ms}   {'idempotency_mismatch'}
--   {'rate_limited', 'ip'|'user', retry_after_ms}
--   {'pow_required', difficulty}  {'pow_too_easy', difficulty}  {'pow_replayed'}
--   {'admission_required'}  {'admission_invalid'}  {'admission_expired'}  {'admission_spent'}
--   {'late', ms_past_deadline}   (no outcome: BookingService turns it into a timeout)

-- @include gcra
-- @include replay

local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_ms', 'ends_ms', 'limit', 'rate',
    'burst', 'hold_ms', 'default_item', 'pow', 'wr')
local state = meta[1]
if not state then
    return {'unknown_sale'}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Run too late: the request reached Redis after the API gave up on it and answered 503, as when
-- a partition or a stalled Redis holds the command and TCP delivers it on recovery. Booking now
-- would give the buyer an order they were told they did not get (their retries may be over), so
-- decide nothing and write nothing.
local deadline = tonumber(ARGV[14] or '')
if deadline and now >= deadline then
    return {'late', now - deadline}
end

local ip_rate, user_rate = tonumber(ARGV[7] or '0'), tonumber(ARGV[9] or '0')
-- A sale that has ended (stopped, or past its end) keeps no rate-limit state: requests about it
-- create no keys (I9), and its answer below is 'closed' (or a replay) whatever the rate.
if (state ~= 'active' and state ~= 'paused') or now >= tonumber(meta[3]) then
    ip_rate, user_rate = 0, 0
end
local limited = rate_limit(now, KEYS[10], ip_rate, tonumber(ARGV[8]), KEYS[11], user_rate,
    tonumber(ARGV[10]))
if limited then
    return limited
end

local user, item, qty, rid = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local idem = ARGV[5]
if item == '' then
    item = meta[8]
    if not item or item == '' then
        return {'item_required'}
    end
end

if idem ~= '' then
    local answer = replay(KEYS[6], KEYS[2], KEYS[3], item, qty)
    if answer then
        return answer
    end
end

if state == 'paused' then
    return {'paused'}
end
if state ~= 'active' or now >= tonumber(meta[3]) then
    return {'closed'}
end
if now < tonumber(meta[2]) then
    return {'not_started', tonumber(meta[2]), now}
end

-- A sale with a waiting room books only admitted buyers, once per admission.
local entry
if meta[10] == '1' then
    entry = ARGV[15] or ''
    if entry == '' then
        return {'admission_required'}
    end
    local v = redis.call('HGET', KEYS[13], ARGV[1])
    if not v or string.sub(v, 1, #entry + 1) ~= entry .. '|' then
        return {'admission_invalid'}
    end
    local exp = redis.call('ZSCORE', KEYS[14], entry)
    if not exp then -- booked: spent; a no-show: expired; else never admitted
        local d = redis.call('HGET', KEYS[15], entry)
        if d == 'booked' then
            return {'admission_spent'}
        elseif d == 'noshow' then
            return {'admission_expired'}
        end
        return {'admission_invalid'}
    end
    if tonumber(exp) <= now then
        return {'admission_expired'}
    end
end

-- The difficulty the sale asks for now: its base, plus the bits the challenge route adds while
-- the admission bucket runs low (ApiRoutes::challenge, same thresholds: +1 below half full, +2
-- below a quarter, +4 below a tenth, at most 28). The presented difficulty is the one the
-- challenge was issued with (signed into it; the API checked the solution meets it), so a
-- challenge fetched while the sale was calm cannot be spent once it is crowded.
local pow = tonumber(meta[9] or '0')
local presented = tonumber(ARGV[11] or '-1')
if entry then -- admitted: the work was spent per entry, at the join
    pow, presented = 0, -1
end
if pow > 0 and presented < 0 then
    return {'pow_required', pow}
end
if presented >= 0 then
    local required = pow
    local bucket_rate = tonumber(meta[5] or '0')
    if pow > 0 and bucket_rate > 0 then
        local bucket_size = math.max(1, tonumber(meta[6] or '1'))
        local b = redis.call('HMGET', KEYS[5], 'tokens', 'ts')
        if b[1] then
            local fill = math.min(bucket_size, tonumber(b[1])
                + math.max(0, now - tonumber(b[2] or now)) * bucket_rate / 1000) / bucket_size
            if fill < 0.1 then
                required = pow + 4
            elseif fill < 0.25 then
                required = pow + 2
            elseif fill < 0.5 then
                required = pow + 1
            end
            required = math.min(required, 28)
        end
    end
    if presented < required then
        return {'pow_too_easy', required}
    end
    -- Spent once, whatever the booking's outcome after this point.
    if not redis.call('SET', KEYS[12], '1', 'NX', 'PX', math.max(1, tonumber(ARGV[12]))) then
        return {'pow_replayed'}
    end
end

local remaining = redis.call('HGET', KEYS[2], item)
if not remaining then
    return {'unknown_item'}
end
remaining = tonumber(remaining)

local limit = tonumber(meta[4])
local held = tonumber(redis.call('HGET', KEYS[4], user) or '0')
if held + qty > limit then
    return {'per_user_limit', held, limit}
end

if remaining == 0 then
    -- And whether the whole sale is: every item at 0. The API then answers the sale's bookings
    -- from memory before it reads their bodies (ApiRoutes::book), until stock comes back. Only
    -- for sales of a few items: the scan is O(items) on every sold-out answer, and a sale of
    -- 10,000 one-unit items (the hourly sale) would spend Redis's core on it. A larger sale says
    -- 0 and its sold-out items are remembered one by one, after the body names them.
    local whole = 1
    if redis.call('HLEN', KEYS[2]) > 16 then
        whole = 0
    else
        for _, left in ipairs(redis.call('HVALS', KEYS[2])) do
            if tonumber(left) > 0 then
                whole = 0
                break
            end
        end
    end
    return {'sold_out', whole}
end
if remaining < qty then
    return {'insufficient_stock', remaining}
end

local rate = tonumber(meta[5])
if rate > 0 then
    local burst = tonumber(meta[6])
    local b = redis.call('HMGET', KEYS[5], 'tokens', 'ts')
    local tokens = tonumber(b[1]) or burst
    local ts = tonumber(b[2]) or now
    if now > ts then
        tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
    end
    if tokens < 1 then
        return {'throttled', math.ceil((1 - tokens) * 1000 / rate)}
    end
    redis.call('HSET', KEYS[5], 'tokens', tostring(tokens - 1), 'ts', now)
end

-- Numbers handed to redis.call are formatted with sprintf("%.17g") inside Redis 7.0, and that
-- formatting was 8% of this script's CPU (perf, docs/BENCHMARKS.md "book.lua's success path"):
-- the values are kept as strings here, each formatted once. The price is the stored field as it is.
local qty_s = tostring(qty)
local expires = now + tonumber(meta[7])
local expires_s = tostring(expires)
local price_s = redis.call('HGET', KEYS[3], item) or '0'
remaining = redis.call('HINCRBY', KEYS[2], item, '-' .. qty_s)
-- The units leave the stock hash and enter units_accepted in the same step, so
-- remaining + units_accepted - returned is constant between adjustments (docs/ADMIN_PROTOCOL.md,
-- "Conservation").
redis.call('HINCRBY', KEYS[1], 'units_accepted', qty_s)
redis.call('HINCRBY', KEYS[4], user, qty_s)
redis.call('HSET', KEYS[7], 'user', user, 'item', item, 'qty', qty_s, 'price', price_s,
    'status', 'held', 'expires_ms', expires_s)
-- Kept well past the hold so late status lookups and purchases still find it.
redis.call('PEXPIRE', KEYS[7], tostring(tonumber(meta[7]) + 86400000))
-- The index has no expiry of its own: it goes with the sale's other keys, which the scheduler
-- gives their expiry when the sale closes (lua/retire.lua).
redis.call('SADD', KEYS[9], rid)
local now_s = tostring(now)
if ARGV[13] and ARGV[13] ~= '' then
    redis.call('XADD', KEYS[8], '*', 'type', 'book', 'rid', rid, 'user', user, 'item', item,
        'qty', qty_s, 'price', price_s, 'ts', now_s, 'expires_ms', expires_s, 'arr', ARGV[13])
else
    redis.call('XADD', KEYS[8], '*', 'type', 'book', 'rid', rid, 'user', user, 'item', item,
        'qty', qty_s, 'price', price_s, 'ts', now_s, 'expires_ms', expires_s)
end
if idem ~= '' then
    redis.call('SET', KEYS[6], rid .. '|' .. item .. '|' .. qty_s .. '|' .. expires_s, 'PX', ARGV[6])
end
if entry then
    redis.call('ZREM', KEYS[14], entry)
    redis.call('HSET', KEYS[15], entry, 'booked')
    redis.call('HINCRBY', KEYS[16], 'booked', 1)
end
return {'accepted', rid, item, qty, expires, remaining, 0, tonumber(price_s)}
