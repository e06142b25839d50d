#!/bin/sh
# deploy/compose/redis/redis-healthcheck.sh - healthy when Redis answers an authenticated PING
# (the password reaches redis-cli in REDISCLI_AUTH, never -a).
set -eu
REDISCLI_AUTH="$(cat /run/secrets/redis_password)"
export REDISCLI_AUTH
[ "$(redis-cli -h 127.0.0.1 -p 6379 ping)" = PONG ]
