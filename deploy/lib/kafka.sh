# shellcheck shell=bash
# Variables defined here are used by the scripts that source deploy/local/lib.sh.
# shellcheck disable=SC2034
# deploy/lib/kafka.sh - the Kafka mock cluster (moved from deploy/local/lib.sh). Sourced by deploy/local/lib.sh.

# ---- Kafka: librdkafka's in-memory mock cluster, when no brokers are given ----

FS_KAFKA_PIDFILE="$FS_STATE/kafka-mock.pid"
FS_KAFKA_BOOTSTRAP="$FS_STATE/kafka.bootstrap"

fs_kafka_running() {
  fs_pid_alive "$(fs_read_pidfile "$FS_KAFKA_PIDFILE")" flashsale-kafka && [[ -s "$FS_KAFKA_BOOTSTRAP" ]]
}

# fs_kafka_start - sets FS_KAFKA_BROKERS, and FS_KAFKA_STARTED to 1 if it started the mock.
# FLASHSALE_KAFKA_BROKERS from the caller wins (unless it names this stack's own mock).
fs_kafka_start() {
  FS_KAFKA_STARTED=0
  local own=""
  [[ -s "$FS_KAFKA_BOOTSTRAP" ]] && own="$(cat "$FS_KAFKA_BOOTSTRAP")"
  if [[ -n "${FLASHSALE_KAFKA_BROKERS:-}" && "$FLASHSALE_KAFKA_BROKERS" != "$own" ]]; then
    FS_KAFKA_BROKERS=$FLASHSALE_KAFKA_BROKERS
    fs_log "Kafka: using FLASHSALE_KAFKA_BROKERS=$FS_KAFKA_BROKERS"
    return 0
  fi
  if fs_kafka_running; then
    FS_KAFKA_BROKERS="$(cat "$FS_KAFKA_BOOTSTRAP")"
    fs_log "Kafka mock cluster already running at $FS_KAFKA_BROKERS; reusing it"
    return 0
  fi
  local bin="$FS_BUILD_DIR/bin/flashsale-kafka-mock" i
  [[ -x "$bin" ]] || fs_die "$bin not found; build first"
  rm -f "$FS_KAFKA_BOOTSTRAP" "$FS_KAFKA_PIDFILE"
  fs_log "starting an in-memory Kafka mock cluster (no FLASHSALE_KAFKA_BROKERS given)"
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$FS_KAFKA_PIDFILE" \
    "$bin" --brokers 3 --bootstrap-file "$FS_KAFKA_BOOTSTRAP" \
    </dev/null >>"$FS_LOGS/kafka-mock.log" 2>&1 7>&- 8>&- 9>&- &
  for ((i = 0; i < 100; i++)); do
    [[ -s "$FS_KAFKA_BOOTSTRAP" ]] && break
    sleep 0.1
  done
  [[ -s "$FS_KAFKA_BOOTSTRAP" ]] || {
    fs_tail_log "$FS_LOGS/kafka-mock.log"
    fs_die "the Kafka mock cluster did not start"
  }
  FS_KAFKA_BROKERS="$(cat "$FS_KAFKA_BOOTSTRAP")"
  FS_KAFKA_STARTED=1
  fs_log "Kafka mock cluster at $FS_KAFKA_BROKERS (in memory: its messages are gone when it stops)"
}

fs_kafka_stop() {
  local pid
  pid="$(fs_read_pidfile "$FS_KAFKA_PIDFILE")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" flashsale-kafka "Kafka mock cluster"
  rm -f "$FS_KAFKA_PIDFILE" "$FS_KAFKA_BOOTSTRAP"
}
