# shellcheck shell=bash
# Variables defined here are read by the scripts that source this file.
# shellcheck disable=SC2034
#
# deploy/bench/stack.sh - a private rehearsal stack for fault injection and scenario rehearsals.
# Source it; it does nothing on its own. It is NOT the developer's deploy/local/run stack: every
# process listens on a free 127.0.0.1 port and keeps its state in one temporary folder, so
# several stacks (and the local stack) can run side by side and each can be wrecked at will.
#
#   source deploy/bench/stack.sh
#   FSB_APPENDFSYNC=always fsb_stack_start          # dies (exit 1) when something does not start
#   sale=$(fsb_sale_create '{"stock":1000,"per_user_limit":2}')
#   flashsale-bench load --url "$FSB_API_URL_LIST" --token-secret "$FSB_TOKEN_SECRET" ...
#   fsb_role_kill worker; fsb_role_start worker     # kill -9 and restart one process
#   fsb_redis_kill; fsb_redis_start                 # kill -9 and AOF replay, same port and dir
#   fsb_stack_stop                                  # also run by the EXIT trap
#
# What runs (each its own process, so each can be killed alone):
#
#   redis-server          AOF on, appendfsync $FSB_APPENDFSYNC          $FSB_DIR/redis/
#   PostgreSQL            a fresh database in the cluster of $FLASHSALE_TEST_PG_URL (or
#                         /tmp/devpg.url), or, with FSB_PG_OWN=1 (needed by fsb_pg_restart),
#                         a cluster of its own in $FSB_DIR/pg, run as user postgres if root
#   flashsale-kafka-mock  3 brokers in memory; bootstrap in $FSB_DIR/kafka.bootstrap; faults
#                         through --control-fifo $FSB_DIR/kafka.control (fsb_kafka_control)
#   flashsale-server      api1, api2 (two ports, or one SO_REUSEPORT port with
#                         FSB_API_SHARED_PORT=1), worker, relay, payment, notify (and scheduler,
#                         when the caller adds it to FSB_ROLES before fsb_stack_start)
#   aiosmtpd              with FSB_SMTP=1 (issue 19: notify): on FSB_SMTP_PORT, storing into
#                         $FSB_DIR/mail (deploy/lib/smtp.sh); the notify role emails it
#   flashsale-paysim      the payment provider over HTTP (docs/PAYSIM.md), its webhooks to api1;
#                         the payment role charges through it (FSB_PAYSIM=0: the in-process
#                         simulator instead)
#
# $FSB_DIR (mktemp -d under ${TMPDIR:-/tmp}) is the HOME of every launcher of deploy/lib/:
#   <name>.pid, <name>.url   each server process's pid and --ready-file (deploy/lib/server.sh)
#   <name>.metrics           its admin listener's base URL, with FSB_METRICS=1
#   kafka-mock.pid, kafka.bootstrap, kafka.control   the mock cluster (deploy/lib/kafka.sh)
#   redis/                   redis.conf, redis.pid, appendonlydir/ (deploy/lib/redis.sh)
#   pg/, pg-run/             the own PostgreSQL cluster, with FSB_PG_OWN=1 (deploy/lib/pg.sh)
#   logs/<name>.log          every process's output, appended across restarts
#
# Settings, read by fsb_stack_start (environment variables, all optional):
#   FSB_APPENDFSYNC       everysec (default) | always | no
#   FSB_REDIS_PRELOAD     a shared object to LD_PRELOAD into redis-server, e.g. the power-loss
#                         emulation (fsb_powerloss_shim)
#   FSB_REDIS_CLUSTER     1: a Redis Cluster of six nodes (3 primaries, 3 replicas,
#                         cluster-node-timeout FSB_REDIS_CLUSTER_NODE_TIMEOUT ms, 5000) with a
#                         password in $FSB_DIR/redis-password, instead of one redis-server; the
#                         servers get --redis-cluster-nodes (issue 21)
#   FSB_PG_HA             1: PostgreSQL as pg_auto_failover's formation (a primary, two
#                         quorum-synchronous standbys, a monitor; deploy/lib/pgha.sh) in
#                         $FSB_DIR/pg-ha, about 35 s to create; fsb_pg_primary_kill crashes the
#                         primary (issue 21)
#   FSB_PG_OWN            1: own PostgreSQL cluster (initdb, ~3 s) instead of a database in a
#                         shared one; automatic when no shared cluster URL is known
#   FSB_API_THREADS       threads per API process (1)
#   FSB_API_SHARED_PORT   1: both API processes on one port (SO_REUSEPORT)
#   FSB_REDIS_TIMEOUT_MS  --redis-timeout-ms of the servers (server default when empty)
#   FSB_DEV_USER_IDS      1 (default): the API also takes a plain user_id (load --dev-user-ids);
#                         0: signed buyer tokens only (load --token-secret "$FSB_TOKEN_SECRET")
#   FSB_SERVER_ARGS       array of extra flags for every flashsale-server
#   FSB_METRICS           1: every flashsale-server serves /metrics on a free 127.0.0.1 port of
#                         its own (--metrics-port), its URL in $FSB_DIR/<name>.metrics
#                         (fsb_metric reads them)
#   FSB_PAYSIM            1 (default): flashsale-paysim and --payment-provider http; 0: the
#                         payment role's in-process simulator
#   FSB_PAYSIM_ARGS       array of extra flags for flashsale-paysim (--latency-ms 50 by default)
#   FSB_BUILD_DIR         where bin/flashsale-server and bin/flashsale-kafka-mock are (build/)
#   FSB_KEEP=1            keep $FSB_DIR (logs) after fsb_stack_stop
#   FSB_NO_TRAP=1         do not install the EXIT/INT/TERM traps (the caller calls fsb_stack_stop)
#
# Exported after fsb_stack_start:
#   FSB_DIR FSB_LOGS FSB_API_URLS (array) FSB_API_URL (first) FSB_API_URL_LIST (comma list)
#   FSB_REDIS_PORT (with a cluster: the first seed's) FSB_REDIS_URL FSB_REDIS_CLUSTER_NODES FSB_PG_URL FSB_KAFKA_BROKERS FSB_ADMIN_TOKEN FSB_TOKEN_SECRET
#   FSB_PAYSIM_URL (empty with FSB_PAYSIM=0)
#
# Nothing outlives the caller: fsb_stack_stop kills every process with a pid file in $FSB_DIR,
# drops the database (or stops the own cluster) and removes $FSB_DIR; a watchdog process does the
# same if the caller dies without running its traps (kill -9).

if [[ -n "${FSB_STACK_LOADED:-}" ]]; then
  return 0
fi
FSB_STACK_LOADED=1

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

FSB_ROLES=(api1 api2 worker relay payment notify)
FSB_DIR=""
FSB_LOGS=""
FSB_API_URLS=()
FSB_API_URL=""
FSB_API_URL_LIST=""
FSB_API_PORTS=()
FSB_REDIS_PORT=""
FSB_REDIS_URL=""
FSB_REDIS_CLUSTER_NODES=""
FSB_PG_URL=""
FSB_PG_ADMIN_URL=""
FSB_PG_HOME=""
FSB_PG_PORT=""
FSB_DB=""
FSB_DB_CREATED=0
FSB_KAFKA_BROKERS=""
FSB_KAFKA_CONTROL=""
FSB_ADMIN_TOKEN=""
FSB_TOKEN_SECRET=""
FSB_WATCHDOG_PID=""
FSB_PAYSIM_URL=""
# Every process this shell started for the stack, also known when $FSB_DIR (and the pid files in
# it) was removed under a running stack: fsb_stack_stop stops those too.
FSB_PIDS=()
FSB_KILLED=() # names of the processes fsb_stack_stop had to SIGKILL

fsb_log() { printf '[stack] %s\n' "$*" >&2 || true; }
fsb_die() {
  printf '[stack] error: %s\n' "$*" >&2
  exit 1
}

# fsb_now_ms - milliseconds since the epoch.
fsb_now_ms() { date +%s%3N; }

# fsb_pidfiles - the pid files of every process of the stack, one a line.
fsb_pidfiles() {
  local f n
  local -a cluster=()
  # issue 21: the nodes of a Redis Cluster (FSB_REDIS_CLUSTER=1)
  for ((n = 1; n <= FS_REDIS_CLUSTER_NODES; n++)); do
    cluster+=("$(fs_redis_pidfile "$(fs_redis_cluster_node_home "$FSB_DIR" "$n")")")
  done
  for f in "$FSB_DIR"/*.pid "$(fs_redis_pidfile "$FSB_DIR")" "${cluster[@]}"; do
    [[ -f "$f" ]] && printf '%s\n' "$f"
  done
  return 0
}

# ---- Redis ----------------------------------------------------------------------------------

fsb_redis_cli() {
  if [[ -n "$FSB_REDIS_CLUSTER_NODES" ]]; then
    # A cluster: follow redirects, with the nodes' password (never in argv).
    REDISCLI_AUTH="$(cat "$FSB_DIR/redis-password")" timeout 5 redis-cli -c -h 127.0.0.1 \
      -p "$FSB_REDIS_PORT" "$@"
  else
    timeout 5 redis-cli -h 127.0.0.1 -p "$FSB_REDIS_PORT" "$@"
  fi
}

# fsb_redis_start - start (or restart after fsb_redis_kill) redis-server on FSB_REDIS_PORT in
# $FSB_DIR/redis: the same dir, so a restart replays the AOF. Returns once it answers PING (after
# loading the AOF); 1 after 30 s.
fsb_redis_start() {
  local -a preload=()
  [[ -n "${FSB_REDIS_PRELOAD:-}" ]] && preload=(--preload "$FSB_REDIS_PRELOAD")
  [[ -n "$FSB_REDIS_PORT" ]] || fs_pick_port FSB_REDIS_PORT
  fs_redis_start "$FSB_DIR" "$FSB_REDIS_PORT" "${preload[@]}" 'save ""' "appendonly yes" \
    "appendfsync ${FSB_APPENDFSYNC:-everysec}" || return 1
  FSB_PIDS+=("$FS_SPAWN_PID")
  disown "$FS_SPAWN_PID" 2>/dev/null || true # no "Killed" job report when a fault case kills it
}

# fsb_redis_kill - kill -9 redis-server and wait until it is gone. Its page-cache writes stay:
# this is a process crash, not a power loss.
fsb_redis_kill() {
  local pid
  pid="$(fs_redis_pid "$FSB_DIR")"
  [[ -n "$pid" ]] || return 0
  kill -KILL "$pid" 2>/dev/null || true
  fs_wait_gone "$pid" 10 || fsb_log "redis-server (pid $pid) does not go away"
  wait "$pid" 2>/dev/null || true
  rm -f "$(fs_redis_pidfile "$FSB_DIR")"
}

# fsb_powerloss_shim OUT - build deploy/bench/powerloss/aofcache.c into OUT (a .so): with it in
# FSB_REDIS_PRELOAD, redis-server's AOF writes stay in its memory until it fsyncs them, so
# fsb_redis_kill then loses what a power loss would (see the source for what it does not model).
fsb_powerloss_shim() {
  cc -shared -fPIC -O2 -o "$1" "$FS_ROOT/deploy/bench/powerloss/aofcache.c" -ldl -lpthread
}

# fsb_redis_freeze / fsb_redis_thaw - SIGSTOP / SIGCONT redis-server: it keeps its connections
# open and answers nothing (a stall, a long fork or a swapped-out host look like this).
fsb_redis_freeze() { kill -STOP "$(fs_redis_pid "$FSB_DIR")"; }
fsb_redis_thaw() { kill -CONT "$(fs_redis_pid "$FSB_DIR")"; }

# ---- PostgreSQL -------------------------------------------------------------------------------

# fsb_sql QUERY - one value or rows (unaligned, tuples only) from the stack's database.
fsb_sql() { fs_psql "$FSB_PG_URL" -tAc "$1"; }

fsb_pg_setup() {
  local admin=${FLASHSALE_TEST_PG_URL:-}
  if [[ "${FSB_PG_HA:-0}" == 1 ]]; then
    # issue 21: pg_auto_failover's formation of its own in $FSB_DIR/pg-ha (deploy/lib/pgha.sh),
    # database flashsale, reached through the multi-host read-write URL.
    fs_pgha_start "$FSB_DIR" >&2 || fsb_die "the pg_auto_failover formation did not start"
    FSB_PG_ADMIN_URL="$(fs_pgha_url "$FSB_DIR" flashsale flashsale)"
    FSB_DB=flashsale
    FSB_PG_URL=$FSB_PG_ADMIN_URL
    return 0
  fi
  if [[ -z "$admin" && -s /tmp/devpg.url ]]; then
    admin="$(head -n 1 /tmp/devpg.url)"
  fi
  if [[ "${FSB_PG_OWN:-0}" != 1 && -n "$admin" ]] && fs_psql "$admin" -tAc 'SELECT 1' >/dev/null 2>&1; then
    FSB_PG_ADMIN_URL=$admin
  else
    FSB_PG_OWN=1
    FSB_PG_HOME=$FSB_DIR
    fs_pg_start "$FSB_PG_HOME" FSB_PG_PORT >/dev/null
    FSB_PG_ADMIN_URL="$(fs_pg_admin_url "$FSB_PG_PORT")"
  fi
  FSB_DB="flashsale_bench_$$_$(fs_random_hex 4)"
  fs_pg_db_create "$FSB_PG_ADMIN_URL" "$FSB_DB" || fsb_die "CREATE DATABASE failed"
  FSB_DB_CREATED=1
  FSB_PG_URL="$(fs_pg_db_url "$FSB_PG_ADMIN_URL" "$FSB_DB")"
}

# fsb_pg_primary_kill - with FSB_PG_HA=1: kill -9 of the formation's primary, its PostgreSQL
# and every pg_autoctl process of that node (a crash of the machine, not of PostgreSQL alone:
# the keeper would restart it). Prints the node's name.
fsb_pg_primary_kill() {
  local node pids
  node="$(fs_pgha_state "$FSB_DIR" | jq -r '.[] | select(.current_group_state == "primary") | .nodename')"
  [[ -n "$node" ]] || fsb_die "no primary in the formation"
  pids="$(fs_pgha_node_pids "$FSB_DIR" "$node") $(head -n 1 "$FSB_DIR/pg-ha/$node/postmaster.pid")"
  # shellcheck disable=SC2086 # a list of pids
  kill -KILL $pids
  printf '%s\n' "$node"
}

# fsb_pg_restart fast|immediate - pg_ctl restart of the stack's own cluster (FSB_PG_OWN=1):
# "immediate" is a crash (no checkpoint, WAL replay at start). Returns once it accepts
# connections again.
fsb_pg_restart() {
  [[ -n "$FSB_PG_HOME" ]] || fsb_die "fsb_pg_restart needs FSB_PG_OWN=1 (the shared cluster is not ours to restart)"
  fs_pg_restart "$FSB_PG_HOME" "${1:-fast}"
}

# ---- Kafka mock -------------------------------------------------------------------------------

fsb_kafka_start() {
  FSB_KAFKA_CONTROL="$FSB_DIR/kafka.control"
  fs_kafka_start "$FSB_DIR" --control-fifo "$FSB_KAFKA_CONTROL" ||
    fsb_die "the Kafka mock cluster did not start"
  FSB_PIDS+=("$FS_SPAWN_PID")
  disown "$FS_SPAWN_PID" 2>/dev/null || true
  FSB_KAFKA_BROKERS=$FS_KAFKA_BROKERS
}

# fsb_kafka_control LINE - send one command to the mock cluster's control FIFO, e.g.
# "produce-errors 50 NOT_LEADER_FOR_PARTITION", "broker-down 1", "broker-up 1". 1 when the
# mock has no control channel or does not read within 5 s.
fsb_kafka_control() {
  [[ -n "$FSB_KAFKA_CONTROL" && -p "$FSB_KAFKA_CONTROL" ]] || return 1
  # shellcheck disable=SC2016
  timeout 5 bash -c 'printf "%s\n" "$1" >"$2"' _ "$1" "$FSB_KAFKA_CONTROL"
}

# ---- the payment provider -----------------------------------------------------------------------

# fsb_paysim_start - start flashsale-paysim ("paysim" in $FSB_DIR) with its webhooks signed with
# $FSB_DIR/payment-webhook-secret and sent to api1. Call after the API ports are picked.
fsb_paysim_start() {
  fs_paysim_start "$FSB_DIR" paysim --latency-ms 50 \
    --webhook-url "${FSB_API_URLS[0]}/api/v1/payments/webhook" \
    --webhook-secret-file "$FSB_DIR/payment-webhook-secret" "${FSB_PAYSIM_ARGS[@]}" || return 1
  FSB_PIDS+=("$FS_SPAWN_PID")
  disown "$FS_SPAWN_PID" 2>/dev/null || true
  FSB_PAYSIM_URL=$FS_PAYSIM_URL
}

# fsb_paysim_admin PATH JSON - POST JSON to one of the simulator's admin routes (/admin/outage,
# /admin/settings); 1 unless it answers 2xx.
fsb_paysim_admin() {
  [[ -n "$FSB_PAYSIM_URL" ]] || return 1
  curl -sf --max-time 5 -X POST "$FSB_PAYSIM_URL$1" -H 'Content-Type: application/json' \
    -d "$2" >/dev/null
}

# ---- flashsale-server processes ----------------------------------------------------------------

# fsb_role_start NAME - start one server process (api1, api2, worker, relay, payment, notify,
# scheduler);
# returns once it wrote its ready file (and, for an API, answers /healthz); 1 after 30 s.
fsb_role_start() {
  local name=$1 rc=0
  local -a args=(--redis-url "$FSB_REDIS_URL" --pg-url "$FSB_PG_URL"
    --kafka-brokers "$FSB_KAFKA_BROKERS")

  # Secrets by file, never argv (docs/SECURITY.md).
  local -a secrets=("FLASHSALE_ADMIN_TOKEN_FILE=$FSB_DIR/admin-token"
    "FLASHSALE_BUYER_TOKEN_SECRET_FILE=$FSB_DIR/buyer-token-secret")
  if [[ -n "$FSB_REDIS_CLUSTER_NODES" ]]; then
    args+=(--redis-cluster-nodes "$FSB_REDIS_CLUSTER_NODES")
    secrets+=("FLASHSALE_REDIS_PASSWORD_FILE=$FSB_DIR/redis-password")
  fi
  [[ -n "${FSB_REDIS_TIMEOUT_MS:-}" ]] && args+=(--redis-timeout-ms "$FSB_REDIS_TIMEOUT_MS")
  [[ "${FSB_DEV_USER_IDS:-1}" == 1 ]] && args+=(--dev-user-ids)
  if [[ -n "$FSB_PAYSIM_URL" ]]; then
    case "$name" in
      api1 | api2) args+=(--payment-webhook-secret-file "$FSB_DIR/payment-webhook-secret") ;;
      payment) args+=(--payment-provider http --payment-provider-url "$FSB_PAYSIM_URL"
        --payment-provider-key-file "$FSB_DIR/payment-provider-key") ;;
    esac
  fi
  case "$name" in
    api1 | api2)
      # The load comes from one address and retries as the same users: no per-IP or per-user
      # limit (on by default); FSB_SERVER_ARGS may set them.
      args+=(--roles api --listen 127.0.0.1 --threads "${FSB_API_THREADS:-1}"
        --port "${FSB_API_PORTS[${name#api} - 1]}" --rate-limit-ip 0 --rate-limit-user 0)
      ;;
    # (The consumer name stays <host>-<pid>: what a killed worker had been delivered and had
    # not acknowledged is taken over by XCLAIM once its heartbeat lapses, --worker-heartbeat-ms.)
    worker) args+=(--roles worker) ;;
    # scheduler: not in FSB_ROLES; a caller starts it (deploy/bench/chaos, deploy/bench/soak).
    relay | payment | notify | scheduler) args+=(--roles "$name") ;;
    *) fsb_die "unknown role $name" ;;
  esac
  # issue 19: notify. Email to the stack's SMTP server (FSB_SMTP=1).
  [[ "$name" == notify && -n "${FSB_SMTP_PORT:-}" ]] &&
    args+=(--smtp-url "smtp://127.0.0.1:$FSB_SMTP_PORT" --smtp-from "orders@bench.localhost")
  args+=("${FSB_SERVER_ARGS[@]}")
  if [[ "${FSB_METRICS:-0}" == 1 ]]; then
    # The same port again after a restart (a scrape's URL stays valid).
    local mport=""
    [[ -f "$FSB_DIR/$name.metrics" ]] && mport=$(sed 's/.*://' "$FSB_DIR/$name.metrics")
    [[ -n "$mport" ]] || fs_pick_port mport
    args+=(--metrics-listen 127.0.0.1 --metrics-port "$mport")
    printf 'http://127.0.0.1:%s\n' "$mport" >"$FSB_DIR/$name.metrics"
  fi
  fs_server_start "$FSB_DIR" "$name" "${secrets[@]}" "${args[@]}" || rc=1
  [[ -n "${FS_SPAWN_PID:-}" ]] && FSB_PIDS+=("$FS_SPAWN_PID")
  disown "$FS_SPAWN_PID" 2>/dev/null || true # no "Killed" job report when a fault case kills it
  ((rc == 0)) || return 1
  [[ "$name" != api* ]] && return 0
  fs_wait_http "$FS_SERVER_URL/healthz" 30 && return 0
  fs_tail_log "$(fs_server_log "$FSB_DIR" "$name")"
  fsb_log "$name (pid $FS_SERVER_PID) did not answer /healthz"
  return 1
}

# fsb_metric NAME SAMPLE - with FSB_METRICS=1: the sum over the stack's server processes of the
# /metrics samples named NAME whose labels contain SAMPLE (a literal, e.g. 'kind="moved"'; empty:
# every sample of NAME); 0 when there is none. A process that does not answer counts nothing.
fsb_metric() {
  local f
  for f in "$FSB_DIR"/*.metrics; do
    [[ -f "$f" ]] || continue
    curl -s --max-time 5 "$(cat "$f")/metrics" 2>/dev/null || true
  done | awk -v n="$1" -v s="${2:-}" '($1 == n && s == "") || (index($1, n "{") == 1 && (s == "" || index($1, s) > 0)) { t += $NF }
    END { printf "%d\n", t }'
}

# fsb_role_kill NAME [SIGNAL] - kill -9 (or SIGNAL) one server process and wait until it is gone.
fsb_role_kill() {
  local name=$1 sig=${2:-KILL} pid
  pid="$(fs_server_pid "$FSB_DIR" "$name")"
  [[ -n "$pid" ]] || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  fs_wait_gone "$pid" 15 || {
    kill -KILL "$pid" 2>/dev/null || true
    fs_wait_gone "$pid" 5 || true
  }
  wait "$pid" 2>/dev/null || true
  rm -f "$(fs_server_pidfile "$FSB_DIR" "$name")" "$(fs_server_ready_file "$FSB_DIR" "$name")"
}

fsb_role_restart() {
  fsb_role_kill "$1" "${2:-KILL}"
  fsb_role_start "$1"
}

# fsb_wait_ready SECONDS - every API process answers GET /readyz 200 (its Redis and PostgreSQL
# connections work) and every other role is running; 1 on timeout.
fsb_wait_ready() {
  local deadline=$((SECONDS + ${1:-30})) url ok name
  while ((SECONDS < deadline)); do
    ok=1
    for name in "${FSB_ROLES[@]}"; do fs_proc_running "$(fs_server_pid "$FSB_DIR" "$name")" || ok=0; done
    for url in "${FSB_API_URLS[@]}"; do
      [[ "$(fs_http_code "$url/readyz" --max-time 2)" == 200 ]] || ok=0
    done
    ((ok)) && return 0
    sleep 0.2
  done
  return 1
}

# ---- sales ---------------------------------------------------------------------------------------

# fsb_sale_create [JSON] - create a sale (fs_sale_create) and print its id: JSON is merged over
# fs_sale_create's defaults, named "rehearsal" and without an admission bucket. 1 unless it is
# created.
fsb_sale_create() {
  fs_sale_create "$FSB_API_URL" "$FSB_ADMIN_TOKEN" \
    "$(jq -cn --argjson extra "${1:-"{}"}" '{name: "rehearsal", admission_rate: 0} + $extra')"
}

# fsb_sale_item_ids SALE - the sale's item ids, one per line.
fsb_sale_item_ids() {
  curl -s --max-time 5 "$FSB_API_URL/api/v1/sales/$1" | jq -r '.items[].id'
}

# ---- the whole stack -------------------------------------------------------------------------

# The watchdog: when the process that started the stack is gone without stopping it (kill -9),
# kill every process with a pid file and clean up. Its own session, so a signal to the caller's
# process group does not end it before it has done so.
fsb_watchdog_start() {
  local owner=$BASHPID
  # shellcheck disable=SC2016
  setsid bash -c '
    owner=$1 dir=$2 lib=$3 pghome=$4 admin=$5 db=$6 keep=$7
    exec </dev/null >/dev/null 2>&1
    while kill -0 "$owner" 2>/dev/null && [[ -d "$dir" ]]; do sleep 1; done
    [[ -d "$dir" ]] || exit 0
    source "$lib"
    for f in "$dir"/*.pid "$(fs_redis_pidfile "$dir")" "$dir"/redis-cluster/node-*/redis/redis.pid; do
      pid="$(fs_read_pidfile "$f")"
      [[ -n "$pid" ]] || continue
      kill -CONT "$pid"; kill -KILL "$pid"
    done
    if [[ -d "$dir/pg-ha" ]]; then
      fs_pgha_stop "$dir"
    elif [[ -n "$pghome" ]]; then
      fs_pg_stop "$pghome" immediate
    elif [[ -n "$db" ]]; then
      fs_pg_db_drop "$admin" "$db"
    fi
    [[ "$keep" == 1 ]] || rm -rf "$dir"
  ' fsb-watchdog "$owner" "$FSB_DIR" "$FS_ROOT/deploy/local/lib.sh" "$FSB_PG_HOME" \
    "$FSB_PG_ADMIN_URL" "$FSB_DB" "${FSB_KEEP:-0}" </dev/null >/dev/null 2>&1 &
  FSB_WATCHDOG_PID=$!
}

# fsb_stack_start - start everything; dies (exit 1, after stopping what it started) on failure.
fsb_stack_start() {
  local name port
  [[ -z "$FSB_DIR" ]] || fsb_die "a stack is already running in $FSB_DIR; fsb_stack_stop first"
  FSB_BUILD_DIR=${FSB_BUILD_DIR:-$FS_BUILD_DIR}
  FS_SERVER_BIN="$FSB_BUILD_DIR/bin/flashsale-server"
  FS_KAFKA_MOCK_BIN="$FSB_BUILD_DIR/bin/flashsale-kafka-mock"
  [[ -x "$FS_SERVER_BIN" ]] || fsb_die "no $FS_SERVER_BIN; build first"
  fs_require_commands redis-server redis-cli jq curl psql
  if [[ "${FSB_NO_TRAP:-0}" != 1 ]]; then
    trap 'fsb_stack_stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
  fi
  FSB_DIR="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-stack.XXXXXX")"
  chmod 755 "$FSB_DIR" # the postgres user reaches its own cluster's folder when we are root
  FSB_LOGS="$FSB_DIR/logs"
  mkdir -p "$FSB_LOGS"
  FSB_ADMIN_TOKEN="$(fs_random_hex 16)"
  FSB_TOKEN_SECRET="$(fs_random_hex 24)"
  # The servers read both from files (mode 600), so neither is ever in a process's argv.
  (
    umask 077
    printf '%s\n' "$FSB_ADMIN_TOKEN" >"$FSB_DIR/admin-token"
    printf '%s\n' "$FSB_TOKEN_SECRET" >"$FSB_DIR/buyer-token-secret"
    fs_random_hex 32 >"$FSB_DIR/payment-webhook-secret"
    printf 'sk_test_%s\n' "$(fs_random_hex 16)" >"$FSB_DIR/payment-provider-key"
  )

  fsb_pg_setup
  fsb_watchdog_start
  if [[ "${FSB_REDIS_CLUSTER:-0}" == 1 ]]; then
    # issue 21: a Redis Cluster of six nodes (3 primaries, 3 replicas; deploy/lib/rediscluster.sh)
    # with a password, which the servers and flashsale-bench check read from the file.
    (umask 077 && fs_random_hex 32 >"$FSB_DIR/redis-password")
    fs_redis_cluster_start "$FSB_DIR" "$FSB_DIR/redis-password" \
      "${FSB_REDIS_CLUSTER_NODE_TIMEOUT:-5000}" 'save ""' "appendonly yes" \
      "appendfsync ${FSB_APPENDFSYNC:-everysec}" >&2 || fsb_die "the Redis Cluster did not start"
    FSB_REDIS_CLUSTER_NODES="$(fs_redis_cluster_nodes "$FSB_DIR")"
    FSB_REDIS_PORT="${FSB_REDIS_CLUSTER_NODES%%,*}"
    FSB_REDIS_PORT="${FSB_REDIS_PORT##*:}"
    export FLASHSALE_REDIS_PASSWORD_FILE="$FSB_DIR/redis-password"
  else
    fsb_redis_start || fsb_die "redis-server did not start"
  fi
  FSB_REDIS_URL="redis://127.0.0.1:$FSB_REDIS_PORT/0"
  fsb_kafka_start
  # issue 19: notify. The SMTP server before the notify role that sends to it.
  FSB_SMTP_PORT=""
  if [[ "${FSB_SMTP:-0}" == 1 ]]; then
    fs_pick_port FSB_SMTP_PORT
    fs_smtp_start "$FSB_DIR" smtp "$FSB_SMTP_PORT" "$FSB_DIR/mail" || fsb_die "aiosmtpd did not start"
  fi
  # Migrations once, before the roles start side by side.
  fs_server_migrate "$FSB_LOGS/migrate.log" "$FSB_PG_URL" "$FSB_REDIS_URL" || fsb_die "migrations failed"
  FSB_API_PORTS=()
  FSB_API_URLS=()
  fs_pick_port port
  FSB_API_PORTS+=("$port")
  if [[ "${FSB_API_SHARED_PORT:-0}" == 1 ]]; then
    FSB_API_PORTS+=("$port")
    FSB_API_URLS=("http://127.0.0.1:$port")
  else
    fs_pick_port port
    FSB_API_PORTS+=("$port")
    FSB_API_URLS=("http://127.0.0.1:${FSB_API_PORTS[0]}" "http://127.0.0.1:${FSB_API_PORTS[1]}")
  fi
  FSB_API_URL=${FSB_API_URLS[0]}
  FSB_API_URL_LIST="$(
    IFS=,
    echo "${FSB_API_URLS[*]}"
  )"
  FSB_PAYSIM_URL=""
  if [[ "${FSB_PAYSIM:-1}" == 1 ]]; then
    FS_PAYSIM_BIN="$FSB_BUILD_DIR/bin/flashsale-paysim"
    fsb_paysim_start || fsb_die "flashsale-paysim did not start (logs in $FSB_LOGS)"
  fi
  for name in "${FSB_ROLES[@]}"; do
    fsb_role_start "$name" || fsb_die "$name did not start (logs in $FSB_LOGS)"
  done
  fsb_wait_ready 30 || fsb_die "the stack is not ready after 30 s"
  fsb_log "stack up in $FSB_DIR: API ${FSB_API_URL_LIST}, redis $FSB_REDIS_PORT (appendfsync ${FSB_APPENDFSYNC:-everysec}), db $FSB_DB, kafka $FSB_KAFKA_BROKERS"
}

# fsb_stack_stop - stop every process, drop the database (or stop the own cluster), remove
# $FSB_DIR (kept with FSB_KEEP=1). Safe to call twice and from a trap.
fsb_stack_stop() {
  local rc=$? f pid
  [[ -n "$FSB_DIR" ]] || return "$rc"
  # Errors here are expected (processes already gone) and ignored; `local -` gives the caller its
  # errexit back when this returns, for the next scenario.
  local -
  set +e
  local -a pidfiles
  mapfile -t pidfiles < <(fsb_pidfiles)
  # Every process at once, each woken first (a frozen Redis ignores TERM until it runs again).
  for f in "${pidfiles[@]}"; do
    pid="$(fs_read_pidfile "$f")"
    [[ -n "$pid" ]] || continue
    kill -CONT "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
  done
  FSB_KILLED=()
  for f in "${pidfiles[@]}"; do
    pid="$(fs_read_pidfile "$f")"
    [[ -n "$pid" ]] || continue
    if ! fs_wait_gone "$pid" 10; then
      FSB_KILLED+=("$(basename "$f" .pid)")
      kill -KILL "$pid" 2>/dev/null
    fi
    fs_wait_gone "$pid" 5
    wait "$pid" 2>/dev/null
    rm -f "$f"
  done
  # Those whose pid file is gone (the folder removed under the stack): each only if it is still
  # one of the stack's processes (its command line or, for redis-server, which renames itself,
  # its working directory names $FSB_DIR), not a reused pid.
  for pid in "${FSB_PIDS[@]}"; do
    { tr '\0' ' ' <"/proc/$pid/cmdline" && readlink "/proc/$pid/cwd"; } 2>/dev/null |
      grep -qF "$FSB_DIR/" || continue
    kill -CONT "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    fs_wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null
  done
  FSB_PIDS=()
  if [[ -d "$FSB_DIR/pg-ha" ]]; then
    fs_pgha_stop "$FSB_DIR" >/dev/null 2>&1
  elif [[ -n "$FSB_PG_HOME" ]]; then
    fs_pg_stop "$FSB_PG_HOME" >/dev/null 2>&1
  elif ((FSB_DB_CREATED)); then
    fs_pg_db_drop "$FSB_PG_ADMIN_URL" "$FSB_DB" >/dev/null 2>&1
  fi
  FSB_DB_CREATED=0
  if [[ "${FSB_KEEP:-0}" == 1 ]]; then
    fsb_log "kept $FSB_DIR"
  else
    rm -rf "$FSB_DIR"
  fi
  if [[ -n "$FSB_WATCHDOG_PID" ]]; then
    # It sees the folder gone (or, with FSB_KEEP, would wait for us): end it either way.
    kill -TERM "$FSB_WATCHDOG_PID" 2>/dev/null
    wait "$FSB_WATCHDOG_PID" 2>/dev/null
    FSB_WATCHDOG_PID=""
  fi
  FSB_DIR=""
  FSB_PG_HOME=""
  FSB_REDIS_PORT=""
  FSB_REDIS_CLUSTER_NODES=""
  FSB_KAFKA_CONTROL=""
  FSB_SMTP_PORT=""
  return "$rc"
}
