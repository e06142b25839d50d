#!/usr/bin/env bash
# deploy/compose checked without a Docker engine (none runs here; docs/DEPLOY.md says what was and
# was not run): `docker-compose config` accepts the file, and the settings it shares with the
# local stack have the same values:
#   - Redis: deploy/compose/redis/redis-start.sh is run for real against Debian's redis-server on
#     a free loopback port; CONFIG GET must show the local stack's maxmemory, maxmemory-policy,
#     appendonly and appendfsync (deploy/local/run), and a client without the password is refused
#   - PostgreSQL: the settings deploy/lib/pg.sh writes (fsync, password_encryption) equal the
#     compose service's -c values; SCRAM everywhere
#   - flashsale-server: every --flag of a command and every FLASHSALE_<FLAG> variable is accepted
#     by the built binary's --help; every role runs; every process has its admin listener on
#     9464 with a healthcheck on /healthz or /readyz, and is a Prometheus target
#   - secrets only by file (*_FILE under /run/secrets, the secret mounted), none in a value
#   - nginx: the config and every file it includes exist, its TLS paths are the secrets' targets
#   - Prometheus: promtool check config on deploy/compose/prometheus.yml with the rules mounted
#     as in the container (skipped, with the reason, while deploy/prometheus/rules is absent)
#   - Kafka: KRaft, the three topics of shared/kafka/kafkaclient.h
#   - the image: Debian 12, the package list from `lib.sh --print-packages`, a non-root user, and
#     runtime-packages.sh resolves every library of the built binary
# FLASHSALE_SERVER_BIN names the server (CTest sets it; else build/bin/flashsale-server).
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
fs_trap_errors

fs_require_commands docker-compose promtool redis-server redis-cli jq python3

COMPOSE_DIR="$FS_ROOT/deploy/compose"
COMPOSE_FILE="$COMPOSE_DIR/docker-compose.yml"
SERVER_BIN="${FLASHSALE_SERVER_BIN:-$FS_BUILD_DIR/bin/flashsale-server}"
WORK="$(mktemp -d)"
REDIS_PID=""
cleanup() {
  [[ -n "$REDIS_PID" ]] && fs_kill_pid "$REDIS_PID" redis-server redis >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

FAILS=0
say() { printf '[compose] %s\n' "$*" >&2; }
ok() { say "ok: $*"; }
fail() {
  say "FAIL: $*"
  FAILS=$((FAILS + 1))
}
check() { # DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

# ---- docker-compose config ---------------------------------------------------------------------

# With the defaults: no FLASHSALE_* override from the caller's environment.
compose() {
  env -u FLASHSALE_REDIS_MAXMEMORY -u FLASHSALE_REDIS_APPENDFSYNC -u FLASHSALE_SECRETS_DIR \
    docker-compose -f "$COMPOSE_FILE" "$@"
}
if ! compose config >"$WORK/config.yml" 2>"$WORK/config.err"; then
  cat "$WORK/config.err" >&2
  fail "docker-compose config rejects $COMPOSE_FILE"
  exit 1
fi
ok "docker-compose config accepts the file ($(docker-compose version --short))"
# As JSON, each volume as {type, source, target} (docker-compose 1.29 prints "SOURCE:TARGET:MODE").
python3 -c '
import json, sys, yaml
c = yaml.safe_load(sys.stdin)
for s in c["services"].values():
    v = []
    for x in s.get("volumes", []):
        if isinstance(x, str):
            p = x.split(":")
            x = {"type": "bind" if p[0].startswith("/") else "volume", "source": p[0], "target": p[1]}
        v.append(x)
    s["volumes"] = v
json.dump(c, sys.stdout)' <"$WORK/config.yml" >"$WORK/config.json"
cfg() { jq -r "$@" "$WORK/config.json"; }

# The flashsale services (the image of deploy/compose/Dockerfile), and those that keep running.
mapfile -t FS_SERVICES < <(cfg '.services | to_entries[] | select(.value.image | startswith("flashsale/server")) | .key')
mapfile -t FS_PROCESSES < <(cfg '.services | to_entries[] | select((.value.image | startswith("flashsale/server")) and (.value.command | index("--migrate-only") | not)) | .key')
say "flashsale services: ${FS_SERVICES[*]}; long-running: ${FS_PROCESSES[*]}"
((${#FS_PROCESSES[@]} >= 7)) || fail "expected at least 7 backend processes (api x2, worker, relay, payment, notify, scheduler), got ${#FS_PROCESSES[@]}"

# An override reaches Redis under the local stack's variable names.
FLASHSALE_REDIS_MAXMEMORY=1gb FLASHSALE_REDIS_APPENDFSYNC=always \
  docker-compose -f "$COMPOSE_FILE" config >"$WORK/override.yml"
check "FLASHSALE_REDIS_MAXMEMORY/APPENDFSYNC override the compose Redis as they do the local one" \
  grep -qE 'REDIS_MAXMEMORY: 1gb' "$WORK/override.yml"
grep -qE 'REDIS_APPENDFSYNC: always' "$WORK/override.yml" || fail "FLASHSALE_REDIS_APPENDFSYNC does not reach the redis service"

# ---- Redis: the real redis-server on the compose start script ------------------------------------

local_default() { # VAR: the default deploy/local/run gives VAR (VAR="${ENV:-default}")
  sed -n "s/^$1=\"\${[A-Z_]*:-\([^}]*\)}\"\$/\1/p" "$FS_ROOT/deploy/local/run" | head -n 1
}
LOCAL_MAXMEMORY="$(local_default REDIS_MAXMEMORY)"
LOCAL_FSYNC="$(local_default REDIS_FSYNC)"
[[ -n "$LOCAL_MAXMEMORY" && -n "$LOCAL_FSYNC" ]] || fail "cannot read the local stack's Redis defaults from deploy/local/run"
grep -q '"maxmemory-policy noeviction"' "$FS_ROOT/deploy/local/run" || fail "deploy/local/run no longer sets maxmemory-policy noeviction: compare again"
grep -q '"appendonly yes"' "$FS_ROOT/deploy/local/run" || fail "deploy/local/run no longer sets appendonly yes: compare again"
check "compose Redis maxmemory default ($(cfg .services.redis.environment.REDIS_MAXMEMORY)) = local stack's ($LOCAL_MAXMEMORY)" \
  test "$(cfg .services.redis.environment.REDIS_MAXMEMORY)" == "$LOCAL_MAXMEMORY"
check "compose Redis appendfsync default ($(cfg .services.redis.environment.REDIS_APPENDFSYNC)) = local stack's ($LOCAL_FSYNC)" \
  test "$(cfg .services.redis.environment.REDIS_APPENDFSYNC)" == "$LOCAL_FSYNC"

mkdir -p "$WORK/redis"
fs_random_hex 32 >"$WORK/redis_password"
fs_pick_port REDIS_PORT
REDIS_SECRET_FILE="$WORK/redis_password" REDIS_CONF_FILE="$WORK/redis.conf" \
  REDIS_DATA_DIR="$WORK/redis" REDIS_PORT="$REDIS_PORT" REDIS_BIND=127.0.0.1 \
  REDIS_MAXMEMORY="$(cfg .services.redis.environment.REDIS_MAXMEMORY)" \
  REDIS_APPENDFSYNC="$(cfg .services.redis.environment.REDIS_APPENDFSYNC)" \
  sh "$COMPOSE_DIR/redis/redis-start.sh" >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
healthy=0
for ((i = 0; i < 100; i++)); do
  if REDIS_SECRET_FILE="$WORK/redis_password" REDIS_PORT="$REDIS_PORT" \
    sh "$COMPOSE_DIR/redis/redis-healthcheck.sh" 2>/dev/null; then
    healthy=1
    break
  fi
  kill -0 "$REDIS_PID" 2>/dev/null || break
  sleep 0.1
done
if ((healthy)); then
  ok "redis-server runs on redis-start.sh's config and redis-healthcheck.sh sees it healthy"
  rcli() { REDISCLI_AUTH="$(cat "$WORK/redis_password")" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
  # The local stack's values, as redis-server reports them (maxmemory in bytes).
  want_bytes="$(redis_bytes() { case "$1" in *gb) echo $((${1%gb} * 1073741824)) ;; *mb) echo $((${1%mb} * 1048576)) ;; *) echo "$1" ;; esac } && redis_bytes "$LOCAL_MAXMEMORY")"
  check "Redis maxmemory = $want_bytes bytes" test "$(rcli config get maxmemory | tail -n 1)" == "$want_bytes"
  check "Redis maxmemory-policy = noeviction" test "$(rcli config get maxmemory-policy | tail -n 1)" == noeviction
  check "Redis appendonly = yes" test "$(rcli config get appendonly | tail -n 1)" == yes
  check "Redis appendfsync = $LOCAL_FSYNC" test "$(rcli config get appendfsync | tail -n 1)" == "$LOCAL_FSYNC"
  noauth="$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" set k v 2>&1 || true)"
  check "Redis refuses a client without the password ($noauth)" grep -q NOAUTH <<<"$noauth"
  check "redis.conf is mode 600" test "$(stat -c %a "$WORK/redis.conf")" == 600
  fs_kill_pid "$REDIS_PID" redis-server redis >/dev/null 2>&1 || true
  REDIS_PID=""
else
  cat "$WORK/redis.log" >&2
  fail "redis-server did not come up on redis-start.sh's config"
fi

# ---- PostgreSQL ------------------------------------------------------------------------------------

pg_local() { # NAME: the value deploy/lib/pg.sh writes to flashsale.conf
  sed -n "s/^ *echo \"$1 = \(.*\)\"\$/\1/p" "$FS_ROOT/deploy/lib/pg.sh" | tr -d "'" | head -n 1
}
for setting in fsync password_encryption; do
  want="$(pg_local "$setting")"
  got="$(cfg --arg s "$setting" '.services.postgres.command as $c | [range(0; $c | length) | select($c[.] == "-c") | $c[. + 1]] | map(select(startswith($s + "="))) | .[0] // "" | sub("^[^=]*="; "")')"
  check "PostgreSQL $setting: compose '$got' = local stack '$want'" test -n "$want" -a "$got" == "$want"
done
check "PostgreSQL: SCRAM for host and local logins" \
  test "$(cfg .services.postgres.environment.POSTGRES_HOST_AUTH_METHOD)" == scram-sha-256
check "PostgreSQL image is version 15 (Debian 12's)" grep -q '^postgres:15' <<<"$(cfg .services.postgres.image)"
check "processes log in as flashsale_app (sql/007_app_role.sql's member of flashsale_rw)" \
  test "$(cfg '.services.worker.environment.FLASHSALE_PG_URL')" == "postgresql://${FS_PG_APP_ROLE}@postgres:5432/flashsale"

# ---- flashsale-server flags ----------------------------------------------------------------------

if [[ -x "$SERVER_BIN" ]]; then
  "$SERVER_BIN" --help >"$WORK/help.txt"
  mapfile -t FLAGS < <(grep -oE -- '--[a-z0-9-]+' "$WORK/help.txt" | sort -u)
  # A here-string, not a pipe: grep -q exits at the first match, and under pipefail the printf
  # it leaves writing into a closed pipe (SIGPIPE) would fail the check.
  has_flag() { grep -qx -- "$1" <<<"$(printf '%s\n' "${FLAGS[@]}")"; }
  bad=0
  for svc in "${FS_SERVICES[@]}"; do
    while read -r arg; do
      has_flag "$arg" || {
        fail "$svc: flag $arg is not in flashsale-server --help"
        bad=1
      }
    done < <(cfg --arg s "$svc" '.services[$s].command[] | select(startswith("--"))')
    while read -r var; do
      [[ "$var" == FLASHSALE_PG_PASSWORD_FILE ]] && continue # the entrypoint's (checked below)
      flag="--$(tr 'A-Z_' 'a-z-' <<<"${var#FLASHSALE_}")"
      has_flag "$flag" || {
        fail "$svc: $var names no flag ($flag is not in flashsale-server --help)"
        bad=1
      }
    done < <(cfg --arg s "$svc" '.services[$s].environment // {} | keys[] | select(startswith("FLASHSALE_"))')
  done
  ((bad)) || ok "every flag and FLASHSALE_* variable of ${#FS_SERVICES[@]} services is accepted by $SERVER_BIN --help"
else
  fail "no built flashsale-server at $SERVER_BIN: cannot check the flags against --help (build first)"
fi
check "the image's entrypoint turns FLASHSALE_PG_PASSWORD_FILE into PGPASSFILE" \
  grep -q 'export PGPASSFILE=' "$COMPOSE_DIR/entrypoint.sh"

roles_run="$(cfg '[.services[] | select(.image | startswith("flashsale/server")) | .command as $c | range(0; $c | length) | select($c[.] == "--roles") | $c[. + 1]] | join(",")')"
for role in api worker relay payment notify scheduler; do
  check "role $role runs in some service" grep -qw "$role" <<<"$roles_run"
done
api_count="$(cfg '[.services[] | select(.command? // [] | (index("--roles") as $i | $i != null and .[$i + 1] == "api"))] | length')"
check "two API processes (nginx.conf's upstreams api1, api2): $api_count" test "$api_count" -ge 2

# ---- every process: admin listener, healthcheck, restart, scrape target ---------------------------

PROM="$COMPOSE_DIR/prometheus.yml"
targets="$(python3 -c 'import sys, yaml; c = yaml.safe_load(open(sys.argv[1]))
print("\n".join(t for j in c["scrape_configs"] if j["job_name"] == "flashsale" for s in j["static_configs"] for t in s["targets"]))' "$PROM")"
for svc in "${FS_PROCESSES[@]}"; do
  cmdline="$(cfg --arg s "$svc" '.services[$s].command | join(" ")')"
  [[ "$cmdline" == *"--metrics-listen 0.0.0.0"* && "$cmdline" == *"--metrics-port 9464"* ]] ||
    fail "$svc: no --metrics-listen 0.0.0.0 --metrics-port 9464 ($cmdline)"
  cfg --arg s "$svc" '.services[$s].healthcheck.test | join(" ")' | grep -qE ':9464/(healthz|readyz)' ||
    fail "$svc: no healthcheck on the admin listener's /healthz or /readyz"
  [[ "$(cfg --arg s "$svc" '.services[$s].restart')" == unless-stopped ]] || fail "$svc: restart is not unless-stopped"
  grep -qx "$svc:9464" <<<"$targets" || fail "$svc:9464 is not a target of job flashsale in prometheus.yml"
  grep -qv '^null$' <<<"$(cfg --arg s "$svc" '.services[$s].depends_on | to_entries[] | .value.condition')" ||
    fail "$svc: depends_on without conditions"
done
while read -r t; do
  grep -qx "${t%:9464}" <<<"$(printf '%s\n' "${FS_PROCESSES[@]}")" || fail "prometheus.yml scrapes $t, which is no backend service"
done <<<"$targets"
ok "${#FS_PROCESSES[@]} processes: admin listener on 9464, health-checked, restarted, scraped"

# ---- secrets ------------------------------------------------------------------------------------

bad=0
while IFS=$'\t' read -r svc key value; do
  if [[ "$key" =~ _FILE$ ]]; then
    name="${value#/run/secrets/}"
    if [[ "$value" != /run/secrets/* ]] ||
      ! cfg --arg s "$svc" --arg n "$name" '.services[$s].secrets // [] | map(.source) | index($n) != null' | grep -qx true; then
      fail "$svc: $key=$value is not a secret mounted in the service"
      bad=1
    fi
  elif [[ "$key" =~ (PASSWORD|TOKEN|SECRET|_KEY)$ ]]; then
    fail "$svc: $key holds a secret as a value; use ${key}_FILE"
    bad=1
  fi
done < <(cfg '.services | to_entries[] | .key as $s | (.value.environment // {}) | to_entries[] | [$s, .key, (.value // "" | tostring)] | @tsv')
for s in $(cfg '.secrets | keys[]'); do
  [[ "$(cfg --arg s "$s" '.secrets[$s].file')" == "$COMPOSE_DIR/secrets/"* ]] || {
    fail "secret $s is not under deploy/compose/secrets by default"
    bad=1
  }
done
if grep -RInE -- '--(admin-token|buyer-token-secret|redis-password|buyer-token-keys)( |$)' "$WORK/config.yml"; then
  fail "a secret flag appears in a command"
  bad=1
fi
grep -qx '\*' "$COMPOSE_DIR/secrets/.gitignore" || {
  fail "deploy/compose/secrets/.gitignore does not keep the secrets out of git"
  bad=1
}
((bad)) || ok "secrets only by file: every *_FILE names a mounted /run/secrets file, no secret value or flag"

# ---- nginx --------------------------------------------------------------------------------------

NGINX_SRC="$(cfg '.services.nginx.volumes[] | select(.target == "/etc/nginx/flashsale") | .source')"
nginx_conf="$(cfg '.services.nginx.command | index("-c") as $i | .[$i + 1]')"
nginx_conf_host="$NGINX_SRC/${nginx_conf#/etc/nginx/flashsale/}"
if [[ -f "$nginx_conf_host" ]]; then
  ok "nginx -c $nginx_conf is $nginx_conf_host"
  # Every include, recursively, resolves to a file of the mounted folder.
  bad=0
  declare -A seen=()
  queue=("$nginx_conf_host")
  while ((${#queue[@]})); do
    f=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n "${seen[$f]:-}" ]] && continue
    seen[$f]=1
    while read -r inc; do
      if [[ -f "$NGINX_SRC/$inc" ]]; then queue+=("$NGINX_SRC/$inc"); else
        fail "nginx: ${f##*/} includes $inc, missing in $NGINX_SRC"
        bad=1
      fi
    done < <(sed -n 's/^[[:space:]]*include[[:space:]]\+\([^;]*\);.*/\1/p' "$f")
  done
  ((bad)) || ok "nginx: ${#seen[@]} config files, every include exists"
  for d in ssl_certificate ssl_certificate_key; do
    path="$(sed -n "s/^[[:space:]]*$d[[:space:]]\+\([^;]*\);.*/\1/p" "$nginx_conf_host" | head -n 1)"
    check "nginx $d $path is a secret's target" \
      grep -qx "$path" <<<"$(cfg '.services.nginx.secrets[].target')"
  done
  for up in $(sed -n 's/^[[:space:]]*server[[:space:]]\+\([a-z0-9-]*\):8080.*/\1/p' "$nginx_conf_host"); do
    check "nginx upstream $up:8080 is an API service" grep -qx "$up" <<<"$(printf '%s\n' "${FS_PROCESSES[@]}")"
  done
  check "the API processes trust nginx's fixed address" test \
    "$(cfg '.services.api1.command | index("--trusted-proxies") as $i | .[$i + 1]')" == \
    "$(cfg '.services.nginx.networks.backend.ipv4_address')"
else
  fail "nginx config $nginx_conf_host (from -c $nginx_conf) does not exist"
fi

# ---- mounted files ----------------------------------------------------------------------------------

while IFS=$'\t' read -r svc src; do
  case "$src" in
    "$FS_ROOT/deploy/prometheus/rules" | "$FS_ROOT/deploy/grafana/"*)
      [[ -e "$src" ]] || say "SKIP: $svc mounts ${src#"$FS_ROOT"/}, not there yet (the rules part of issue 17 writes it)"
      ;;
    *) [[ -e "$src" ]] || fail "$svc mounts $src, which does not exist" ;;
  esac
done < <(cfg '.services | to_entries[] | .key as $s | (.value.volumes // [])[] | select(.type == "bind") | [$s, .source] | @tsv')

# ---- Prometheus -------------------------------------------------------------------------------------

check "prometheus.yml is mounted where --config.file points" test \
  "$(cfg '.services.prometheus.volumes[] | select(.target == "/etc/prometheus/prometheus.yml") | .source')" == "$PROM"
mkdir -p "$WORK/prom"
cp "$PROM" "$WORK/prom/prometheus.yml"
RULES="$FS_ROOT/deploy/prometheus/rules"
if [[ -d "$RULES" ]]; then
  ln -s "$RULES" "$WORK/prom/rules"
  if promtool check config "$WORK/prom/prometheus.yml" >"$WORK/promtool.out" 2>&1; then
    ok "promtool check config, with deploy/prometheus/rules: $(grep -c SUCCESS "$WORK/promtool.out") SUCCESS lines"
    grep -q 'rule files found' "$WORK/promtool.out" || fail "promtool found no rule files through rule_files"
  else
    cat "$WORK/promtool.out" >&2
    fail "promtool check config on deploy/compose/prometheus.yml"
  fi
else
  say "SKIP: deploy/prometheus/rules is absent (the rules part of issue 17 writes it): rule_files not checked"
  if promtool check config --syntax-only "$WORK/prom/prometheus.yml" >"$WORK/promtool.out" 2>&1; then
    ok "promtool check config --syntax-only on deploy/compose/prometheus.yml"
  else
    cat "$WORK/promtool.out" >&2
    fail "promtool check config --syntax-only on deploy/compose/prometheus.yml"
  fi
fi
check "the Prometheus image is the version of Debian's promtool ($(promtool --version 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p;q'))" \
  grep -q ":v$(promtool --version 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p;q')\$" <<<"$(cfg .services.prometheus.image)"

# ---- Grafana ---------------------------------------------------------------------------------------

DASH_TARGET="$(cfg '.services.grafana.volumes[] | select(.source | endswith("/grafana/dashboards")) | .target')"
shopt -s nullglob
providers=("$FS_ROOT"/deploy/grafana/provisioning/dashboards/*.y*ml)
if ((${#providers[@]})); then
  for p in "${providers[@]}"; do
    path="$(python3 -c 'import sys, yaml; print("\n".join(str(x.get("options", {}).get("path", "")) for x in yaml.safe_load(open(sys.argv[1])).get("providers", [])))' "$p")"
    check "Grafana provider ${p##*/} reads the mounted dashboards ($DASH_TARGET)" grep -qx "$DASH_TARGET" <<<"$path"
  done
else
  say "SKIP: no deploy/grafana/provisioning/dashboards/*.yml yet (the rules part writes it): its path is not compared with $DASH_TARGET"
fi

# ---- Kafka --------------------------------------------------------------------------------------

check "Kafka runs in KRaft mode (broker and controller, no ZooKeeper)" \
  test "$(cfg .services.kafka.environment.KAFKA_PROCESS_ROLES)" == "broker,controller"
mapfile -t app_topics < <(sed -n 's/.*constexpr const char \*kOrder[A-Za-z]* = "\([^"]*\)";.*/\1/p' "$FS_ROOT/shared/kafka/kafkaclient.h" | sort)
script_topics="$(sed -n 's/^for topic in \(.*\); do$/\1/p' "$COMPOSE_DIR/kafka-topics.sh" | tr ' ' '\n' | sort)"
check "kafka-init creates the topics of kafkaclient.h (${app_topics[*]})" \
  test "$(printf '%s\n' "${app_topics[@]}")" == "$script_topics" -a "${#app_topics[@]}" -eq 3

# ---- the image ----------------------------------------------------------------------------------

DOCKERFILE="$FS_ROOT/$(cfg .services.migrate.build.dockerfile)"
check "the Dockerfile builds on Debian 12" grep -qE '^FROM debian:bookworm' "$DOCKERFILE"
check "the Dockerfile installs lib.sh --print-packages (the one list)" \
  grep -q 'bash deploy/local/lib.sh --print-packages' "$DOCKERFILE"
check "lib.sh --print-packages prints FS_PACKAGES" \
  test "$(bash "$FS_ROOT/deploy/local/lib.sh" --print-packages)" == "$(printf '%s\n' "${FS_PACKAGES[@]}")"
check "the runtime stage runs as a non-root user" grep -qE '^USER flashsale' "$DOCKERFILE"
check "the Dockerfile has a build and a runtime stage" test "$(grep -c '^FROM ' "$DOCKERFILE")" -ge 2
if [[ -x "$SERVER_BIN" ]]; then
  if pkgs="$(bash "$COMPOSE_DIR/runtime-packages.sh" "$SERVER_BIN")"; then
    check "runtime-packages.sh names the Qt, hiredis, libpq, librdkafka and libsodium packages ($(wc -l <<<"$pkgs") packages)" \
      bash -c 'for p in libqt6core6 libqt6network6 libqt6httpserver6 libqt6websockets6 libhiredis0.14 libpq5 librdkafka1 libsodium23; do grep -qx "$p" <<<"$1" || exit 1; done' _ "$pkgs"
  else
    fail "runtime-packages.sh cannot resolve the libraries of $SERVER_BIN"
  fi
fi

if ((FAILS)); then
  say "$FAILS check(s) failed"
  exit 1
fi
say "all checks passed (no Docker engine: nothing was built or started)"
