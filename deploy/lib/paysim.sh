# shellcheck shell=bash
# Variables set here are read by the scripts that call these functions.
# shellcheck disable=SC2034
# deploy/lib/paysim.sh - the payment provider simulator (flashsale-paysim, docs/PAYSIM.md), the
# one way a script starts and stops one. Sourced by deploy/local/lib.sh.
#
# A simulator belongs to a state folder HOME and has a NAME there (a test runs several):
#
#   HOME/NAME.pid        its pid (fs_spawn)
#   HOME/NAME.url        its base URL (http://127.0.0.1:PORT), once it listens
#   HOME/logs/NAME.log
#
# Its ledger lives in its memory: it is gone when it stops.

# The binary; a test points it at CTest's (FLASHSALE_PAYSIM_BIN).
FS_PAYSIM_BIN="$FS_BUILD_DIR/bin/flashsale-paysim"

# fs_paysim_start HOME NAME [ARG...] - start simulator NAME of HOME (flashsale-paysim --port 0
# ARG..., e.g. --latency-ms 50) and set FS_PAYSIM_URL to its base URL. Returns 1 (after printing
# its log's last lines) when the binary is missing or it is not listening within 10 s.
fs_paysim_start() {
  local home=$1 name=$2 i
  shift 2
  local url="$home/$name.url" log="$home/logs/$name.log"
  [[ -x "$FS_PAYSIM_BIN" ]] || {
    fs_warn "$FS_PAYSIM_BIN not found; build first"
    return 1
  }
  fs_ensure_dir "$home/logs"
  fs_paysim_stop "$home" "$name"
  fs_spawn "$home/$name.pid" "$log" "$FS_PAYSIM_BIN" --ready-file "$url" "$@"
  for ((i = 0; i < 100; i++)); do
    [[ -s "$url" ]] && break
    sleep 0.1
  done
  [[ -s "$url" ]] || {
    fs_tail_log "$log"
    fs_warn "the payment simulator $name did not start"
    return 1
  }
  FS_PAYSIM_URL="$(head -n 1 "$url")"
}

# fs_paysim_stop HOME NAME - stop simulator NAME of HOME; always 0, also when none runs.
fs_paysim_stop() {
  local pid
  pid="$(fs_read_pidfile "$1/$2.pid")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" flashsale-paysim "payment simulator $2"
  rm -f "$1/$2.pid" "$1/$2.url"
}
