-- warm.lua: load one sale into Redis before it opens. Idempotent: a sale already warm is left
-- exactly as it is (its stock may already be partly sold), and 0 is returned.
--
--   fs:{sale:ID}:meta    hash   state, starts_ms, ends_ms, limit, rate, burst, hold_ms,
--                               default_item, name; units_accepted, units_returned_expire,
--                               units_returned_cancel start at 0 (shared/stats/conservation.h)
--   fs:{sale:ID}:stock   hash   item id -> units remaining
--   fs:{sale:ID}:price   hash   item id -> price in cents
--   fs:{sale:ID}:items   hash   item id -> item name
--
-- KEYS: 1 meta, 2 stock, 3 price, 4 items
-- ARGV: 1 state, 2 starts_ms, 3 ends_ms, 4 limit, 5 rate, 6 burst, 7 hold_ms, 8 name,
--       9 pow (proof-of-work difficulty, 0 = none),
--       then triples (item id, stock, price) followed by item names in the same order:
--       ARGV[10 .. 9+3n] triples, ARGV[10+3n .. 9+4n] names
-- Returns 1 when the sale was written, 0 when it was already warm.

if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
local n = (#ARGV - 9) / 4
local default_item = ''
if n == 1 then
    default_item = ARGV[10]
end
for i = 0, n - 1 do
    local id = ARGV[10 + 3 * i]
    redis.call('HSET', KEYS[2], id, ARGV[11 + 3 * i])
    redis.call('HSET', KEYS[3], id, ARGV[12 + 3 * i])
    redis.call('HSET', KEYS[4], id, ARGV[10 + 3 * n + i])
end
-- meta last: its existence is what marks the sale as warm and open for book.lua.
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'starts_ms', ARGV[2], 'ends_ms', ARGV[3],
    'limit', ARGV[4], 'rate', ARGV[5], 'burst', ARGV[6], 'hold_ms', ARGV[7], 'name', ARGV[8],
    'default_item', default_item, 'pow', ARGV[9], 'units_accepted', 0,
    'units_returned_expire', 0, 'units_returned_cancel', 0)
return 1
