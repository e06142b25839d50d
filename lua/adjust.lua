-- adjust.lua: add units to an item's remaining stock, or take them away, atomically. Removing
-- more than remains is refused, so an adjustment can never take back units already held.
--
-- KEYS: 1 fs:{sale:ID}:stock
-- ARGV: 1 item id, 2 delta (non-zero integer)
-- Returns {'ok', before, after}, {'unknown_item'} or {'insufficient', remaining}.
-- Units added to an item at 0 are published on flashsale:stock-back (lib/stock_back.lua).

-- @include stock_back

local before = redis.call('HGET', KEYS[1], ARGV[1])
if not before then
    return {'unknown_item'}
end
before = tonumber(before)
local delta = tonumber(ARGV[2])
if before + delta < 0 then
    return {'insufficient', before}
end
local after = redis.call('HINCRBY', KEYS[1], ARGV[1], delta)
stock_back(KEYS[1], after, delta)
return {'ok', before, after}
