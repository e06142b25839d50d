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
-- Returns {'released'}, {'already'}, {'in_flight'} or {'retired'}: the sale's keys expired after
-- its retention (the scheduler), so there is no stock left to give back to and nothing is
-- written (I9: no key is made again for a sale that is gone).

if redis.call('EXISTS', KEYS[1]) == 0 then
    return {'retired'}
end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
    return {'already'}
end
local status = redis.call('HGET', KEYS[4], 'status')
if ARGV[5] == 'expire' and status == 'confirmed' then
    return {'in_flight'}
end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[1], ARGV[2], tonumber(ARGV[4]))
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
if status then
    redis.call('HSET', KEYS[4], 'status', 'cancelled')
end
return {'released'}
