# shellcheck shell=bash
# deploy/lib/rediscluster.sh - a Redis Cluster of six redis-server nodes (3 primaries, 3 replicas)
# on 127.0.0.1, for deploy/local/run --redis-cluster (issue 21; docs/REDIS_CLUSTER.md, "Local
# stack"). Sourced by deploy/local/lib.sh. Each node is an ordinary fs_redis_start instance
# (deploy/lib/redis.sh) whose HOME is a folder of its own:
#
#   HOME/redis-cluster/ports             the six ports, one a line (kept: nodes.conf names them);
#                                        each node's cluster bus is on its port + 10000
#   HOME/redis-cluster/node-N/redis/     redis.conf, redis.pid, nodes.conf, AOF data (N = 1..6)
#   HOME/redis-cluster/node-N/logs/redis.log
#   HOME/redis-cluster/node-N/redis-password  a copy of the stack's password (mode 600)
#
# Every node requires the stack's password (requirepass) and replicas use it to reach their
# primary (masterauth). The cluster is created once (redis-cli --cluster create, when no node has
# a nodes.conf yet); later starts restart the nodes on the same ports and they find each other
# again from nodes.conf.

FS_REDIS_CLUSTER_NODES=6
# Set by fs_redis_cluster_start: 1 when it started a node (the caller stops the cluster on failure).
# shellcheck disable=SC2034
FS_REDIS_CLUSTER_STARTED=0

fs_redis_cluster_dir() { printf '%s/redis-cluster' "$1"; }

# fs_redis_cluster_node_home HOME N - print the fs_redis_start HOME of node N (1..6).
fs_redis_cluster_node_home() { printf '%s/node-%s' "$(fs_redis_cluster_dir "$1")" "$2"; }

# fs_redis_cluster_ports HOME - print the cluster's ports, one a line (nothing when none recorded).
fs_redis_cluster_ports() {
  local f
  f="$(fs_redis_cluster_dir "$1")/ports"
  if [[ -f "$f" ]]; then grep -E '^[0-9]+$' "$f" || true; fi
}

# fs_redis_cluster_nodes HOME - print the seed list, 127.0.0.1:PORT joined by commas (the value
# of FLASHSALE_REDIS_CLUSTER_NODES).
fs_redis_cluster_nodes() {
  fs_redis_cluster_ports "$1" | sed 's/^/127.0.0.1:/' | paste -sd, -
}

# fs_redis_cluster_healthy HOME - every node answers, says cluster_state:ok, and every replica's
# link to its primary is up; `redis-cli --cluster check` finds all 16384 slots covered.
fs_redis_cluster_healthy() {
  local home=$1 n node info first
  for ((n = 1; n <= FS_REDIS_CLUSTER_NODES; n++)); do
    node="$(fs_redis_cluster_node_home "$home" "$n")"
    FS_REDIS_CLI_TIMEOUT=3 fs_redis_cli "$node" cluster info 2>/dev/null | grep -q '^cluster_state:ok' ||
      return 1
    info="$(FS_REDIS_CLI_TIMEOUT=3 fs_redis_cli "$node" info replication 2>/dev/null)" || return 1
    grep -q '^role:master' <<<"$info" || grep -q '^master_link_status:up' <<<"$info" || return 1
  done
  first="$(fs_redis_cluster_node_home "$home" 1)"
  FS_REDIS_CLI_TIMEOUT=10 fs_redis_cli "$first" --cluster check "127.0.0.1:$(fs_redis_port "$first")" \
    >/dev/null 2>&1
}

# fs_redis_cluster_running HOME - every node's redis-server runs.
fs_redis_cluster_running() {
  local n
  [[ -n "$(fs_redis_cluster_ports "$1")" ]] || return 1
  for ((n = 1; n <= FS_REDIS_CLUSTER_NODES; n++)); do
    fs_redis_running "$(fs_redis_cluster_node_home "$1" "$n")" || return 1
  done
}

# fs_redis_cluster_any_running HOME - a redis-server of one of the nodes runs.
fs_redis_cluster_any_running() {
  local n
  for ((n = 1; n <= FS_REDIS_CLUSTER_NODES; n++)); do
    fs_pid_alive "$(fs_redis_pid "$(fs_redis_cluster_node_home "$1" "$n")")" redis-server && return 0
  done
  return 1
}

# fs_redis_cluster_start HOME PASSWORD_FILE NODE_TIMEOUT_MS [CONF_LINE...] - start the six nodes
# with the password of PASSWORD_FILE (a 64-hex-digit line, fs_redis_start --auth's), each with
# cluster-node-timeout NODE_TIMEOUT_MS and the CONF_LINEs (appendonly, maxmemory, ...); create
# the cluster (3 primaries, one replica each) when it is new; return once fs_redis_cluster_healthy
# holds. A running healthy cluster is reused as it is. Sets FS_REDIS_CLUSTER_STARTED to 1 when it
# started a node. Returns 1 (after saying why) when a node does not start, a recorded port is
# taken by something else, or the cluster is not healthy within 60 s.
fs_redis_cluster_start() {
  local home=$1 passfile=$2 timeout=$3 dir n node port i password=""
  shift 3
  local -a ports=() addrs=()
  FS_REDIS_CLUSTER_STARTED=0
  dir="$(fs_redis_cluster_dir "$home")"
  fs_ensure_dir "$dir"
  read -r password <"$passfile" || true
  [[ "$password" =~ ^[0-9a-f]{64}$ ]] || fs_die "fs_redis_cluster_start: no password in $passfile"
  if fs_redis_cluster_running "$home" && fs_redis_cluster_healthy "$home"; then
    mapfile -t ports < <(fs_redis_cluster_ports "$home")
    FS_CLAIMED_PORTS+="${ports[*]} "
    fs_log "Redis Cluster already running ($(fs_redis_cluster_nodes "$home")); reusing it"
    return 0
  fi
  mapfile -t ports < <(fs_redis_cluster_ports "$home")
  if ((${#ports[@]} != FS_REDIS_CLUSTER_NODES)); then
    # A new cluster: no node may hold an old nodes.conf.
    rm -rf "${dir:?}"/node-*
    ports=()
    for ((n = 1; n <= FS_REDIS_CLUSTER_NODES; n++)); do
      # Its cluster bus listens on PORT + 10000: that one must be free too.
      for ((i = 0; i < 20; i++)); do
        fs_pick_port port
        fs_port_bindable $((port + 10000)) && break
      done
      ports+=("$port")
    done
    printf '%s\n' "${ports[@]}" >"$dir/ports"
  else
    FS_CLAIMED_PORTS+="${ports[*]} "
  fi
  for ((n = 1; n <= FS_REDIS_CLUSTER_NODES; n++)); do
    node="$(fs_redis_cluster_node_home "$home" "$n")"
    port=${ports[n - 1]}
    addrs+=("127.0.0.1:$port")
    fs_redis_running "$node" && continue
    if fs_port_listening "$port"; then
      fs_warn "port $port of Redis Cluster node $n is taken by another program; remove $dir to start a new cluster elsewhere"
      return 1
    fi
    fs_ensure_dir "$node"
    (umask 077 && printf '%s\n' "$password" >"$(fs_redis_password_file "$node")")
    # shellcheck disable=SC2034
    FS_REDIS_CLUSTER_STARTED=1
    # cluster-require-full-coverage no: while one shard fails over, the other primaries keep
    # serving their own slots (by default every node would answer CLUSTERDOWN until the whole
    # slot range is covered again: one dead primary would stop every sale).
    fs_redis_start "$node" "$port" --auth "cluster-enabled yes" "cluster-config-file nodes.conf" \
      "cluster-node-timeout $timeout" "cluster-require-full-coverage no" "masterauth $password" \
      "$@" || return 1
  done
  # A node that knows only itself has never been part of the cluster: create it.
  if [[ "$(FS_REDIS_CLI_TIMEOUT=3 fs_redis_cli "$(fs_redis_cluster_node_home "$home" 1)" cluster info |
    tr -d '\r' | sed -n 's/^cluster_known_nodes:\([0-9]*\)$/\1/p')" == 1 ]]; then
    fs_log "creating the Redis Cluster: 3 primaries, 3 replicas (${addrs[*]})"
    if ! REDISCLI_AUTH=$password timeout 60 redis-cli --cluster create "${addrs[@]}" \
      --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1; then
      tail -n 20 "$dir/create.log" >&2
      fs_warn "redis-cli --cluster create failed ($dir/create.log)"
      return 1
    fi
  fi
  for ((i = 0; i < 600; i++)); do
    fs_redis_cluster_healthy "$home" && return 0
    sleep 0.1
  done
  fs_warn "the Redis Cluster (${addrs[*]}) did not become healthy within 60 s"
  return 1
}

# fs_redis_cluster_stop HOME - stop every node (SHUTDOWN, then TERM and KILL); its data stays.
# Always 0, also when none runs.
fs_redis_cluster_stop() {
  local n node
  [[ -d "$(fs_redis_cluster_dir "$1")" ]] || return 0
  for ((n = 1; n <= FS_REDIS_CLUSTER_NODES; n++)); do
    node="$(fs_redis_cluster_node_home "$1" "$n")"
    [[ -d "$node" ]] && fs_redis_stop "$node"
  done
  return 0
}
