# shellcheck shell=bash
# tests/support/checks.sh - the tally of a bash test: each check says ok or FAILED on stderr,
# prefixed with the test's tag, and `finish` prints "N passed, M failed" and fails when any
# check failed. Source it after setting CHECKS_TAG (e.g. CHECKS_TAG=pgha-test).

PASSED=0
FAILED=0
say() { printf '[%s] %s\n' "${CHECKS_TAG:-test}" "$*" >&2; }
pass() {
  say "ok: $1"
  PASSED=$((PASSED + 1))
}
fail() {
  say "FAILED: $1"
  FAILED=$((FAILED + 1))
}
finish() {
  say "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
}
