-- lib/gcra.lua: the per-IP and per-user rate limits of lua/book.lua and lua/queue_join.lua,
-- spliced into both by RedisScript::load ("-- @include gcra"), so the two count alike.
--
-- GCRA: one key per client, holding the theoretical arrival time (TAT, ms) of its next request.
-- Given the key's stored value (false when absent), returns the new TAT, or nil and the ms to
-- wait.
local function gcra(stored, rate, burst, now)
    local interval = 1000 / rate
    local tat = tonumber(stored or '0')
    if tat < now then
        tat = now
    end
    local allow_at = tat + interval - interval * burst
    if allow_at > now then
        return nil, math.ceil(allow_at - now)
    end
    return tat + interval, 0
end

-- Both limits (a rate of 0 is off): nil when the request may pass, and then it is counted
-- against both; else {'rate_limited', 'ip'|'user', ms to wait}, and nothing is counted.
-- With both on, the two keys are read with one MGET (they share the sale's hash tag).
local function rate_limit(now, ip_key, ip_rate, ip_burst, user_key, user_rate, user_burst)
    local ip_on, user_on = ip_rate > 0, user_rate > 0
    if not ip_on and not user_on then
        return nil
    end
    local ip_stored, user_stored
    if ip_on and user_on then
        local v = redis.call('MGET', ip_key, user_key)
        ip_stored, user_stored = v[1], v[2]
    elseif ip_on then
        ip_stored = redis.call('GET', ip_key)
    else
        user_stored = redis.call('GET', user_key)
    end
    local ip_tat, user_tat, wait
    if ip_on then
        ip_tat, wait = gcra(ip_stored, ip_rate, ip_burst, now)
        if not ip_tat then
            return {'rate_limited', 'ip', wait}
        end
    end
    if user_on then
        user_tat, wait = gcra(user_stored, user_rate, user_burst, now)
        if not user_tat then
            return {'rate_limited', 'user', wait}
        end
    end
    if ip_tat then
        redis.call('SET', ip_key, ip_tat, 'PX', math.ceil(ip_tat - now + 1000))
    end
    if user_tat then
        redis.call('SET', user_key, user_tat, 'PX', math.ceil(user_tat - now + 1000))
    end
    return nil
end
