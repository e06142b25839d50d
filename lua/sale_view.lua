-- sale_view.lua: the public state of one sale, read atomically with the server clock.
--
-- KEYS: 1 fs:{sale:ID}:meta, 2 fs:{sale:ID}:stock, 3 fs:{sale:ID}:price, 4 fs:{sale:ID}:items,
--       5 fs:{sale:ID}:wr:meta (read only for the commitment; absent for a sale without a
--       waiting room)
-- Returns {} when the sale is unknown, else
--   {now_ms, {meta field, value, ...}, {item id, stock, ...}, {item id, price, ...},
--    {item id, name, ...}, commitment or nil}

if redis.call('EXISTS', KEYS[1]) == 0 then
    return {}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {now, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
    redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4]),
    redis.call('HGET', KEYS[5], 'commitment')}
