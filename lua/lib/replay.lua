-- lib/replay.lua: the answer to a booking whose Idempotency-Key was used before, spliced
-- ("-- @include replay") into book.lua and book_sold_out.lua.
--
--   fs:{sale:ID}:idem:U:K   string  "rid|item|qty|expires_ms"  (written by book.lua's acceptance)
--
-- nil when the key was never used (or has expired): the booking is decided afresh. Otherwise
-- the first acceptance again (replayed = 1, with the item's units and price now), or
-- {'idempotency_mismatch'} when the key was used for another item or quantity.
local function replay(idem_key, stock_key, price_key, item, qty)
    local prev = redis.call('GET', idem_key)
    if not prev then
        return nil
    end
    local prid, pitem, pqty, pexp = string.match(prev, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
    if pitem ~= item or tonumber(pqty) ~= qty then
        return {'idempotency_mismatch'}
    end
    local remaining = tonumber(redis.call('HGET', stock_key, item) or '0')
    local price = tonumber(redis.call('HGET', price_key, item) or '0')
    return {'accepted', prid, item, qty, tonumber(pexp), remaining, 1, price}
end
