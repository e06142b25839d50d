-- warm.lua: load one sale into Redis before it opens (a waiting-room sale: before its lobby
-- opens). Idempotent: a sale already warm is left exactly as it is (its stock may already be
-- partly sold), and 0 is returned.
--
--   fs:{sale:ID}:meta    hash   state, starts_ms, ends_ms, limit, rate, burst, hold_ms,
--                               default_item, name, pow; units_accepted, units_returned_expire,
--                               units_returned_cancel start at 0 (shared/stats/conservation.h);
--                               the waiting room's settings: wr (1 = on, 0 = off), lobby_ms,
--                               grace_ms, admit_pm, adm_ttl_ms, epa (entries per address, 0 = no
--                               cap) (docs/WAITING_ROOM.md, "Parameters")
--   fs:{sale:ID}:stock   hash   item id -> units remaining
--   fs:{sale:ID}:price   hash   item id -> price in cents
--   fs:{sale:ID}:items   hash   item id -> item name
--   fs:{sale:ID}:wr:meta hash   commitment (hex SHA-256 of the secret seed), paused (0): only for
--                               a sale with a waiting room; lua/queue_join.lua draws the rest
--
-- KEYS: 1 meta, 2 stock, 3 price, 4 items, 5 wr:meta
-- ARGV: 1 state, 2 starts_ms, 3 ends_ms, 4 limit, 5 rate, 6 burst, 7 hold_ms, 8 name,
--       9 pow (proof-of-work difficulty, 0 = none),
--       10 wr (1 = waiting room, 0 = none), 11 lobby_ms, 12 grace_ms, 13 admit_pm,
--       14 adm_ttl_ms, 15 epa, 16 commitment ('' without a waiting room),
--       then triples (item id, stock, price) followed by item names in the same order:
--       ARGV[17 .. 16+3n] triples, ARGV[17+3n .. 16+4n] names
-- Returns 1 when the sale was written, 0 when it was already warm. A sale written with units is
-- published on flashsale:stock-back (lib/stock_back.lua): an API process may remember it sold
-- out from before (its keys expired after retention, or Redis lost them).

-- @include stock_back

if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
local first = 17
local n = (#ARGV - (first - 1)) / 4
local default_item = ''
if n == 1 then
    default_item = ARGV[first]
end
local units = 0
for i = 0, n - 1 do
    local id = ARGV[first + 3 * i]
    units = units + tonumber(ARGV[first + 1 + 3 * i])
    redis.call('HSET', KEYS[2], id, ARGV[first + 1 + 3 * i])
    redis.call('HSET', KEYS[3], id, ARGV[first + 2 + 3 * i])
    redis.call('HSET', KEYS[4], id, ARGV[first + 3 * n + i])
end
if ARGV[10] == '1' then
    redis.call('HSET', KEYS[5], 'commitment', ARGV[16], 'paused', 0)
end
-- meta last: its existence is what marks the sale as warm and open for book.lua.
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'starts_ms', ARGV[2], 'ends_ms', ARGV[3],
    'limit', ARGV[4], 'rate', ARGV[5], 'burst', ARGV[6], 'hold_ms', ARGV[7], 'name', ARGV[8],
    'default_item', default_item, 'pow', ARGV[9], 'units_accepted', 0,
    'units_returned_expire', 0, 'units_returned_cancel', 0, 'wr', ARGV[10],
    'lobby_ms', ARGV[11], 'grace_ms', ARGV[12], 'admit_pm', ARGV[13], 'adm_ttl_ms', ARGV[14],
    'epa', ARGV[15])
stock_back(KEYS[2], units, units)
return 1
