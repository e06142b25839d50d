-- lib/stock_back.lua: tells every API process that an item of a sale has units again, spliced
-- ("-- @include stock_back") into each script that gives stock back: release.lua (an expired
-- hold, a declined payment, a cancellation), adjust.lua (a merchant's adjustment),
-- reconcile_apply.lua (a reconciliation repair) and warm.lua (a sale loaded again).
--
--   PUBLISH flashsale:stock-back <sale id>    (the id read from the stock key's hash tag,
--                                              fs:{sale:ID}:stock)
--
-- Only when `added` > 0 units brought an item from 0 (or below) to above 0: an item with units
-- left can be remembered sold out by no API process, so nothing else needs telling. The API
-- processes subscribe (shared/redis/redissubscriber.h) and forget what they remember of the
-- sale as sold out (shared/booking/stockbacknotices.h), so a returned unit is sold at once.
-- PUBLISH touches no key: scripts may call it on Redis Cluster too, which broadcasts it to
-- every node.
local function stock_back(stock_key, after, added)
    if added > 0 and after > 0 and after - added <= 0 then
        redis.call('PUBLISH', 'flashsale:stock-back',
            string.match(stock_key, '{sale:(%d+)}') or stock_key)
    end
end
