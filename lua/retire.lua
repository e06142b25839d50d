-- retire.lua: give every key of an ended sale the same expiry, its close plus the retention
-- (--sale-retention-seconds). Until then reconciliation, the console's stats and late holds work
-- as before; after it the sale is gone from Redis and PostgreSQL alone remembers it. The worker
-- then drops it from fs:sales, and release.lua answers 'retired' instead of making keys again.
-- Idempotent: the expiry is an absolute time, so running it twice changes nothing.
--
--   fs:{sale:ID}:meta, :stock, :price, :items, :users, :bucket, :stream, :reservations, :dead,
--   :released, :wr:meta, :wr:buyer, :wr:cohort, :wr:fifo, :wr:addr, :wr:ranked, :wr:ranking,
--   :wr:rank
--                             each gets PEXPIREAT close + retention (missing ones are skipped)
--   fs:{sale:ID}:res:RID, :idem:*, :rl:*, :wr:rl:*, :pow:*, :stats:*   keep their own expiry
--                            (hold + 24 h, idempotency TTL, rate window, challenge, 2 min)
--
-- KEYS: the sale's keys listed above (any of them, all of one sale)
-- ARGV: 1 when they expire, ms since the epoch
-- Returns the number of keys that now expire at that time.

local n = 0
for _, key in ipairs(KEYS) do
    n = n + redis.call('PEXPIREAT', key, ARGV[1])
end
return n
