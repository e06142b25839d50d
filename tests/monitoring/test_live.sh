#!/usr/bin/env bash
# A real Prometheus (Debian's) scraping a running flash-sale stack with the alert rules of
# deploy/prometheus/rules, as deploy/local/run --with-monitoring runs it:
#
#   1. every process's admin listener is a target, and every target is up (/api/v1/targets);
#   2. the rules are loaded, StockMismatch among them, and it is not firing for a clean sale
#      that reconciliation has already checked;
#   3. a stock drift injected behind the system's back (Redis's stock hash gets 3 units more, as
#      tests/reconcile does) is found by the scheduler's periodic dry-run reconciliation
#      (flashsale_reconcile_drift) and StockMismatch goes to firing for that sale, seen through
#      Prometheus's own API (/api/v1/alerts);
#   4. every expression of the Grafana dashboard (deploy/grafana/exprs.sh prints them, with
#      $sale and $__rate_interval substituted) runs through `promtool query instant`: each must
#      parse and return at least one series, and one of the live sale where its series carry a
#      sale label.
#
# Starts everything itself on free loopback ports with the launchers of deploy/lib and stops it
# afterwards: redis-server (--auth), a PostgreSQL cluster of its own (scram), the Kafka mock
# cluster, three flashsale-server processes, each with its own admin listener (--metrics-port):
#   main    --roles api,worker,relay,payment,scheduler (reconciliation every 2 s)
#   api2    --roles api
#   notify  --roles notify (serves no API: only its admin listener)
# and Prometheus (deploy/lib/prometheus.sh), rendered from deploy/prometheus/prometheus.yml.template.
#
# FLASHSALE_SERVER_BIN and FLASHSALE_KAFKA_MOCK_BIN name the binaries (CTest sets them).
# FLASHSALE_KEEP_TEST_DIR=1 keeps the folder (logs, Prometheus's data).
# FLASHSALE_MONITORING_SCREENSHOT=FILE.png also saves Prometheus's alerts page (/classic/alerts)
# with the alert firing, taken with headless Chromium (docs/monitoring-prometheus-alerts.png).
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
# shellcheck source=tests/support/stack.sh
source "$FS_ROOT/tests/support/stack.sh"
fs_trap_errors

T0=$SECONDS
say() { printf '[monitoring] %s\n' "$*" >&2; }

# ---- prerequisites ------------------------------------------------------------------------

# deploy/local/lib.sh's package list installs all of these: a missing one fails, not skips.
fs_require_commands prometheus promtool curl jq redis-server redis-cli psql

fs_test_server_bin
FS_KAFKA_MOCK_BIN="${FLASHSALE_KAFKA_MOCK_BIN:-$(dirname "$FS_SERVER_BIN")/flashsale-kafka-mock}"
EXPRS="$FS_ROOT/deploy/grafana/exprs.sh"
[[ -x "$EXPRS" ]] || fs_die "no $EXPRS (the dashboard's expressions)"

# ---- set-up -------------------------------------------------------------------------------

DIR="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-monitoring.XXXXXX")"
chmod 755 "$DIR" # PostgreSQL runs as postgres, Prometheus as prometheus, when we are root
LOGS="$DIR/logs"
PROM_DIR="$DIR/prometheus"
mkdir -p "$LOGS"
PG_STARTED=0
PROCESSES=(main api2 notify)

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? n
  set +e
  trap '' INT TERM HUP PIPE
  if ((rc != 0)); then
    for n in "${PROCESSES[@]}"; do fs_tail_log "$LOGS/$n.log"; done
    fs_tail_log "$PROM_DIR/prometheus.log"
  fi
  fs_prometheus_stop "$PROM_DIR"
  for n in "${PROCESSES[@]}"; do fs_server_stop "$DIR" "$n"; done
  fs_kafka_stop "$DIR"
  fs_redis_stop "$DIR"
  ((PG_STARTED)) && fs_pg_stop "$DIR" immediate
  fs_test_dir_done "$DIR" "$rc" "$T0"
  return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

fs_test_stores "$DIR" "$LOGS"
fs_kafka_start "$DIR" || fs_die "the Kafka mock cluster did not start"

# start NAME ROLES [ARG...] - start server NAME with ROLES and its own admin listener; adds
# "NAME ROLES 127.0.0.1:PORT" to TARGETS. An API role gets an API port too (API_URL is the first).
TARGETS=()
API_URL=""
start() {
  local name=$1 roles=$2 port="" metrics_port
  shift 2
  local -a api=()
  if [[ ",$roles," == *,api,* ]]; then
    fs_pick_port port
    api=(--listen 127.0.0.1 --port "$port")
  fi
  fs_pick_port metrics_port
  fs_server_start "$DIR" "$name" "${SERVER_ENV[@]}" --roles "$roles" "${api[@]}" --threads 1 \
    --redis-url "$REDIS_URL" --pg-url "$PG_URL" --kafka-brokers "$FS_KAFKA_BROKERS" \
    --dev-user-ids --rate-limit-ip 0 --rate-limit-user 0 --metrics-cache-ms 1000 \
    --metrics-listen 127.0.0.1 --metrics-port "$metrics_port" "$@" ||
    fs_die "$name (--roles $roles) did not start"
  TARGETS+=("$name $roles 127.0.0.1:$metrics_port")
  [[ -n "$API_URL" || -z "$port" ]] || API_URL="http://127.0.0.1:$port"
}
start main api,worker,relay,payment,scheduler --reconcile-interval-seconds 2
start api2 api
start notify notify
say "${#TARGETS[@]} processes up after $((SECONDS - T0)) s"

fs_prometheus_targets "$PROM_DIR" "${TARGETS[@]}"
fs_prometheus_render "$PROM_DIR" || fs_die "the rendered Prometheus config does not check"
fs_pick_port PROM_PORT
fs_prometheus_start "$PROM_DIR" "$PROM_PORT" || fs_die "Prometheus did not start"
PROM="$(fs_prometheus_url "$PROM_DIR")"
say "Prometheus $PROM (config $PROM_DIR/prometheus.yml)"

# ---- checks ------------------------------------------------------------------------------

FAILED=0
CHECK_FAILED=0
check() { # NAME COMMAND... - run one check, count a failure, go on
  local name=$1
  shift
  CHECK_FAILED=0
  if "$@" && ((CHECK_FAILED == 0)); then
    say "ok: $name ($((SECONDS - T0)) s)"
  else
    say "FAILED: $name ($((SECONDS - T0)) s)"
    FAILED=$((FAILED + 1))
  fi
}
fail() {
  CHECK_FAILED=1
  say "  $*"
  return 1
}

# query EXPR - print the instant query's result (JSON array) from Prometheus's API.
query() {
  curl -sf --max-time 10 "$PROM/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result'
}

# wait_for SECONDS COMMAND... - run COMMAND every second until it succeeds; 1 on timeout.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

every_target_up() {
  fs_prometheus_wait_targets "$PROM" "${#TARGETS[@]}" 30 || fail "not every target is up"
  # Each process reports itself: one `up` per process label, and each says which roles it runs.
  local n
  for n in "${PROCESSES[@]}"; do
    [[ "$(query "up{job=\"flashsale\",process=\"$n\"} == 1" | jq length)" == 1 ]] ||
      fail "no up == 1 for process $n"
  done
}
check "Prometheus scrapes every process and every target is up" every_target_up

rules_loaded() {
  local names
  names="$(curl -sf --max-time 5 "$PROM/api/v1/rules?type=alert" |
    jq -r '[.data.groups[].rules[].name] | join(" ")')" || fail "GET /api/v1/rules failed"
  say "  alert rules: $names"
  [[ " $names " == *" StockMismatch "* ]] || fail "StockMismatch is not among the loaded rules"
}
check "the alert rules are loaded, StockMismatch among them" rules_loaded

# A sale, warmed into Redis at creation (it is open), with orders that get paid or declined.
SALE="$(fs_sale_create "$API_URL" "$TOKEN" '{"name":"monitoring","stock":100,"per_user_limit":2}')" ||
  fs_die "creating the sale failed"
ITEM="$(fs_redis_cli "$DIR" HKEYS "fs:{sale:$SALE}:stock" | head -n 1)"
[[ "$ITEM" =~ ^[0-9]+$ ]] || fs_die "sale $SALE has no stock hash in Redis (not warmed)"
BOOKINGS=30

book_some() {
  local i code ok=0 url
  for ((i = 0; i < BOOKINGS; i++)); do
    # Both API processes take bookings.
    url=$API_URL
    ((i % 2)) && url="$(fs_server_url "$DIR" api2)"
    code="$(fs_http /dev/null "$url/api/v1/sales/$SALE/book" -X POST \
      -H 'Content-Type: application/json' -d "{\"user_id\":\"buyer-$i\",\"quantity\":1}")"
    [[ "$code" == 202 ]] && ok=$((ok + 1))
  done
  ((ok == BOOKINGS)) || fail "$ok of $BOOKINGS bookings answered 202"
}
check "$BOOKINGS bookings of sale $SALE are accepted" book_some

orders_ended() {
  [[ "$(fs_psql "$PG_OWNER_URL" -Atc "SELECT count(*) FROM orders WHERE sale_id = $SALE AND status <> 'pending'")" == "$BOOKINGS" ]]
}
pipeline_settles() {
  wait_for 60 orders_ended ||
    fail "after 60 s: $(fs_psql "$PG_OWNER_URL" -Atc "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM orders WHERE sale_id = $SALE GROUP BY 1) s") of $BOOKINGS orders"
}
check "every order is paid or cancelled by the payment service" pipeline_settles

# The sale's drift as Prometheus last scraped it (the largest of every check; empty: none yet).
drift_seen() { query "max(flashsale_reconcile_drift{sale=\"$SALE\"})" | jq -r '.[0].value[1] // empty'; }
alert_state() { fs_prometheus_alert_state "$PROM" StockMismatch sale "$SALE"; }

drift_reported() { [[ -n "$(drift_seen)" ]]; }
clean_sale_not_firing() {
  local d
  wait_for 45 drift_reported ||
    fail "no flashsale_reconcile_drift{sale=\"$SALE\"} in Prometheus after 45 s (does the scheduler reconcile?)" ||
    return 1
  d="$(drift_seen)"
  [[ "$d" == 0 ]] || fail "reconciliation reports drift $d for a clean sale"
  [[ "$(alert_state)" == inactive ]] || fail "StockMismatch is $(alert_state) before any drift"
}
check "a clean, reconciled sale: drift 0 and StockMismatch not firing" clean_sale_not_firing
# Without the reconciliation's metric the alert cannot fire: no use waiting for it.
RECONCILE_METRIC=1
drift_reported || RECONCILE_METRIC=0

inject_drift() {
  local before after
  before="$(fs_redis_cli "$DIR" HGET "fs:{sale:$SALE}:stock" "$ITEM")"
  fs_redis_cli "$DIR" HINCRBY "fs:{sale:$SALE}:stock" "$ITEM" 3 >/dev/null
  after="$(fs_redis_cli "$DIR" HGET "fs:{sale:$SALE}:stock" "$ITEM")"
  say "  Redis stock of item $ITEM: $before -> $after (PostgreSQL unchanged)"
  ((after == before + 3)) || fail "the drift was not written"
}
check "inject a stock drift of 3 units in Redis" inject_drift
DRIFT_AT=$SECONDS

fires() { [[ "$(alert_state)" == firing ]]; }
stock_mismatch_fires() {
  ((RECONCILE_METRIC)) || fail "skipped: Prometheus has no flashsale_reconcile_drift of the sale" || return 1
  wait_for 120 fires || fail "StockMismatch is '$(alert_state)' 120 s after the drift (drift seen: '$(drift_seen)')"
  say "  firing $((SECONDS - DRIFT_AT)) s after the drift; drift $(drift_seen)"
  curl -sf --max-time 5 "$PROM/api/v1/alerts" |
    jq -c --arg s "$SALE" '.data.alerts[] | select(.labels.alertname == "StockMismatch" and .labels.sale == $s) | {labels, state, value}' >&2
}
check "StockMismatch fires for sale $SALE through Prometheus's API" stock_mismatch_fires

if [[ -n "${FLASHSALE_MONITORING_SCREENSHOT:-}" ]]; then
  # Chromium refuses to run as root with its sandbox; a throw-away profile keeps it quiet.
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$DIR/chromium" \
    --window-size=1400,1000 --screenshot="$FLASHSALE_MONITORING_SCREENSHOT" "$PROM/classic/alerts" \
    </dev/null >"$LOGS/chromium.log" 2>&1 || say "chromium failed: $(tail -n 5 "$LOGS/chromium.log")"
  say "screenshot of $PROM/classic/alerts in $FLASHSALE_MONITORING_SCREENSHOT"
fi

# Every dashboard expression against the live Prometheus.
dashboard_exprs() {
  local expr out n=0 bad=0 rc
  local -a exprs=()
  mapfile -t exprs < <("$EXPRS")
  ((${#exprs[@]} > 0)) || fail "$EXPRS printed no expression"
  for expr in "${exprs[@]}"; do
    [[ -n "$expr" ]] || continue
    n=$((n + 1))
    rc=0
    out="$(promtool query instant -o json "$PROM" "$expr" 2>&1)" || rc=$?
    if ((rc != 0)); then
      say "  does not run (exit $rc): $expr"
      say "    $(head -c 300 <<<"$out")"
      bad=$((bad + 1))
    elif ! jq -e 'length > 0' <<<"$out" >/dev/null 2>&1; then
      say "  no series: $expr"
      bad=$((bad + 1))
    elif ! jq -e --arg s "$SALE" 'map(.metric.sale // empty) | length == 0 or index($s) != null' \
      <<<"$out" >/dev/null; then
      say "  no series of sale $SALE (only $(jq -c 'map(.metric.sale // empty) | unique' <<<"$out")): $expr"
      bad=$((bad + 1))
    fi
  done
  say "  $((n - bad)) of $n dashboard expressions return series"
  ((bad == 0)) || fail "$bad of $n expressions fail"
}
check "every dashboard expression parses and returns series for the live sale" dashboard_exprs

((FAILED == 0)) || fs_die "$FAILED checks failed"
say "all checks passed"
