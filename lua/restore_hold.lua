-- restore_hold.lua: give Redis back the hold of an order PostgreSQL has as paid or paying
-- (issue 20). Redis lost it (a data loss), so its stock and the buyer's count are short of what
-- PostgreSQL sold; a paid order is not cancelled for that, Redis is put back in line instead.
-- Atomic with its check: a hold that is there (or was released) is left alone.
--
--   fs:{sale:ID}:res:RID        hash   user, item, qty, price, status, expires_ms (as book.lua
--                                      writes it; status 'confirmed': purchase and expiry leave
--                                      it alone), with book.lua's lifetime
--   fs:{sale:ID}:reservations   set    + RID (reconciliation's index)
--   fs:{sale:ID}:stock          hash   item -= qty
--   fs:{sale:ID}:users          hash   user += qty
--   fs:{sale:ID}:meta           hash   units_accepted += qty (conservation: Redis accepted it)
--
-- KEYS: 1 res, 2 released, 3 reservations, 4 stock, 5 users, 6 meta
-- ARGV: 1 reservation id, 2 item id, 3 user id, 4 quantity, 5 unit price, 6 expires_ms,
--       7 lifetime of the hash in ms
-- Returns {'restored'}, {'present'}, {'released'} or {'retired'}.

if redis.call('EXISTS', KEYS[4]) == 0 then
    return {'retired'}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
    return {'present'}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
    return {'released'}
end
local qty = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'user', ARGV[3], 'item', ARGV[2], 'qty', qty, 'price', ARGV[5],
    'status', 'confirmed', 'expires_ms', ARGV[6])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[7]))
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[2], -qty)
redis.call('HINCRBY', KEYS[5], ARGV[3], qty)
if redis.call('EXISTS', KEYS[6]) == 1 then
    redis.call('HINCRBY', KEYS[6], 'units_accepted', qty)
end
return {'restored'}
