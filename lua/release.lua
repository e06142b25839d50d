-- release.lua: give the units of one reservation back, exactly once, however often it is
-- called (two expiry sweepers racing, a retried decline). Used for expired holds and for
-- declined payments.
--
--   fs:{sale:ID}:stock      hash    item id -> units remaining        (+qty)
--   fs:{sale:ID}:users      hash    user id -> units held              (-qty)
--   fs:{sale:ID}:released   set     reservation ids already released   (the exactly-once guard)
--   fs:{sale:ID}:res:RID    hash    status becomes 'cancelled'; purchase.lua then refuses it
--   fs:{sale:ID}:meta       hash    units_returned_expire or units_returned_cancel (by mode)
--                                   += qty, with the stock, exactly once (shared/stats/conservation.h)
--
-- KEYS: 1 stock, 2 users, 3 released, 4 res, 5 meta (every key declared: Redis Cluster routes by
--       them, and all share the sale's hash tag)
-- ARGV: 1 reservation id, 2 item id, 3 user id, 4 quantity,
--       5 mode: 'expire' (refuse when the buyer confirmed: the payment is in flight) or
--               'cancel' (release whatever the hold's state)
-- Returns {'released'}, {'already'}, {'in_flight'}, {'lost'} or {'retired'}: the sale's keys
-- expired after its retention (the scheduler), so there is no stock left to give back to and
-- nothing is written (I9: no key is made again for a sale that is gone).
-- {'lost'} (issue 20): there is no hold to release (a Redis data loss took the reservation
-- hash): no units are given back, since Redis no longer counts them as taken; the id is marked
-- released and the booking counted as accepted and returned (units_accepted and
-- units_returned_cancel), as lua/mark_lost.lua does, and the caller ends the order as
-- 'hold-lost'. Before issue 20 this returned the units anyway and answered 'released'.
-- Units given back to an item at 0 are published on flashsale:stock-back (lib/stock_back.lua).

-- @include stock_back

if redis.call('EXISTS', KEYS[1]) == 0 then
    return {'retired'}
end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
    return {'already'}
end
local status = redis.call('HGET', KEYS[4], 'status')
if not status then
    redis.call('SADD', KEYS[3], ARGV[1])
    if redis.call('EXISTS', KEYS[5]) == 1 then
        redis.call('HINCRBY', KEYS[5], 'units_accepted', tonumber(ARGV[4]))
        redis.call('HINCRBY', KEYS[5], 'units_returned_cancel', tonumber(ARGV[4]))
    end
    return {'lost'}
end
if ARGV[5] == 'expire' and status == 'confirmed' then
    return {'in_flight'}
end
redis.call('SADD', KEYS[3], ARGV[1])
local qty = tonumber(ARGV[4])
stock_back(KEYS[1], redis.call('HINCRBY', KEYS[1], ARGV[2], qty), qty)
local meta = KEYS[5]
if redis.call('EXISTS', meta) == 1 then
    local field = 'units_returned_cancel'
    if ARGV[5] == 'expire' then
        field = 'units_returned_expire'
    end
    redis.call('HINCRBY', meta, field, tonumber(ARGV[4]))
end
if redis.call('HINCRBY', KEYS[2], ARGV[3], -tonumber(ARGV[4])) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[3])
end
redis.call('HSET', KEYS[4], 'status', 'cancelled')
return {'released'}
