#!/bin/sh
# deploy/compose/postgres/app-role.sh - the pg-app-role service (image postgres:15): after the
# migrations, make flashsale_app the application's login role with the password of the
# pg_app_password secret, exactly as the local stack's fs_pg_app_role (deploy/lib/pg.sh) does:
# no superuser, no CREATEDB/CREATEROLE, a member of flashsale_rw (sql/007_app_role.sql grants
# flashsale_rw its privileges). Runs on every `docker-compose up`, so a changed secret becomes the
# role's password. It connects as the superuser flashsale (pg_superuser_password) over TCP; the
# passwords travel on psql's stdin and in PGPASSFILE, never in argv.
set -eu

superuser_password="$(cat /run/secrets/pg_superuser_password)"
app_password="$(cat /run/secrets/pg_app_password)"
[ -n "$superuser_password" ] && [ -n "$app_password" ] || {
  echo "app-role: a PostgreSQL password secret is empty" >&2
  exit 1
}
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
umask 077
# pgpass: ':' and '\' escaped with a backslash.
printf 'postgres:5432:*:flashsale:%s\n' \
  "$(printf '%s' "$superuser_password" | sed -e 's/\\/\\\\/g' -e 's/:/\\:/g')" >"$dir/pgpass"
export PGPASSFILE="$dir/pgpass"
# SQL string literal: single quotes doubled.
app_sql="$(printf '%s' "$app_password" | sed "s/'/''/g")"
psql -X -q -v ON_ERROR_STOP=1 -h postgres -p 5432 -U flashsale -d flashsale -f - <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'flashsale_rw') THEN
    CREATE ROLE flashsale_rw NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'flashsale_app') THEN
    CREATE ROLE flashsale_app LOGIN;
  END IF;
END
\$\$;
SET log_statement = 'none';
ALTER ROLE flashsale_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD '$app_sql';
GRANT flashsale_rw TO flashsale_app;
SQL
echo "app-role: flashsale_app is set up"
