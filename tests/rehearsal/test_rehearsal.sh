#!/usr/bin/env bash
# The three seed scenarios, smaller: deploy/bench/rehearsal --quick runs the 11.11 drop (100,000
# users at the opening instant, stock 10), the hourly sale (1,000 items, 10,000 users through the
# checkout-code flow, 10 per user) and ticketing (stock 500, 3,000 users, 10% declined, 5 s holds,
# the payment provider down for 8 s), each on a private stack of real servers, and fails when
# flashsale-bench check finds an invariant broken or a scenario's claim missed.
#
# CTest sets FLASHSALE_SERVER_BIN; flashsale-bench and flashsale-ctl are beside it. PostgreSQL: a
# database in the cluster of FLASHSALE_TEST_PG_URL (deploy/local/test exports it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
if [[ -n "${FLASHSALE_SERVER_BIN:-}" ]]; then
  FSB_BUILD_DIR="$(cd "$(dirname "$FLASHSALE_SERVER_BIN")/.." && pwd -P)"
  export FSB_BUILD_DIR
fi
exec "$ROOT/deploy/bench/rehearsal" --quick "$@"
