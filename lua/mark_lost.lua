-- mark_lost.lua: declare one reservation's hold lost (issue 20), after checking atomically that
-- Redis really has no hold for it. Reconciliation found an order pending in PostgreSQL whose
-- reservation hash and stream entry are gone (a Redis data loss: the everysec power-loss case);
-- by the time the repair runs the hold may be back (another repair restored it, or the read
-- raced), and then it is left alone.
--
--   fs:{sale:ID}:res:RID    hash   must not exist
--   fs:{sale:ID}:released   set    + RID: release.lua then answers 'already' for it, and
--                                  reconcile_apply.lua does not count it as unreleased
--   fs:{sale:ID}:meta       hash   units_accepted += qty and units_returned_cancel += qty: the
--                                  booking Redis lost is counted as accepted and given back, as
--                                  PostgreSQL now counts it cancelled (shared/stats/conservation.h)
-- The stock and users counters are not touched: Redis lost those units with the hold, and the
-- repair's deltas set them from PostgreSQL.
--
-- KEYS: 1 res, 2 released, 3 meta, 4 stock (the sale is still in Redis)
-- ARGV: 1 reservation id, 2 quantity
-- Returns {'lost'} (marked now), {'released'} (already given back in Redis: nothing written),
-- {'present'} (the hold is there: leave the order) or {'retired'} (the sale left Redis).

if redis.call('EXISTS', KEYS[4]) == 0 then
    return {'retired'}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
    return {'present'}
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
    return {'released'}
end
if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('HINCRBY', KEYS[3], 'units_accepted', tonumber(ARGV[2]))
    redis.call('HINCRBY', KEYS[3], 'units_returned_cancel', tonumber(ARGV[2]))
end
return {'lost'}
