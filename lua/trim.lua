-- trim.lua: drop the entries of a sale's stream that the worker group has persisted and
-- acknowledged, so the stream holds only work still to do (I9: bounded by the backlog, not by
-- the sale's history). The worker calls it after each XACK.
--
--   fs:{sale:ID}:stream   stream   entries before the cut are deleted (XTRIM MINID, exact)
--
-- The cut is the oldest entry still pending in the group (delivered, not yet acknowledged); with
-- none pending, the entry after the group's last-delivered-id. Everything before the cut was
-- delivered and acknowledged, and the worker acknowledges only after PostgreSQL committed it,
-- so what is removed is already an order row. Entries not yet delivered are never removed.
--
-- KEYS: 1 stream
-- ARGV: 1 consumer group (SaleKeys::consumerGroup())
-- Returns the number of entries removed (0 when the stream or the group does not exist).

if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
local last
for _, g in ipairs(groups) do
    local name, delivered
    for i = 1, #g, 2 do
        if g[i] == 'name' then
            name = g[i + 1]
        elseif g[i] == 'last-delivered-id' then
            delivered = g[i + 1]
        end
    end
    if name == ARGV[1] then
        last = delivered
    end
end
if not last then
    return 0
end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
local cut
if tonumber(pending[1]) > 0 then
    cut = pending[2]
else
    local ms, seq = string.match(last, '^(%d+)-(%d+)$')
    if not ms then
        return 0
    end
    cut = ms .. '-' .. string.format('%.0f', tonumber(seq) + 1)
end
return redis.call('XTRIM', KEYS[1], 'MINID', cut)
