-- reconcile_apply.lua: apply the drift the reconciler measured to one sale's Redis counters, as
-- deltas. A delta stays right while bookings and releases go on meanwhile (each of them moves a
-- counter and the stream together), where an absolute HSET would erase what they did since the
-- measurement.
--
--   fs:{sale:ID}:stock   hash   item id -> units remaining        (+= delta)
--   fs:{sale:ID}:users   hash   user id -> units held              (+= delta; removed at <= 0,
--                                                                    as release.lua does)
--
-- KEYS: 1 stock, 2 users
-- ARGV: 1 n = number of stock deltas, then n pairs (item id, delta), then pairs (user id, delta)
-- Returns {stock fields changed, user fields changed, user fields removed}.

local n = tonumber(ARGV[1])
local i = 2
for _ = 1, n do
    redis.call('HINCRBY', KEYS[1], ARGV[i], tonumber(ARGV[i + 1]))
    i = i + 2
end
local users, removed = 0, 0
while i + 1 <= #ARGV do
    if redis.call('HINCRBY', KEYS[2], ARGV[i], tonumber(ARGV[i + 1])) <= 0 then
        redis.call('HDEL', KEYS[2], ARGV[i])
        removed = removed + 1
    end
    users = users + 1
    i = i + 2
end
return {n, users, removed}
