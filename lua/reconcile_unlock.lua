-- reconcile_unlock.lua: end a repair's hold on one sale, only if it is still this repair's.
-- (After the lock expired another repair may hold it; a plain DEL would take theirs away.)
--
--   fs:{sale:ID}:reconcile:lock   string   token of the repair running on the sale (PX-limited)
--
-- KEYS: 1 lock
-- ARGV: 1 token
-- Returns 1 when released, 0 when the lock was not (any more) this token's.

if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
