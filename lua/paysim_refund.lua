-- paysim_refund.lua: the in-process payment simulator marks one payment refunded in its ledger
-- (the layout is in paysim_record.lua).
--
--   fs:{paysim}:payment    hash    payment id -> JSON; status becomes "refunded", refunded_ms set
--
-- KEYS: 1 payment
-- ARGV: 1 payment id
-- Returns 'refunded' (changed now), 'already' (refunded before), 'declined' (nothing was taken:
-- unchanged) or 'missing' (no such payment).

local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
    return 'missing'
end
local p = cjson.decode(raw)
if p.status == 'refunded' then
    return 'already'
end
if p.status ~= 'succeeded' then
    return p.status
end
local t = redis.call('TIME')
p.status = 'refunded'
p.refunded_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(p))
return 'refunded'
