-- queue_join.lua: one buyer joins a sale's waiting room, atomically, in one round trip
-- (docs/WAITING_ROOM.md). Redis' own clock decides cohort membership, as it decides the sale
-- window in book.lua: an entry is in the cohort iff lobby_ms <= now < starts_ms + grace_ms.
--
-- Key layout of a waiting room (every key shares the sale's hash tag, one Cluster slot):
--
--   fs:{sale:ID}:meta          hash    the sale (lua/book.lua); read here: state, starts_ms,
--                                      ends_ms, pow, wr (1 = waiting room), lobby_ms,
--                                      grace_ms, epa (cohort entries per address, 0 = no cap)
--   fs:{sale:ID}:wr:meta       hash    commitment (hex SHA-256 of the secret seed), paused;
--                                      the seal's (shared/waitingroom/sealer.h): cohort_n,
--                                      close_ms, seed, digest, shuffle_seed (hex), sealed_ms,
--                                      ranked, positions; admission adds its fields later
--   fs:{sale:ID}:wr:buyer      hash    user -> "<entry>|c|<arrival pos>|<joined ms>"   (cohort)
--                                           or "<entry>|f|<fifo pos>|<joined ms>[|a]"  (FIFO;
--                                              a = moved there by the address cap)
--   fs:{sale:ID}:wr:cohort     list    cohort entry ids in arrival order (frozen at the close)
--   fs:{sale:ID}:wr:fifo       list    later joiners and address-cap overflow, arrival order
--   fs:{sale:ID}:wr:addr       hash    client address (IPv4, or IPv6 /64) -> cohort entries
--                                      (only while epa > 0; dropped at the seal)
--   fs:{sale:ID}:wr:ranked     list    the cohort's entry ids in rank order (the seal; public)
--   fs:{sale:ID}:wr:ranking    list    the same while the seal writes it, then RENAMEd
--   fs:{sale:ID}:wr:rank       hash    entry id -> rank (the seal; GET .../queue reads it)
--   fs:{sale:ID}:wr:rl:ip:IP   string  GCRA theoretical arrival time of a client IP (ms)
--   fs:{sale:ID}:wr:rl:u:U     string  GCRA theoretical arrival time of a user (ms)
--   fs:{sale:ID}:pow:NONCE     string  a proof-of-work challenge already spent (shared with
--                                      book.lua, so one challenge cannot pay for both)
--
--        lobby_ms                starts_ms        starts_ms + grace_ms            ends_ms
--   ---------|------------------------|-------------------|------------------------|-----> now
--   lobby_not_open  |  cohort (RPUSH wr:cohort; the address cap overflows to wr:fifo)  |
--                                                         |  FIFO (RPUSH wr:fifo)  | closed
--
-- KEYS: 1 meta, 2 wr:meta, 3 wr:buyer, 4 wr:cohort, 5 wr:fifo, 6 wr:addr, 7 pow nonce
--       ('' name when none was presented), 8 wr:rl:ip, 9 wr:rl:u
-- ARGV: 1 user id, 2 a fresh entry id (used only when the buyer has none), 3 client address,
--       4 difficulty the presented challenge was issued with (-1 = none presented; the API
--       checked its signature and solution), 5 ms until the challenge expires,
--       6 IP rate per s (0 = off), 7 IP burst, 8 user rate per s (0 = off), 9 user burst,
--       10 entries the room holds at most (--waiting-room-max-entries)
--
-- Checks, in order: sale exists, has a waiting room, is open (not stopped, not past ends_ms);
-- the lobby is open; rate limits; the buyer's existing entry (returned as it is: no proof of
-- work asked or spent, "work is spent per entry"); proof of work; the room's bound; then the
-- entry is placed.
-- Writes nothing for an unknown sale, a sale without a waiting room, a closed sale or a lobby
-- not open yet (I9, tests/security/tst_redisbounds).
--
-- Returns an array whose first element is the outcome:
--   {'joined', entry, 'c'|'f', pos, joined_ms, flag ('' | 'a'), now, close_ms, commitment}
--   {'existing', entry, 'c'|'f', pos, joined_ms, flag, now, close_ms, commitment}
--   {'unknown_sale'}   {'no_waiting_room'}   {'closed'}   {'lobby_not_open', lobby_ms, now}
--   {'rate_limited', 'ip'|'user', retry_after_ms}   {'pow_required', difficulty}
--   {'pow_too_easy', difficulty}   {'pow_replayed'}   {'queue_full', max}

-- @include gcra

local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_ms', 'ends_ms', 'pow', 'wr',
    'lobby_ms', 'grace_ms', 'epa')
local state = meta[1]
if not state then
    return {'unknown_sale'}
end
if meta[5] ~= '1' then
    return {'no_waiting_room'}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if (state ~= 'active' and state ~= 'paused') or now >= tonumber(meta[3]) then
    return {'closed'}
end
local lobby_ms = tonumber(meta[6])
if now < lobby_ms then
    return {'lobby_not_open', lobby_ms, now}
end
local close_ms = tonumber(meta[2]) + tonumber(meta[7])

-- The per-IP and per-user limits, as book.lua counts them (lua/lib/gcra.lua).
local limited = rate_limit(now, KEYS[8], tonumber(ARGV[6]), tonumber(ARGV[7]), KEYS[9],
    tonumber(ARGV[8]), tonumber(ARGV[9]))
if limited then
    return limited
end

local user = ARGV[1]
local existing = redis.call('HGET', KEYS[3], user)
if existing then
    local entry, kind, pos, joined, flag = string.match(existing,
        '^([^|]*)|([cf])|([0-9]+)|([0-9]+)|?([a]?)$')
    return {'existing', entry, kind, tonumber(pos), tonumber(joined), flag, now, close_ms,
        redis.call('HGET', KEYS[2], 'commitment') or ''}
end

local pow = tonumber(meta[4] or '0')
local presented = tonumber(ARGV[4])
if pow > 0 then
    if presented < 0 then
        return {'pow_required', pow}
    end
    if presented < pow then
        return {'pow_too_easy', pow}
    end
end
if presented >= 0 then
    -- Spent once, whatever happens after this point.
    if not redis.call('SET', KEYS[7], '1', 'NX', 'PX', math.max(1, tonumber(ARGV[5]))) then
        return {'pow_replayed'}
    end
end

local max_entries = tonumber(ARGV[10])
if redis.call('HLEN', KEYS[3]) >= max_entries then
    return {'queue_full', max_entries}
end

local entry, address = ARGV[2], ARGV[3]
-- The address cap counts first and takes the count back when it is over: one command for the
-- common case, an entry under the cap.
local kind, pos, flag = 'f', nil, ''
if now < close_ms then
    local epa = tonumber(meta[8] or '0')
    if epa > 0 and redis.call('HINCRBY', KEYS[6], address, 1) > epa then
        redis.call('HINCRBY', KEYS[6], address, -1)
        flag = 'a'
    else
        kind = 'c'
        pos = redis.call('RPUSH', KEYS[4], entry)
    end
end
if not pos then
    pos = redis.call('RPUSH', KEYS[5], entry)
end
local value = entry .. '|' .. kind .. '|' .. pos .. '|' .. now
if flag ~= '' then
    value = value .. '|' .. flag
end
redis.call('HSET', KEYS[3], user, value)
return {'joined', entry, kind, pos, now, flag, now, close_ms,
    redis.call('HGET', KEYS[2], 'commitment') or ''}
