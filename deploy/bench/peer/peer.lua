-- peer.lua: the OpenResty-style peer's booking route (deploy/bench/booking-hotpath, docs/BENCHMARKS.md,
-- "Hot path against an OpenResty peer"). It answers POST /api/v1/sales/{id}/book as our server
-- does with --dev-user-ids and no rate limits, proof of work or waiting room, and it asks Redis
-- every time: one EVALSHA of the same lua/book.lua (its "-- @include" lines spliced, as
-- RedisScript::load does) with the KEYS and ARGV that shared/booking/bookingservice.cpp sends.
--
-- Per request, in the order of ApiRoutes::book:
--   sale id from the path (1..18 digits, else 404 sale-not-found); method POST (else 405);
--   Content-Type absent, application/json or application/*+json (else 415); the body a JSON
--   object (else 400); Idempotency-Key 0..128 visible ASCII characters (else 400); the members
--   user_id (1..64 of [A-Za-z0-9_.@-]), quantity (integer 1..1000), item_id (integer 1..10^18-1),
--   no others, every error listed (400 invalid-request with "errors"); user_id required (dev
--   user ids; no buyer tokens here); a fresh reservation id from the kernel's CSPRNG
--   (getrandom, as libsodium's randombytes_buf); EVALSHA book.lua (EVAL once after NOSCRIPT);
--   the reply mapped to 202 with the reservation, or the problem+json our server answers
--   (409 sold-out with remaining 0, ...), or 503 when Redis fails or answers late.
--
-- Differences, on purpose or not worth the code (docs/BENCHMARKS.md lists them): no buyer
-- tokens, proof of work or admission tokens (the bench's server is not asked for them either);
-- no metrics, live stats or request log; time from nginx's cached clock (ngx.now, updated once
-- per event-loop turn) where ours reads the clock per request; item_id as a Lua number (exact
-- to 2^53, ours to 10^18); JSON members in cjson's order, ours sorted.
local cjson = require("cjson.safe")
local redis = require("nginx.redis")
local ffi = require("ffi")

ffi.cdef([[long getrandom(void *buf, size_t buflen, unsigned int flags);]])

local M = {}

local cfg = {}
local script_src, script_sha
local password = os.getenv("FS_PEER_REDIS_PASSWORD") or ""
local IDEMPOTENCY_TTL_MS = "86400000" -- --idempotency-ttl-seconds 86400 (the server's default)

local HEX = {}
for i = 0, 255 do
    HEX[i] = string.format("%02x", i)
end
local rand_buf = ffi.new("uint8_t[16]")
local hex_parts = {}

local function to_hex(s)
    local out = {}
    for i = 1, #s do
        out[i] = HEX[s:byte(i)]
    end
    return table.concat(out)
end

-- init(options): read the spliced book.lua once (in the master, before the workers fork).
function M.init(options)
    cfg = options
    local f = assert(io.open(options.script, "rb"))
    script_src = f:read("*a")
    f:close()
    script_sha = to_hex(ngx.sha1_bin(script_src))
end

-- "<sale>-<32 lowercase hex>", 128 bits from getrandom(2) (shared/booking/reservationid.h).
local function new_reservation_id(sale)
    if ffi.C.getrandom(rand_buf, 16, 0) ~= 16 then
        error("getrandom failed")
    end
    for i = 0, 15 do
        hex_parts[i + 1] = HEX[rand_buf[i]]
    end
    return sale .. "-" .. table.concat(hex_parts)
end

-- The problem types book.lua's outcomes map to (shared/booking/outcome.cpp, shared/http/problem.cpp).
local OUTCOMES = {
    unknown_sale = {"sale-not-found", 404, "No such sale"},
    not_started = {"sale-not-started", 403, "The sale has not started yet"},
    closed = {"sale-closed", 403, "The sale is over"},
    paused = {"sale-paused", 403, "The sale is paused"},
    item_required = {"item-required", 400, "This sale has several items: name one"},
    unknown_item = {"item-not-found", 404, "No such item"},
    sold_out = {"sold-out", 409, "Sold out"},
    insufficient_stock = {"insufficient-stock", 409, "Not enough units left"},
    per_user_limit = {"per-user-limit", 409, "Per-user limit reached"},
    throttled = {"throttled", 429, "Too many requests"},
    idempotency_mismatch = {"idempotency-key-reused", 422, "Idempotency-Key reused with a different request"},
    rate_limited = {"rate-limited", 429, "Too many requests from this client"},
    pow_required = {"pow-required", 428, "This sale asks for a proof of work"},
    pow_too_easy = {"pow-invalid", 403, "The proof of work is not valid"},
    pow_replayed = {"pow-replayed", 409, "This proof of work was already used"},
    admission_required = {"admission-required", 428, "This sale books through its waiting room"},
    admission_invalid = {"admission-invalid", 403, "The admission token is not valid here"},
    admission_expired = {"admission-expired", 410, "The admission has expired"},
    admission_spent = {"admission-spent", 409, "The admission was already used"},
}

local function send(status, content_type, body, headers)
    ngx.status = status
    ngx.header["Content-Type"] = content_type
    ngx.header["Content-Length"] = #body
    if headers then
        for k, v in pairs(headers) do
            ngx.header[k] = v
        end
    end
    ngx.print(body)
    return ngx.exit(status)
end

local function problem(status, slug, title, members, headers)
    local o = members or {}
    o.type = "/problems/" .. slug
    o.title = title
    o.status = status
    o.instance = ngx.var.uri
    return send(status, "application/problem+json", cjson.encode(o), headers)
end

local function invalid(errors)
    local parts = {}
    for i, e in ipairs(errors) do
        parts[i] = e.pointer == "" and e.detail or (e.pointer .. " " .. e.detail)
    end
    return problem(400, "invalid-request", "The request is malformed",
        {detail = table.concat(parts, "; "), errors = errors})
end

local function iso_time(ms)
    return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000)) .. string.format(".%03dZ", ms % 1000)
end

-- The members of the body (parseBookingBody): user, quantity, item, or nil and the errors.
local function read_body(body)
    local errors = {}
    local function add(name, detail)
        errors[#errors + 1] = {pointer = "/" .. name, detail = detail}
    end
    local function integer(name, min, max)
        local v = body[name]
        if v == nil or v == cjson.null then
            return nil
        end
        if type(v) ~= "number" or v ~= math.floor(v) then
            add(name, "must be an integer")
            return nil
        end
        if v < min or v > max then
            add(name, string.format("must be from %d to %.0f", min, max))
            return nil
        end
        return v
    end
    local user = body.user_id
    if user == cjson.null then
        user = nil
    end
    if user ~= nil then
        if type(user) ~= "string" then
            add("user_id", "must be a string")
            user = nil
        elseif #user < 1 or #user > 64 then
            add("user_id", "must be 1 to 64 characters long")
            user = nil
        elseif user:find("[^%w_.@-]") then
            add("user_id", "may contain only letters, digits and _ . @ -")
            user = nil
        end
    end
    local quantity = integer("quantity", 1, 1000)
    local item = integer("item_id", 1, 999999999999999999)
    for k in pairs(body) do
        if k ~= "user_id" and k ~= "quantity" and k ~= "item_id" then
            add(k, "is not a known field")
        end
    end
    if #errors > 0 then
        return nil, nil, nil, errors
    end
    return user, quantity or 1, item or 0
end

local function redis_connection()
    local red = redis:new()
    red:set_timeout(cfg.redis_timeout_ms)
    local ok, err = red:connect(cfg.redis_host, cfg.redis_port,
        {pool = "peer", pool_size = cfg.pool_size, backlog = 1024})
    if not ok then
        return nil, err
    end
    if red:get_reused_times() == 0 then
        if password ~= "" then
            ok, err = red:auth(password)
            if not ok then
                return nil, err
            end
        end
        ok, err = red:select(cfg.redis_db)
        if not ok then
            return nil, err
        end
    end
    return red
end

local function unavailable(detail)
    return problem(503, "backend-unavailable", "Temporarily unavailable", {detail = detail},
        {["Retry-After"] = "1"})
end

-- book(id): the route POST /api/v1/sales/{id}/book.
function M.book(id)
    if #id > 18 or not id:find("^%d+$") or tonumber(id) == 0 then
        return problem(404, "sale-not-found", "No such sale")
    end
    local sale = tostring(tonumber(id))
    if ngx.req.get_method() ~= "POST" then
        return problem(405, "method-not-allowed", "Method not allowed", nil, {Allow = "POST"})
    end
    local ctype = (ngx.var.content_type or ""):lower()
    if ctype ~= "" and ctype:sub(1, 16) ~= "application/json"
        and not (ctype:sub(1, 12) == "application/" and ctype:find("+json", 1, true)) then
        return problem(415, "unsupported-media-type", "Unsupported media type",
            {detail = "Content-Type is " .. ctype .. "; send application/json."})
    end
    ngx.req.read_body()
    local raw = ngx.req.get_body_data()
    if not raw or not raw:find("%S") then
        return invalid({{pointer = "", detail = "the body is empty; send a JSON object"}})
    end
    local body = cjson.decode(raw)
    if body == nil then
        return invalid({{pointer = "", detail = "the body is not valid JSON"}})
    end
    -- Debian's lua-cjson (upstream 2.1.0) decodes an array to a table with [1], [2], ...; an
    -- empty array reads as an empty object here, where ours says it is not an object.
    if type(body) ~= "table" or body[1] ~= nil then
        return invalid({{pointer = "", detail = "the body must be a JSON object"}})
    end
    local idem = ngx.var.http_idempotency_key or ""
    if #idem > 128 or idem:find("[^\33-\126]") then
        return invalid({{pointer = "header:Idempotency-Key",
            detail = "must be 1 to 128 visible ASCII characters"}})
    end
    local user, quantity, item, errors = read_body(body)
    if errors then
        return invalid(errors)
    end
    if not user then
        return invalid({{pointer = "/user_id",
            detail = "is required: 1 to 64 letters, digits and _ . @ -"}})
    end

    -- The keys and arguments of BookingService::book (shared/booking/bookingservice.cpp).
    local k = "fs:{sale:" .. sale .. "}:"
    local rid = new_reservation_id(sale)
    local ip = ngx.var.remote_addr
    local now_ms = math.floor(ngx.now() * 1000)
    local deadline = now_ms + cfg.redis_timeout_ms - math.min(100, math.floor(cfg.redis_timeout_ms / 4))
    local red, err = redis_connection()
    if not red then
        return unavailable("Redis: " .. tostring(err))
    end
    local idem_key = idem == "" and (k .. "idem:-:-") or (k .. "idem:" .. user .. ":" .. idem)
    local nkeys = 16
    local args = {
        k .. "meta", k .. "stock", k .. "price", k .. "users", k .. "bucket", idem_key,
        k .. "res:" .. rid, k .. "stream", k .. "reservations", k .. "rl:ip:" .. ip,
        k .. "rl:u:" .. user, k .. "pow:", k .. "wr:buyer", k .. "wr:adm", k .. "wr:done",
        k .. "wr:meta",
        -- ARGV: user, item, qty, rid, idempotency key and TTL, IP rate/burst and user rate/burst
        -- (off, as the bench's server runs), no proof of work, arrival (us), deadline, admission
        user, item > 0 and string.format("%d", item) or "", tostring(quantity), rid, idem,
        IDEMPOTENCY_TTL_MS, "0", "20", "0", "5", "-1", "0",
        string.format("%d", ngx.req.start_time() * 1000000), string.format("%d", deadline), "",
    }
    local reply
    reply, err = red:evalsha(script_sha, nkeys, unpack(args))
    if not reply and err and err:sub(1, 8) == "NOSCRIPT" then
        reply, err = red:eval(script_src, nkeys, unpack(args))
    end
    if not reply then
        red:close()
        return unavailable("Redis: " .. tostring(err))
    end
    red:set_keepalive(60000, cfg.pool_size)

    local code = reply[1]
    if code == "accepted" then
        local headers = {Location = "/api/v1/reservations/" .. reply[2]}
        if tonumber(reply[7]) == 1 then
            headers["Idempotent-Replayed"] = "true"
        end
        local qty = tonumber(reply[4])
        return send(202, "application/json", cjson.encode({
            reservation_id = reply[2],
            status = "reserved",
            sale_id = tonumber(sale),
            item_id = tonumber(reply[3]),
            quantity = qty,
            amount_cents = tonumber(reply[8]) * qty,
            expires_at = iso_time(tonumber(reply[5])),
        }), headers)
    end
    if code == "late" then
        return unavailable("Redis ran the booking after its deadline; nothing was booked")
    end
    local spelling = OUTCOMES[code]
    if not spelling then
        return problem(500, "internal", "Internal error", {detail = "book.lua: unexpected reply"})
    end
    local members, headers = {}, nil
    if code == "sold_out" then
        members.remaining = 0
    elseif code == "insufficient_stock" then
        members.remaining = tonumber(reply[2])
        members.detail = "Only " .. reply[2] .. " units remain."
    elseif code == "per_user_limit" then
        members.held = tonumber(reply[2])
        members.limit = tonumber(reply[3])
        members.detail = "You hold " .. reply[2] .. " of at most " .. reply[3] .. " units."
    elseif code == "throttled" then
        members.retry_after_ms = tonumber(reply[2])
        headers = {["Retry-After"] = tostring(math.ceil(tonumber(reply[2]) / 1000))}
    elseif code == "not_started" then
        members.starts_at = iso_time(tonumber(reply[2]))
        members.server_time = iso_time(tonumber(reply[3]))
    elseif code == "admission_required" then
        members.queue_url = "/api/v1/sales/" .. sale .. "/queue"
    end
    return problem(spelling[2], spelling[1], spelling[3], members, headers)
end

return M
