-- paysim_list.lua: one page of the in-process payment simulator's payments, oldest first, as a
-- provider's GET /v1/payments?limit&starting_after answers it (the layout is in
-- paysim_record.lua).
--
-- KEYS: 1 payments (zset), 2 payment (hash)
-- ARGV: 1 starting_after: a payment id, or '' for the first page; 2 limit (1..1000)
-- Returns {has_more (0|1), json, json, ...}, or the error reply "NOTFOUND ..." when
-- starting_after names no payment.

local min = '-inf'
if ARGV[1] ~= '' then
    local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
    if not score then
        return redis.error_reply('NOTFOUND no payment ' .. ARGV[1])
    end
    min = '(' .. score
end
local limit = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], min, '+inf', 'LIMIT', 0, limit + 1)
local out = {0}
if #ids > limit then
    out[1] = 1
    table.remove(ids)
end
if #ids > 0 then
    local rows = redis.call('HMGET', KEYS[2], unpack(ids))
    for i = 1, #rows do
        out[#out + 1] = rows[i]
    end
end
return out
