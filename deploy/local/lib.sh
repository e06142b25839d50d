# shellcheck shell=bash
# Variables defined here are used by the scripts that source this file.
# shellcheck disable=SC2034
# deploy/local/lib.sh - what every script of deploy/, tests/ and .ci/ sources: where things are,
# the one package list, and the helpers of deploy/lib/, one job per file:
#
#   log.sh       fs_log, fs_warn, fs_die, fs_trap_errors (the ERR trap), fs_tail_log
#   packages.sh  fs_ensure_packages (apt-get), fs_require_commands, fs_declared_packages
#   build.sh     fs_build, fs_configure, fs_compile, fs_resolve_server_bin
#   process.sh   pid files, fs_spawn, fs_kill_pid, fs_pick_port (free ports), ports.env
#   redis.sh     fs_redis_start HOME PORT [CONF_LINE...], fs_redis_stop HOME
#   pg.sh        fs_pg_start HOME PORTVAR, fs_pg_stop HOME, fs_pg_db_create URL DB, fs_psql URL
#   rediscluster.sh  fs_redis_cluster_start HOME PASSFILE TIMEOUT, fs_redis_cluster_stop HOME (6 nodes)
#   pgha.sh      fs_pgha_start HOME, fs_pgha_stop HOME (pg_auto_failover: monitor + 3 nodes)
#   kafka.sh     fs_kafka_start HOME [ARG...], fs_kafka_stop HOME (the mock cluster)
#   server.sh    fs_server_start HOME NAME ARG..., fs_server_stop HOME NAME, fs_sale_create
#   nginx.sh     fs_nginx_render, fs_nginx_start, fs_nginx_stop (the gateway)
#   tls.sh       fs_tls_ensure HOME (local CA and server certificate), fs_tls_ca_file HOME
#   prometheus.sh  fs_prometheus_render, fs_prometheus_start, fs_prometheus_stop, its API
#   smtp.sh      fs_smtp_start HOME NAME PORT MAILDIR, fs_smtp_stop HOME NAME (aiosmtpd, maildir)
#
# Source this file; it does not do anything on its own. Each launcher keeps what it starts in a
# state folder, its HOME (the files are listed at the top of each library). The local stack's
# HOME is .flashsale/ at the checkout root:
#   ports.env                   ports picked last time (reused when free)
#   admin-token                 admin bearer token (mode 600)
#   buyer-token-secret          key of buyer tokens and challenges (mode 600)
#   waiting-room-seed-key       the waiting room's seed-box secret (mode 600)
#   redis-password              Redis requirepass (mode 600); clients get it by file or REDISCLI_AUTH
#   pg-superuser.pgpass, pg-app.pgpass  PostgreSQL passwords (mode 600, PGPASSFILE format)
#   tls/                        local CA and the gateway's certificate (mode 700; tls.sh)
#   redis/                      redis.conf, redis.pid, AOF/RDB data
#   redis.single/, redis.ha/    the Redis data (and demo sale id) of the other PostgreSQL mode, kept
#                               while the stack runs with --pg-ha or without it (deploy/local/run)
#   redis-cluster/              --redis-cluster: ports, node-1..node-6/ (rediscluster.sh)
#   pg-ha/                      --pg-ha: monitor/, node1..node3/, pg_autoctl's files (pgha.sh)
#   pg/, pg-run/                PostgreSQL data and socket directories (see fs_pg_home)
#   logs/                       flashsale.log, redis.log, postgres.log, kafka-mock.log, nginx-*.log
#   flashsale.pid, flashsale.url  the server's pid and ready file (base URL)
#   kafka-mock.pid, kafka.bootstrap  the Kafka mock cluster
#   demo-sale-id, stack.env     demo sale id, shell exports for the stack
#   flashsale-api2.pid, flashsale-api2.url  second API process (--with-nginx)
#   supervisor.pid, supervisor.lock  a foreground deploy/local/run
#   nginx/                      gateway (--with-nginx): rendered config, temp dirs, nginx.pid
#   prometheus/                 Prometheus (--with-monitoring): config, rules, targets.json, data/,
#                               prometheus.log, prometheus.pid, prometheus.url (prometheus.sh)
#   test/                       the test PostgreSQL cluster's home (deploy/local/test)
# The build tree is build/.

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
  # operator passwords are hashed with libsodium's argon2id (crypto_pwhash_str); the console
  # keeps its credential in the OS keychain through QtKeychain
  libsodium-dev qtkeychain-qt6-dev
  redis-server redis-tools
  postgresql postgresql-client
  curl jq wrk clang-format kcat
  # ss (free ports), node and npm (the browser test, the bot simulator), python3 (the fairness
  # benchmark): on a fresh machine already, named so that the audit does not rely on it.
  iproute2 nodejs python3
  chromium
  # The package audit parses the shell scripts with shfmt to find the commands they run.
  shfmt
  # Looking at the console as a user would (docs/CONSOLE.md's pictures): Xvfb, and ImageMagick's
  # `import -window root` for the screenshot.
  xvfb imagemagick
  # tests/console: a real Secret Service (GNOME Keyring on a private D-Bus session bus) for the
  # console's keychain round trip
  gnome-keyring dbus-daemon
  # tests/fuzz: libFuzzer with ASan+UBSan. Clang 16, not bookworm's default 14: libstdc++ 12's
  # std::expected needs it. libclang-rt-16-dev holds the libFuzzer and sanitizer runtimes.
  clang-16 libclang-rt-16-dev
  # monitoring (docs/MONITORING.md): Prometheus and promtool for the alert rules' unit tests, the
  # configuration check and --with-monitoring; docker-compose to validate deploy/compose (no Docker
  # engine runs here, only `docker-compose config`)
  prometheus docker-compose
  # email over SMTP (shared/notify/smtpsender): libcurl's SMTP client, and a real SMTP server on
  # loopback for its tests (python3 -m aiosmtpd)
  libcurl4-openssl-dev python3-aiosmtpd
  # deploy/bench/netfaults: silent cuts and packet loss with nftables rules (the kernel has no
  # netem qdisc here)
  nftables
  # issue 21: deploy/local/run --pg-ha (docs/PG_HA.md): pg_auto_failover's pg_autoctl and its
  # monitor extension for PostgreSQL 15 (a primary, two synchronous-quorum standbys, failover)
  pg-auto-failover-cli postgresql-15-auto-failover
  # issue 18: deploy/bench/booking-hotpath --profile samples the server with perf;
  # deploy/bench/book-lua-cost --instructions counts Redis's instructions with callgrind
  linux-perf valgrind
)
# Added to FS_PACKAGES by deploy/local/run --with-nginx and by deploy/local/test (the gateway
# test). Note: on a machine with systemd, Debian's package also enables its own nginx on port 80.
# The rest is deploy/bench/booking-hotpath's OpenResty-style peer (deploy/bench/peer/): nginx's
# Lua module, resty.redis (lua-nginx-redis, which Depends on nginx-extras) and cjson for the
# request body. Here rather than in FS_PACKAGES because they need nginx, which a machine gets
# only when asked; deploy/local/test installs this list, and the bench runs where it ran.
FS_GATEWAY_PACKAGES=(nginx libnginx-mod-http-lua lua-nginx-redis lua-cjson)

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
  redis-server=redis-server redis-cli=redis-tools redis-benchmark=redis-tools nginx=nginx
  pg_ctl=postgresql-15 initdb=postgresql-15 postgres=postgresql-15
  psql=postgresql-client-common pg_isready=postgresql-client-common
  # clients the tests, rehearsals and benchmarks use (kcat: the README's reader of the topics)
  curl=curl kcat=kcat wrk=wrk chromium=chromium python3=python3-minimal ss=iproute2
  # the local stack's certificate authority and server certificate (deploy/lib/tls.sh)
  openssl=openssl
  # the gateway test's "no secret in ps" check, tests/deploy/test_pgha.sh's leftovers check (procps
  # is on every fresh machine)
  ps=procps pgrep=procps
  # tests/console: the keychain round trip against a real Secret Service
  dbus-run-session=dbus-daemon gnome-keyring-daemon=gnome-keyring
  # monitoring: the rules' tests, the local Prometheus, the compose file's validation
  promtool=prometheus prometheus=prometheus docker-compose=docker-compose
  # deploy/bench/netfaults: the network faults
  nft=nftables ip=iproute2 tc=iproute2
  # deploy/local/run --pg-ha and tests/deploy/test_pgha.sh (issue 21): pg_auto_failover
  pg_autoctl=pg-auto-failover-cli
  # deploy/bench/booking-hotpath --profile and book-lua-cost --instructions (issue 18)
  perf=linux-perf valgrind=valgrind callgrind_control=valgrind
)

# shellcheck source=deploy/lib/log.sh
source "$FS_ROOT/deploy/lib/log.sh"
# shellcheck source=deploy/lib/packages.sh
source "$FS_ROOT/deploy/lib/packages.sh"
# shellcheck source=deploy/lib/build.sh
source "$FS_ROOT/deploy/lib/build.sh"
# shellcheck source=deploy/lib/process.sh
source "$FS_ROOT/deploy/lib/process.sh"
# shellcheck source=deploy/lib/redis.sh
source "$FS_ROOT/deploy/lib/redis.sh"
# shellcheck source=deploy/lib/pg.sh
source "$FS_ROOT/deploy/lib/pg.sh"
# issue 21: deploy/local/run --redis-cluster and --pg-ha
# shellcheck source=deploy/lib/rediscluster.sh
source "$FS_ROOT/deploy/lib/rediscluster.sh"
# shellcheck source=deploy/lib/pgha.sh
source "$FS_ROOT/deploy/lib/pgha.sh"
# shellcheck source=deploy/lib/kafka.sh
source "$FS_ROOT/deploy/lib/kafka.sh"
# shellcheck source=deploy/lib/paysim.sh
source "$FS_ROOT/deploy/lib/paysim.sh"
# shellcheck source=deploy/lib/server.sh
source "$FS_ROOT/deploy/lib/server.sh"
# shellcheck source=deploy/lib/nginx.sh
source "$FS_ROOT/deploy/lib/nginx.sh"
# shellcheck source=deploy/lib/tls.sh
source "$FS_ROOT/deploy/lib/tls.sh"
# shellcheck source=deploy/lib/prometheus.sh
source "$FS_ROOT/deploy/lib/prometheus.sh"
# issue 19: notify. The local SMTP server (aiosmtpd) that receives the stack's email.
# shellcheck source=deploy/lib/smtp.sh
source "$FS_ROOT/deploy/lib/smtp.sh"

# fs_packages_print - print FS_PACKAGES (the one list), one package a line. The compose image
# (deploy/compose/Dockerfile) installs exactly these, so that it builds with what the local
# stack builds with: `bash deploy/local/lib.sh --print-packages`.
fs_packages_print() { printf '%s\n' "${FS_PACKAGES[@]}"; }

# Run rather than sourced: `bash deploy/local/lib.sh --print-packages`.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  case "${1:-}" in
    --print-packages) fs_packages_print ;;
    *)
      printf 'usage: bash %s --print-packages   (otherwise: source it)\n' "$0" >&2
      exit 2
      ;;
  esac
fi
