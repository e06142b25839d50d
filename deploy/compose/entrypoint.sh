#!/usr/bin/env bash
# deploy/compose/entrypoint.sh - the flashsale image's entrypoint: hands PostgreSQL's password
# to libpq, then runs the command (flashsale-server ...).
#
# flashsale-server reads its own secrets from files named by FLASHSALE_<FLAG>_FILE (the
# admin token, the buyer-token key, the Redis password); PostgreSQL's password reaches libpq as a
# PGPASSFILE, which libpq ignores unless it is mode 600 and owned by the reader. A compose secret
# is a bind mount that keeps the host file's owner and mode, so the image takes the password
# from the plain file FLASHSALE_PG_PASSWORD_FILE names and writes a PGPASSFILE of its own (mode
# 600, in $TMPDIR: a tmpfs in docker-compose.yml), for any host, port, database and user.
set -euo pipefail

if [[ -n "${FLASHSALE_PG_PASSWORD_FILE:-}" ]]; then
  password=""
  IFS= read -r password <"$FLASHSALE_PG_PASSWORD_FILE" || true
  [[ -n "$password" ]] || {
    echo "flashsale-entrypoint: $FLASHSALE_PG_PASSWORD_FILE is empty" >&2
    exit 1
  }
  # pgpass escapes ':' and '\' with a backslash.
  password=${password//\\/\\\\}
  password=${password//:/\\:}
  dir="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-pg.XXXXXX")"
  (umask 077 && printf '*:*:*:*:%s\n' "$password" >"$dir/pgpass")
  export PGPASSFILE="$dir/pgpass"
  unset FLASHSALE_PG_PASSWORD_FILE password
fi

exec "$@"
