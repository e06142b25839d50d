# shellcheck shell=bash
# Variables set here are read by the scripts that call these functions.
# shellcheck disable=SC2034
# deploy/lib/prometheus.sh - a Prometheus server (Debian's `prometheus`) that scrapes the admin
# listeners of a set of flashsale-server processes with the alert rules of deploy/prometheus/
# loaded: render its config, write its targets, start, reload and stop it, wait for its targets
# and read its alerts. deploy/local/run --with-monitoring and tests/monitoring use it. Sourced by
# deploy/local/lib.sh.
#
# A Prometheus lives in a folder DIR (deploy/local/run: .flashsale/prometheus):
#
#   DIR/prometheus.yml      the config rendered from deploy/prometheus/prometheus.yml.template
#                           (by deploy/prometheus/render-config.sh); it loads the rules from
#                           deploy/prometheus/rules/*.rules.yml in the checkout
#   DIR/loaded.sha256       what the running Prometheus loaded: config and rules (fs_prometheus_current)
#   DIR/targets.json        the processes to scrape (file_sd; rewritten as processes come and go)
#   DIR/data/               its TSDB, kept FS_PROMETHEUS_RETENTION (default 6h)
#   DIR/prometheus.log      its output, appended across restarts
#   DIR/prometheus.pid      its pid (fs_spawn)
#   DIR/prometheus.url      its base URL, http://127.0.0.1:PORT, while it runs
#
# It listens on 127.0.0.1 only. As root it runs as Debian's `prometheus` system user (the
# package creates it) when that user can reach DIR; else as the caller. Debian 12's Prometheus
# 2.42 serves its web UI under /classic/ (the React UI is not packaged): /classic/alerts,
# /classic/targets, /classic/graph.

FS_PROMETHEUS_SRC="$FS_ROOT/deploy/prometheus"
FS_PROMETHEUS_RETENTION="${FLASHSALE_PROMETHEUS_RETENTION:-6h}"
# Scrape and rule-evaluation interval (the template's header says why 2 s).
FS_PROMETHEUS_INTERVAL="${FLASHSALE_PROMETHEUS_INTERVAL:-2s}"

fs_prometheus_pid() { fs_read_pidfile "$1/prometheus.pid"; }

fs_prometheus_alive() { fs_pid_alive "$(fs_prometheus_pid "$1")" prometheus; }

# fs_prometheus_url DIR - print the base URL of DIR's Prometheus (nothing when it is not up).
fs_prometheus_url() {
  local url=""
  if [[ -s "$1/prometheus.url" ]]; then read -r url <"$1/prometheus.url" || true; fi
  printf '%s' "$url"
}

# fs_prometheus_ready DIR - DIR's Prometheus runs and answers /-/ready with 200.
fs_prometheus_ready() {
  local url
  fs_prometheus_alive "$1" || return 1
  url="$(fs_prometheus_url "$1")"
  [[ -n "$url" && "$(fs_http_code "$url/-/ready" --max-time 3)" == 200 ]]
}

# fs_prometheus_user DIR - print the user Prometheus runs as for DIR: `prometheus` when we are
# root and that user exists and can reach DIR; nothing (the caller's user) otherwise.
fs_prometheus_user() {
  fs_is_root || return 0
  getent passwd prometheus >/dev/null 2>&1 || return 0
  if runuser -u prometheus -- test -x "$1" -a -r "$1" 2>/dev/null; then
    printf prometheus
  else
    fs_log "note: the prometheus user cannot reach $1; Prometheus runs as root"
  fi
}

# fs_prometheus_targets DIR ENTRY... - write DIR/targets.json (file_sd, replaced atomically, so
# a running Prometheus picks it up within seconds), one target per ENTRY "NAME ROLES HOST:PORT":
#   [{"targets":["HOST:PORT"],"labels":{"job":"flashsale","process":"NAME","roles":"ROLES"}}]
# ROLES is comma-separated (api,worker,...). No ENTRY writes an empty list.
fs_prometheus_targets() {
  local dir=$1 entry name roles addr json="[]"
  shift
  fs_ensure_dir "$dir"
  for entry in "$@"; do
    read -r name roles addr <<<"$entry"
    [[ -n "$addr" ]] || fs_die "fs_prometheus_targets: bad entry '$entry' (NAME ROLES HOST:PORT)"
    json="$(jq -c --arg n "$name" --arg r "$roles" --arg a "$addr" \
      '. + [{targets: [$a], labels: {job: "flashsale", process: $n, roles: $r}}]' <<<"$json")"
  done
  jq . <<<"$json" >"$dir/targets.json.tmp"
  chmod 644 "$dir/targets.json.tmp"
  mv -f "$dir/targets.json.tmp" "$dir/targets.json"
}

# fs_prometheus_render DIR - write DIR/prometheus.yml from deploy/prometheus/prometheus.yml.template
# with deploy/prometheus/render-config.sh (scrape and evaluation every FS_PROMETHEUS_INTERVAL,
# default 2s; the rules of deploy/prometheus/rules; the targets of DIR/targets.json) and check it
# with `promtool check config`, which checks the rule files too. Returns 1 (after printing
# promtool's complaint) when the config or a rule does not check; DIR/prometheus.yml is then the
# one before.
fs_prometheus_render() {
  local dir=$1 out
  fs_ensure_dir "$dir"
  [[ -f "$dir/targets.json" ]] || fs_prometheus_targets "$dir"
  "$FS_PROMETHEUS_SRC/render-config.sh" "$dir/targets.json" "$dir/prometheus.yml.new" \
    "$FS_PROMETHEUS_INTERVAL" || return 1
  chmod 644 "$dir/prometheus.yml.new"
  if ! out="$(promtool check config "$dir/prometheus.yml.new" 2>&1)"; then
    printf '%s\n' "$out" >&2
    fs_warn "promtool check config rejected the rendered $dir/prometheus.yml.new"
    return 1
  fi
  mv -f "$dir/prometheus.yml.new" "$dir/prometheus.yml"
}

# fs_prometheus_digest DIR - print a digest of what DIR's Prometheus loads: its config and the
# rule files. Differs from DIR/loaded.sha256 when the config or a rule changed since it loaded.
fs_prometheus_digest() {
  cat "$1/prometheus.yml" "$FS_PROMETHEUS_SRC"/rules/*.yml 2>/dev/null | sha256sum | cut -d' ' -f1
}

# fs_prometheus_current DIR - DIR's running Prometheus has loaded the config and rules as they are.
fs_prometheus_current() {
  [[ -s "$1/loaded.sha256" && "$(cat "$1/loaded.sha256")" == "$(fs_prometheus_digest "$1")" ]]
}

# fs_prometheus_start DIR PORT - start Prometheus on 127.0.0.1:PORT with DIR/prometheus.yml
# (fs_prometheus_render first), its TSDB in DIR/data kept FS_PROMETHEUS_RETENTION, and wait until
# it answers /-/ready. Returns 0 once it does, with DIR/prometheus.url written; 1 (after printing
# its log's last lines) when it exits first or is not ready within 30 s.
fs_prometheus_start() {
  local dir=$1 port=$2 log="$1/prometheus.log" offset user i
  local -a as=()
  [[ -f "$dir/prometheus.yml" ]] || fs_die "fs_prometheus_start: no $dir/prometheus.yml (fs_prometheus_render)"
  fs_prometheus_stop "$dir"
  fs_ensure_dir "$dir/data"
  user="$(fs_prometheus_user "$dir")"
  if [[ -n "$user" ]]; then
    chown -R "$user:" "$dir/data"
    # setpriv execs (no fork): the pid fs_spawn records is Prometheus's own.
    as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups)
  fi
  touch "$log"
  offset="$(fs_file_size "$log")"
  printf '==== %s start prometheus on 127.0.0.1:%s ====\n' "$(date -u +%FT%TZ)" "$port" >>"$log"
  fs_spawn "$dir/prometheus.pid" "$log" "${as[@]}" "$(command -v prometheus || echo /usr/bin/prometheus)" \
    --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time="$FS_PROMETHEUS_RETENTION" \
    --web.listen-address="127.0.0.1:$port" --web.console.templates=/etc/prometheus/consoles \
    --web.console.libraries=/etc/prometheus/console_libraries
  echo "http://127.0.0.1:$port" >"$dir/prometheus.url"
  fs_prometheus_digest "$dir" >"$dir/loaded.sha256"
  for ((i = 0; i < 300; i++)); do
    if ! fs_proc_running "$FS_SPAWN_PID"; then
      wait "$FS_SPAWN_PID" 2>/dev/null || true
      break
    fi
    if [[ "$(fs_http_code "http://127.0.0.1:$port/-/ready" --max-time 2)" == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  fs_tail_log "$log" "$offset"
  fs_warn "Prometheus did not become ready on 127.0.0.1:$port; log: $log"
  rm -f "$dir/prometheus.url"
  return 1
}

# fs_prometheus_reload DIR - have DIR's running Prometheus re-read its config and rules (SIGHUP);
# 1 when it does not run.
fs_prometheus_reload() {
  local pid
  pid="$(fs_prometheus_pid "$1")"
  fs_pid_alive "$pid" prometheus || return 1
  kill -HUP "$pid"
  fs_prometheus_digest "$1" >"$1/loaded.sha256"
}

# fs_prometheus_stop DIR - stop DIR's Prometheus (TERM, KILL after 15 s) and remove its pid and
# URL files; its data stays. Always 0, also when it does not run.
fs_prometheus_stop() {
  local pid
  pid="$(fs_prometheus_pid "$1")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" prometheus Prometheus
  rm -f "$1/prometheus.pid" "$1/prometheus.url" "$1/loaded.sha256"
}

# ---- its HTTP API ---------------------------------------------------------------------------

# fs_prometheus_targets_report URL - print one line per active target of job flashsale:
# "PROCESS HEALTH SCRAPE_URL LAST_ERROR". 1 when the API does not answer.
fs_prometheus_targets_report() {
  local body
  body="$(curl -sf --max-time 5 "$1/api/v1/targets?state=active")" || return 1
  jq -r '.data.activeTargets[] | select(.labels.job == "flashsale")
    | "\(.labels.process) \(.health) \(.scrapeUrl) \(.lastError)"' <<<"$body"
}

# fs_prometheus_wait_targets URL COUNT SECONDS - wait until Prometheus at URL has exactly COUNT
# active targets of job flashsale and every one is up (scraped successfully). 1 on timeout,
# after logging each target's state.
fs_prometheus_wait_targets() {
  local url=$1 count=$2 deadline=$((SECONDS + $3)) report up total
  while :; do
    report="$(fs_prometheus_targets_report "$url" || true)"
    total="$(grep -c . <<<"$report" || true)"
    up="$(awk '$2 == "up"' <<<"$report" | grep -c . || true)"
    ((total == count && up == count)) && return 0
    ((SECONDS < deadline)) || break
    sleep 0.5
  done
  fs_warn "Prometheus at $url: $up of $count targets up after ${3}s ($total active):"
  [[ -n "$report" ]] && sed 's/^/[flashsale]   /' <<<"$report" >&2
  return 1
}

# fs_prometheus_alert_state URL ALERTNAME [LABEL VALUE] - print the state of alert ALERTNAME
# (with label LABEL = VALUE, when given) in Prometheus at URL: firing, pending or inactive (no
# such active alert). 1 when the API does not answer.
fs_prometheus_alert_state() {
  local body
  body="$(curl -sf --max-time 5 "$1/api/v1/alerts")" || return 1
  jq -r --arg n "$2" --arg l "${3:-}" --arg v "${4:-}" '
    [.data.alerts[] | select(.labels.alertname == $n)
      | select($l == "" or .labels[$l] == $v) | .state]
    | if any(. == "firing") then "firing" elif any(. == "pending") then "pending"
      else "inactive" end' <<<"$body"
}
