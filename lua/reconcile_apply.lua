-- reconcile_apply.lua: apply the drift the reconciler measured to one sale's Redis counters, as
-- deltas. A delta stays right while bookings and releases go on meanwhile (each of them moves a
-- counter and the stream together), where an absolute HSET would erase what they did since the
-- measurement.
--
--   fs:{sale:ID}:stock      hash   item id -> units remaining       (+= delta)
--   fs:{sale:ID}:users      hash   user id -> units held             (+= delta; removed at <= 0,
--                                                                     as release.lua does)
--   fs:{sale:ID}:released   set    reservation ids released          (+ the cancelled ones)
--   fs:{sale:ID}:res:RID    hash   status becomes 'cancelled'
--   fs:{sale:ID}:meta       hash   units_returned_cancel += the units of each reservation marked
--                                  here (they are returned by the stock delta, exactly once, as
--                                  release.lua would have; shared/stats/conservation.h).
--
-- Reservations cancelled in PostgreSQL but not yet released in Redis (a declined payment
-- cancels first and releases after) are counted as returned by the deltas. They are marked
-- released here, in the same step, so release.lua answers 'already' for them later instead of
-- returning their units a second time. One that release.lua released after the measurement
-- already moved the counters itself: its share is taken back out of the deltas.
--
-- KEYS: 1 stock, 2 users, 3 released, 4 meta, 5.. res of each reservation to mark released
-- ARGV: 1 n stock deltas, 2 m user deltas, 3 k reservations,
--       then n pairs (item id, delta), m pairs (user id, delta),
--       k quadruples (reservation id, item id, user id, quantity)
-- Returns {stock fields changed, user fields changed, user fields removed, reservations marked}.
-- A delta that brings an item from 0 to above is published on flashsale:stock-back
-- (lib/stock_back.lua).

-- @include stock_back

local n, m, k = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stock, users = {}, {}
local stockOrder, userOrder = {}, {}
local i = 4
for _ = 1, n do
    stock[ARGV[i]] = tonumber(ARGV[i + 1])
    stockOrder[#stockOrder + 1] = ARGV[i]
    i = i + 2
end
for _ = 1, m do
    users[ARGV[i]] = tonumber(ARGV[i + 1])
    userOrder[#userOrder + 1] = ARGV[i]
    i = i + 2
end
local marked, markedUnits = 0, 0
for j = 1, k do
    local rid, item, user, qty = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
    i = i + 4
    if redis.call('SADD', KEYS[3], rid) == 1 then
        marked = marked + 1
        markedUnits = markedUnits + qty
        if redis.call('EXISTS', KEYS[4 + j]) == 1 then
            redis.call('HSET', KEYS[4 + j], 'status', 'cancelled')
        end
    else
        if stock[item] == nil then
            stockOrder[#stockOrder + 1] = item
        end
        if users[user] == nil then
            userOrder[#userOrder + 1] = user
        end
        stock[item] = (stock[item] or 0) - qty
        users[user] = (users[user] or 0) + qty
    end
end
local changedStock, changedUsers, removed = 0, 0, 0
for _, item in ipairs(stockOrder) do
    if stock[item] ~= 0 then
        stock_back(KEYS[1], redis.call('HINCRBY', KEYS[1], item, stock[item]), stock[item])
        changedStock = changedStock + 1
    end
end
for _, user in ipairs(userOrder) do
    if users[user] ~= 0 then
        changedUsers = changedUsers + 1
        if redis.call('HINCRBY', KEYS[2], user, users[user]) <= 0 then
            redis.call('HDEL', KEYS[2], user)
            removed = removed + 1
        end
    end
end
if markedUnits > 0 then
    local meta = KEYS[4]
    if redis.call('EXISTS', meta) == 1 then
        redis.call('HINCRBY', meta, 'units_returned_cancel', markedUnits)
    end
end
return {changedStock, changedUsers, removed, marked}
