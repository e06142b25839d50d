-- set_state.lua: set the operator state (active, paused, stopped) of a sale that is warm in
-- Redis. A sale not yet warm is left alone: warming copies the state from PostgreSQL.
--
-- KEYS: 1 fs:{sale:ID}:meta
-- ARGV: 1 state
-- Returns 1 when set, 0 when the sale is not in Redis.

if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
return 1
