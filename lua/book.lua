-- book.lua: decide one booking atomically, in one round trip.
--
-- Key layout of one sale (every key shares the hash tag, so this runs on Redis Cluster too):
--
--   fs:{sale:ID}:meta          hash    state (active|paused|stopped), starts_ms, ends_ms,
--                                      limit, rate, burst, hold_ms, default_item, name
--   fs:{sale:ID}:stock         hash    item id -> units remaining
--   fs:{sale:ID}:price         hash    item id -> price in cents
--   fs:{sale:ID}:users         hash    user id -> units held across all items
--   fs:{sale:ID}:bucket        hash    tokens, ts_ms              (admission token bucket)
--   fs:{sale:ID}:idem:U:K      string  "rid|item|qty|expires_ms"  (Idempotency-Key K of user U)
--   fs:{sale:ID}:res:RID       hash    user, item, qty, price, status, expires_ms
--   fs:{sale:ID}:stream        stream  one entry per accepted booking, read by the worker
--   fs:{sale:ID}:reservations  set     every reservation id accepted (reconciliation's index)
--
-- KEYS: 1 meta, 2 stock, 3 price, 4 users, 5 bucket, 6 idem, 7 res, 8 stream, 9 reservations
-- ARGV: 1 user id, 2 item id ('' = the sale's only item), 3 quantity, 4 reservation id,
--       5 idempotency key ('' = none; KEYS[6] is then unused), 6 idempotency TTL in ms
--
-- Checks, in order: sale exists, idempotent replay, state and time window, item, per-user cap,
-- stock, admission bucket. A token is spent only by a booking that is otherwise accepted.
--
-- Returns an array whose first element is the outcome:
--   {'accepted', rid, item, qty, expires_ms, remaining, replayed (0|1), price}
--   {'unknown_sale'}   {'not_started', starts_ms, now_ms}   {'closed'}   {'paused'}
--   {'item_required'}           {'unknown_item'}              {'sold_out'}    {'insufficient', remaining}
--   {'limit', held, limit}      {'throttled', retry_after_ms} {'idem_mismatch'}

local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_ms', 'ends_ms', 'limit', 'rate',
    'burst', 'hold_ms', 'default_item')
local state = meta[1]
if not state then
    return {'unknown_sale'}
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
    local prev = redis.call('GET', KEYS[6])
    if prev then
        local prid, pitem, pqty, pexp = string.match(prev, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
        if pitem ~= item or tonumber(pqty) ~= qty then
            return {'idem_mismatch'}
        end
        local remaining = tonumber(redis.call('HGET', KEYS[2], item) or '0')
        local price = tonumber(redis.call('HGET', KEYS[3], item) or '0')
        return {'accepted', prid, item, qty, tonumber(pexp), remaining, 1, price}
    end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if state == 'paused' then
    return {'paused'}
end
if state ~= 'active' or now >= tonumber(meta[3]) then
    return {'closed'}
end
if now < tonumber(meta[2]) then
    return {'not_started', tonumber(meta[2]), now}
end

local remaining = redis.call('HGET', KEYS[2], item)
if not remaining then
    return {'unknown_item'}
end
remaining = tonumber(remaining)

local limit = tonumber(meta[4])
local held = tonumber(redis.call('HGET', KEYS[4], user) or '0')
if held + qty > limit then
    return {'limit', held, limit}
end

if remaining == 0 then
    return {'sold_out'}
end
if remaining < qty then
    return {'insufficient', remaining}
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

local expires = now + tonumber(meta[7])
local price = tonumber(redis.call('HGET', KEYS[3], item) or '0')
remaining = redis.call('HINCRBY', KEYS[2], item, -qty)
redis.call('HINCRBY', KEYS[4], user, qty)
redis.call('HSET', KEYS[7], 'user', user, 'item', item, 'qty', qty, 'price', price,
    'status', 'held', 'expires_ms', expires)
-- Kept well past the hold so late status lookups and purchases still find it.
redis.call('PEXPIRE', KEYS[7], tonumber(meta[7]) + 86400000)
redis.call('SADD', KEYS[9], rid)
redis.call('PEXPIRE', KEYS[9], tonumber(meta[7]) + 86400000)
redis.call('XADD', KEYS[8], '*', 'type', 'book', 'rid', rid, 'user', user, 'item', item,
    'qty', qty, 'price', price, 'ts', now, 'expires_ms', expires)
if idem ~= '' then
    redis.call('SET', KEYS[6], rid .. '|' .. item .. '|' .. qty .. '|' .. expires, 'PX', ARGV[6])
end
return {'accepted', rid, item, qty, expires, remaining, 0, price}
