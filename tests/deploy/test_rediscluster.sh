#!/usr/bin/env bash
# deploy/local/run --redis-cluster's Redis Cluster (deploy/lib/rediscluster.sh,
# docs/REDIS_CLUSTER.md "Local stack") in a folder of its own: six nodes form one cluster of three
# primaries with one replica each, covering all 16384 slots, with the cluster-node-timeout asked
# for; every node refuses a client without the password; a value written through one seed with
# redirects followed (redis-cli -c) is read back through another and reaches the replica of its
# slot; a restart keeps the ports and the data; stopping leaves no redis-server of the folder.
# About 25 s.
#
# Prints "N passed, M failed" and exits 1 on any failure.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
fs_trap_errors
fs_require_commands redis-server redis-cli

DIR="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-rediscluster-test.XXXXXX")"
trap 'fs_redis_cluster_stop "$DIR"; rm -rf "$DIR"' EXIT
PASSFILE="$DIR/redis-password"
(umask 077 && fs_random_hex 32 >"$PASSFILE" && echo >>"$PASSFILE")
read -r PASSWORD <"$PASSFILE"

CHECKS_TAG=rediscluster-test
# shellcheck source=tests/support/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/checks.sh"
# rcli PORT ARGS... - redis-cli with the password against 127.0.0.1:PORT.
rcli() {
  local port=$1
  shift
  REDISCLI_AUTH=$PASSWORD timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# 1. Six nodes, three primaries with a replica each, every slot covered.
if ! fs_redis_cluster_start "$DIR" "$PASSFILE" 2000 "appendonly yes"; then
  fail "fs_redis_cluster_start"
  finish
  exit 1
fi
mapfile -t PORTS < <(fs_redis_cluster_ports "$DIR")
NODES="$(rcli "${PORTS[0]}" cluster nodes)"
say "cluster nodes:"$'\n'"$NODES"
primaries="$(grep -c ' master ' <<<"$NODES" || true)"
[[ "$(grep -c 'myself,master' <<<"$NODES" || true)" == 1 ]] && primaries=$((primaries + 1))
replicas="$(grep -cE '(slave|myself,slave) [0-9a-f]{40}' <<<"$NODES" || true)"
if ((${#PORTS[@]} == 6 && primaries == 3 && replicas == 3)); then
  pass "6 nodes: 3 primaries, 3 replicas"
else
  fail "${#PORTS[@]} nodes, $primaries primaries, $replicas replicas"
fi
if rcli "${PORTS[0]}" cluster info | grep -q '^cluster_slots_assigned:16384'; then
  pass "all 16384 slots assigned"
else
  fail "not every slot assigned: $(rcli "${PORTS[0]}" cluster info | tr -d '\r' | grep slots)"
fi
if [[ "$(rcli "${PORTS[5]}" config get cluster-node-timeout | tail -n 1)" == 2000 ]]; then
  pass "cluster-node-timeout is the one asked for (2000 ms)"
else
  fail "cluster-node-timeout: $(rcli "${PORTS[5]}" config get cluster-node-timeout | tail -n 1)"
fi

# 2. The password is required on every node.
refused=0
for port in "${PORTS[@]}"; do
  timeout 10 redis-cli -h 127.0.0.1 -p "$port" ping 2>&1 | grep -q NOAUTH && refused=$((refused + 1))
done
if ((refused == 6)); then
  pass "every node refuses a client without the password (NOAUTH)"
else
  fail "only $refused of 6 nodes refuse a client without the password"
fi

# 3. Written through one seed (redirects followed), read through another, on the slot's replica.
ok=1
for key in '{sale:1}:stock' '{sale:2}:stock' '{sale:3}:stock' '{sale:4}:stock'; do
  rcli "${PORTS[0]}" -c set "$key" "v-$key" >/dev/null
  [[ "$(rcli "${PORTS[3]}" -c get "$key")" == "v-$key" ]] || ok=0
done
if ((ok)); then
  pass "keys written through one seed are read through another (MOVED followed)"
else
  fail "a key written through one seed was not read back through another"
fi
slot="$(rcli "${PORTS[0]}" cluster keyslot '{sale:1}:stock')"
seen=0
for port in "${PORTS[@]}"; do
  info="$(rcli "$port" info replication | tr -d '\r')"
  grep -q '^role:slave' <<<"$info" || continue
  # After READONLY a replica answers reads of its primary's slots (others answer MOVED).
  for ((i = 0; i < 50; i++)); do
    got="$(printf 'READONLY\nGET {sale:1}:stock\n' | rcli "$port" 2>/dev/null | tail -n 1 || true)"
    [[ "$got" == 'v-{sale:1}:stock' ]] && break
    got=""
    sleep 0.1
  done
  [[ -n "$got" ]] && seen=$((seen + 1))
done
if ((seen == 1)); then
  pass "a replica holds the value of slot $slot"
else
  fail "$seen replicas hold the value of slot $slot, not exactly its one"
fi

# 4. A restart keeps the ports and the data.
fs_redis_cluster_stop "$DIR"
if fs_redis_cluster_start "$DIR" "$PASSFILE" 2000 "appendonly yes" &&
  [[ "$(fs_redis_cluster_ports "$DIR" | paste -sd, -)" == "$(printf '%s\n' "${PORTS[@]}" | paste -sd, -)" ]] &&
  [[ "$(rcli "${PORTS[1]}" -c get '{sale:2}:stock')" == 'v-{sale:2}:stock' ]]; then
  pass "restarted on the same ports, healthy, data kept"
else
  fail "the restarted cluster is not the same (ports or data)"
fi

# 5. Stopping leaves no redis-server of the folder.
fs_redis_cluster_stop "$DIR"
left=0
for port in "${PORTS[@]}"; do
  fs_port_listening "$port" && left=$((left + 1))
done
if ((left == 0)); then
  pass "fs_redis_cluster_stop leaves no node listening"
else
  fail "$left nodes still listen after fs_redis_cluster_stop"
fi

finish
