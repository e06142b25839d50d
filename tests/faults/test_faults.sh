#!/usr/bin/env bash
# The fault matrix, small: deploy/bench/faults --quick runs every case (kill -9 of an API
# process, the worker, the relay and the payment service; Redis kill -9 with AOF everysec and
# always; the fsync cost; PostgreSQL restarts fast and immediate; Kafka produce errors and a
# broker down; Redis frozen 2 s) against private stacks on free loopback ports, and fails when a
# case loses or duplicates a booking or breaks an invariant (flashsale-bench check).
#
# CTest sets FLASHSALE_SERVER_BIN; the other binaries (flashsale-bench, flashsale-kafka-mock) are
# beside it. PostgreSQL: a database in the cluster of FLASHSALE_TEST_PG_URL (deploy/local/test
# exports it), plus clusters of its own for the restart cases. Everything it starts is stopped
# and removed when it ends, also on failure or timeout (a watchdog covers SIGKILL).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
if [[ -n "${FLASHSALE_SERVER_BIN:-}" ]]; then
  FSB_BUILD_DIR="$(cd "$(dirname "$FLASHSALE_SERVER_BIN")/.." && pwd -P)"
  export FSB_BUILD_DIR
fi
exec "$ROOT/deploy/bench/faults" --quick "$@"
