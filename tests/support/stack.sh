# shellcheck shell=bash disable=SC2034 # the variables it sets are for the test that sources it
# tests/support/stack.sh - what a shell test that starts its own servers sets up the same way each
# time, sourced after deploy/local/lib.sh: the server binary, the secured stores (as
# deploy/local/run runs them: Redis with a password, PostgreSQL with SCRAM and the application
# role, every secret a mode-600 file), and the end of the test's folder.

# fs_test_server_bin - FS_SERVER_BIN from FLASHSALE_SERVER_BIN (CTest sets it) or the build.
fs_test_server_bin() {
  if [[ -n "${FLASHSALE_SERVER_BIN:-}" ]]; then
    FS_SERVER_BIN=$FLASHSALE_SERVER_BIN
  else
    fs_resolve_server_bin || fs_die "no flashsale-server; build first or set FLASHSALE_SERVER_BIN"
  fi
  [[ -x "$FS_SERVER_BIN" ]] || fs_die "$FS_SERVER_BIN is not executable"
}

# fs_test_stores DIR LOGS - in DIR: the secrets, redis-server (--auth, no persistence, 64 MB,
# noeviction) and a PostgreSQL cluster (scram) with the database flashsale migrated and the
# application role set up. Sets TOKEN_FILE, BUYER_SECRET_FILE, PG_PASSFILE, TOKEN, REDIS_PORT,
# REDIS_URL, PG_PORT, PG_ADMIN_URL, PG_OWNER_URL, PG_URL, PG_STARTED=1 (once PostgreSQL is
# started: the caller's cleanup stops it with fs_pg_stop DIR) and SERVER_ENV, the secrets every
# server gets as files named in its environment (fs_server_start's leading NAME=VALUE words).
fs_test_stores() {
  local dir=$1 logs=$2
  TOKEN_FILE="$dir/admin-token"
  BUYER_SECRET_FILE="$dir/buyer-token-secret"
  PG_PASSFILE="$dir/pg-app.pgpass"
  (umask 077 && fs_random_hex 16 >"$TOKEN_FILE" && fs_random_hex 32 >"$BUYER_SECRET_FILE")
  TOKEN="$(cat "$TOKEN_FILE")"

  fs_pick_port REDIS_PORT
  fs_redis_start "$dir" "$REDIS_PORT" --auth 'save ""' "appendonly no" "maxmemory 64mb" \
    "maxmemory-policy noeviction" || fs_die "redis-server did not start"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

  PG_PORT=""
  PG_STARTED=1
  fs_pg_start "$dir" PG_PORT "" scram
  PG_ADMIN_URL="$(fs_pg_admin_url "$PG_PORT" "$(fs_pg_socket_dir "$dir")")"
  fs_pg_db_create "$PG_ADMIN_URL" flashsale || fs_die "CREATE DATABASE flashsale failed"
  PG_OWNER_URL="$(fs_pg_db_url "$PG_ADMIN_URL" flashsale)"
  PG_URL="$(fs_pg_app_url "$PG_PORT" flashsale)"

  SERVER_ENV=(
    "FLASHSALE_ADMIN_TOKEN_FILE=$TOKEN_FILE"
    "FLASHSALE_BUYER_TOKEN_SECRET_FILE=$BUYER_SECRET_FILE"
    "FLASHSALE_REDIS_PASSWORD_FILE=$(fs_redis_password_file "$dir")"
    "PGPASSFILE=$PG_PASSFILE"
  )
  fs_server_migrate "$logs/migrate.log" "$PG_OWNER_URL" "$REDIS_URL" "${SERVER_ENV[@]}" ||
    fs_die "migrations failed"
  fs_pg_app_role "$PG_ADMIN_URL" "$PG_PASSFILE" || fs_die "the application role could not be set up"
}

# fs_test_dir_done DIR RC T0 - the end of a test's cleanup: keep DIR when
# FLASHSALE_KEEP_TEST_DIR=1 (its logs), else remove it; say how long the test took (the caller's
# `say`).
fs_test_dir_done() {
  local dir=$1 rc=$2 t0=$3
  if [[ "${FLASHSALE_KEEP_TEST_DIR:-}" == 1 ]]; then
    say "kept $dir"
  else
    rm -rf "$dir"
  fi
  say "finished in $((SECONDS - t0)) s (exit $rc)"
}
