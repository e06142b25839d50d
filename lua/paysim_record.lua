-- paysim_record.lua: the in-process payment simulator (SimulatorGateway) records one payment in
-- its ledger, in creation order, so that it can be listed oldest first like a real provider's
-- (provider reconciliation, issue 19). Called once per idempotency key: after the SET NX on
-- fs:paysim:charge:<key> that decided the charge.
--
--   fs:{paysim}:seq      string  the last sequence number given out
--   fs:{paysim}:payments zset    payment id -> sequence number (the list order, oldest first)
--   fs:{paysim}:payment  hash    payment id -> JSON {id, order_id (string), status
--                                ("succeeded" | "declined" | "refunded"), amount_cents,
--                                created_ms, idempotency_key[, refunded_ms]}
--
-- KEYS: 1 seq, 2 payments, 3 payment
-- ARGV: 1 payment id, 2 order id, 3 status, 4 amount in cents, 5 idempotency key
-- Returns the payment's sequence number, or 0 when the id was recorded before (nothing written).

if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
    return 0
end
local seq = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], cjson.encode({
    id = ARGV[1],
    order_id = ARGV[2],
    status = ARGV[3],
    amount_cents = tonumber(ARGV[4]),
    created_ms = ms,
    idempotency_key = ARGV[5],
}))
return seq
