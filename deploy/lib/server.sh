# shellcheck shell=bash
# Variables defined here are used by the scripts that source deploy/local/lib.sh.
# shellcheck disable=SC2034
# deploy/lib/server.sh - flashsale-server and HTTP (moved from deploy/local/lib.sh). Sourced by deploy/local/lib.sh.

FS_SERVER_PIDFILE="$FS_STATE/flashsale.pid"
FS_READY_FILE="$FS_STATE/api.url"
FS_SERVER_LOG="$FS_LOGS/flashsale.log"
FS_SUPERVISOR_PIDFILE="$FS_STATE/supervisor.pid"
FS_SUPERVISOR_LOCK="$FS_STATE/supervisor.lock"

fs_server_pid() { fs_read_pidfile "$FS_SERVER_PIDFILE"; }

fs_server_alive() { fs_pid_alive "$(fs_server_pid)" flashsale-server; }

fs_api_url() {
  local url=""
  if [[ -s "$FS_READY_FILE" ]]; then read -r url <"$FS_READY_FILE" || true; fi
  printf '%s' "${url%/}"
}

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

# The whole stack answers: server alive, ready file present, /healthz 200.
fs_stack_alive() {
  fs_server_alive || return 1
  local url
  url="$(fs_api_url)"
  [[ -n "$url" ]] || return 1
  [[ "$(fs_http_code "$url/healthz")" == 200 ]]
}

# A foreground `deploy/local/run` holds FS_SUPERVISOR_LOCK while it lives.
fs_supervisor_alive() {
  [[ -f "$FS_SUPERVISOR_LOCK" ]] || return 1
  ! flock -n "$FS_SUPERVISOR_LOCK" true 2>/dev/null
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
