-- purchase.lua: confirm a held reservation (the checkout code of POST /purchase?code=C).
-- Confirming records the buyer's intent to pay; payment itself happens downstream, and the
-- hold is then no longer expired under it. Idempotent: confirming twice answers the same.
--
--   fs:{sale:ID}:res:RID   hash    user, item, qty, price, status (held|confirmed|...),
--                                  expires_ms
--   fs:{sale:ID}:stream    stream  gets {type=confirm, rid, ts} (shared/booking/streamentry.h)
--
-- KEYS: 1 res, 2 stream
-- ARGV: 1 reservation id, 2 the user who must own it ('' or absent = anyone: dev mode, payment)
-- Returns {'confirmed', user, item, qty, price, replayed (0|1)}, {'unknown'},
--         {'expired', expires_ms}, {'ended', status} or {'forbidden'} (another user's hold)

local r = redis.call('HMGET', KEYS[1], 'status', 'expires_ms', 'user', 'item', 'qty', 'price')
local status = r[1]
if not status then
    return {'unknown'}
end
if ARGV[2] and ARGV[2] ~= '' and ARGV[2] ~= r[3] then
    return {'forbidden'}
end
if status == 'confirmed' then
    return {'confirmed', r[3], r[4], tonumber(r[5]), tonumber(r[6]), 1}
end
if status ~= 'held' then
    return {'ended', status}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(r[2]) then
    return {'expired', tonumber(r[2])}
end
redis.call('HSET', KEYS[1], 'status', 'confirmed')
redis.call('XADD', KEYS[2], '*', 'type', 'confirm', 'rid', ARGV[1], 'ts', now)
return {'confirmed', r[3], r[4], tonumber(r[5]), tonumber(r[6]), 0}
