# shellcheck shell=bash
# Variables set here are read by the scripts that call these functions.
# shellcheck disable=SC2034,SC2153 # FS_SERVER_BIN and FS_ROOT come from deploy/local/lib.sh
# deploy/lib/server.sh - flashsale-server processes: the one way a script migrates, starts and
# stops one, talks HTTP to it and creates a sale. Sourced by deploy/local/lib.sh.
#
# A server process has a NAME (flashsale, api1, worker, ...) and belongs to a state folder HOME:
#
#   HOME/NAME.pid           its pid (fs_spawn)
#   HOME/NAME.url           its --ready-file: the API's base URL, or "ready" without the API role
#   HOME/logs/NAME.log      its output, appended across restarts
#
# The binary is FS_SERVER_BIN (build/bin/flashsale-server; fs_resolve_server_bin, or the caller,
# may point it elsewhere). It runs without the caller's FLASHSALE_* variables: the server reads
# each of them as a flag, and a shell that sourced .flashsale/stack.env has several.

fs_server_pidfile() { printf '%s/%s.pid' "$1" "$2"; }
fs_server_ready_file() { printf '%s/%s.url' "$1" "$2"; }
fs_server_log() { printf '%s/logs/%s.log' "$1" "$2"; }

# fs_server_pid HOME NAME - print the pid of server NAME (nothing when none is recorded).
fs_server_pid() { fs_read_pidfile "$(fs_server_pidfile "$1" "$2")"; }

# fs_server_alive HOME NAME - server NAME runs.
fs_server_alive() { fs_pid_alive "$(fs_server_pid "$1" "$2")" flashsale-server; }

# fs_server_url HOME NAME - print the first line of NAME's ready file without a trailing slash:
# its API's base URL (nothing when it is not ready).
fs_server_url() {
  local url="" ready
  ready="$(fs_server_ready_file "$1" "$2")"
  if [[ -s "$ready" ]]; then read -r url <"$ready" || true; fi
  printf '%s' "${url%/}"
}

# fs_server_answers HOME NAME - server NAME runs, is ready and answers GET /healthz with 200.
fs_server_answers() {
  local url
  fs_server_alive "$1" "$2" || return 1
  url="$(fs_server_url "$1" "$2")"
  [[ -n "$url" ]] || return 1
  [[ "$(fs_http_code "$url/healthz")" == 200 ]]
}

# fs_server_env OUTVAR - set the array OUTVAR to `env -u ...`, the prefix that runs a command
# without the caller's FLASHSALE_* variables.
fs_server_env() {
  local -n fs_out=$1
  local v
  fs_out=(env)
  for v in "${!FLASHSALE_@}"; do fs_out+=(-u "$v"); done
}

# fs_server_migrate LOG PG_URL REDIS_URL - apply the migrations (flashsale-server
# --migrate-only), output appended to LOG. 1 (after printing LOG's new lines) when they fail.
fs_server_migrate() {
  local log=$1 pg=$2 redis=$3 offset
  local -a env
  fs_server_env env
  mkdir -p "$(dirname "$log")"
  touch "$log"
  offset="$(fs_file_size "$log")"
  printf '==== %s migrate ====\n' "$(date -u +%FT%TZ)" >>"$log"
  if ! "${env[@]}" "$FS_SERVER_BIN" --migrate-only --pg-url "$pg" --redis-url "$redis" \
    </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&-; then
    fs_tail_log "$log" "$offset"
    fs_warn "flashsale-server --migrate-only failed; log: $log"
    return 1
  fi
}

# Seconds fs_server_start waits for a ready file.
FS_SERVER_READY_TIMEOUT=${FLASHSALE_LOCAL_READY_TIMEOUT:-30}

# fs_server_start HOME NAME ARG... - start `flashsale-server --ready-file HOME/NAME.url ARG...` as
# server NAME of HOME (fs_spawn: a session of its own, pid in HOME/NAME.pid, output appended to
# HOME/logs/NAME.log) and wait until it has written its ready file. Returns 0 once it has, with
# FS_SERVER_URL (the ready file's first line, fs_server_url) and FS_SERVER_PID set, and
# FS_SPAWN_PID the caller's child (for `wait`). Returns 1 (after printing the log's new lines)
# when it exits first, or is not ready within FS_SERVER_READY_TIMEOUT seconds (default
# $FLASHSALE_LOCAL_READY_TIMEOUT, else 30); a process that is merely slow keeps running, and the
# caller stops it with fs_server_stop.
fs_server_start() {
  local home=$1 name=$2 ready log offset i pid rc
  shift 2
  local -a env
  ready="$(fs_server_ready_file "$home" "$name")"
  log="$(fs_server_log "$home" "$name")"
  fs_server_env env
  # With no operator yet, the api role creates "admin" and writes its password here (0600).
  env+=("FLASHSALE_BOOTSTRAP_OPERATOR_FILE=$home/bootstrap-operator")
  fs_ensure_dir "$home/logs"
  rm -f "$ready"
  touch "$log"
  offset="$(fs_file_size "$log")"
  printf '==== %s start %s ====\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
  fs_spawn "$(fs_server_pidfile "$home" "$name")" "$log" \
    "${env[@]}" "$FS_SERVER_BIN" --ready-file "$ready" "$@"
  FS_SERVER_URL=""
  FS_SERVER_PID=$FS_SPAWN_PID
  for ((i = 0; i < FS_SERVER_READY_TIMEOUT * 10; i++)); do
    pid="$(fs_server_pid "$home" "$name")"
    [[ -n "$pid" ]] && FS_SERVER_PID=$pid
    if [[ -s "$ready" ]] && fs_proc_running "$FS_SERVER_PID"; then
      FS_SERVER_URL="$(fs_server_url "$home" "$name")"
      return 0
    fi
    if ! fs_proc_running "$FS_SERVER_PID"; then
      rc=0
      wait "$FS_SPAWN_PID" 2>/dev/null || rc=$?
      fs_tail_log "$log" "$offset"
      fs_warn "$name (flashsale-server) exited (code $rc) before it was ready; log: $log"
      return 1
    fi
    sleep 0.1
  done
  fs_tail_log "$log" "$offset"
  fs_warn "$name (flashsale-server) was not ready within ${FS_SERVER_READY_TIMEOUT}s (no $ready); log: $log"
  return 1
}

# fs_server_stop HOME NAME - stop server NAME (TERM, KILL after 15 s) and remove its pid and
# ready files; always 0, also when it does not run.
fs_server_stop() {
  local pid
  pid="$(fs_server_pid "$1" "$2")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" flashsale-server "server $2"
  rm -f "$(fs_server_pidfile "$1" "$2")" "$(fs_server_ready_file "$1" "$2")"
}

# ---- HTTP -------------------------------------------------------------------------------------

# fs_http OUTFILE URL [CURL ARGS...] - body to OUTFILE, print the HTTP
# status (000 if there was no answer).
fs_http() {
  local out=$1 url=$2 code
  shift 2
  code="$(curl -s -o "$out" -w '%{http_code}' --max-time 10 "$@" "$url" 2>/dev/null || true)"
  printf '%s' "${code:-000}"
}

# fs_http_code URL [CURL ARGS...] - print the HTTP status, drop the body.
fs_http_code() {
  local url=$1
  shift
  fs_http /dev/null "$url" "$@"
}

# fs_wait_http URL SECONDS - wait until GET URL answers 200; 1 on timeout.
fs_wait_http() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [[ "$(fs_http_code "$1" --max-time 2)" == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

# fs_utc DATE - print DATE (anything `date -d` reads: now, -1 minute, +2 hours) as UTC ISO 8601.
fs_utc() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }

# fs_sale_create API_URL TOKEN [JSON] - create a sale with POST API_URL/api/v1/admin/sales and
# print its id. JSON is merged over the defaults: named "sale", open since a minute ago for an
# hour, stock 1000, per-user limit 10, price 100 cents; a sale with "items" has no stock and
# price_cents of its own. Returns 1 (and logs the answer) unless the answer is 201 with an id.
fs_sale_create() {
  local api=$1 token=$2 extra=${3:-"{}"} body code id out
  body="$(jq -cn --argjson extra "$extra" --arg s "$(fs_utc '-1 minute')" --arg e "$(fs_utc '+1 hour')" \
    '{name: "sale", stock: 1000, per_user_limit: 10, price_cents: 100, starts_at: $s,
      ends_at: $e} + $extra
     | if has("items") then del(.stock, .price_cents) else . end')" || return 1
  out="$(mktemp)"
  code="$(fs_http "$out" "$api/api/v1/admin/sales" -X POST -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "$body")"
  id="$(jq -r '.id // empty' "$out" 2>/dev/null || true)"
  if [[ "$code" != 201 || ! "$id" =~ ^[0-9]+$ ]]; then
    fs_warn "POST $api/api/v1/admin/sales answered HTTP $code: $(head -c 300 "$out")"
    rm -f "$out"
    return 1
  fi
  rm -f "$out"
  printf '%s\n' "$id"
}
