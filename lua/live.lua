-- live.lua: what the buyer countdown socket pushes, read atomically with the Redis clock (the
-- clock book.lua opens and closes sales by).
--
-- KEYS: 1 fs:{sale:ID}:meta, 2 fs:{sale:ID}:stock, 3 fs:{sale:ID}:wr:meta, 4 fs:{sale:ID}:wr:adm
-- Returns {} when the sale is not in Redis, else {now_ms, state, starts_ms, ends_ms, remaining},
-- and for a sale with a waiting room also {lobby_ms, close_ms (starts_ms + grace_ms), <the line:
-- the 10 fields of queue_line in lua/lib/queue_line.lua>}.

-- @include queue_line

if redis.call('EXISTS', KEYS[1]) == 0 then
    return {}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local m = redis.call('HMGET', KEYS[1], 'state', 'starts_ms', 'ends_ms', 'wr', 'lobby_ms',
    'grace_ms')
local reply = {now, m[1], tonumber(m[2]), tonumber(m[3]), stock_remaining(KEYS[2])}
if m[4] == '1' then
    reply[6] = tonumber(m[5] or '0')
    reply[7] = tonumber(m[2]) + tonumber(m[6] or '0')
    for _, v in ipairs(queue_line(KEYS[1], KEYS[3], KEYS[4], KEYS[2])) do
        reply[#reply + 1] = v
    end
end
return reply
