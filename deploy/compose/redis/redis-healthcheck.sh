#!/bin/sh
# deploy/compose/redis/redis-healthcheck.sh - healthy when Redis answers an authenticated PING
# (the password reaches redis-cli in REDISCLI_AUTH, never -a).
set -eu
REDISCLI_AUTH="$(cat "${REDIS_SECRET_FILE:-/run/secrets/redis_password}")"
export REDISCLI_AUTH
[ "$(redis-cli -h 127.0.0.1 -p "${REDIS_PORT:-6379}" ping)" = PONG ]
