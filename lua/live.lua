-- live.lua: what the buyer countdown socket pushes, read atomically with the Redis clock (the
-- clock book.lua opens and closes sales by).
--
-- KEYS: 1 fs:{sale:ID}:meta, 2 fs:{sale:ID}:stock
-- Returns {} when the sale is not in Redis, else {now_ms, state, starts_ms, ends_ms, remaining}.

if redis.call('EXISTS', KEYS[1]) == 0 then
    return {}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('HMGET', KEYS[1], 'state', 'starts_ms', 'ends_ms')
local remaining = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
    remaining = remaining + tonumber(v)
end
return {now, m[1], tonumber(m[2]), tonumber(m[3]), remaining}
