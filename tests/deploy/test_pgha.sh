#!/usr/bin/env bash
# deploy/local/run --pg-ha's PostgreSQL (deploy/lib/pgha.sh, docs/PG_HA.md) in a folder of its own:
# pg_auto_failover's monitor reports a primary and two secondaries; the primary commits with a
# quorum of one synchronous standby out of two (synchronous_standby_names = 'ANY 1 (...)', both
# standbys streaming in sync_state quorum); a row written through the libpq multi-host URL
# (target_session_attrs=read-write) is on the primary and reaches both standbys; the application
# role needs its SCRAM password; and stopping leaves no process behind. About 30 s.
#
# Prints "N passed, M failed" and exits 1 on any failure.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
fs_trap_errors
fs_require_commands pg_autoctl pg_ctl psql jq

# The postgres user (we may be root) must reach the folder.
DIR="$(mktemp -d /tmp/flashsale-pgha-test.XXXXXX)"
chmod 755 "$DIR"
trap 'fs_pgha_stop "$DIR"; rm -rf "$DIR"' EXIT

CHECKS_TAG=pgha-test
# shellcheck source=tests/support/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"

# 1. The formation comes up: one primary, two secondaries, each in its assigned state.
if ! fs_pgha_start "$DIR"; then
  fail "fs_pgha_start"
  finish
  exit 1
fi
fs_pgha_as "$DIR" pg_autoctl show state --pgdata "$DIR/pg-ha/monitor" >&2 || true
STATE="$(fs_pgha_state "$DIR")"
if jq -e 'map(select(.current_group_state == "primary" and .assigned_group_state == "primary")) | length == 1' \
  <<<"$STATE" >/dev/null && jq -e 'map(select(.current_group_state == "secondary" and
    .assigned_group_state == "secondary")) | length == 2' <<<"$STATE" >/dev/null; then
  pass "pg_autoctl show state: one primary, two secondaries"
else
  fail "pg_autoctl show state: not one primary and two secondaries: $STATE"
fi
PRIMARY="$(jq -r '.[] | select(.current_group_state == "primary") | .nodeport' <<<"$STATE")"
mapfile -t STANDBYS < <(jq -r '.[] | select(.current_group_state == "secondary") | .nodeport' <<<"$STATE")

# 1b. The failover timing (fs_pgha_tune): the monitor's demotion wait and every keeper's
#     network-partition timeout are the ones docs/PG_HA.md gives, the second below the first.
DEMOTE="$(fs_pgha_as "$DIR" "$(fs_pg_bin)/psql" -X -At -h /var/run/postgresql \
  -p "$(fs_pgha_port "$DIR" monitor)" -d pg_auto_failover \
  -c "SHOW pgautofailover.primary_demote_timeout" </dev/null 2>/dev/null || true)"
PARTITION="$(fs_pgha_as "$DIR" pg_autoctl config get --pgdata "$DIR/pg-ha/node2" \
  timeout.network_partition_timeout </dev/null 2>/dev/null || true)"
if [[ "$DEMOTE" == 8s && "$PARTITION" == "$FS_PGHA_NETWORK_PARTITION_TIMEOUT_S" ]] &&
  ((PARTITION * 1000 < 8000)); then
  pass "failover timing: primary_demote_timeout $DEMOTE, network_partition_timeout ${PARTITION} s"
else
  fail "failover timing: primary_demote_timeout '$DEMOTE', network_partition_timeout '$PARTITION'"
fi

# 2. Synchronous quorum commit on the primary: ANY 1 of the two standbys, both in sync_state
#    quorum and streaming.
SSN="$(fs_pgha_sql "$DIR" "$PRIMARY" "SHOW synchronous_standby_names" || true)"
if [[ "$SSN" =~ ^ANY\ 1\ \(.+,.+\)$ ]]; then
  pass "synchronous_standby_names = '$SSN'"
else
  fail "synchronous_standby_names is '$SSN', not ANY 1 (two standbys)"
fi
REPL="$(fs_pgha_sql "$DIR" "$PRIMARY" "SELECT sync_state || ' ' || state FROM pg_stat_replication ORDER BY 1" || true)"
if [[ "$REPL" == $'quorum streaming\nquorum streaming' ]]; then
  pass "both standbys stream in sync_state quorum"
else
  fail "pg_stat_replication on the primary: '$REPL'"
fi

# 3. A write through the multi-host URL lands on the primary, and each standby has it.
URL="$(fs_pgha_url "$DIR" flashsale flashsale)"
GOT="$(fs_psql "$URL" -At -c "CREATE TABLE ha_probe (v text)" \
  -c "INSERT INTO ha_probe VALUES ('committed')" -c "SELECT inet_server_port()" || true)"
if [[ "$GOT" == "$PRIMARY" ]]; then
  pass "the read-write URL reaches the primary (port $PRIMARY) and commits"
else
  fail "a write through $URL answered '$GOT', not the primary's port $PRIMARY"
fi
for port in "${STANDBYS[@]}"; do
  seen=""
  # Committed means flushed on one standby at least; wait for it to be replayed on each.
  for ((i = 0; i < 100; i++)); do
    seen="$(fs_pgha_sql "$DIR" "$port" "SELECT v FROM ha_probe" || true)"
    [[ "$seen" == committed ]] && break
    sleep 0.1
  done
  if [[ "$seen" == committed && "$(fs_pgha_sql "$DIR" "$port" "SELECT pg_is_in_recovery()")" == t ]]; then
    pass "standby $port has the committed row (read-only, in recovery)"
  else
    fail "standby $port: row '$seen'"
  fi
done

# 4. The application role logs in with its SCRAM password only.
PASSFILE="$DIR/app.pgpass"
if fs_pg_app_role "$URL" "$PASSFILE"; then
  APP_URL="$(fs_pgha_url "$DIR" "$FS_PG_APP_ROLE" flashsale)"
  if [[ "$(PGPASSFILE=$PASSFILE fs_psql "$APP_URL" -At -c "SELECT current_user" || true)" == "$FS_PG_APP_ROLE" ]]; then
    pass "$FS_PG_APP_ROLE logs in with its password (PGPASSFILE)"
  else
    fail "$FS_PG_APP_ROLE could not log in with its password"
  fi
  if OUT="$(PGPASSFILE=/dev/null fs_psql "$APP_URL" -At -c "SELECT 1" 2>&1)"; then
    fail "$FS_PG_APP_ROLE logged in without a password"
  elif grep -q 'password' <<<"$OUT"; then
    pass "$FS_PG_APP_ROLE without a password is refused"
  else
    fail "$FS_PG_APP_ROLE without a password: unexpected error: $OUT"
  fi
else
  fail "creating $FS_PG_APP_ROLE"
fi

# 5. Stopping leaves no pg_autoctl or postgres of the folder.
fs_pgha_stop "$DIR"
LEFT="$(pgrep -af -- "$DIR/pg-ha" || true)"
if [[ -z "$LEFT" ]]; then
  pass "fs_pgha_stop leaves no process behind"
else
  fail "left running after fs_pgha_stop: $LEFT"
fi

finish
