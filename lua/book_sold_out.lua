-- book_sold_out.lua: a booking with an Idempotency-Key for an item the API remembers sold out
-- (BookingService): the key's earlier answer if it has one, else whether the item is still at 0,
-- in four commands at most instead of book.lua's whole decision.
--
-- A booking without a key for such an item is answered from the API's memory and never reaches
-- Redis; one with a key must, since it may be the retry of a booking that was accepted (the
-- buyer page sends a key with every booking, and flashsale-bench load does). What book.lua would
-- check before the stock (rate limits, the sale's state and window, the waiting-room admission,
-- the proof of work) cannot turn a sold-out answer into a booking, so it is skipped here, as the
-- API's memory skips it for bookings without a key.
--
--   fs:{sale:ID}:meta      hash    default_item (read when ARGV[1] is '')
--   fs:{sale:ID}:stock     hash    item id -> units remaining
--   fs:{sale:ID}:price     hash    item id -> price in cents (for a replay's answer)
--   fs:{sale:ID}:idem:U:K  string  as book.lua writes it (lib/replay.lua)
--
-- KEYS: 1 meta, 2 stock, 3 price, 4 idem
-- ARGV: 1 item id ('' = the sale's only item), 2 quantity
--
-- Returns book.lua's replay ({'accepted', rid, item, qty, expires_ms, remaining, 1, price}) or
-- {'idempotency_mismatch'}; {'sold_out', 0} when the item is still at 0; or {'book'} when it is
-- not (a unit came back before the API heard of it), or the item or sale is not what the API
-- remembered: the API then runs book.lua, which decides the booking in full.

-- @include replay

local item = ARGV[1]
if item == '' then
    item = redis.call('HGET', KEYS[1], 'default_item')
    if not item or item == '' then
        return {'book'}
    end
end
local answer = replay(KEYS[4], KEYS[2], KEYS[3], item, tonumber(ARGV[2]))
if answer then
    return answer
end
local left = redis.call('HGET', KEYS[2], item)
if not left or tonumber(left) > 0 then
    return {'book'}
end
return {'sold_out', 0}
