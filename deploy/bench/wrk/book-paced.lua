-- wrk script: one booking of one unit for a new user per request, each connection pausing
-- `pace_ms` between requests, for a steady rate of about connections * 1000 / pace_ms per second.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local counter = 0
local tag = tostring(math.random(1, 1000000000))
local pace_ms = tonumber(os.getenv("PACE_MS") or "50")

request = function()
    counter = counter + 1
    return wrk.format(nil, nil, nil,
        '{"user_id":"paced-' .. tag .. '-' .. counter .. '","quantity":1}')
end

delay = function()
    return pace_ms
end
