# shellcheck shell=bash
# Variables set here are read by the scripts that call these functions.
# shellcheck disable=SC2034
# deploy/lib/kafka.sh - the Kafka mock cluster (flashsale-kafka-mock: librdkafka's in-memory
# cluster, 3 brokers), the one way a script starts and stops it. Sourced by deploy/local/lib.sh.
#
# A mock cluster belongs to a state folder HOME:
#
#   HOME/kafka-mock.pid     its pid (fs_spawn)
#   HOME/kafka.bootstrap    the bootstrap servers it listens on, once it is up
#   HOME/logs/kafka-mock.log
#
# Its messages live in its memory: they are gone when it stops.

# The binary; deploy/bench/stack.sh points it at FSB_BUILD_DIR.
FS_KAFKA_MOCK_BIN="$FS_BUILD_DIR/bin/flashsale-kafka-mock"

fs_kafka_pidfile() { printf '%s/kafka-mock.pid' "$1"; }

# fs_kafka_bootstrap HOME - print the bootstrap servers of HOME's mock (nothing when not up).
fs_kafka_bootstrap() {
  [[ -s "$1/kafka.bootstrap" ]] || return 0
  head -n 1 "$1/kafka.bootstrap"
}

# fs_kafka_running HOME - HOME's mock cluster runs and has written its bootstrap servers.
fs_kafka_running() {
  fs_pid_alive "$(fs_read_pidfile "$(fs_kafka_pidfile "$1")")" flashsale-kafka &&
    [[ -s "$1/kafka.bootstrap" ]]
}

# fs_kafka_start HOME [ARG...] - start the mock cluster of HOME (flashsale-kafka-mock --brokers 3
# ARG..., e.g. --control-fifo FILE), or reuse it when it already runs. Sets FS_KAFKA_BROKERS to
# its bootstrap servers and FS_KAFKA_STARTED to 1 if it started it, 0 if it reused it. Returns 1
# (after printing its log's last lines) when the binary is missing or the cluster is not up
# within 10 s.
fs_kafka_start() {
  local home=$1 boot="$1/kafka.bootstrap" log="$1/logs/kafka-mock.log" i
  shift
  FS_KAFKA_STARTED=0
  if fs_kafka_running "$home"; then
    FS_KAFKA_BROKERS="$(fs_kafka_bootstrap "$home")"
    fs_log "Kafka mock cluster already running at $FS_KAFKA_BROKERS; reusing it"
    return 0
  fi
  [[ -x "$FS_KAFKA_MOCK_BIN" ]] || {
    fs_warn "$FS_KAFKA_MOCK_BIN not found; build first"
    return 1
  }
  fs_ensure_dir "$home/logs"
  fs_kafka_stop "$home"
  fs_spawn "$(fs_kafka_pidfile "$home")" "$log" \
    "$FS_KAFKA_MOCK_BIN" --brokers 3 --bootstrap-file "$boot" "$@"
  FS_KAFKA_STARTED=1
  for ((i = 0; i < 100; i++)); do
    [[ -s "$boot" ]] && break
    sleep 0.1
  done
  [[ -s "$boot" ]] || {
    fs_tail_log "$log"
    fs_warn "the Kafka mock cluster did not start"
    return 1
  }
  FS_KAFKA_BROKERS="$(fs_kafka_bootstrap "$home")"
  fs_log "Kafka mock cluster at $FS_KAFKA_BROKERS (in memory: its messages are gone when it stops)"
}

# fs_kafka_stop HOME - stop HOME's mock cluster; always 0, also when none runs.
fs_kafka_stop() {
  local pid
  pid="$(fs_read_pidfile "$(fs_kafka_pidfile "$1")")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" flashsale-kafka "Kafka mock cluster"
  rm -f "$(fs_kafka_pidfile "$1")" "$1/kafka.bootstrap"
}
