#!/usr/bin/env bash
# The nginx gateway (deploy/nginx) in front of two real API processes, on the secured set-up of
# the local stack: HTTPS only with a certificate of a local CA (deploy/lib/tls.sh), Redis with a
# password, PostgreSQL with SCRAM and the non-superuser application role, every secret passed by
# file. A request passes through it to a backend, requests are spread over both processes,
# bookings and the WebSockets (wss://) work through it, and each attack of issue 15 that the
# gateway or the stack's set-up must refuse has a named check: plain HTTP, old TLS, path variants
# of the booking routes, many addresses of one IPv6 /64, checkout codes in the access log,
# secrets in ps, Redis and PostgreSQL without credentials, the app role rewriting the audit log.
#
# Starts everything itself on free loopback ports, with the launchers of deploy/lib, and stops it
# afterwards: redis-server (--auth), a PostgreSQL cluster of its own (scram, ~3 s of initdb), two
# `flashsale-server --roles api` and nginx with the config deploy/local/run --with-nginx renders,
# plus tests/gateway/client-addr.conf, which lets a request name its client address in
# X-Test-Client-Addr (only the limits' keying checks send it).
# FLASHSALE_SERVER_BIN names the server (CTest sets it). A missing nginx fails the test: the
# package list installs it. FLASHSALE_KEEP_TEST_DIR=1 keeps the logs.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
# shellcheck source=tests/support/stack.sh
source "$FS_ROOT/tests/support/stack.sh"
fs_trap_errors

T0=$SECONDS
say() { printf '[gateway] %s\n' "$*" >&2; }

# ---- prerequisites ------------------------------------------------------------------------

# deploy/local/test installs nginx (FS_GATEWAY_PACKAGES): a missing one is a failure, not a skip.
fs_require_commands nginx curl jq redis-server redis-cli openssl psql

fs_test_server_bin

# ---- set-up -------------------------------------------------------------------------------

# The state folder of every process the test starts (deploy/lib: HOME/NAME.pid, HOME/logs/...).
DIR="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-gateway.XXXXXX")"
chmod 755 "$DIR" # nginx workers run as nobody, PostgreSQL as postgres, when we are root
NGINX_DIR="$DIR/nginx"
LOGS="$DIR/logs"
mkdir -p "$LOGS"
PG_HOME=$DIR
PG_STARTED=0
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
  ((PG_STARTED)) && fs_pg_stop "$PG_HOME" immediate
  fs_test_dir_done "$DIR" "$rc" "$T0"
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

fs_tls_ensure "$DIR"
CA_FILE="$(fs_tls_ca_file "$DIR")"

fs_test_stores "$DIR" "$LOGS"

API_URLS=()
METRICS_URLS=()
port=""
metrics_port=""
for n in 1 2; do
  fs_pick_port port
  fs_pick_port metrics_port # GET /metrics is not served on the API port
  fs_server_start "$DIR" "api$n" "${SERVER_ENV[@]}" --roles api --listen 127.0.0.1 --port "$port" \
    --threads 1 --redis-url "$REDIS_URL" --pg-url "$PG_URL" --dev-user-ids \
    --trusted-proxies 127.0.0.1 --metrics-port "$metrics_port" \
    --rate-limit-ip 0 --rate-limit-user 0 || fs_die "API process $n did not start"
  API_URLS+=("http://127.0.0.1:$port")
  METRICS_URLS+=("http://127.0.0.1:$metrics_port")
done

fs_pick_port GW_PORT
fs_pick_port GW_HTTP_PORT
GW="https://127.0.0.1:$GW_PORT"
GW_HTTP="http://127.0.0.1:$GW_HTTP_PORT"
fs_nginx_render --include "$FS_ROOT/tests/gateway/client-addr.conf" "$NGINX_DIR" "$LOGS" "$DIR" \
  "127.0.0.1:$GW_PORT" "127.0.0.1:$GW_HTTP_PORT" "${API_URLS[@]#http://}"
fs_nginx_start "$NGINX_DIR" "$LOGS"
fs_wait_http "$GW/healthz" 10 --cacert "$CA_FILE" || fs_die "the gateway did not answer /healthz within 10 s"
say "gateway $GW (plain HTTP $GW_HTTP) over ${API_URLS[*]} ready after $((SECONDS - T0)) s"

# Every curl to the gateway trusts the local CA, and nothing else.
gw() { # OUTFILE PATH [CURL ARGS...] - fs_http to the gateway over HTTPS
  local out=$1 path=$2
  shift 2
  fs_http "$out" "$GW$path" --cacert "$CA_FILE" "$@"
}

# ---- checks ------------------------------------------------------------------------------

# A check fails when its function returns non-zero or called fail at any point: a check goes on
# after a failed step (set -e does not apply inside `if`), so only the flag remembers it.
CHECK_FAILED=0
check() { # NAME COMMAND... - run one check, count a failure, go on
  local name=$1
  shift
  CHECK_FAILED=0
  if "$@" && ((CHECK_FAILED == 0)); then
    say "ok: $name"
  else
    say "FAILED: $name"
    FAILED=$((FAILED + 1))
  fi
}
fail() {
  CHECK_FAILED=1
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

# expect_hsts - the last answer's headers ($HDRS) carry Strict-Transport-Security for a year.
expect_hsts() {
  grep -qi '^strict-transport-security: max-age=31536000' "$HDRS" ||
    fail "no HSTS header in: $(tr -d '\r' <"$HDRS" | tr '\n' '|')"
}

healthz_through_gateway() {
  local code
  code="$(gw "$BODY" /healthz)"
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
    [[ "$(gw /dev/null /healthz)" == 200 ]] || fail "GET /healthz failed"
  done
  b1="$(healthz_count "${METRICS_URLS[0]}")"
  b2="$(healthz_count "${METRICS_URLS[1]}")"
  say "  /healthz served: process 1 +$((b1 - a1)), process 2 +$((b2 - a2))"
  ((b1 > a1 && b2 > a2)) || fail "not both processes answered"
  ((b1 - a1 + b2 - a2 == 20)) || fail "expected 20 answers in all"
}

# ---- TLS ----

https_verified_with_the_ca() {
  local rc=0
  [[ "$(gw "$BODY" /healthz)" == 200 ]] || fail "with --cacert: not 200"
  # Without the local CA the certificate is not trusted: curl's "peer certificate" error (60).
  curl -s -o /dev/null --max-time 5 "$GW/healthz" || rc=$?
  ((rc == 60)) || fail "without the CA curl exited $rc, not 60"
  # The certificate names localhost, 127.0.0.1 and ::1; not another host.
  rc=0
  curl -s -o /dev/null --max-time 5 --cacert "$CA_FILE" \
    --resolve "flashsale.example:$GW_PORT:127.0.0.1" "https://flashsale.example:$GW_PORT/healthz" || rc=$?
  ((rc == 60)) || fail "for another host name curl exited $rc, not 60"
  [[ "$(fs_http /dev/null "https://localhost:$GW_PORT/healthz" --cacert "$CA_FILE" \
    --resolve "localhost:$GW_PORT:127.0.0.1")" == 200 ]] || fail "https://localhost: not 200"
}

plain_http_redirected() {
  local code loc
  for method in GET POST; do
    code="$(fs_http "$BODY" "$GW_HTTP/api/v1/sales/1?x=1" -X "$method" -D "$HDRS")"
    [[ "$code" == 308 ]] || fail "$method over plain HTTP answered $code, not 308"
    loc="$(tr -d '\r' <"$HDRS" | sed -n 's/^[Ll]ocation: //p')"
    [[ "$loc" == "https://127.0.0.1:$GW_PORT/api/v1/sales/1?x=1" ]] || fail "$method redirected to '$loc'"
  done
  # Nothing but redirects: the API is not reachable over plain HTTP, not even /healthz.
  code="$(fs_http "$BODY" "$GW_HTTP/healthz")"
  [[ "$code" == 308 ]] || fail "GET /healthz over plain HTTP answered $code"
  ! grep -q '"status"' "$BODY" || fail "plain HTTP reached a server: $(head -c 200 "$BODY")"
}

hsts_on_https_answers() {
  gw "$BODY" /healthz -D "$HDRS" >/dev/null
  expect_hsts
  # Also on the gateway's own answers (nginx drops inherited headers where a location adds any).
  head -c 70000 /dev/zero | tr '\0' 'a' >"$DIR/big"
  [[ "$(gw "$BODY" "/api/v1/sales/$SALE/book" -X POST -D "$HDRS" -H 'Expect:' \
    -H 'Content-Type: application/json' --data-binary @"$DIR/big")" == 413 ]] || fail "no 413"
  expect_hsts
}

# tls_handshake VERSION - 0 when a TLS VERSION (tls1, tls1_1, tls1_2, tls1_3) handshake with the
# gateway completes. The client allows every cipher at security level 0, so that it really
# offers TLS 1.0/1.1 (OpenSSL 3's defaults would refuse them on the client side already).
tls_handshake() {
  timeout 10 openssl s_client -connect "127.0.0.1:$GW_PORT" -servername localhost \
    -CAfile "$CA_FILE" -verify_return_error "-$1" -cipher 'ALL:@SECLEVEL=0' </dev/null \
    >"$DIR/s_client.$1" 2>&1
}

old_tls_refused() {
  local v
  for v in tls1 tls1_1; do
    if tls_handshake "$v"; then
      fail "a $v handshake succeeded: $(grep -m1 'Protocol' "$DIR/s_client.$v")"
    fi
  done
  for v in tls1_2 tls1_3; do
    tls_handshake "$v" || fail "a $v handshake failed: $(tail -n 3 "$DIR/s_client.$v")"
  done
}

# ws_handshake PATH SECONDS [HEADER...] - a WebSocket handshake over TLS (wss://) through the
# gateway, verifying its certificate with the CA; what the server sent in SECONDS is in $BODY.
ws_handshake() {
  local path=$1 seconds=$2 h
  shift 2
  {
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' "$path" "$GW_PORT"
    printf 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'
    sleep "$seconds"
  } | timeout $((seconds + 5)) openssl s_client -quiet -connect "127.0.0.1:$GW_PORT" \
    -servername localhost -CAfile "$CA_FILE" -verify_return_error 2>/dev/null >"$BODY" || true
}

wss_buyer_live_with_the_ca() {
  ws_handshake "/api/v1/sales/$SALE/live" 2
  head -n 1 "$BODY" | grep -q '^HTTP/1.1 101' || fail "handshake answered: $(head -n 1 "$BODY")"
  grep -qa 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' "$BODY" || fail "no Sec-WebSocket-Accept for our key"
  # The first countdown message, a WebSocket text frame, arrived through the TLS tunnel.
  grep -qa '"type":"tick"' "$BODY" || fail "no tick message in: $(head -c 400 "$BODY" | tr -cd '[:print:]\n')"
}

wss_admin_with_token() {
  ws_handshake /admin/v1/ws 1 "Authorization: Bearer $TOKEN"
  head -n 1 "$BODY" | grep -q '^HTTP/1.1 101' || fail "handshake answered: $(head -n 1 "$BODY")"
}

admin_ws_without_token() {
  local code
  code="$(gw "$BODY" /admin/v1/ws --http1.1 -D "$HDRS" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')"
  [[ "$code" == 401 ]] || fail "handshake answered $code"
  expect_problem 401 unauthorized
}

# ---- the API through the gateway ----

SALE=""
create_sale() {
  local payload code
  payload="$(jq -cn --arg s "$(fs_utc '-1 minute')" --arg e "$(fs_utc '+1 hour')" \
    '{name: "Gateway test", stock: 5000, per_user_limit: 100, price_cents: 100, starts_at: $s, ends_at: $e}')"
  code="$(gw "$BODY" /api/v1/admin/sales -X POST -H @<(printf 'Authorization: Bearer %s\n' "$TOKEN") \
    -H 'Content-Type: application/json' -d "$payload")"
  [[ "$code" == 201 ]] || fail "POST /api/v1/admin/sales answered $code: $(head -c 300 "$BODY")"
  SALE="$(jq -r '.id' "$BODY")"
  [[ "$SALE" =~ ^[0-9]+$ ]] || fail "no sale id"
}

book_once() {
  local code
  code="$(gw "$BODY" "/api/v1/sales/$SALE/book" -X POST -H 'Content-Type: application/json' \
    -d '{"user_id":"alice","quantity":1}')"
  [[ "$code" == 202 ]] || fail "POST book answered $code: $(head -c 300 "$BODY")"
  jq -e '.status == "reserved" and (.reservation_id | type == "string")' "$BODY" >/dev/null ||
    fail "unexpected body: $(head -c 300 "$BODY")"
}

body_too_large() {
  local code
  head -c 70000 /dev/zero | tr '\0' 'a' >"$DIR/big"
  code="$(gw "$BODY" "/api/v1/sales/$SALE/book" -X POST -D "$HDRS" -H 'Expect:' \
    -H 'Content-Type: application/json' --data-binary @"$DIR/big")"
  [[ "$code" == 413 ]] || fail "a 70000-byte body answered $code"
  expect_problem 413 request-too-large
  # The gateway's answer, not a process's (theirs names the size: "The body is 70000 bytes").
  jq -e '.detail | test("gateway")' "$BODY" >/dev/null || fail "not the gateway's 413: $(cat "$BODY")"
}

headers_too_large() {
  local code big
  big="$(head -c 17000 /dev/zero | tr '\0' 'a')"
  code="$(gw "$BODY" /healthz -D "$HDRS" -H "X-Padding: $big")"
  [[ "$code" == 431 ]] || fail "a 17000-byte header answered $code"
  expect_problem 431 headers-too-large
}

# burst NAME N PATH [CLIENT_ADDR_PATTERN] - N POSTs of PATH sent at once through the gateway by
# one curl (the result must not depend on how fast this machine forks), each as user NAME; with
# CLIENT_ADDR_PATTERN (a printf pattern of the request's index) each request names its client
# address in X-Test-Client-Addr. Sets ACCEPTED (not 429), THROTTLED (429 problem JSON with
# Retry-After: 1) and BAD (429s without them).
burst() {
  local name=$1 n=$2 path=$3 pattern=${4:-} i code ra ct file cfg="$DIR/burst.cfg"
  ACCEPTED=0 THROTTLED=0 BAD=0
  : >"$cfg"
  for ((i = 0; i < n; i++)); do
    {
      ((i == 0)) || echo next
      printf 'url = "%s%s"\noutput = "%s/b%d"\nrequest = "POST"\n' "$GW" "$path" "$DIR" "$i"
      printf 'cacert = "%s"\nheader = "Content-Type: application/json"\n' "$CA_FILE"
      printf 'data = "{\\"user_id\\":\\"%s\\",\\"quantity\\":1}"\n' "$name"
      printf 'max-time = 10\n'
      printf 'write-out = "%%{http_code}|%%header{retry-after}|%%{content_type}|%%{filename_effective}\\n"\n'
      # shellcheck disable=SC2059 # the pattern is ours
      [[ -z "$pattern" ]] || printf "header = \"X-Test-Client-Addr: $pattern\"\n" "$((i + 1))"
    } >>"$cfg"
  done
  while IFS='|' read -r code ra ct file; do
    if [[ "$code" == 429 ]]; then
      if [[ "$ra" == 1 && "$ct" == application/problem+json* ]] &&
        jq -e '.type == "/problems/throttled"' "$file" >/dev/null 2>&1; then
        THROTTLED=$((THROTTLED + 1))
      else
        BAD=$((BAD + 1))
      fi
    else
      ACCEPTED=$((ACCEPTED + 1))
    fi
  done < <(curl -s --parallel --parallel-immediate --parallel-max "$n" -K "$cfg" 2>/dev/null || true)
}

per_ip_limit() {
  local code
  burst burst 40 "/api/v1/sales/$SALE/book"
  say "  40 bookings at once from one address: $ACCEPTED through, $THROTTLED throttled"
  ((BAD == 0)) || fail "$BAD 429s without problem JSON or Retry-After: 1"
  ((ACCEPTED >= 20)) || fail "the burst of 20 was not let through"
  ((THROTTLED >= 10)) || fail "too few 429s"
  # Reads are limited separately: the sale's state still answers.
  code="$(gw "$BODY" "/api/v1/sales/$SALE")"
  [[ "$code" == 200 ]] || fail "GET the sale while bookings are throttled answered $code"
}

# booking_variant_limited N PATH - PATH is a spelling of a booking route that the server's router
# accepts (asked of API process 1 directly: it answers with the route's own status, not 404),
# and 40 POSTs of it at once from one client (TEST-NET address 192.0.2.N, a budget of its own)
# are throttled by the gateway like /book itself.
booking_variant_limited() {
  local n=$1 path=$2 code
  code="$(fs_http "$BODY" "${API_URLS[0]}$path" -X POST -H 'Content-Type: application/json' \
    -d '{"user_id":"variant-direct","quantity":1}')"
  [[ "$code" != 404 && "$code" != 405 ]] || fail "the server does not route $path ($code): not a variant"
  burst "variant-$n" 40 "$path" "192.0.2.$n"
  say "  $path: server answers $code directly; through the gateway $ACCEPTED through, $THROTTLED throttled"
  ((BAD == 0)) || fail "$BAD 429s without problem JSON"
  ((THROTTLED >= 10)) || fail "not limited like /book"
}

# Many addresses of one IPv6 /64 share one budget; addresses in 40 different /64s have one each.
ipv6_limited_per_64() {
  burst v6-same 40 "/api/v1/sales/$SALE/book" '2001:db8:1:2::%x'
  say "  40 addresses of 2001:db8:1:2::/64: $ACCEPTED through, $THROTTLED throttled"
  ((BAD == 0 && THROTTLED >= 10)) || fail "one /64 was not limited as one client"
  burst v6-apart 40 "/api/v1/sales/$SALE/book" '2001:db8:2:%x::1'
  say "  40 addresses in 40 /64s: $ACCEPTED through, $THROTTLED throttled"
  ((THROTTLED == 0 && ACCEPTED == 40)) || fail "different /64s were limited together"
  # IPv4 stays per address: 40 addresses, no throttling.
  burst v4-apart 40 "/api/v1/sales/$SALE/book" '198.51.100.%d'
  ((THROTTLED == 0)) || fail "different IPv4 addresses were limited together"
}

checkout_code_redacted() {
  local code log="$LOGS/nginx-access.log" secret=SECRETCODE4242
  for q in "code=$secret" "%63ode=$secret" "x=1&CODE=$secret"; do
    code="$(gw "$BODY" "/purchase?$q" -X POST)"
    [[ "$code" != 000 ]] || fail "POST /purchase?$q got no answer"
  done
  code="$(gw "$BODY" "/checkout?user_id=logged-user&id=1" -X POST)"
  sleep 0.5 # nginx writes the access log line after the answer
  ! grep -q "$secret" "$log" || fail "the code is in the access log: $(grep -m1 "$secret" "$log")"
  [[ "$(grep -c 'POST /purchase?\[redacted\] ' "$log")" -ge 3 ]] ||
    fail "no redacted /purchase lines: $(grep -m3 '/purchase' "$log")"
  # Other queries are still logged as they came.
  grep -q 'POST /checkout?user_id=logged-user&id=1 ' "$log" || fail "the /checkout query is not logged"
}

# ---- local-stack secrets ----

no_secret_in_ps() {
  local args secret name pid
  args="$(ps -eo args)"
  for name in "$TOKEN_FILE" "$BUYER_SECRET_FILE" "$(fs_redis_password_file "$DIR")"; do
    secret="$(cat "$name")"
    [[ ${#secret} -ge 32 ]] || fail "$name holds no secret"
    ! grep -qF -- "$secret" <<<"$args" || fail "the secret of $name is in ps"
  done
  IFS=: read -r _ _ _ _ secret <"$PG_PASSFILE"
  ! grep -qF -- "$secret" <<<"$args" || fail "the PostgreSQL password is in ps"
  for name in api1 api2; do
    pid="$(fs_server_pid "$DIR" "$name")"
    ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE -- '--(admin-token|buyer-token-secret|redis-password) ' ||
      fail "$name has a secret flag: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
  done
  # And the secrets did reach the servers: the admin token (create_sale), the Redis password and
  # the PostgreSQL one (a reservation read is answered from Redis; /readyz checks both).
  [[ "$(fs_http_code "${API_URLS[0]}/readyz")" == 200 ]] || fail "process 1 is not ready"
  for name in "$TOKEN_FILE" "$BUYER_SECRET_FILE" "$(fs_redis_password_file "$DIR")" "$PG_PASSFILE"; do
    [[ "$(stat -c %a "$name")" == 600 ]] || fail "$name is mode $(stat -c %a "$name")"
  done
}

redis_refuses_unauthenticated() {
  local out
  out="$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" SET fs:probe 1 2>&1 || true)"
  [[ "$out" == *NOAUTH* ]] || fail "SET without AUTH answered: $out"
  out="$(REDISCLI_AUTH=wrong-password timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" SET fs:probe 1 2>&1 || true)"
  [[ "$out" == *WRONGPASS* || "$out" == *NOAUTH* || "$out" == *invalid* ]] || fail "a wrong password answered: $out"
  [[ "$(fs_redis_cli "$DIR" EXISTS fs:probe)" == 0 ]] || fail "fs:probe was written"
  [[ "$(fs_redis_cli "$DIR" CONFIG GET maxmemory-policy | tail -n 1)" == noeviction ]] ||
    fail "maxmemory-policy is not noeviction"
  [[ "$(fs_redis_cli "$DIR" CONFIG GET maxmemory | tail -n 1)" -gt 0 ]] || fail "no maxmemory"
}

# pg_as URL PASSFILE SQL - run SQL as URL's role with PASSFILE's passwords only; psql's output.
pg_as() {
  PGPASSFILE=$2 PGPASSWORD='' PGCONNECT_TIMEOUT=5 timeout 10 "$(fs_pg_bin)/psql" -X -w -q -tA \
    -v ON_ERROR_STOP=1 "$1" -c "$3" </dev/null 2>&1
}

pg_refuses_unauthenticated() {
  local out wrong="$DIR/wrong.pgpass"
  (umask 077 && printf '*:*:*:*:not-the-password\n' >"$wrong")
  # The superuser never over TCP, with or without a password.
  if out="$(pg_as "postgresql://flashsale@127.0.0.1:$PG_PORT/flashsale" /dev/null 'SELECT 1')"; then
    fail "the superuser logged in over TCP without a password: $out"
  fi
  [[ "$out" == *"rejects connection"* ]] || fail "superuser over TCP: $out"
  # The application role: no password, a wrong one.
  if out="$(pg_as "$PG_URL" /dev/null 'SELECT 1')"; then
    fail "$FS_PG_APP_ROLE logged in without a password: $out"
  fi
  [[ "$out" == *"no password supplied"* ]] || fail "no password: $out"
  if out="$(pg_as "$PG_URL" "$wrong" 'SELECT 1')"; then
    fail "$FS_PG_APP_ROLE logged in with a wrong password: $out"
  fi
  [[ "$out" == *"password authentication failed"* ]] || fail "wrong password: $out"
  # With its password it gets in; and no rule of the cluster trusts anyone.
  [[ "$(pg_as "$PG_URL" "$PG_PASSFILE" 'SELECT 1')" == 1 ]] || fail "$FS_PG_APP_ROLE cannot log in"
  out="$(fs_psql "$PG_OWNER_URL" -tAc "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'")"
  [[ "$out" == 0 ]] || fail "$out trust rules in pg_hba.conf"
}

app_role_cannot_rewrite_audit() {
  local out rows
  fs_psql "$PG_OWNER_URL" -c "INSERT INTO audit_log (actor, action) VALUES ('test', 'probe')"
  [[ "$(pg_as "$PG_URL" "$PG_PASSFILE" 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" == f ]] ||
    fail "$FS_PG_APP_ROLE is a superuser"
  rows="$(pg_as "$PG_URL" "$PG_PASSFILE" 'SELECT count(*) FROM audit_log')"
  [[ "$rows" =~ ^[0-9]+$ && "$rows" -ge 1 ]] || fail "$FS_PG_APP_ROLE cannot read audit_log: $rows"
  for sql in "UPDATE audit_log SET actor = 'someone else'" 'DELETE FROM audit_log' 'TRUNCATE audit_log'; do
    if out="$(pg_as "$PG_URL" "$PG_PASSFILE" "$sql")"; then
      fail "$FS_PG_APP_ROLE ran '$sql'"
    fi
    [[ "$out" == *"permission denied for table audit_log"* ]] || fail "'$sql': $out"
  done
  [[ "$(fs_psql "$PG_OWNER_URL" -tAc "SELECT count(*) FROM audit_log WHERE actor = 'test'")" == 1 ]] ||
    fail "the audit row changed"
  # Appending stays allowed: that is how the servers write it.
  pg_as "$PG_URL" "$PG_PASSFILE" "INSERT INTO audit_log (actor, action) VALUES ('app', 'probe')" >/dev/null ||
    fail "$FS_PG_APP_ROLE cannot INSERT into audit_log"
}

# ---- availability ----

one_process_down() {
  local i code
  fs_server_stop "$DIR" api2
  for ((i = 0; i < 10; i++)); do
    code="$(gw "$BODY" /healthz)"
    [[ "$code" == 200 ]] || fail "GET /healthz with process 2 down answered $code"
  done
}

all_processes_down() {
  local code
  fs_server_stop "$DIR" api1
  code="$(gw "$BODY" "/api/v1/sales/$SALE" -D "$HDRS")"
  [[ "$code" == 502 ]] || fail "GET with no process up answered $code"
  expect_problem 502 backend-unavailable
  expect_hsts
}

check "GET /healthz through the gateway is 200 from a server" healthz_through_gateway
check "requests are spread over both API processes" spread_over_both
check "HTTPS verifies with the local CA only, for localhost and 127.0.0.1" https_verified_with_the_ca
check "attack: plain HTTP is redirected to HTTPS (308), never served" plain_http_redirected
check "attack: TLS 1.0 and 1.1 handshakes are refused; 1.2 and 1.3 work" old_tls_refused
check "no secret in ps; secret files are mode 600" no_secret_in_ps
check "attack: Redis refuses commands without the password; maxmemory with noeviction" redis_refuses_unauthenticated
check "attack: PostgreSQL refuses the superuser over TCP, no password and a wrong one" pg_refuses_unauthenticated
check "attack: the app role cannot UPDATE, DELETE or TRUNCATE audit_log" app_role_cannot_rewrite_audit
if check "POST /api/v1/admin/sales through the gateway is 201" create_sale && [[ -n "$SALE" ]]; then
  check "HSTS on HTTPS answers, the gateway's own included" hsts_on_https_answers
  check "POST book through the gateway is 202" book_once
  check "wss:// /api/v1/sales/$SALE/live with the CA: 101 and a tick" wss_buyer_live_with_the_ca
  check "wss:// /admin/v1/ws with the token is 101" wss_admin_with_token
  check "WebSocket /admin/v1/ws without the token is 401" admin_ws_without_token
  check "a body above 64 KiB is 413 problem JSON" body_too_large
  check "a header above 16 KiB is 431 problem JSON" headers_too_large
  check "a burst from one address gets 429 problem JSON with Retry-After" per_ip_limit
  n=10
  # (Not //api/...: the server reads "//api" as a host, not a path, and answers 404.)
  for variant in "/api/v1/sales/$SALE/book/" "/api/v1/sales/$SALE/book//" "/api/v1//sales/$SALE/book" "/api/v1/sales/00$SALE/book" "/api/v1/sales/$SALE/%62ook" \
    "/api/v1/sales/$SALE/challenge/" "/checkout/" "/purchase/"; do
    check "attack: booking path variant $variant is limited like /book" booking_variant_limited "$n" "$variant"
    n=$((n + 1))
  done
  check "attack: many addresses of one IPv6 /64 share one limit" ipv6_limited_per_64
  check "attack: checkout codes never reach the access log" checkout_code_redacted
  check "the gateway answers with one API process down" one_process_down
  check "with no API process up the gateway answers 502 problem JSON" all_processes_down
fi

if ((FAILED)); then
  say "$FAILED check(s) failed"
  exit 1
fi
say "all checks passed"
