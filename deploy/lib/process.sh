# shellcheck shell=bash
# Variables set here are read by the scripts that call these functions.
# shellcheck disable=SC2034
# deploy/lib/process.sh - processes, pid files, free ports and small state files: what every
# launcher (redis.sh, pg.sh, kafka.sh, server.sh, nginx.sh) builds on. Sourced by
# deploy/local/lib.sh.
#
# A process a launcher starts belongs to a state folder, its HOME: its pid file and anything it
# writes live there, its output in HOME/logs/. deploy/local/run's HOME is .flashsale/; a test's
# or a benchmark's is a temporary folder.

fs_is_root() { [[ "$(id -u)" == 0 ]]; }

# fs_file_size FILE - print FILE's size in bytes (0 when it does not exist).
fs_file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

fs_short_hash() { printf '%s' "$1" | sha256sum | cut -c1-8; }

# fs_random_hex BYTES - print BYTES random bytes as lower-case hex (a token, a secret).
fs_random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# fs_ensure_dir DIR - create DIR (and its parents), mode 755.
fs_ensure_dir() {
  mkdir -p "$1"
  chmod 755 "$1"
}

# fs_ensure_state - create the local stack's folders, .flashsale/ and .flashsale/logs/.
fs_ensure_state() {
  fs_ensure_dir "$FS_STATE"
  fs_ensure_dir "$FS_LOGS"
}

# fs_proc_running PID - PID exists and is not a zombie.
fs_proc_running() {
  local stat
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$1" 2>/dev/null || return 1
  stat="$(cat "/proc/$1/stat" 2>/dev/null || true)"
  [[ -n "$stat" && "${stat##*) }" != Z* ]]
}

# fs_pid_alive PID NAME - PID runs and its command line mentions NAME.
fs_pid_alive() {
  local pid=$1 name=$2
  fs_proc_running "$pid" || return 1
  local cmd
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmd" == *"$name"* ]]
}

# fs_read_pidfile FILE - print the pid in FILE; nothing when there is no such file or no pid.
fs_read_pidfile() {
  local pid=""
  if [[ -f "$1" ]]; then read -r pid <"$1" || true; fi
  [[ "$pid" =~ ^[0-9]+$ ]] && printf '%s' "$pid"
  return 0
}

# fs_wait_gone PID SECONDS - wait until PID has exited; 1 on timeout.
fs_wait_gone() {
  local pid=$1 i
  for ((i = 0; i < $2 * 10; i++)); do
    fs_proc_running "$pid" || return 0
    sleep 0.1
  done
  return 1
}

# fs_kill_pid PID NAME LABEL - TERM, wait up to 15 s, then KILL; nothing unless PID runs and its
# command line mentions NAME. Always 0.
fs_kill_pid() {
  local pid=$1 name=$2 label=$3
  fs_pid_alive "$pid" "$name" || return 0
  fs_log "stopping $label (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! fs_wait_gone "$pid" 15; then
    fs_warn "$label did not stop within 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    fs_wait_gone "$pid" 5 || fs_warn "$label (pid $pid) is still there"
  fi
}

# fs_spawn PIDFILE LOG CMD... - start CMD in the background and return at once. CMD runs in a
# session of its own (terminal signals reach only the caller, which stops it itself), reads
# /dev/null, appends its output to LOG and does not inherit the scripts' lock descriptors 7-9.
# It writes its own pid to PIDFILE before CMD runs (the same pid CMD then has). FS_SPAWN_PID is
# the caller's child, for `wait`; it is CMD's pid too unless setsid had to fork.
fs_spawn() {
  local pidfile=$1 log=$2
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&- &
  FS_SPAWN_PID=$!
}

# ---- ports ----------------------------------------------------------------------------------

# Ports already handed out by fs_pick_port in this process.
FS_CLAIMED_PORTS=" "

# fs_port_listening PORT - something listens on PORT (any address).
fs_port_listening() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
  else
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
  fi
}

# fs_port_bindable PORT - 0 if a server could listen on 127.0.0.1:PORT now. Nothing may
# listen there, and no outgoing connection may hold it either (a client's port in TIME_WAIT
# makes a server's bind fail even with SO_REUSEADDR). perl-base is on every Debian system.
fs_port_bindable() {
  fs_port_listening "$1" && return 1
  perl -MIO::Socket::INET -e \
    'exit(IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 1, ReuseAddr => 1) ? 0 : 1)' \
    "$1" 2>/dev/null
}

# The lowest port the kernel hands out to outgoing connections; random ports are picked below
# it, so a client connection cannot take a port between our pick and the server's bind.
fs_ephemeral_low() {
  local low _high
  read -r low _high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  fs_valid_port "$low" && ((low > 21000)) || low=32768
  echo "$low"
}

fs_valid_port() { [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1024 && $1 <= 65535)); }

# fs_pick_port OUTVAR [PREFERRED...] - first free preferred port, else a
# random free one from 20000 up to the ephemeral range. Never hands out the same port twice.
# Dies when it finds none.
fs_pick_port() {
  local __out=$1 p i
  shift
  # The preferred ports first, then random ones.
  local candidates=("$@") span
  span=$(($(fs_ephemeral_low) - 20000))
  for ((i = 0; i < 200; i++)); do
    candidates+=("$(((RANDOM * 32768 + RANDOM) % span + 20000))")
  done
  for p in "${candidates[@]}"; do
    fs_valid_port "$p" || continue
    [[ "$FS_CLAIMED_PORTS" == *" $p "* ]] && continue
    if fs_port_bindable "$p"; then
      FS_CLAIMED_PORTS+="$p "
      printf -v "$__out" '%s' "$p"
      return 0
    fi
  done
  fs_die "could not find a free port"
}

# ---- KEY=VALUE files (ports.env) -------------------------------------------------------------

# fs_env_get FILE KEY - value of KEY=VALUE in FILE (simple, unquoted values).
fs_env_get() {
  [[ -f "$1" ]] || return 0
  sed -n "s/^$2=\([0-9A-Za-z_.:/-]*\)\$/\1/p" "$1" | tail -n 1
}

# fs_env_set FILE KEY VALUE - set KEY=VALUE in FILE, keeping other keys.
fs_env_set() {
  local file=$1 key=$2 value=$3 tmp
  tmp="$(mktemp "$file.XXXXXX")"
  if [[ -f "$file" ]]; then
    grep -v "^$key=" "$file" >"$tmp" || true
  fi
  printf '%s=%s\n' "$key" "$value" >>"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$file"
}
