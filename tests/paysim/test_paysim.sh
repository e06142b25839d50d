#!/usr/bin/env bash
# flashsale-paysim against curl and jq: the provider simulator's HTTP API as the payment
# service's adapter will see it (backend/flashsale-paysim/paysimserver.h, docs/PAYSIM.md). Starts
# its own simulators (FLASHSALE_PAYSIM_BIN, set by CTest) on free loopback ports with
# deploy/lib/paysim.sh, and stops them.
#   - idempotency: a replayed key answers the first answer and charges nothing more; the same key
#     with another body is 409 idempotency-mismatch; no key is 400
#   - declines: 1,000 orders at 20% decline within 4.5 standard deviations of 200, and each
#     outcome exactly the one Ledger::declines predicts for the seed (recomputed here in Python)
#   - refunds: once per payment, never of a declined one, idempotent with a key
#   - the ledger's counts match what was answered
#   - malformed input of every kind is problem+json with the right status
#   - 429 with Retry-After over the rate limit, and a 429 is not remembered for its key
#   - 503 with Retry-After during an outage (by flag and by POST /admin/outage), then recovery
#   - latency: every answer takes at least --latency-ms, and ten concurrent requests are not
#     served one after the other
#   - the ledger cap (507 ledger-full) and the body limit (413)
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
fs_trap_errors
fs_require_commands curl jq python3

FS_PAYSIM_BIN=${FLASHSALE_PAYSIM_BIN:-$FS_PAYSIM_BIN}

say() { printf '[paysim] %s\n' "$*" >&2; }
FAILS=0
check() { # check NAME EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then
    say "ok   $1"
  else
    say "FAIL $1: expected '$2', got '$3'"
    FAILS=$((FAILS + 1))
  fi
}
check_true() { # check_true NAME CONDITION-STATUS(0 = true) DETAIL
  if [[ "$2" == 0 ]]; then say "ok   $1"; else
    say "FAIL $1: $3"
    FAILS=$((FAILS + 1))
  fi
}

# The simulators' state folder (deploy/lib/paysim.sh: HOME/NAME.pid, HOME/NAME.url, HOME/logs).
DIR="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-paysim.XXXXXX")"
NAMES=()
cleanup() {
  local name
  for name in "${NAMES[@]}"; do fs_paysim_stop "$DIR" "$name"; done
  rm -rf "$DIR"
}
trap cleanup EXIT

# start NAME FLAGS...: starts a simulator and sets URL to its base URL.
start() {
  local name=$1
  NAMES+=("$name")
  fs_paysim_start "$DIR" "$@" || fs_die "the simulator $name did not start"
  URL=$FS_PAYSIM_URL
}

# req METHOD URL [BODY] [KEY]: prints the status; the body is in $DIR/body, the headers in
# $DIR/head.
req() {
  local args=(-s -X "$1" -o "$DIR/body" -D "$DIR/head" -w '%{http_code}')
  [[ $# -ge 3 && -n "$3" ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  [[ $# -ge 4 ]] && args+=(-H "Idempotency-Key: $4")
  curl "${args[@]}" "$2"
}
header() { tr -d '\r' <"$DIR/head" | awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$1")" \
  'BEGIN{FS=": "} tolower($1)==h {print $2}'; }
field() { jq -r "$@" <"$DIR/body"; }
pay() { printf '{"order_id":"%s","amount_cents":%s,"currency":"eur"}' "$1" "${2:-1999}"; }

# ---- idempotency, declines, refunds, ledger, malformed input ----
start main --seed 7 --decline-percent 20
MAIN=$URL

# An order that succeeds and one that declines, as the seed decides.
read -r OK_ORDER BAD_ORDER < <(
  python3 - <<'PY'
def declines(seed, order, pct):
    h = 14695981039346656037
    for b in f"{seed}:{order}".encode():
        h ^= b
        h = (h * 1099511628211) % 2**64
    return h % 10000 < pct * 100
ok = next(f"o-{i}" for i in range(1000) if not declines(7, f"o-{i}", 20))
bad = next(f"o-{i}" for i in range(1000) if declines(7, f"o-{i}", 20))
print(ok, bad)
PY
)

check "payment succeeds: 201" 201 "$(req POST "$MAIN/v1/payments" "$(pay "$OK_ORDER")" k-ok)"
FIRST=$(cat "$DIR/body")
PAY_ID=$(field .id)
check "payment status" succeeded "$(field .status)"
check "replay: 201 again" 201 "$(req POST "$MAIN/v1/payments" "$(pay "$OK_ORDER")" k-ok)"
check "replay: the same body" "$FIRST" "$(cat "$DIR/body")"
check "replay: Idempotent-Replayed" true "$(header Idempotent-Replayed)"
check "mismatch: 409" 409 "$(req POST "$MAIN/v1/payments" "$(pay "$OK_ORDER" 2500)" k-ok)"
check "mismatch: problem+json" application/problem+json "$(header Content-Type)"
check "mismatch: type" /problems/idempotency-mismatch "$(field .type)"
check "no key: 400" 400 "$(req POST "$MAIN/v1/payments" "$(pay "$OK_ORDER")")"
check "no key: type" /problems/idempotency-key-required "$(field .type)"
check "declined: 402" 402 "$(req POST "$MAIN/v1/payments" "$(pay "$BAD_ORDER")" k-bad)"
check "declined: problem+json" application/problem+json "$(header Content-Type)"
check "declined: the payment" declined "$(field .payment.status)"
DECLINED_ID=$(field .payment.id)
check "declined replay: 402" 402 "$(req POST "$MAIN/v1/payments" "$(pay "$BAD_ORDER")" k-bad)"
check "ledger after replays: 2 payments" 2 "$(req GET "$MAIN/ledger" >/dev/null && field .payments)"

check "get payment: 200" 200 "$(req GET "$MAIN/v1/payments/$PAY_ID")"
check "get payment: order" "$OK_ORDER" "$(field .order_id)"
check "get unknown payment: 404" 404 "$(req GET "$MAIN/v1/payments/pay_999999")"
check "list by order: one" 1 "$(req GET "$MAIN/v1/payments?order_id=$OK_ORDER" >/dev/null && field '.data | length')"

# Refunds
check "refund: 201" 201 "$(req POST "$MAIN/v1/refunds" "{\"payment_id\":\"$PAY_ID\"}" r-1)"
REFUND=$(cat "$DIR/body")
check "refund: of the payment" "$PAY_ID" "$(field .payment_id)"
check "refund replay: same refund" "$REFUND" "$(req POST "$MAIN/v1/refunds" "{\"payment_id\":\"$PAY_ID\"}" r-1 >/dev/null && cat "$DIR/body")"
check "refund again, new key: 409" 409 "$(req POST "$MAIN/v1/refunds" "{\"payment_id\":\"$PAY_ID\"}" r-2)"
check "refund again: type" /problems/charge-already-refunded "$(field .type)"
check "refund of a declined payment: 409" 409 "$(req POST "$MAIN/v1/refunds" "{\"payment_id\":\"$DECLINED_ID\"}")"
check "refund of a declined payment: type" /problems/payment-not-refundable "$(field .type)"
check "refund of no payment: 404" 404 "$(req POST "$MAIN/v1/refunds" '{"payment_id":"pay_424242"}')"
check "payment now refunded" refunded "$(req GET "$MAIN/v1/payments/$PAY_ID" >/dev/null && field .status)"

# Malformed input: status and type of each
while IFS='|' read -r name method path body key status type; do
  got=$(req "$method" "$MAIN$path" "$body" "$key")
  check "malformed $name: $status" "$status" "$got"
  check "malformed $name: problem+json" application/problem+json "$(header Content-Type)"
  check "malformed $name: type" "$type" "$(field .type)"
done <<'EOF_CASES'
not json|POST|/v1/payments|{"order_id":|m1|400|/problems/invalid-request
an array|POST|/v1/payments|[1,2]|m2|400|/problems/invalid-request
no order|POST|/v1/payments|{"amount_cents":5,"currency":"eur"}|m3|400|/problems/invalid-request
amount a string|POST|/v1/payments|{"order_id":"x","amount_cents":"5","currency":"eur"}|m4|400|/problems/invalid-request
amount zero|POST|/v1/payments|{"order_id":"x","amount_cents":0,"currency":"eur"}|m5|400|/problems/invalid-request
amount fractional|POST|/v1/payments|{"order_id":"x","amount_cents":1.5,"currency":"eur"}|m6|400|/problems/invalid-request
currency two letters|POST|/v1/payments|{"order_id":"x","amount_cents":5,"currency":"eu"}|m7|400|/problems/invalid-request
unknown member|POST|/v1/payments|{"order_id":"x","amount_cents":5,"currency":"eur","x":1}|m8|400|/problems/invalid-request
key with a space|POST|/v1/payments|{"order_id":"x","amount_cents":5,"currency":"eur"}|a b|400|/problems/idempotency-key-required
refund without payment|POST|/v1/refunds|{}||400|/problems/invalid-request
list with limit 0|GET|/v1/payments?limit=0|||400|/problems/invalid-request
list after no payment|GET|/v1/payments?starting_after=pay_999999|||400|/problems/invalid-request
unknown path|GET|/v1/charges|||404|/problems/not-found
wrong method|DELETE|/v1/payments|||405|/problems/method-not-allowed
outage not a number|POST|/admin/outage|{"seconds":"x"}||400|/problems/invalid-request
EOF_CASES
req POST "$MAIN/v1/payments" '{"order_id":"x","amount_cents":"5","currency":"eur"}' m9 >/dev/null
check "malformed: errors name the member" /amount_cents "$(field '.errors[0].pointer')"
check "malformed input charged nothing" 2 "$(req GET "$MAIN/ledger" >/dev/null && field .payments)"

# 1,000 orders at 20%: one curl, one connection, statuses in order.
CFG="$DIR/orders.curl"
: >"$CFG"
for i in $(seq 0 999); do
  [[ $i -gt 0 ]] && echo next >>"$CFG"
  printf 'url = "%s/v1/payments"\nrequest = POST\nheader = "Content-Type: application/json"\nheader = "Idempotency-Key: bulk-%d"\ndata = "{\\"order_id\\":\\"bulk-%d\\",\\"amount_cents\\":100,\\"currency\\":\\"eur\\"}"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nsilent\n' \
    "$MAIN" "$i" "$i" >>"$CFG"
done
curl -K "$CFG" >"$DIR/statuses"
D=$(grep -c '^402$' "$DIR/statuses" || true)
S=$(grep -c '^201$' "$DIR/statuses" || true)
check "1,000 orders: every answer 201 or 402" 1000 "$((D + S))"
# sd = sqrt(1000 * 0.2 * 0.8) = 12.6; 4.5 sd = 57
R=0
[[ $D -ge 143 && $D -le 257 ]] || R=1
check_true "decline rate: $D of 1,000 within 200 +- 57" "$R" "$D declines"
PRED=$(
  python3 - <<'PY'
def declines(seed, order, pct):
    h = 14695981039346656037
    for b in f"{seed}:{order}".encode():
        h ^= b
        h = (h * 1099511628211) % 2**64
    return h % 10000 < pct * 100
for i in range(1000):
    print(402 if declines(7, f"bulk-{i}", 20) else 201)
PY
)
check "each outcome as the seed predicts" "$PRED" "$(cat "$DIR/statuses")"

req GET "$MAIN/ledger" >/dev/null
check "ledger: payments" 1002 "$(field .payments)"
check "ledger: declined" "$((D + 1))" "$(field .declined)"
check "ledger: succeeded" "$S" "$(field .succeeded)"
check "ledger: refunded" 1 "$(field .refunded)"
check "ledger: refunds" 1 "$(field .refunds)"
check "ledger: entries" 1003 "$(field '.entries | length')"
check "ledger: no order charged twice" 0 \
  "$(field '[.entries[] | select(.object == "payment" and .status != "declined") | .order_id] | group_by(.) | map(select(length > 1)) | length')"

check "ledger: orders charged more than once, none" 0 "$(field '.orders_charged_more_than_once | length')"

# Listing every payment a page at a time (provider reconciliation): 1,002 payments in pages of
# 400 are 400 + 400 + 202, oldest first, each carrying its idempotency key, the last without more.
check "list page 1: 200" 200 "$(req GET "$MAIN/v1/payments?limit=400")"
check "list page 1: 400 payments, more" "400 true pay_1 k-ok" \
  "$(field '"\(.data | length) \(.has_more) \(.data[0].id) \(.data[0].idempotency_key)"')"
AFTER=$(field '.data[-1].id')
check "list page 2: 400, more" "400 true" \
  "$(req GET "$MAIN/v1/payments?limit=400&starting_after=$AFTER" >/dev/null && field '"\(.data | length) \(.has_more)"')"
AFTER=$(field '.data[-1].id')
check "list page 3: the last 202" "202 false pay_1002" \
  "$(req GET "$MAIN/v1/payments?limit=400&starting_after=$AFTER" >/dev/null && field '"\(.data | length) \(.has_more) \(.data[-1].id)"')"
check "list over the maximum: 400" 400 "$(req GET "$MAIN/v1/payments?limit=1001")"
check "refund names its order" "$OK_ORDER" \
  "$(req GET "$MAIN/ledger" >/dev/null && field '[.entries[] | select(.object == "refund")][0].order_id')"
# A second key for an order charges it again: the simulator records it, as a provider would.
req POST "$MAIN/v1/payments" "$(pay "$OK_ORDER")" k-ok-again >/dev/null
check "ledger: the order charged twice is named" "[\"$OK_ORDER\"]" \
  "$(req GET "$MAIN/ledger" >/dev/null && field -c .orders_charged_more_than_once)"

# ---- 429 with Retry-After ----
start limited --rate-limit-per-s 5
LIMITED=$URL
CFG="$DIR/burst.curl"
: >"$CFG"
for i in $(seq 0 19); do
  [[ $i -gt 0 ]] && echo next >>"$CFG"
  printf 'url = "%s/v1/payments"\nrequest = POST\nheader = "Content-Type: application/json"\nheader = "Idempotency-Key: burst-%d"\ndata = "{\\"order_id\\":\\"burst-%d\\",\\"amount_cents\\":100,\\"currency\\":\\"eur\\"}"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nsilent\n' \
    "$LIMITED" "$i" "$i" >>"$CFG"
done
curl -K "$CFG" >"$DIR/statuses"
LIMITED_N=$(grep -c '^429$' "$DIR/statuses" || true)
R=0
[[ $LIMITED_N -ge 10 ]] || R=1
check_true "burst of 20 at 5/s: at least 10 answered 429" "$R" "$LIMITED_N"
check "over the limit: 429" 429 "$(req POST "$LIMITED/v1/payments" "$(pay rl-1)" rl-1)"
check "429: problem+json" application/problem+json "$(header Content-Type)"
check "429: type" /problems/rate-limited "$(field .type)"
RA=$(header Retry-After)
R=0
[[ "$RA" =~ ^[0-9]+$ && $RA -ge 1 ]] || R=1
check_true "429: Retry-After in seconds" "$R" "'$RA'"
sleep "$RA"
check "after Retry-After, the same key: 201" 201 "$(req POST "$LIMITED/v1/payments" "$(pay rl-1)" rl-1)"
check "ledger counts only what was decided" "$(grep -c '^201$' "$DIR/statuses" | awk '{print $1 + 1}')" \
  "$(req GET "$LIMITED/ledger" >/dev/null && field .payments)"

# ---- outage: 503 then recovery, by flag and by admin call ----
start outage --outage-from 0 --outage-seconds 2
OUTAGE=$URL
check "in the outage: 503" 503 "$(req POST "$OUTAGE/v1/payments" "$(pay out-1)" out-1)"
check "503: type" /problems/provider-unavailable "$(field .type)"
RA=$(header Retry-After)
R=0
[[ "$RA" =~ ^[0-9]+$ && $RA -ge 1 && $RA -le 2 ]] || R=1
check_true "503: Retry-After within the window" "$R" "'$RA'"
check "the ledger is read during an outage" 0 "$(req GET "$OUTAGE/ledger" >/dev/null && field .payments)"
sleep "$RA"
for _ in $(seq 20); do
  [[ $(req POST "$OUTAGE/v1/payments" "$(pay out-1)" out-1) == 503 ]] || break
  sleep 0.2
done
check "after the outage, the same key: 201" 201 "$(req POST "$OUTAGE/v1/payments" "$(pay out-1)" out-1)"
check "admin outage: 200" 200 "$(req POST "$OUTAGE/admin/outage" '{"seconds":30}')"
check "admin outage: 503" 503 "$(req POST "$OUTAGE/v1/payments" "$(pay out-2)" out-2)"
check "admin outage: Retry-After" 30 "$(header Retry-After)"
check "admin outage ended: 200" 200 "$(req POST "$OUTAGE/admin/outage" '{"seconds":0}')"
check "after it: 201" 201 "$(req POST "$OUTAGE/v1/payments" "$(pay out-2)" out-2)"
check "outage ledger: 2 payments" 2 "$(req GET "$OUTAGE/ledger" >/dev/null && field .payments)"

# ---- latency: at least the setting, and not one request after another ----
start slow --latency-ms 300
SLOW=$URL
T=$(curl -s -o /dev/null -w '%{time_total}' -X POST -H 'Content-Type: application/json' \
  -H 'Idempotency-Key: slow-1' --data-binary "$(pay slow-1)" "$SLOW/v1/payments")
R=0
python3 -c "import sys; sys.exit(0 if float('$T') >= 0.3 else 1)" || R=1
check_true "one payment takes at least 300 ms" "$R" "${T}s"
T=$(curl -s -o /dev/null -w '%{time_total}' "$SLOW/v1/payments/pay_1")
R=0
python3 -c "import sys; sys.exit(0 if float('$T') >= 0.3 else 1)" || R=1
check_true "a read takes at least 300 ms" "$R" "${T}s"
CFG="$DIR/slow.curl"
: >"$CFG"
for i in $(seq 0 9); do
  [[ $i -gt 0 ]] && echo next >>"$CFG"
  printf 'url = "%s/v1/payments"\nrequest = POST\nheader = "Content-Type: application/json"\nheader = "Idempotency-Key: par-%d"\ndata = "{\\"order_id\\":\\"par-%d\\",\\"amount_cents\\":100,\\"currency\\":\\"eur\\"}"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nsilent\n' \
    "$SLOW" "$i" "$i" >>"$CFG"
done
T0=$(date +%s%N)
curl -s --parallel --parallel-immediate --parallel-max 10 -K "$CFG" >"$DIR/statuses" 2>"$DIR/parallel.err"
MS=$((($(date +%s%N) - T0) / 1000000))
check "ten concurrent payments: all 201" 10 "$(grep -c '^201$' "$DIR/statuses" || true)"
# One after the other they would take 3,000 ms.
R=0
[[ $MS -ge 300 && $MS -lt 2000 ]] || R=1
check_true "ten concurrent payments overlap (300 <= ms < 2000)" "$R" "${MS} ms"
check "settings: latency off" 200 "$(req POST "$SLOW/admin/settings" '{"latency_ms":0}')"
T=$(curl -s -o /dev/null -w '%{time_total}' "$SLOW/v1/payments/pay_1")
R=0
python3 -c "import sys; sys.exit(0 if float('$T') < 0.3 else 1)" || R=1
check_true "without latency a read is fast" "$R" "${T}s"

# ---- bounds: the ledger cap and the body limit ----
start capped --ledger-cap 3 --max-body-bytes 1024
CAPPED=$URL
for i in 1 2 3; do req POST "$CAPPED/v1/payments" "$(pay "cap-$i")" "cap-$i" >/dev/null; done
check "ledger full: 507" 507 "$(req POST "$CAPPED/v1/payments" "$(pay cap-4)" cap-4)"
check "ledger full: type" /problems/ledger-full "$(field .type)"
check "a replay still answers when full" 201 "$(req POST "$CAPPED/v1/payments" "$(pay cap-1)" cap-1)"
BIG=$(printf '{"order_id":"%s","amount_cents":1,"currency":"eur"}' "$(head -c 2000 /dev/zero | tr '\0' x)")
check "body over the limit: 413" 413 "$(req POST "$CAPPED/v1/payments" "$BIG" big-1)"
check "413: problem+json" application/problem+json "$(header Content-Type)"

if [[ $FAILS -gt 0 ]]; then
  say "$FAILS checks failed"
  exit 1
fi
say "all checks passed in $((SECONDS))s"
