-- stock_total.lua: the units a sale has left across all its items, summed inside Redis so a
-- 10,000-item sale is one small reply.
--
-- KEYS: 1 fs:{sale:ID}:stock
-- Returns the sum, or -1 when the sale is not in Redis.

local values = redis.call('HVALS', KEYS[1])
if #values == 0 then
    return -1
end
local sum = 0
for _, v in ipairs(values) do
    sum = sum + tonumber(v)
end
return sum
