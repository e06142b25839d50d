-- wrk script: POST a booking of one unit for a new user on every request, so the per-user
-- cap never binds and every request walks book.lua's whole path.
--
-- Users are "bench-<tag>-<thread>-<n>". The tag is wrk's first script argument
-- (wrk ... -s book.lua URL -- TAG); give each run its own, or runs that book the same sale
-- reuse users and meet the per-user cap. Without one, the start time and a random number.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("thread_id", threads)
end

local counter = 0
local prefix

function init(args)
    local tag = args[1] or (os.time() .. "." .. math.random(1, 1000000000))
    prefix = '{"user_id":"bench-' .. tag .. '-' .. tostring(thread_id or 0) .. '-'
end

request = function()
    counter = counter + 1
    return wrk.format(nil, nil, nil, prefix .. counter .. '","quantity":1}')
end
