-- wrk script: POST a booking of one unit for a new user on every request, so the per-user
-- cap never binds and every request walks book.lua's whole path.
--
-- Users are "bench-<tag>-<thread>-<n>". The tag is wrk's first script argument
-- (wrk ... -s book.lua URL -- TAG); give each run its own, or runs that book the same sale
-- reuse users and meet the per-user cap. Without one, the start time and a random number.
-- A second argument "keyed" gives every request its own Idempotency-Key, as the buyer page's
-- bookings and flashsale-bench load's carry one.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("thread_id", threads)
end

local counter = 0
local prefix
local keyed = false
local headers = {}

function init(args)
    local tag = args[1] or (os.time() .. "." .. math.random(1, 1000000000))
    if tag == "" then
        tag = os.time() .. "." .. math.random(1, 1000000000)
    end
    prefix = '{"user_id":"bench-' .. tag .. '-' .. tostring(thread_id or 0) .. '-'
    keyed = args[2] == "keyed"
    headers["Content-Type"] = "application/json"
end

request = function()
    counter = counter + 1
    if keyed then
        headers["Idempotency-Key"] = "k" .. counter
        return wrk.format(nil, nil, headers, prefix .. counter .. '","quantity":1}')
    end
    return wrk.format(nil, nil, nil, prefix .. counter .. '","quantity":1}')
end
