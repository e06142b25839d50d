-- conservation.lua: the Redis terms of one sale's conservation line, read in one atomic step
-- (shared/stats/conservation.h; docs/ADMIN_PROTOCOL.md, "Conservation").
--
--   fs:{sale:ID}:meta    hash   units_accepted         units book.lua took from the stock hash
--                               units_returned_expire  units release.lua gave back, mode expire
--                               units_returned_cancel  units release.lua (mode cancel) and
--                                                      reconcile_apply.lua gave back
--   fs:{sale:ID}:stock   hash   item id -> units remaining
--
-- Every script that moves units between the stock hash and the counters does both in one step,
-- so one read of all of them is a consistent cut: remaining + accepted - returned changes only
-- with a stock adjustment or a repair.
--
-- KEYS: 1 meta, 2 stock
-- Returns {} when the sale is not in Redis (never warmed, or retired), else
--   {remaining, items, accepted, returned_expire, returned_cancel}, the last three false (nil)
--   for a sale warmed before the counters existed.

if redis.call('EXISTS', KEYS[1]) == 0 then
    return {}
end
local remaining, items = 0, 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
    remaining = remaining + tonumber(v)
    items = items + 1
end
local c = redis.call('HMGET', KEYS[1], 'units_accepted', 'units_returned_expire',
    'units_returned_cancel')
return {remaining, items, tonumber(c[1]) or false, tonumber(c[2]) or false,
    tonumber(c[3]) or false}
