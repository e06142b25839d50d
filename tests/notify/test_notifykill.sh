#!/usr/bin/env bash
# Email across a notify-process kill and an SMTP server outage, with the real processes: PostgreSQL
# and Redis (tests/support/stack.sh), the Kafka mock cluster, a relay process (flashsale-server
# --roles relay) publishing order.paid and order.cancelled from the outbox, a notify process
# (--roles notify --smtp-url ...) and a real SMTP server (aiosmtpd storing into a maildir,
# deploy/lib/smtp.sh). The assertion is on what the SMTP server received: every event's message,
# with the right subject, once.
#
#   1. kills: N events; KILLS times at a random moment the notify process is frozen (SIGSTOP), the
#      state is read (which messages the server holds, which rows are marked delivered), then it
#      is killed with SIGKILL and started again. A message the server holds whose row is not
#      marked is "in the window" (accepted, not yet recorded): the design resends it (at least
#      once), so the test expects exactly those twice and every other message exactly once. How
#      often a kill lands in the window is reported (docs/NOTIFICATIONS.md has the figures).
#   2. SMTP server down: the server is stopped, M more events pile up (rows recorded, nothing
#      marked, flashsale_smtp_sends_total{result="transient"} grows), the notify process is
#      killed -9 during the outage and started again, the server is started on the same port:
#      every message arrives once.
#   3. PostgreSQL crash: an immediate shutdown (no flush, WAL replay at the restart) while a burst
#      of K more emails goes out: every row ends marked delivered and every message arrives once.
#
# FLASHSALE_NOTIFY_KILLS (default 3) and FLASHSALE_NOTIFY_EVENTS (default 300) make it a
# measurement: e.g. 40 kills over 4,000 events. About 60 s with the defaults.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
# shellcheck source=tests/support/stack.sh
source "$FS_ROOT/tests/support/stack.sh"
fs_trap_errors
fs_require_commands curl python3

KILLS=${FLASHSALE_NOTIFY_KILLS:-3}
N=${FLASHSALE_NOTIFY_EVENTS:-300}
M=100

say() { printf '[notifykill] %s\n' "$*" >&2; }
FAILS=0
check() { # check NAME EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then
    say "ok   $1"
  else
    say "FAIL $1: expected '$2', got '$3'"
    FAILS=$((FAILS + 1))
  fi
}

T0=$SECONDS
DIR="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-notifykill.XXXXXX")"
LOGS="$DIR/logs"
MAILDIR="$DIR/mail"
mkdir -p "$LOGS"
PG_STARTED=0
cleanup() {
  local rc=$?
  set +e
  fs_server_stop "$DIR" notify
  fs_server_stop "$DIR" relay
  fs_smtp_stop "$DIR" smtp
  fs_kafka_stop "$DIR"
  fs_redis_stop "$DIR"
  ((PG_STARTED)) && fs_pg_stop "$DIR"
  ((rc != 0)) && [[ -f "$LOGS/notify.log" ]] && tail -n 30 "$LOGS/notify.log" >&2
  fs_test_dir_done "$DIR" "$rc" "$T0"
}
trap cleanup EXIT

fs_test_server_bin
FS_KAFKA_MOCK_BIN=${FLASHSALE_KAFKA_MOCK_BIN:-$(dirname "$FS_SERVER_BIN")/flashsale-kafka-mock}
fs_test_stores "$DIR" "$LOGS"
fs_kafka_start "$DIR" || fs_die "the Kafka mock cluster did not start"
fs_pick_port SMTP_PORT
fs_smtp_start "$DIR" smtp "$SMTP_PORT" "$MAILDIR" || fs_die "the SMTP server did not start"
fs_pick_port METRICS_PORT

COMMON=(--redis-url "$REDIS_URL" --pg-url "$PG_URL" --kafka-brokers "$FS_KAFKA_BROKERS")
fs_server_start "$DIR" relay "${SERVER_ENV[@]}" --roles relay "${COMMON[@]}" ||
  fs_die "the relay did not start"
start_notify() {
  fs_server_start "$DIR" notify "${SERVER_ENV[@]}" --roles notify "${COMMON[@]}" \
    --metrics-port "$METRICS_PORT" --smtp-url "smtp://127.0.0.1:$SMTP_PORT" \
    --smtp-from "Flash sale <orders@shop.example.test>" \
    --smtp-recipient-template "{user}@buyers.example.test" || fs_die "the notify process did not start"
}
start_notify

sql() { fs_psql "$PG_OWNER_URL" -At -c "$1"; }
ITEM="$(sql "WITH s AS (INSERT INTO sales (name, per_user_limit, starts_at, ends_at, hold_seconds,
  admission_rate, admission_burst) VALUES ('Winter sale', 2, now(), now() + interval '1 hour', 300, 0, 1)
  RETURNING id) INSERT INTO sale_items (sale_id, name, price_cents, stock)
  SELECT id, 'Espresso cup', 1999, 100000 FROM s RETURNING id")"
ITEM=${ITEM%%$'\n'*}

# add_events FROM TO: orders FROM..TO end, through the outbox as the worker and the payment
# service write them: every fourth cancelled (declined, expired, admin in turn), the others paid.
add_events() {
  sql "INSERT INTO outbox (topic, key, payload)
       SELECT t, g::text, order_event(t, g, 'kill-' || g, i.sale_id, i.id, 'user' || g, 1, 1999,
              CASE WHEN t = 'order.cancelled' THEN (ARRAY['declined', 'expired', 'admin'])[g / 4 % 3 + 1] END,
              now())
       FROM generate_series($1, $2) g,
            LATERAL (SELECT CASE WHEN g % 4 = 0 THEN 'order.cancelled' ELSE 'order.paid' END AS t) tt,
            sale_items i WHERE i.id = $ITEM" >/dev/null
}

# The Message-IDs the server holds, one per line, as many times as it holds each.
received_ids() {
  local f
  for f in "$MAILDIR"/new/* "$MAILDIR"/cur/*; do
    [[ -f "$f" ]] && sed -n 's/^Message-ID: <notify\.\(.*\)@shop\.example\.test>\r\{0,1\}$/\1/p' "$f"
  done
  return 0
}
delivered() { sql "SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL"; }
metric() { # metric NAME{LABELS}: its value on the notify process's /metrics (0 when absent)
  local body
  body="$(curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" || true)"
  awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }' <<<"$body"
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
  local t=$1 what=$2 i
  shift 2
  for ((i = 0; i < t * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  fs_die "timed out after $t s waiting for $what"
}
count_at_least() { (($(fs_smtp_count "$MAILDIR") >= $1)); }
delivered_is() { [[ "$(delivered)" == "$1" ]]; }

# ---- 1. kills --------------------------------------------------------------------------------
say "$N events, $KILLS kills of the notify process"
add_events 1 "$N"
declare -A EXPECT # Message-ID local part -> how many times the server must hold it
for ((g = 1; g <= N; g++)); do
  if ((g % 4 == 0)); then EXPECT["order.cancelled_kill-$g"]=1; else EXPECT["order.paid_kill-$g"]=1; fi
done
IN_WINDOW=0
for ((k = 1; k <= KILLS; k++)); do
  target=$((k * N / (KILLS + 1)))
  wait_for 120 "$target messages" count_at_least "$target"
  sleep "0.0$((RANDOM % 10))$((RANDOM % 10))" # a random moment
  pid="$(fs_server_pid "$DIR" notify)"
  kill -STOP "$pid"
  sleep 0.5 # what the notify process had sent reaches the server and PostgreSQL
  window="$(comm -23 <(received_ids | sort -u) \
    <(sql "SELECT replace(event_id, ':', '_') FROM notifications WHERE delivered_at IS NOT NULL" | sort -u))"
  kill -KILL "$pid"
  fs_wait_gone "$pid" 10 || fs_die "the notify process survived SIGKILL"
  held="$(fs_smtp_count "$MAILDIR")"
  if [[ -n "$window" ]]; then
    IN_WINDOW=$((IN_WINDOW + 1))
    # Each copy the server holds stays, and the restart sends one more (then marks it). A
    # message still unmarked from an earlier kill is counted again from what is held now.
    while read -r id; do
      EXPECT[$id]=$(($(received_ids | grep -cxF "$id") + 1))
    done <<<"$window"
    say "kill $k at $held messages: in the window (accepted, not recorded): $(tr '\n' ' ' <<<"$window")"
  else
    say "kill $k at $held messages: outside the window"
  fi
  start_notify
done
wait_for 180 "all $N rows delivered" delivered_is "$N"
sleep 2 # a late duplicate would show here
# The window, measured by the notify process since its last start: from the sender's success to
# delivered_at committed (flashsale_notifications_unrecorded_seconds).
wsum="$(metric flashsale_notifications_unrecorded_seconds_sum)"
wcount="$(metric flashsale_notifications_unrecorded_seconds_count)"
say "unrecorded window after the relay's 250: mean $(awk -v s="$wsum" -v c="$wcount" 'BEGIN { printf "%.2f", c ? 1000 * s / c : 0 }') ms over $wcount messages"

# ---- 2. SMTP server down -----------------------------------------------------------------------
say "SMTP server down: $M more events"
fs_smtp_stop "$DIR" smtp
transient0="$(metric 'flashsale_smtp_sends_total{result="transient"}')"
add_events $((N + 1)) $((N + M))
for ((g = N + 1; g <= N + M; g++)); do
  if ((g % 4 == 0)); then EXPECT["order.cancelled_kill-$g"]=1; else EXPECT["order.paid_kill-$g"]=1; fi
done
rows_are() { [[ "$(sql "SELECT count(*) FROM notifications")" == "$1" ]]; }
wait_for 60 "$((N + M)) rows recorded" rows_are $((N + M))
transient_grew() { (($(metric 'flashsale_smtp_sends_total{result="transient"}') > transient0)); }
wait_for 30 "transient SMTP failures counted" transient_grew
check "nothing marked delivered while the server is down" "$N" "$(delivered)"
check "notifications waiting for a retry (gauge)" 1 \
  "$(($(metric flashsale_notifications_retrying) > 0 ? 1 : 0))"
pid="$(fs_server_pid "$DIR" notify)"
kill -KILL "$pid"
fs_wait_gone "$pid" 10 || fs_die "the notify process survived SIGKILL"
say "killed the notify process during the outage; starting it and the SMTP server again"
start_notify
fs_smtp_start "$DIR" smtp "$SMTP_PORT" "$MAILDIR" || fs_die "the SMTP server did not start again"
wait_for 120 "all $((N + M)) rows delivered" delivered_is $((N + M))
sleep 2

# ---- 3. PostgreSQL crash mid-burst --------------------------------------------------------------
# A crash loses what PostgreSQL had not flushed. A mark committed without waiting for the flush
# (synchronous_commit = off, as marks once were) can vanish after the email went out, and nothing
# sends or marks that row again: a buyer's email with no record, and a row "never delivered".
K=400
say "PostgreSQL crashed (immediate shutdown) while $K more emails go out"
add_events $((N + M + 1)) $((N + M + K))
for ((g = N + M + 1; g <= N + M + K; g++)); do
  if ((g % 4 == 0)); then EXPECT["order.cancelled_kill-$g"]=1; else EXPECT["order.paid_kill-$g"]=1; fi
done
wait_for 60 "the burst under way" count_at_least $(($(fs_smtp_count "$MAILDIR") + K / 4))
fs_pg_restart "$DIR" immediate || fs_die "PostgreSQL did not start again after the crash"
say "PostgreSQL is back at $(fs_smtp_count "$MAILDIR") messages held"
wait_for 120 "all $((N + M + K)) rows delivered after the crash" delivered_is $((N + M + K))
sleep 2

# ---- what the server received ------------------------------------------------------------------
declare -A GOT
while read -r id; do
  [[ -n "$id" ]] && GOT[$id]=$((${GOT[$id]:-0} + 1))
done < <(received_ids)
wrong=0
for id in "${!EXPECT[@]}"; do
  if [[ "${GOT[$id]:-0}" != "${EXPECT[$id]}" ]]; then
    ((wrong < 10)) && say "  $id: received ${GOT[$id]:-0}, expected ${EXPECT[$id]}"
    wrong=$((wrong + 1))
  fi
done
for id in "${!GOT[@]}"; do
  [[ -n "${EXPECT[$id]:-}" ]] || {
    say "  unexpected message $id"
    wrong=$((wrong + 1))
  }
done
expected_total=0
for id in "${!EXPECT[@]}"; do expected_total=$((expected_total + ${EXPECT[$id]})); done
check "every event's message received the expected number of times" 0 "$wrong"
check "messages held by the server" "$expected_total" "$(fs_smtp_count "$MAILDIR")"
check "no notification failed" 0 "$(sql "SELECT count(*) FROM notifications WHERE failed_at IS NOT NULL")"

# One message of each template, as the buyer reads it.
file_of() { grep -l "^Message-ID: <notify\.$1@" "$MAILDIR"/new/* | head -n 1; }
check "paid subject" "Subject: Your order 1 is paid" \
  "$(grep -m1 '^Subject:' "$(file_of order.paid_kill-1)" | tr -d '\r')"
check "paid names the item" 1 "$(grep -c '^  Item:          Espresso cup (Winter sale)' "$(file_of order.paid_kill-1)" || true)"
check "paid recipient" "To: user1@buyers.example.test" \
  "$(grep -m1 '^To:' "$(file_of order.paid_kill-1)" | tr -d '\r')"
check "declined subject" "Subject: Your order 12 was cancelled: payment declined" \
  "$(grep -m1 '^Subject:' "$(file_of order.cancelled_kill-12)" | tr -d '\r')"
check "expired subject" "Subject: Your order 16 was cancelled: not paid in time" \
  "$(grep -m1 '^Subject:' "$(file_of order.cancelled_kill-16)" | tr -d '\r')"
check "operator subject" "Subject: Your order 8 was cancelled: cancelled by the shop" \
  "$(grep -m1 '^Subject:' "$(file_of order.cancelled_kill-8)" | tr -d '\r')"

say "kills in the window (a message accepted and not yet recorded, so sent again): $IN_WINDOW of $KILLS"
say "SMTP sends: $(metric 'flashsale_smtp_sends_total{result="sent"}') sent, $(metric 'flashsale_smtp_sends_total{result="transient"}') transient (since the last start)"
((FAILS == 0)) || fs_die "$FAILS check(s) failed"
say "all checks passed"
