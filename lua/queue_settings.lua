-- queue_settings.lua: an operator changes a warmed sale's admission pace or pauses it
-- (docs/WAITING_ROOM.md, "Operating it"; shared/admin/adminwaitingroom.h), after PostgreSQL
-- took the rate. lua/queue_admit.lua reads both on its next tick: a pause moves its allowance
-- clock along, so a resume brings no flood; a new rate applies from that tick.
--
--   fs:{sale:ID}:meta      hash   wr (1 = waiting room), admit_pm (written)
--   fs:{sale:ID}:wr:meta   hash   paused (written: 1 | 0)
--
-- KEYS: 1 meta, 2 wr:meta
-- ARGV: 1 admit_pm ('' = leave it), 2 paused ('1', '0', or '' = leave it)
--
-- Returns {'ok', admit_pm before, paused before (0|1), admit_pm after, paused after},
-- or {'unknown_sale'} (not in Redis: nothing written, warming copies PostgreSQL's rate) or
-- {'no_waiting_room'}.

local meta = redis.call('HMGET', KEYS[1], 'state', 'wr', 'admit_pm')
if not meta[1] then
    return {'unknown_sale'}
end
if meta[2] ~= '1' then
    return {'no_waiting_room'}
end
local before_pm = tonumber(meta[3] or '600')
local before_paused = redis.call('HGET', KEYS[2], 'paused') == '1' and 1 or 0
local pm, paused = before_pm, before_paused
if ARGV[1] ~= '' then
    pm = tonumber(ARGV[1])
    redis.call('HSET', KEYS[1], 'admit_pm', pm)
end
if ARGV[2] ~= '' then
    paused = tonumber(ARGV[2])
    redis.call('HSET', KEYS[2], 'paused', paused)
end
return {'ok', before_pm, before_paused, pm, paused}
