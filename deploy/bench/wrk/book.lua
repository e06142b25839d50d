-- wrk script: POST a booking of one unit for a new user on every request, so the per-user
-- cap never binds and every request walks book.lua's whole path.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local counter = 0
local tag = tostring(math.random(1, 1000000000))

request = function()
    counter = counter + 1
    return wrk.format(nil, nil, nil,
        '{"user_id":"bench-' .. tag .. '-' .. counter .. '","quantity":1}')
end
