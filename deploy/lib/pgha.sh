# shellcheck shell=bash
# FS_PGHA_STARTED is read by the scripts that call fs_pgha_start.
# shellcheck disable=SC2034
# deploy/lib/pgha.sh - PostgreSQL with failover for deploy/local/run --pg-ha (issue 21;
# docs/PG_HA.md): a pg_auto_failover monitor and three data nodes (a primary and two standbys with
# synchronous quorum commit, synchronous_standby_names = 'ANY 1 (...)'), all on 127.0.0.1 and all
# run by pg_autoctl as the postgres system user when we are root (PostgreSQL refuses root; see
# fs_pg_as in deploy/lib/pg.sh). Sourced by deploy/local/lib.sh.
#
# Its home H (fs_pg_home: .flashsale, or /var/tmp/flashsale-<hash> when postgres cannot reach it):
#
#   H/pg-ha/ports               MONITOR=, NODE1=, NODE2=, NODE3= (kept: the nodes know each other's)
#   H/pg-ha/monitor/            the monitor's data directory (database pg_auto_failover)
#   H/pg-ha/node1..node3/       the data nodes' data directories (database flashsale)
#   H/pg-ha/xdg/                pg_autoctl's config, state and pid files (XDG_CONFIG_HOME, ...)
#   H/pg-ha/NAME.pid            the pid of `pg_autoctl run` for NAME (monitor, node1, ...)
#   H/logs/pg-ha-NAME.log       its log (pg_autoctl's and PostgreSQL's)
#
# Authentication (pg_hba.conf of each node, fixed up by fs_pgha_auth after pg_autoctl wrote it):
# pg_auto_failover's own roles (autoctl_node, pgautofailover_monitor, pgautofailover_replicator)
# and the superuser flashsale are trusted on 127.0.0.1 (pg_autoctl --auth trust), and on the
# nodes' unix sockets; everyone else - the application role flashsale_app - needs its
# SCRAM-SHA-256 password (PGPASSFILE, as in the single-server stack). That is weaker than the
# single-server stack, where the superuser is reachable only by peer authentication: it is
# acceptable on a developer's loopback, not elsewhere (docs/PG_HA.md, "Limits").

FS_PGHA_NODES=(node1 node2 node3)

fs_pgha_dir() { printf '%s/pg-ha' "$1"; }

# fs_pgha_cmd H - set FS_PGHA_CMD to the prefix that runs a program as pg_autoctl must run: as
# the postgres user when root, with pg_autoctl's files in H/pg-ha/xdg and PostgreSQL's tools first
# in PATH.
fs_pgha_cmd() {
  local dir
  dir="$(fs_pgha_dir "$1")"
  FS_PGHA_CMD=()
  if fs_is_root; then FS_PGHA_CMD=(runuser -u postgres --); fi
  FS_PGHA_CMD+=(env XDG_CONFIG_HOME="$dir/xdg/config" XDG_DATA_HOME="$dir/xdg/data"
    XDG_RUNTIME_DIR="$dir/xdg/run" PATH="$(fs_pg_bin):$PATH")
}

# fs_pgha_as H CMD... - run CMD (pg_autoctl, pg_ctl, ...) that way, from /; CMD's status.
fs_pgha_as() {
  local -a FS_PGHA_CMD
  fs_pgha_cmd "$1"
  shift
  (cd / && "${FS_PGHA_CMD[@]}" "$@")
}

# fs_pgha_port H NAME - the port of NAME (monitor, node1, node2, node3); nothing when unknown.
fs_pgha_port() {
  local key=${2^^}
  fs_env_get "$(fs_pgha_dir "$1")/ports" "$key"
}

# fs_pgha_url H USER DB - a libpq multi-host URL of the three data nodes for USER and DB, with
# target_session_attrs=read-write: libpq tries each host in turn and keeps the one that takes
# writes (the primary), whichever node that is after a failover. The hosts and ports are in the
# query (host=A,B,C&port=P,Q,R, which libpq prefers to the authority's host) rather than in the
# authority (postgresql://A:P,B:Q,C:R/db): flashsale-server checks --pg-url with QUrl, which
# rejects a comma-separated authority.
fs_pgha_url() {
  local home=$1 user=$2 db=$3 hosts="" ports="" n
  for n in "${FS_PGHA_NODES[@]}"; do
    hosts+="${hosts:+,}127.0.0.1"
    ports+="${ports:+,}$(fs_pgha_port "$home" "$n")"
  done
  printf 'postgresql://%s@127.0.0.1/%s?host=%s&port=%s&target_session_attrs=read-write&connect_timeout=5' \
    "$user" "$db" "$hosts" "$ports"
}

# fs_pgha_monitor_url H - the monitor's URL (pg_autoctl's autoctl_node role).
fs_pgha_monitor_url() {
  printf 'postgresql://autoctl_node@127.0.0.1:%s/pg_auto_failover?sslmode=disable' "$(fs_pgha_port "$1" monitor)"
}

fs_pgha_pidfile() { printf '%s/%s.pid' "$(fs_pgha_dir "$1")" "$2"; }

# fs_pgha_alive H NAME - NAME's `pg_autoctl run` is running.
fs_pgha_alive() { fs_pid_alive "$(fs_read_pidfile "$(fs_pgha_pidfile "$1" "$2")")" pg_autoctl; }

# fs_pgha_state H - print `pg_autoctl show state --json` of the formation (nothing when the monitor
# does not answer).
fs_pgha_state() {
  fs_pgha_as "$1" timeout 10 pg_autoctl show state --pgdata "$(fs_pgha_dir "$1")/monitor" --json \
    2>/dev/null || true
}

# fs_pgha_healthy H - the monitor reports one primary and two secondaries, each in the state it
# was assigned, and the primary's synchronous_standby_names is a quorum (ANY 1) with both
# standbys streaming in sync_state quorum.
fs_pgha_healthy() {
  local home=$1 state port
  state="$(fs_pgha_state "$home")"
  [[ -n "$state" ]] || return 1
  jq -e '[.[] | select(.current_group_state == .assigned_group_state)] as $ok
    | ($ok | map(select(.current_group_state == "primary")) | length) == 1
      and ($ok | map(select(.current_group_state == "secondary")) | length) == 2' \
    >/dev/null <<<"$state" 2>/dev/null || return 1
  port="$(jq -r '.[] | select(.current_group_state == "primary") | .nodeport' <<<"$state")"
  [[ "$(fs_pgha_sql "$home" "$port" "SELECT current_setting('synchronous_standby_names') LIKE 'ANY 1 (%'
    AND (SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum' AND state = 'streaming') = 2")" == t ]]
}

# fs_pgha_sql H PORT SQL - run SQL as the superuser on the node on PORT (over TCP, trusted for
# flashsale on 127.0.0.1), print the unaligned result; psql's status.
fs_pgha_sql() {
  "$(fs_pg_bin)/psql" -X -q -At -v ON_ERROR_STOP=1 \
    "postgresql://flashsale@127.0.0.1:$2/flashsale?connect_timeout=5" -c "$3" </dev/null 2>/dev/null
}

# fs_pgha_run H NAME - start `pg_autoctl run` for NAME in the background (it starts and
# supervises NAME's PostgreSQL); its pid in H/pg-ha/NAME.pid, its output in H/logs/pg-ha-NAME.log.
fs_pgha_run() {
  local home=$1 name=$2 log dir
  local -a FS_PGHA_CMD
  dir="$(fs_pgha_dir "$home")"
  log="$home/logs/pg-ha-$name.log"
  touch "$log"
  fs_is_root && chown postgres:postgres "$log"
  fs_pgha_cmd "$home"
  (cd / && fs_spawn "$(fs_pgha_pidfile "$home" "$name")" "$log" \
    "${FS_PGHA_CMD[@]}" pg_autoctl run --pgdata "$dir/$name")
}

# fs_pgha_auth H NAME - rewrite the generic lines initdb put in NAME's pg_hba.conf: TCP
# connections of any other role need a SCRAM password (last, after pg_autoctl's trusted lines for
# its own roles and the superuser), and reload. 0 when the file is as wanted.
fs_pgha_auth() {
  local home=$1 name=$2 hba new
  hba="$(fs_pgha_dir "$home")/$name/pg_hba.conf"
  [[ -f "$hba" ]] || return 1
  new="$(grep -v -E '^host[[:space:]]+(all|replication)[[:space:]]+all[[:space:]]' "$hba" |
    grep -v '^# flashsale: ')"
  new+=$'\n'"# flashsale: every other role over TCP with a SCRAM-SHA-256 password (deploy/lib/pgha.sh)"
  new+=$'\n'"host    all   all   127.0.0.1/32   scram-sha-256"
  new+=$'\n'"host    all   all   ::1/128        scram-sha-256"
  [[ "$(cat "$hba")" == "$new" ]] && return 0
  printf '%s\n' "$new" >"$hba"
  fs_is_root && chown postgres:postgres "$hba"
  fs_pgha_as "$home" pg_ctl -D "$(fs_pgha_dir "$home")/$name" reload >/dev/null 2>&1 </dev/null
}

# Failover timing (issue 21 item 5; docs/PG_HA.md "Failover timing"). pg_auto_failover's defaults
# take about 51 s from a primary's crash to a writable standby here: the monitor calls a node
# unhealthy after node_considered_unhealthy_timeout (20 s) of failed health checks, then waits
# primary_demote_timeout (30 s) for the old primary to demote itself before promoting. Shorter,
# keeping the safety rule between them: an isolated primary's keeper stops its PostgreSQL after
# timeout.network_partition_timeout (seconds), which must stay below primary_demote_timeout, so two
# primaries never take writes at once. Measured about 11 s from kill -9 to a write through the
# multi-host URL.
FS_PGHA_MONITOR_SETTINGS=(
  pgautofailover.health_check_period=1000
  pgautofailover.health_check_timeout=1000
  pgautofailover.health_check_retry_delay=500
  pgautofailover.node_considered_unhealthy_timeout=3000
  pgautofailover.primary_demote_timeout=8000
)
FS_PGHA_NETWORK_PARTITION_TIMEOUT_S=5

# fs_pgha_tune H - apply the failover timing above to the monitor (ALTER SYSTEM, reload) and to
# every data node's keeper (pg_autoctl config set, which the running keeper reloads). Idempotent;
# 1 when a step fails.
fs_pgha_tune() {
  local home=$1 dir port kv name
  local -a sql=()
  dir="$(fs_pgha_dir "$home")"
  port="$(fs_pgha_port "$home" monitor)"
  for kv in "${FS_PGHA_MONITOR_SETTINGS[@]}"; do sql+=(-c "ALTER SYSTEM SET ${kv%%=*} = ${kv#*=}"); done
  # The monitor's superuser is the system user that runs it, trusted on its unix socket.
  fs_pgha_as "$home" "$(fs_pg_bin)/psql" -X -q -At -v ON_ERROR_STOP=1 -h /var/run/postgresql \
    -p "$port" -d pg_auto_failover "${sql[@]}" -c 'SELECT pg_reload_conf()' >/dev/null </dev/null ||
    return 1
  for name in "${FS_PGHA_NODES[@]}"; do
    fs_pgha_as "$home" pg_autoctl config set --pgdata "$dir/$name" timeout.network_partition_timeout \
      "$FS_PGHA_NETWORK_PARTITION_TIMEOUT_S" >/dev/null 2>&1 </dev/null || return 1
  done
}

# fs_pgha_start H - create (once) and start the monitor and the three data nodes in H, the first
# node as the primary and the others as standbys cloned from it; database flashsale, superuser
# flashsale. Returns once fs_pgha_healthy holds and every node's pg_hba.conf is as fs_pgha_auth
# wants; a healthy formation that runs is reused. Sets FS_PGHA_STARTED to 1 when it started a
# pg_autoctl. Returns 1 (after saying why and printing the log's end) when a step fails or the
# formation is not healthy within 180 s.
fs_pgha_start() {
  local home=$1 dir name port uri i offset log
  FS_PGHA_STARTED=0
  dir="$(fs_pgha_dir "$home")"
  fs_ensure_dir "$home/logs"
  mkdir -p "$dir/xdg/config" "$dir/xdg/data" "$dir/xdg/run"
  chmod 700 "$dir/xdg/run"
  fs_is_root && chown -R postgres:postgres "$dir"
  touch "$dir/ports"
  for name in monitor "${FS_PGHA_NODES[@]}"; do
    port="$(fs_pgha_port "$home" "$name")"
    [[ -n "$port" ]] && FS_CLAIMED_PORTS+="$port "
  done
  if fs_pgha_alive "$home" monitor && fs_pgha_healthy "$home"; then
    fs_log "PostgreSQL HA (pg_auto_failover) already running; reusing it"
    for name in monitor "${FS_PGHA_NODES[@]}"; do fs_pgha_auth "$home" "$name" || return 1; done
    fs_pgha_tune "$home" || {
      fs_warn "could not set the failover timing (fs_pgha_tune)"
      return 1
    }
    return 0
  fi
  for name in monitor "${FS_PGHA_NODES[@]}"; do
    log="$home/logs/pg-ha-$name.log"
    port="$(fs_pgha_port "$home" "$name")"
    if [[ ! -f "$dir/$name/PG_VERSION" ]]; then
      [[ -n "$port" ]] || {
        fs_pick_port port
        fs_env_set "$dir/ports" "${name^^}" "$port"
        fs_is_root && chown postgres:postgres "$dir/ports"
      }
      rm -rf "${dir:?}/$name" "$dir/xdg/config/pg_autoctl$dir/$name" "$dir/xdg/data/pg_autoctl$dir/$name"
      touch "$log"
      fs_is_root && chown postgres:postgres "$log"
      offset="$(fs_file_size "$log")"
      if [[ "$name" == monitor ]]; then
        fs_log "creating the pg_auto_failover monitor on 127.0.0.1:$port ($dir/monitor)"
        if ! { fs_pgha_as "$home" pg_autoctl create monitor --pgdata "$dir/monitor" \
          --pgport "$port" --hostname 127.0.0.1 --auth trust --no-ssl \
          --pgctl "$(fs_pg_bin)/pg_ctl" >>"$log" 2>&1 </dev/null &&
          fs_pgha_as "$home" pg_autoctl config set --pgdata "$dir/monitor" \
            postgresql.listen_addresses 127.0.0.1 >>"$log" 2>&1 </dev/null; }; then
          fs_tail_log "$log" "$offset"
          fs_warn "pg_autoctl create monitor failed"
          return 1
        fi
      else
        fs_log "creating pg_auto_failover node $name on 127.0.0.1:$port ($dir/$name)"
        if ! fs_pgha_as "$home" pg_autoctl create postgres --pgdata "$dir/$name" --pgport "$port" \
          --listen 127.0.0.1 --hostname 127.0.0.1 --name "$name" --monitor "$uri" --auth trust \
          --no-ssl --dbname flashsale --username flashsale --pgctl "$(fs_pg_bin)/pg_ctl" \
          >>"$log" 2>&1 </dev/null; then
          fs_tail_log "$log" "$offset"
          fs_warn "pg_autoctl create postgres failed for $name"
          return 1
        fi
      fi
    fi
    if ! fs_pgha_alive "$home" "$name"; then
      if fs_port_listening "$port"; then
        fs_warn "port $port of $name is taken by another program; remove $dir to start over"
        return 1
      fi
      fs_log "starting pg_autoctl run for $name (127.0.0.1:$port)"
      FS_PGHA_STARTED=1
      fs_pgha_run "$home" "$name"
    fi
    if [[ "$name" == monitor ]]; then
      for ((i = 0; i < 300; i++)); do
        "$(fs_pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 && break
        sleep 0.2
      done
      uri="$(fs_pgha_monitor_url "$home")"
    fi
  done
  for ((i = 0; i < 900; i++)); do
    if fs_pgha_healthy "$home"; then
      for name in monitor "${FS_PGHA_NODES[@]}"; do fs_pgha_auth "$home" "$name" || return 1; done
      fs_pgha_tune "$home" || {
        fs_warn "could not set the failover timing (fs_pgha_tune)"
        return 1
      }
      return 0
    fi
    sleep 0.2
  done
  fs_pgha_as "$home" pg_autoctl show state --pgdata "$dir/monitor" >&2 || true
  fs_warn "the pg_auto_failover formation did not reach one primary and two quorum standbys within 180 s (logs: $home/logs/pg-ha-*.log)"
  return 1
}

# fs_pgha_node_pids H NAME - print the pids of NAME's pg_autoctl processes, the run and its
# subprocesses ("pg_autoctl: start/stop postgres", "pg_autoctl: node active"), found by the
# PGDATA in their environment: a subprocess outlives a `pg_autoctl run` killed with -9 and would
# start PostgreSQL again.
fs_pgha_node_pids() {
  local want p
  want="PGDATA=$(fs_pgha_dir "$1")/$2"
  for p in $(pgrep -f '^pg_autoctl' || true); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF -- "$want" && printf '%s\n' "$p"
  done
  return 0
}

# fs_pgha_stop H - stop the data nodes (standbys first) and then the monitor: `pg_autoctl stop`
# (fast shutdown of PostgreSQL), then TERM and KILL if one lingers. The data stays. Always 0.
fs_pgha_stop() {
  local home=$1 dir name pid i order=()
  dir="$(fs_pgha_dir "$home")"
  [[ -d "$dir" ]] || return 0
  for ((i = ${#FS_PGHA_NODES[@]} - 1; i >= 0; i--)); do order+=("${FS_PGHA_NODES[i]}"); done
  order+=(monitor)
  for name in "${order[@]}"; do
    pid="$(fs_read_pidfile "$(fs_pgha_pidfile "$home" "$name")")"
    if fs_pid_alive "$pid" pg_autoctl; then
      fs_log "stopping pg_auto_failover $name (pid $pid)"
      fs_pgha_as "$home" pg_autoctl stop --pgdata "$dir/$name" >/dev/null 2>&1 </dev/null || true
      fs_wait_gone "$pid" 30 || fs_kill_pid "$pid" pg_autoctl "pg_autoctl $name"
    fi
    rm -f "$(fs_pgha_pidfile "$home" "$name")"
    # What a pg_autoctl killed with -9 left behind: its subprocesses, then its PostgreSQL.
    for pid in $(fs_pgha_node_pids "$home" "$name"); do
      fs_log "stopping a leftover pg_autoctl process of $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      fs_wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -f "$dir/$name/postmaster.pid" ]] &&
      fs_pgha_as "$home" pg_ctl status -D "$dir/$name" >/dev/null 2>&1; then
      fs_pgha_as "$home" pg_ctl stop -D "$dir/$name" -m fast -w -t 30 >/dev/null 2>&1 </dev/null || true
    fi
  done
  return 0
}
