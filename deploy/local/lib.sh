# shellcheck shell=bash
# Variables defined here are used by the scripts that source this file.
# shellcheck disable=SC2034
# Shared helpers for deploy/local/run and deploy/local/test.
# Source this file; it does not do anything on its own.
#
# Layout (all under the checkout root, resolved from this file's location):
#   build/                      CMake build tree
#   .flashsale/                 local stack state
#     ports.env                 ports picked last time (reused when free)
#     admin-token               admin bearer token (mode 600)
#     redis/                    redis.conf, AOF/RDB data, redis.pid
#     pg/                       PostgreSQL data directory (see fs_pg_home)
#     pg-run/                   PostgreSQL unix socket directory
#     logs/                     flashsale.log, redis.log, postgres.log, nginx-*.log
#     flashsale.pid, api.url    server pid and ready file (base URL)
#     demo-sale-id, stack.env   demo sale id, shell exports for the stack
#     flashsale-api2.pid, api2.url  second API process (--with-nginx)
#     nginx/                    gateway (--with-nginx): rendered config, temp dirs, nginx.pid
#     test/                     same layout for the test PostgreSQL cluster

if [[ -n "${FS_LIB_LOADED:-}" ]]; then
  return 0
fi
FS_LIB_LOADED=1

umask 022
shopt -s inherit_errexit

FS_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
FS_ROOT="$(cd "$FS_LIB_DIR/../.." && pwd -P)"
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere (CI) hits the cache
# a previous build filled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$FS_ROOT}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
FS_STATE="$FS_ROOT/.flashsale"
FS_LOGS="$FS_STATE/logs"
FS_BUILD_DIR="$FS_ROOT/build"
# Where the build puts the server (CMAKE_RUNTIME_OUTPUT_DIRECTORY is build/bin).
FS_SERVER_BIN="$FS_BUILD_DIR/bin/flashsale-server"

# Debian packages needed to build, run, test and benchmark the stack: the one list. The package
# audit (deploy/local/audit, run by deploy/local/test before the build) fails when a command in
# FS_COMMANDS or a CMake package the configure step loads comes from a package that neither this
# list (with its Depends) nor a fresh machine provides. apt-get runs with --no-install-recommends,
# so a package that is only Recommended by another must be named here.
FS_PACKAGES=(
  build-essential cmake pkg-config ccache git
  # Qt6Charts' CMake files load Qt6OpenGL and Qt6OpenGLWidgets, whose CMake files are in
  # libqt6opengl6-dev: qt6-base-dev only Recommends it.
  qt6-base-dev qt6-base-dev-tools qt6-httpserver-dev qt6-websockets-dev qt6-charts-dev
  libqt6opengl6-dev
  libhiredis-dev libpq-dev librdkafka-dev
  redis-server redis-tools
  postgresql postgresql-client
  curl jq wrk clang-format kcat
  # ss (free ports), node and npm (the browser test, the bot simulator), python3 (the fairness
  # benchmark): on a fresh machine already, named so that the audit does not rely on it.
  iproute2 nodejs python3
  chromium
  # The package audit parses the shell scripts with shfmt to find the commands they run.
  shfmt
  # tests/fuzz: libFuzzer with ASan+UBSan. Clang 16, not bookworm's default 14: libstdc++ 12's
  # std::expected needs it. libclang-rt-16-dev holds the libFuzzer and sanitizer runtimes.
  clang-16 libclang-rt-16-dev
)
# Added to FS_PACKAGES by deploy/local/run --with-nginx and by deploy/local/test (the gateway
# test). Note: on a machine with systemd, Debian's package also enables its own nginx on port 80.
FS_GATEWAY_PACKAGES=(nginx)

# Every program deploy/, tests/ and .ci/ run that is not part of every Debian system (a package of
# Priority: required, such as coreutils, grep, sed, util-linux), as command=package.
# deploy/local/audit fails when a script or test runs a program missing here, when an entry names
# the wrong package, or when the package is neither in the lists above (with Depends) nor on a
# fresh machine.
FS_COMMANDS=(
  # build and test runner (deploy/local/test)
  cmake=cmake ctest=cmake ccache=ccache git=git cc=gcc-12 clang-16=clang-16 clang++-16=clang-16
  npm=nodejs node=nodejs shfmt=shfmt jq=jq
  # servers the stack and the tests start
  redis-server=redis-server redis-cli=redis-tools nginx=nginx
  pg_ctl=postgresql-15 initdb=postgresql-15 postgres=postgresql-15
  psql=postgresql-client-common pg_isready=postgresql-client-common
  # clients the tests, rehearsals and benchmarks use
  curl=curl kcat=kcat wrk=wrk chromium=chromium python3=python3-minimal ss=iproute2
)

# fs_declared_packages - every package of the lists above (FS_PACKAGES, FS_GATEWAY_PACKAGES, ...).
fs_declared_packages() {
  local v
  for v in $(compgen -A arrayvar FS_ | grep -E '^FS_([A-Z]+_)?PACKAGES$' || true); do
    local -n fs_list=$v
    printf '%s\n' "${fs_list[@]}"
    unset -n fs_list
  done
}

# fs_require_commands CMD... - die unless each CMD is installed, naming the Debian package of each
# missing one (from FS_COMMANDS). deploy/local/test installs them all; so does deploy/local/run.
fs_require_commands() {
  local cmd entry pkg d search=$PATH:/usr/sbin:/sbin
  local -a missing=()
  for d in /usr/lib/postgresql/*/bin; do [[ -d "$d" ]] && search+=":$d"; done
  for cmd in "$@"; do
    PATH=$search type -P -- "$cmd" >/dev/null 2>&1 && continue
    pkg=""
    for entry in "${FS_COMMANDS[@]}"; do [[ "${entry%%=*}" == "$cmd" ]] && pkg=${entry#*=}; done
    missing+=("$cmd (package ${pkg:-unknown: add it to FS_COMMANDS})")
  done
  ((${#missing[@]} == 0)) && return 0
  fs_die "not installed: ${missing[*]}. deploy/local/test installs every package in" \
    "deploy/local/lib.sh; or: apt-get install --no-install-recommends <package>"
}

# Ports already handed out by fs_pick_port in this process.
FS_CLAIMED_PORTS=" "

# --------------------------------------------------------------------------
# logging

# (A closed terminal must not abort a cleanup: logging never fails.)
fs_log() { printf '[flashsale] %s\n' "$*" >&2 || true; }
fs_warn() { printf '[flashsale] warning: %s\n' "$*" >&2 || true; }
fs_die() {
  printf '[flashsale] error: %s\n' "$*" >&2
  exit 1
}

# fs_trap_errors - make a script that `set -e` ends say why: the file, line, command and status
# of the failure and the functions it was in. Call it once, after `set -euo pipefail`. (A status
# of 141 is SIGPIPE: a reader such as head or grep -q left a pipe its writer still wrote to.)
fs_trap_errors() {
  set -o errtrace
  trap 'fs_on_error "$?" "$BASH_COMMAND" "${BASH_SOURCE[0]:-}" "$LINENO"' ERR
}

fs_on_error() {
  local rc=$1 cmd=$2 src=${3#"$FS_ROOT"/} line=$4 why="" i stack=""
  [[ $- == *e* ]] || return 0 # a cleanup that ignores errors (set +e): nothing ends here
  ((rc > 128)) && why=" (killed by SIG$(kill -l "$((rc - 128))" 2>/dev/null || echo "$((rc - 128))"))"
  for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
    stack+=" < ${FUNCNAME[i]} (${BASH_SOURCE[i + 1]#"$FS_ROOT"/}:${BASH_LINENO[i]})"
  done
  printf '[flashsale] error: %s:%s: status %s%s from: %s%s\n' \
    "$src" "$line" "$rc" "$why" "$cmd" "${stack:+ in$stack}" >&2 || true
}

fs_is_root() { [[ "$(id -u)" == 0 ]]; }

# fs_tail_log FILE [OFFSET] - print the last lines of FILE (from byte OFFSET on).
fs_tail_log() {
  local file=$1 offset=${2:-0}
  [[ -f "$file" ]] || return 0
  printf '[flashsale] ---- last lines of %s ----\n' "$file" >&2
  tail -c +"$((offset + 1))" "$file" | tail -n 40 >&2 || true
  printf '[flashsale] ----\n' >&2
}

fs_file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

fs_short_hash() { printf '%s' "$1" | sha256sum | cut -c1-8; }

# --------------------------------------------------------------------------
# Debian packages

fs_pkg_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

# fs_ensure_packages - install whatever is missing from FS_PACKAGES.
# Set FLASHSALE_SKIP_APT=1 to only report missing packages.
# fs_apt_get ARGS... - apt-get as root (through sudo when not root), without questions.
fs_apt_get() {
  local -a sudo=()
  if ! fs_is_root; then
    command -v sudo >/dev/null 2>&1 || fs_die "not root and sudo is missing; as root: apt-get $*"
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" </dev/null
}

fs_ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    fs_warn "dpkg-query not found (not Debian?); skipping the package check"
    return 0
  fi
  local pkg missing=()
  for pkg in "${FS_PACKAGES[@]}"; do
    fs_pkg_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    fs_log "all ${#FS_PACKAGES[@]} Debian packages present"
    return 0
  fi
  fs_log "missing Debian packages: ${missing[*]}"
  if [[ "${FLASHSALE_SKIP_APT:-}" == 1 ]]; then
    fs_die "FLASHSALE_SKIP_APT=1 set; install them yourself: apt-get install ${missing[*]}"
  fi
  fs_log "installing them with apt-get (this may take a while)"
  fs_apt_get update || fs_die "apt-get update failed"
  fs_apt_get install -y --no-install-recommends "${missing[@]}" || fs_die "apt-get install failed"
  for pkg in "${missing[@]}"; do
    fs_pkg_installed "$pkg" || fs_die "package $pkg still not installed"
  done
}

# --------------------------------------------------------------------------
# build

fs_build() {
  fs_configure
  fs_compile
}

fs_configure() {
  [[ -f "$FS_ROOT/CMakeLists.txt" ]] || fs_die "no CMakeLists.txt in $FS_ROOT; nothing to build"
  fs_log "configuring ($FS_BUILD_DIR)"
  cmake -S "$FS_ROOT" -B "$FS_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache </dev/null || fs_die "cmake configure failed"
}

fs_compile() {
  local jobs
  jobs="${FLASHSALE_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
  fs_log "building with $jobs jobs"
  cmake --build "$FS_BUILD_DIR" -j "$jobs" </dev/null || fs_die "build failed"
}

# fs_resolve_server_bin - set FS_SERVER_BIN to the built server binary:
# $FLASHSALE_LOCAL_SERVER_BIN if set, else build/bin/flashsale-server. 1 if there is none.
fs_resolve_server_bin() {
  local c
  for c in "${FLASHSALE_LOCAL_SERVER_BIN:-}" "$FS_BUILD_DIR/bin/flashsale-server"; do
    if [[ -n "$c" && -f "$c" && -x "$c" ]]; then
      FS_SERVER_BIN=$c
      return 0
    fi
  done
  return 1
}

# --------------------------------------------------------------------------
# processes, ports, state

fs_ensure_dir() {
  mkdir -p "$1"
  chmod 755 "$1"
}

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

# fs_kill_pid PID NAME LABEL - TERM, wait up to 15 s, then KILL.
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

# --------------------------------------------------------------------------
# Redis (one instance for the stack; tests spawn their own)

FS_REDIS_DIR="$FS_STATE/redis"
FS_REDIS_CONF="$FS_REDIS_DIR/redis.conf"
FS_REDIS_PIDFILE="$FS_REDIS_DIR/redis.pid"
FS_REDIS_PORT=""

fs_redis_conf_port() {
  [[ -f "$FS_REDIS_CONF" ]] || return 0
  sed -n 's/^port \([0-9]*\)$/\1/p' "$FS_REDIS_CONF" | tail -n 1
}

# Quote a string for redis.conf.
fs_redis_quote() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

fs_redis_ping() {
  [[ -n "$1" ]] || return 1
  [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

fs_redis_running() {
  local pid port
  pid="$(fs_read_pidfile "$FS_REDIS_PIDFILE")"
  port="$(fs_redis_conf_port)"
  fs_pid_alive "$pid" redis-server && fs_redis_ping "$port"
}

# fs_redis_start [PREFERRED_PORT] - sets FS_REDIS_PORT, and FS_REDIS_STARTED
# to 1 if it started Redis, 0 if Redis was already running.
fs_redis_start() {
  FS_REDIS_STARTED=0
  fs_ensure_state
  fs_ensure_dir "$FS_REDIS_DIR"
  # The durability setting (docs/RELIABILITY.md): how many accepted bookings a machine crash can
  # lose. everysec: about the last second; always: none, at a measured throughput cost.
  local fsync="${FLASHSALE_REDIS_APPENDFSYNC:-everysec}"
  case "$fsync" in
    always | everysec | no) ;;
    *) fs_die "FLASHSALE_REDIS_APPENDFSYNC must be always, everysec or no (got '$fsync')" ;;
  esac
  if fs_redis_running; then
    FS_REDIS_PORT="$(fs_redis_conf_port)"
    FS_CLAIMED_PORTS+="$FS_REDIS_PORT "
    fs_log "redis already running on 127.0.0.1:$FS_REDIS_PORT; reusing it (appendfsync $fsync)"
    redis-cli -p "$FS_REDIS_PORT" CONFIG SET appendfsync "$fsync" >/dev/null
    return 0
  fi
  local oldpid
  oldpid="$(fs_read_pidfile "$FS_REDIS_PIDFILE")"
  if fs_pid_alive "$oldpid" redis-server; then
    fs_warn "redis (pid $oldpid) does not answer; restarting it"
    fs_kill_pid "$oldpid" redis-server redis
  fi
  rm -f "$FS_REDIS_PIDFILE"
  fs_pick_port FS_REDIS_PORT "${1:-}"
  local log="$FS_LOGS/redis.log" offset
  offset="$(fs_file_size "$log")"
  cat >"$FS_REDIS_CONF" <<EOF
# generated by deploy/local/run; rewritten on every start
bind 127.0.0.1
protected-mode yes
port $FS_REDIS_PORT
daemonize yes
supervised no
pidfile $(fs_redis_quote "$FS_REDIS_PIDFILE")
logfile $(fs_redis_quote "$log")
dir $(fs_redis_quote "$FS_REDIS_DIR")
appendonly yes
appendfsync $fsync
EOF
  fs_log "starting redis on 127.0.0.1:$FS_REDIS_PORT (data in $FS_REDIS_DIR)"
  redis-server "$FS_REDIS_CONF" </dev/null >/dev/null 2>&1 7>&- 8>&- 9>&- ||
    {
      fs_tail_log "$log" "$offset"
      fs_die "redis-server failed to start"
    }
  local i
  FS_REDIS_STARTED=1
  for ((i = 0; i < 100; i++)); do
    fs_redis_ping "$FS_REDIS_PORT" && return 0
    sleep 0.1
  done
  fs_tail_log "$log" "$offset"
  fs_die "redis did not answer PING on port $FS_REDIS_PORT within 10 s"
}

fs_redis_stop() {
  local pid port
  pid="$(fs_read_pidfile "$FS_REDIS_PIDFILE")"
  port="$(fs_redis_conf_port)"
  if ! fs_pid_alive "$pid" redis-server; then
    rm -f "$FS_REDIS_PIDFILE"
    return 0
  fi
  fs_log "stopping redis (pid $pid, port ${port:-?})"
  if [[ -n "$port" ]]; then
    timeout 10 redis-cli -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || true
  fi
  if ! fs_wait_gone "$pid" 10; then
    fs_kill_pid "$pid" redis-server redis
  fi
  rm -f "$FS_REDIS_PIDFILE"
}

# --------------------------------------------------------------------------
# PostgreSQL clusters
#
# A cluster lives in a "home" H: data in H/pg, socket in H/pg-run, log in
# H/logs/postgres.log. H is .flashsale (stack) or .flashsale/test (tests),
# unless the postgres system user cannot reach it (see fs_pg_home).

fs_pg_bin() {
  if [[ -n "${FLASHSALE_PG_BIN:-}" ]]; then
    printf '%s' "$FLASHSALE_PG_BIN"
    return 0
  fi
  if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
    printf '%s' /usr/lib/postgresql/15/bin
    return 0
  fi
  local d
  d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1 || true)"
  [[ -n "$d" && -x "$d/pg_ctl" ]] || fs_die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  printf '%s' "$d"
}

# Run a PostgreSQL server tool as the right user: postgres when we are root
# (PostgreSQL refuses to run as root), ourselves otherwise.
fs_pg_as() {
  if fs_is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

fs_pg_fallback_home() { # SUFFIX
  printf '/var/tmp/flashsale-%s%s' "$(fs_short_hash "$FS_ROOT")" "$1"
}

# fs_pg_home PREFERRED SUFFIX - print the home to use. As root, the postgres
# user must be able to reach PREFERRED; if it cannot (e.g. checkout under
# /root with mode 700) use /var/tmp/flashsale-<hash><SUFFIX> instead.
fs_pg_home() {
  local preferred=$1 suffix=$2 fallback
  if ! fs_is_root; then
    printf '%s' "$preferred"
    return 0
  fi
  fs_ensure_dir "$preferred"
  if runuser -u postgres -- test -x "$preferred" -a -r "$preferred" 2>/dev/null; then
    printf '%s' "$preferred"
    return 0
  fi
  fallback="$(fs_pg_fallback_home "$suffix")"
  mkdir -p "$fallback"
  chmod 755 "$fallback" "$(dirname "$fallback")" 2>/dev/null || true
  fs_log "note: the postgres user cannot reach $preferred; keeping PostgreSQL data in $fallback/pg instead"
  printf '%s' "$fallback"
}

fs_pg_running() { # HOME
  [[ -f "$1/pg/PG_VERSION" ]] || return 1
  fs_pg_as "$(fs_pg_bin)/pg_ctl" status -D "$1/pg" >/dev/null 2>&1
}

fs_pg_running_port() { # HOME
  [[ -f "$1/pg/postmaster.pid" ]] || return 0
  sed -n 4p "$1/pg/postmaster.pid" | tr -dc 0-9 || true
}

# Quote a string for postgresql.conf.
fs_pg_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# fs_pg_start HOME OUTVAR [PREFERRED_PORT] - init (once) and start the
# cluster in HOME; sets OUTVAR to its port, and FS_PG_STARTED to 1 if it
# started the cluster, 0 if it was already running.
fs_pg_start() {
  local home=$1 __out=$2 pref=${3:-} bin data sock log port offset
  FS_PG_STARTED=0
  bin="$(fs_pg_bin)"
  data="$home/pg"
  sock="$home/pg-run"
  log="$home/logs/postgres.log"
  fs_ensure_dir "$home"
  fs_ensure_dir "$home/logs"
  mkdir -p "$data" "$sock"
  chmod 700 "$data"
  touch "$log"
  if fs_is_root; then
    [[ "$(stat -c %U "$data")" == postgres ]] || chown -R postgres:postgres "$data"
    chown postgres:postgres "$sock" "$log"
  fi

  if [[ ! -f "$data/PG_VERSION" ]]; then
    if [[ -n "$(ls -A "$data")" ]]; then
      fs_die "$data is not empty but holds no PostgreSQL cluster; remove it and re-run"
    fi
    fs_log "initialising PostgreSQL cluster in $data"
    offset="$(fs_file_size "$log")"
    if ! fs_pg_as "$bin/initdb" -D "$data" -U flashsale --auth=trust -E UTF8 --no-locale \
      >>"$log" 2>&1 </dev/null; then
      fs_tail_log "$log" "$offset"
      fs_die "initdb failed"
    fi
    printf "\n# added by deploy/local\ninclude_if_exists = 'flashsale.conf'\n" >>"$data/postgresql.conf"
  fi

  if fs_pg_running "$home"; then
    port="$(fs_pg_running_port "$home")"
    if [[ -n "$port" ]] && fs_pg_as "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5; then
      FS_CLAIMED_PORTS+="$port "
      printf -v "$__out" '%s' "$port"
      fs_log "PostgreSQL already running on 127.0.0.1:$port ($data); reusing it"
      return 0
    fi
    fs_warn "PostgreSQL in $data runs but does not answer; restarting it"
    fs_pg_stop "$home"
  fi

  fs_pick_port port "$pref"
  # A unix socket path must fit in 107 bytes.
  if ((${#sock} + 20 > 107)); then
    sock="/tmp/flashsale-$(fs_short_hash "$home")-pg-run"
    mkdir -p "$sock"
    fs_is_root && chown postgres:postgres "$sock"
  fi
  {
    echo "# generated by deploy/local; rewritten on every start"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = $(fs_pg_quote "$sock")"
    echo "fsync = on"
  } >"$data/flashsale.conf"
  fs_is_root && chown postgres:postgres "$data/flashsale.conf"

  fs_log "starting PostgreSQL on 127.0.0.1:$port (data in $data)"
  offset="$(fs_file_size "$log")"
  FS_PG_STARTED=1
  if ! fs_pg_as "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start \
    </dev/null >/dev/null 2>&1 7>&- 8>&- 9>&-; then
    fs_tail_log "$log" "$offset"
    fs_die "PostgreSQL failed to start (data in $data)"
  fi
  printf -v "$__out" '%s' "$port"
  return 0
}

fs_pg_stop() { # HOME
  local home=$1 bin
  [[ -f "$home/pg/postmaster.pid" ]] || return 0
  bin="$(fs_pg_bin)"
  if ! fs_pg_running "$home"; then
    return 0
  fi
  fs_log "stopping PostgreSQL ($home/pg)"
  if ! fs_pg_as "$bin/pg_ctl" -D "$home/pg" -m fast -w -t 60 stop >/dev/null 2>&1 </dev/null; then
    fs_pg_running "$home" || return 0
    fs_warn "fast shutdown failed; trying immediate"
    fs_pg_as "$bin/pg_ctl" -D "$home/pg" -m immediate -w -t 30 stop >/dev/null 2>&1 </dev/null || true
  fi
}

# Stop a cluster wherever fs_pg_home may have put it.
fs_pg_stop_all() { # PREFERRED SUFFIX
  local h
  for h in "$1" "$(fs_pg_fallback_home "$2")"; do
    fs_pg_stop "$h"
  done
}

# fs_psql PORT DB ARGS... - psql over TCP as the flashsale superuser.
fs_psql() {
  local port=$1 db=$2
  shift 2
  "$(fs_pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U flashsale -d "$db" "$@" </dev/null
}

# fs_pg_ensure_db PORT NAME
fs_pg_ensure_db() {
  local port=$1 name=$2 have
  have="$(fs_psql "$port" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ||
    fs_die "cannot query PostgreSQL on port $port"
  if [[ "$have" != 1 ]]; then
    fs_log "creating database $name"
    fs_psql "$port" postgres -c "CREATE DATABASE \"$name\"" || fs_die "CREATE DATABASE $name failed"
  fi
}

# --------------------------------------------------------------------------
# flashsale-server

# ---- Kafka: librdkafka's in-memory mock cluster, when no brokers are given ----

FS_KAFKA_PIDFILE="$FS_STATE/kafka-mock.pid"
FS_KAFKA_BOOTSTRAP="$FS_STATE/kafka.bootstrap"

fs_kafka_running() {
  fs_pid_alive "$(fs_read_pidfile "$FS_KAFKA_PIDFILE")" flashsale-kafka && [[ -s "$FS_KAFKA_BOOTSTRAP" ]]
}

# fs_kafka_start - sets FS_KAFKA_BROKERS, and FS_KAFKA_STARTED to 1 if it started the mock.
# FLASHSALE_KAFKA_BROKERS from the caller wins (unless it names this stack's own mock).
fs_kafka_start() {
  FS_KAFKA_STARTED=0
  local own=""
  [[ -s "$FS_KAFKA_BOOTSTRAP" ]] && own="$(cat "$FS_KAFKA_BOOTSTRAP")"
  if [[ -n "${FLASHSALE_KAFKA_BROKERS:-}" && "$FLASHSALE_KAFKA_BROKERS" != "$own" ]]; then
    FS_KAFKA_BROKERS=$FLASHSALE_KAFKA_BROKERS
    fs_log "Kafka: using FLASHSALE_KAFKA_BROKERS=$FS_KAFKA_BROKERS"
    return 0
  fi
  if fs_kafka_running; then
    FS_KAFKA_BROKERS="$(cat "$FS_KAFKA_BOOTSTRAP")"
    fs_log "Kafka mock cluster already running at $FS_KAFKA_BROKERS; reusing it"
    return 0
  fi
  local bin="$FS_BUILD_DIR/bin/flashsale-kafka-mock" i
  [[ -x "$bin" ]] || fs_die "$bin not found; build first"
  rm -f "$FS_KAFKA_BOOTSTRAP" "$FS_KAFKA_PIDFILE"
  fs_log "starting an in-memory Kafka mock cluster (no FLASHSALE_KAFKA_BROKERS given)"
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$FS_KAFKA_PIDFILE" \
    "$bin" --brokers 3 --bootstrap-file "$FS_KAFKA_BOOTSTRAP" \
    </dev/null >>"$FS_LOGS/kafka-mock.log" 2>&1 7>&- 8>&- 9>&- &
  for ((i = 0; i < 100; i++)); do
    [[ -s "$FS_KAFKA_BOOTSTRAP" ]] && break
    sleep 0.1
  done
  [[ -s "$FS_KAFKA_BOOTSTRAP" ]] || {
    fs_tail_log "$FS_LOGS/kafka-mock.log"
    fs_die "the Kafka mock cluster did not start"
  }
  FS_KAFKA_BROKERS="$(cat "$FS_KAFKA_BOOTSTRAP")"
  FS_KAFKA_STARTED=1
  fs_log "Kafka mock cluster at $FS_KAFKA_BROKERS (in memory: its messages are gone when it stops)"
}

fs_kafka_stop() {
  local pid
  pid="$(fs_read_pidfile "$FS_KAFKA_PIDFILE")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" flashsale-kafka "Kafka mock cluster"
  rm -f "$FS_KAFKA_PIDFILE" "$FS_KAFKA_BOOTSTRAP"
}

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

# --------------------------------------------------------------------------
# nginx gateway (deploy/nginx): deploy/local/run --with-nginx and tests/gateway

FS_NGINX_SRC="$FS_ROOT/deploy/nginx"
# The stack's gateway: rendered config, copies of the shared snippets, temp dirs, pid file.
FS_NGINX_DIR="$FS_STATE/nginx"
FS_GATEWAY_URL_FILE="$FS_NGINX_DIR/gateway.url"
# The stack's second API process, behind the gateway together with the main server.
FS_API2_PIDFILE="$FS_STATE/flashsale-api2.pid"
FS_API2_READY_FILE="$FS_STATE/api2.url"
FS_API2_LOG="$FS_LOGS/flashsale-api2.log"

# fs_nginx_bin - print the nginx binary (/usr/sbin is not on a normal user's PATH); 1 if none.
fs_nginx_bin() {
  local c
  for c in "$(command -v nginx 2>/dev/null || true)" /usr/sbin/nginx; do
    if [[ -n "$c" && -x "$c" ]]; then
      printf '%s' "$c"
      return 0
    fi
  done
  return 1
}

# fs_nginx_user_line DIR - the `user` directive for a gateway whose files live in DIR. Only
# root may switch users; as root the workers run as nobody, unless nobody cannot reach DIR
# (e.g. a checkout under /root, mode 700), where they would fail to write temp files: then
# they stay root, which is acceptable for a gateway that listens on loopback only.
fs_nginx_user_line() {
  fs_is_root || return 0
  local group=nogroup
  getent group nogroup >/dev/null 2>&1 || group=nobody
  if getent passwd nobody >/dev/null 2>&1 && getent group "$group" >/dev/null 2>&1 &&
    runuser -u nobody -- test -x "$1" -a -r "$1" 2>/dev/null; then
    printf 'user nobody %s;' "$group"
  else
    fs_log "note: user nobody cannot reach $1; nginx workers run as root"
    printf 'user root root;'
  fi
}

# fs_nginx_render DIR LOGDIR LISTEN UPSTREAM... - write DIR/flashsale.conf from
# deploy/nginx/flashsale.conf.template, with copies of the snippets it includes beside it.
# LISTEN is host:port; each UPSTREAM a host:port of an API process. Logs go to
# LOGDIR/nginx-error.log and LOGDIR/nginx-access.log.
fs_nginx_render() {
  local dir=$1 logdir=$2 listen=$3 conf f servers="" up tpl
  shift 3
  (($#)) || fs_die "fs_nginx_render: no upstream servers"
  [[ "$dir$logdir" != *'"'* ]] || fs_die "nginx paths must not contain a double quote: $dir"
  fs_ensure_dir "$dir"
  fs_ensure_dir "$dir/temp"
  fs_ensure_dir "$logdir"
  for f in "$FS_NGINX_SRC"/flashsale-*.conf; do
    cp -f "$f" "$dir/"
    chmod 644 "$dir/${f##*/}"
  done
  for up in "$@"; do
    servers+="        server $up max_fails=1 fail_timeout=5s;"$'\n'
  done
  tpl="$(cat "$FS_NGINX_SRC/flashsale.conf.template")"
  # Quoted replacements: bash 5.2 would otherwise expand & in them.
  tpl="${tpl//@USER@/"$(fs_nginx_user_line "$dir")"}"
  tpl="${tpl//@ERROR_LOG@/"$logdir/nginx-error.log"}"
  tpl="${tpl//@ACCESS_LOG@/"$logdir/nginx-access.log"}"
  tpl="${tpl//@TEMP_DIR@/"$dir/temp"}"
  tpl="${tpl//@LISTEN@/"$listen"}"
  tpl="${tpl//@UPSTREAM_SERVERS@/"${servers%$'\n'}"}"
  conf="$dir/flashsale.conf"
  printf '%s\n' "$tpl" >"$conf.tmp"
  chmod 644 "$conf.tmp"
  mv -f "$conf.tmp" "$conf"
}

# fs_nginx_cmd DIR LOGDIR ARGS... - run nginx on the config in DIR (-p/-c/-e/-g filled in).
fs_nginx_cmd() {
  local dir=$1 logdir=$2 bin
  shift 2
  bin="$(fs_nginx_bin)" || fs_die "nginx not found (apt-get install nginx)"
  "$bin" -p "$dir/" -c "$dir/flashsale.conf" -e "$logdir/nginx-error.log" \
    -g "daemon on; pid \"$dir/nginx.pid\";" "$@"
}

fs_nginx_pid() { fs_read_pidfile "$1/nginx.pid"; }

fs_nginx_alive() { fs_pid_alive "$(fs_nginx_pid "$1")" nginx; }

# fs_nginx_start DIR LOGDIR - check and start the rendered config; 0 once the master runs.
fs_nginx_start() {
  local dir=$1 logdir=$2 log="$2/nginx-error.log" offset i
  touch "$log"
  offset="$(fs_file_size "$log")"
  if ! fs_nginx_cmd "$dir" "$logdir" -q -t </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&-; then
    fs_tail_log "$log" "$offset"
    fs_die "nginx rejected $dir/flashsale.conf"
  fi
  rm -f "$dir/nginx.pid"
  # The master daemonizes itself (its own session) and writes the pid file.
  if ! fs_nginx_cmd "$dir" "$logdir" </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&-; then
    fs_tail_log "$log" "$offset"
    fs_die "nginx failed to start"
  fi
  for ((i = 0; i < 50; i++)); do
    fs_nginx_alive "$dir" && return 0
    sleep 0.1
  done
  fs_tail_log "$log" "$offset"
  fs_die "nginx did not start (no pid file in $dir)"
}

# fs_nginx_reload DIR LOGDIR - check the rendered config and have the running master load it.
fs_nginx_reload() {
  local dir=$1 logdir=$2 log="$2/nginx-error.log" offset
  offset="$(fs_file_size "$log")"
  if ! fs_nginx_cmd "$dir" "$logdir" -q -t </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&-; then
    fs_tail_log "$log" "$offset"
    fs_die "nginx rejected $dir/flashsale.conf"
  fi
  kill -HUP "$(fs_nginx_pid "$dir")"
}

# fs_nginx_stop DIR - stop the master of DIR (TERM: a fast shutdown that also ends WebSockets).
fs_nginx_stop() {
  local pid
  pid="$(fs_nginx_pid "$1")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" nginx nginx
  rm -f "$1/nginx.pid"
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

# --------------------------------------------------------------------------
# test fixtures (tests/*/test_*.sh): throwaway servers on free loopback ports

# fs_test_redis_start BIN DIR LOG PORT_VAR PID_VAR - a redis-server without persistence in DIR;
# sets the caller's PORT_VAR and PID_VAR, dies when it does not answer within 10 s.
fs_test_redis_start() {
  local bin=$1 dir=$2 log=$3 port i
  fs_pick_port port
  "$bin" --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
    --daemonize no </dev/null >"$log" 2>&1 &
  printf -v "$5" '%s' "$!"
  printf -v "$4" '%s' "$port"
  for ((i = 0; i < 100; i++)); do
    fs_redis_ping "$port" && return 0
    sleep 0.1
  done
  fs_die "redis-server did not start (log: $log)"
}

# fs_test_db_url ADMIN_URL DB - the URL of database DB in the cluster of ADMIN_URL (same
# credentials and options).
fs_test_db_url() {
  local admin=$1 db=$2 base
  base=${admin%%\?*}
  printf '%s' "${base%/*}/$db${admin#"$base"}"
}
