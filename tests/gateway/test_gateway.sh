#!/usr/bin/env bash
# The nginx gateway (deploy/nginx) in front of two real API processes: a request passes
# through it to a backend, requests are spread over both processes, bookings and the admin
# WebSocket work through it, and its own limits answer problem JSON (429 per IP, 413).
#
# Starts everything itself on free loopback ports, with the launchers of deploy/lib, and stops it
# afterwards: redis-server, a fresh database in the cluster of FLASHSALE_TEST_PG_URL
# (deploy/local/test exports it), two `flashsale-server --roles api` and nginx with the config
# deploy/local/run --with-nginx renders.
# FLASHSALE_SERVER_BIN names the server (CTest sets it). A missing nginx fails the test: the
# package list installs it. FLASHSALE_KEEP_TEST_DIR=1 keeps the logs.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
fs_trap_errors

T0=$SECONDS
say() { printf '[gateway] %s\n' "$*" >&2; }

# ---- prerequisites ------------------------------------------------------------------------

# deploy/local/test installs nginx (FS_GATEWAY_PACKAGES): a missing one is a failure, not a skip.
fs_require_commands nginx curl jq redis-server redis-cli

if [[ -n "${FLASHSALE_SERVER_BIN:-}" ]]; then
  FS_SERVER_BIN=$FLASHSALE_SERVER_BIN
else
  fs_resolve_server_bin || fs_die "no flashsale-server; build first or set FLASHSALE_SERVER_BIN"
fi
[[ -x "$FS_SERVER_BIN" ]] || fs_die "$FS_SERVER_BIN is not executable"
PG_ADMIN_URL=${FLASHSALE_TEST_PG_URL:-}
[[ -n "$PG_ADMIN_URL" ]] || fs_die "FLASHSALE_TEST_PG_URL is not set: run the suites with deploy/local/test"

# ---- set-up -------------------------------------------------------------------------------

# The state folder of every process the test starts (deploy/lib: HOME/NAME.pid, HOME/logs/...).
DIR="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-gateway.XXXXXX")"
chmod 755 "$DIR" # nginx workers run as nobody when we are root
NGINX_DIR="$DIR/nginx"
LOGS="$DIR/logs"
mkdir -p "$LOGS"
DB="flashsale_gateway_$$_$RANDOM"
DB_CREATED=0
FAILED=0

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? n
  set +e
  trap '' INT TERM HUP PIPE
  if ((rc != 0)); then
    for f in "$LOGS"/nginx-error.log "$LOGS"/api1.log "$LOGS"/api2.log; do fs_tail_log "$f"; done
  fi
  fs_nginx_alive "$NGINX_DIR" && fs_nginx_stop "$NGINX_DIR"
  for n in 1 2; do fs_server_stop "$DIR" "api$n"; done
  fs_redis_stop "$DIR"
  ((DB_CREATED)) && fs_pg_db_drop "$PG_ADMIN_URL" "$DB"
  if [[ "${FLASHSALE_KEEP_TEST_DIR:-}" == 1 ]]; then
    say "kept $DIR"
  else
    rm -rf "$DIR"
  fi
  say "finished in $((SECONDS - T0)) s (exit $rc)"
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

fs_pick_port REDIS_PORT
fs_redis_start "$DIR" "$REDIS_PORT" 'save ""' "appendonly no" || fs_die "redis-server did not start"
fs_pg_db_create "$PG_ADMIN_URL" "$DB" || fs_die "CREATE DATABASE $DB failed"
DB_CREATED=1
PG_URL="$(fs_pg_db_url "$PG_ADMIN_URL" "$DB")"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
TOKEN="$(fs_random_hex 16)"
fs_server_migrate "$LOGS/migrate.log" "$PG_URL" "$REDIS_URL" || fs_die "migrations failed"

API_URLS=()
METRICS_URLS=()
port=""
metrics_port=""
for n in 1 2; do
  fs_pick_port port
  fs_pick_port metrics_port # GET /metrics is not served on the API port
  fs_server_start "$DIR" "api$n" --roles api --listen 127.0.0.1 --port "$port" --threads 1 \
    --redis-url "$REDIS_URL" --pg-url "$PG_URL" --admin-token "$TOKEN" --dev-user-ids \
    --trusted-proxies 127.0.0.1 --metrics-port "$metrics_port" \
    --rate-limit-ip 0 --rate-limit-user 0 || fs_die "API process $n did not start"
  API_URLS+=("http://127.0.0.1:$port")
  METRICS_URLS+=("http://127.0.0.1:$metrics_port")
done

fs_pick_port GW_PORT
GW="http://127.0.0.1:$GW_PORT"
fs_nginx_render "$NGINX_DIR" "$LOGS" "127.0.0.1:$GW_PORT" "${API_URLS[@]#http://}"
fs_nginx_start "$NGINX_DIR" "$LOGS"
fs_wait_http "$GW/healthz" 10 || fs_die "the gateway did not answer /healthz within 10 s"
say "gateway $GW over ${API_URLS[*]} ready after $((SECONDS - T0)) s"

# ---- checks -------------------------------------------------------------------------------

check() { # NAME COMMAND... - run one check, count a failure, go on
  local name=$1
  shift
  if "$@"; then
    say "ok: $name"
  else
    say "FAILED: $name"
    FAILED=$((FAILED + 1))
  fi
}
fail() {
  say "  $*"
  return 1
}
BODY="$DIR/body"
HDRS="$DIR/headers"

# expect_problem STATUS TYPE - the last answer ($HDRS, $BODY) is problem JSON of TYPE.
expect_problem() {
  grep -qi '^content-type: application/problem+json' "$HDRS" || fail "not problem JSON: $(cat "$HDRS")"
  jq -e --arg t "/problems/$2" --argjson s "$1" '.type == $t and .status == $s' "$BODY" >/dev/null ||
    fail "wrong problem: $(head -c 300 "$BODY")"
}

healthz_through_gateway() {
  local code
  code="$(fs_http "$BODY" "$GW/healthz")"
  [[ "$code" == 200 ]] || fail "GET /healthz answered $code"
  # Only flashsale-server answers {"status":"ok"}; nginx has nothing of its own at /healthz.
  jq -e '.status == "ok"' "$BODY" >/dev/null || fail "body is not the server's: $(head -c 200 "$BODY")"
}

# healthz_count URL - the process's flashsale_http_requests_total for GET /healthz.
healthz_count() {
  curl -s --max-time 5 "$1/metrics" |
    awk '/^flashsale_http_requests_total\{/ && /route="\/healthz"/ && /method="GET"/ { n += $NF } END { print n + 0 }'
}

spread_over_both() {
  local a1 a2 b1 b2 i
  a1="$(healthz_count "${METRICS_URLS[0]}")"
  a2="$(healthz_count "${METRICS_URLS[1]}")"
  for ((i = 0; i < 20; i++)); do
    [[ "$(fs_http_code "$GW/healthz")" == 200 ]] || fail "GET /healthz failed"
  done
  b1="$(healthz_count "${METRICS_URLS[0]}")"
  b2="$(healthz_count "${METRICS_URLS[1]}")"
  say "  /healthz served: process 1 +$((b1 - a1)), process 2 +$((b2 - a2))"
  ((b1 > a1 && b2 > a2)) || fail "not both processes answered"
  ((b1 - a1 + b2 - a2 == 20)) || fail "expected 20 answers in all"
}

SALE=""
create_sale() {
  local payload code
  payload="$(jq -cn --arg s "$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)" \
    --arg e "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" \
    '{name: "Gateway test", stock: 1000, per_user_limit: 100, price_cents: 100, starts_at: $s, ends_at: $e}')"
  code="$(fs_http "$BODY" "$GW/api/v1/admin/sales" -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "$payload")"
  [[ "$code" == 201 ]] || fail "POST /api/v1/admin/sales answered $code: $(head -c 300 "$BODY")"
  SALE="$(jq -r '.id' "$BODY")"
  [[ "$SALE" =~ ^[0-9]+$ ]] || fail "no sale id"
}

book_once() {
  local code
  code="$(fs_http "$BODY" "$GW/api/v1/sales/$SALE/book" -X POST -H 'Content-Type: application/json' \
    -d '{"user_id":"alice","quantity":1}')"
  [[ "$code" == 202 ]] || fail "POST book answered $code: $(head -c 300 "$BODY")"
  jq -e '.status == "reserved" and (.reservation_id | type == "string")' "$BODY" >/dev/null ||
    fail "unexpected body: $(head -c 300 "$BODY")"
}

# ws_status PATH [CURL ARGS...] - the status of a WebSocket handshake through the gateway.
# curl does not speak WebSocket: after a 101 it waits for a body until --max-time.
ws_status() {
  local path=$1
  shift
  fs_http /dev/null "$GW$path" --http1.1 --max-time 1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$@"
}

admin_ws_with_token() {
  local code
  code="$(ws_status /admin/v1/ws -H "Authorization: Bearer $TOKEN")"
  [[ "$code" == 101 ]] || fail "handshake answered $code"
}

admin_ws_without_token() {
  local code
  code="$(fs_http "$BODY" "$GW/admin/v1/ws" --http1.1 -D "$HDRS" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')"
  [[ "$code" == 401 ]] || fail "handshake answered $code"
  expect_problem 401 unauthorized
}

buyer_live_ws() {
  local code
  code="$(ws_status "/api/v1/sales/$SALE/live")"
  [[ "$code" == 101 ]] || fail "handshake answered $code"
}

body_too_large() {
  local code
  head -c 70000 /dev/zero | tr '\0' 'a' >"$DIR/big"
  code="$(fs_http "$BODY" "$GW/api/v1/sales/$SALE/book" -X POST -D "$HDRS" -H 'Expect:' \
    -H 'Content-Type: application/json' --data-binary @"$DIR/big")"
  [[ "$code" == 413 ]] || fail "a 70000-byte body answered $code"
  expect_problem 413 request-too-large
  # The gateway's answer, not a process's (theirs names the size: "The body is 70000 bytes").
  jq -e '.detail | test("gateway")' "$BODY" >/dev/null || fail "not the gateway's 413: $(cat "$BODY")"
}

headers_too_large() {
  local code big
  big="$(head -c 17000 /dev/zero | tr '\0' 'a')"
  code="$(fs_http "$BODY" "$GW/healthz" -D "$HDRS" -H "X-Padding: $big")"
  [[ "$code" == 431 ]] || fail "a 17000-byte header answered $code"
  expect_problem 431 headers-too-large
}

per_ip_limit() {
  local i code ra ct file accepted=0 throttled=0 other=0 first="" args=()
  for ((i = 0; i < 40; i++)); do
    args+=(-o "$DIR/b$i" "$GW/api/v1/sales/$SALE/book")
  done
  # One curl sends all 40 at once: the result must not depend on how fast this machine forks.
  while IFS='|' read -r code ra ct file; do
    case "$code" in
      202) accepted=$((accepted + 1)) ;;
      429)
        throttled=$((throttled + 1))
        [[ "$ra" == 1 ]] || fail "a 429 without Retry-After: 1 (got '$ra')"
        [[ "$ct" == application/problem+json* ]] || fail "a 429 of type $ct"
        [[ -n "$first" ]] || first=$file
        ;;
      *) other=$((other + 1)) ;;
    esac
  done < <(curl -s --parallel --parallel-immediate --parallel-max 40 --max-time 10 -X POST \
    -H 'Content-Type: application/json' -d '{"user_id":"burst","quantity":1}' \
    -w '%{http_code}|%header{retry-after}|%{content_type}|%{filename_effective}\n' "${args[@]}" || true)
  say "  40 bookings at once from one address: $accepted accepted, $throttled throttled, $other other"
  ((other == 0)) || fail "unexpected answers"
  ((accepted >= 20)) || fail "the burst of 20 was not let through"
  ((throttled >= 10)) || fail "too few 429s"
  if [[ -n "$first" ]]; then
    jq -e '.type == "/problems/throttled" and .status == 429' "$first" >/dev/null ||
      fail "the 429 is not problem JSON: $(head -c 300 "$first")"
  fi
  # Reads are limited separately: the sale's state still answers.
  code="$(fs_http "$BODY" "$GW/api/v1/sales/$SALE")"
  [[ "$code" == 200 ]] || fail "GET the sale while bookings are throttled answered $code"
}

one_process_down() {
  local i code
  fs_server_stop "$DIR" api2
  for ((i = 0; i < 10; i++)); do
    code="$(fs_http "$BODY" "$GW/healthz")"
    [[ "$code" == 200 ]] || fail "GET /healthz with process 2 down answered $code"
  done
}

all_processes_down() {
  local code
  fs_server_stop "$DIR" api1
  code="$(fs_http "$BODY" "$GW/api/v1/sales/$SALE" -D "$HDRS")"
  [[ "$code" == 502 ]] || fail "GET with no process up answered $code"
  expect_problem 502 backend-unavailable
}

check "GET /healthz through the gateway is 200 from a server" healthz_through_gateway
check "requests are spread over both API processes" spread_over_both
if check "POST /api/v1/admin/sales through the gateway is 201" create_sale && [[ -n "$SALE" ]]; then
  check "POST book through the gateway is 202" book_once
  check "WebSocket /admin/v1/ws with the token is 101" admin_ws_with_token
  check "WebSocket /admin/v1/ws without the token is 401" admin_ws_without_token
  check "WebSocket /api/v1/sales/$SALE/live is 101" buyer_live_ws
  check "a body above 64 KiB is 413 problem JSON" body_too_large
  check "a header above 16 KiB is 431 problem JSON" headers_too_large
  check "a burst from one address gets 429 problem JSON with Retry-After" per_ip_limit
  check "the gateway answers with one API process down" one_process_down
  check "with no API process up the gateway answers 502 problem JSON" all_processes_down
fi

if ((FAILED)); then
  say "$FAILED check(s) failed"
  exit 1
fi
say "all checks passed"
