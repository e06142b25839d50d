#pragma once

#include "testservers.h"

#include <QByteArray>
#include <QList>
#include <QString>

#include <memory>
#include <vector>

namespace flashsale::test {

// A real Redis Cluster on free loopback ports: `primaries` primaries with `replicasPerPrimary`
// replicas each (3 + 3 by default), every node a RedisServer with --cluster-enabled yes and its
// nodes.conf in that server's temporary folder, joined by `redis-cli --cluster create`.
// start() returns once CLUSTER INFO says cluster_state:ok on every node, all nodes report the
// same slot owners and every replica's link to its primary is up. The destructor stops every
// node (SIGTERM, then SIGKILL) and removes the folders.
//
// cluster-node-timeout is kNodeTimeoutMs (1000 ms): a primary that stops answering is marked
// failed after about that long and its replica is promoted about a second later, so failover
// tests finish in seconds. The binaries are $FLASHSALE_TEST_REDIS_SERVER (or redis-server) and
// redis-cli on PATH.
class RedisCluster {
public:
    static constexpr int kNodeTimeoutMs = 1000;

    RedisCluster() = default;
    ~RedisCluster();
    bool start(int primaries = 3, int replicasPerPrimary = 1);
    void stop();
    QString error() const { return m_error; }

    // Every node's port, in start order (primaries first, as redis-cli assigns them).
    QList<quint16> ports() const;
    // redis://127.0.0.1:PORT/0 of every node still running: seeds for a client.
    QStringList seedUrls() const;
    bool isRunning(quint16 port) const;

    // kill -9 of the node on `port` (as a crash would); it stays down.
    void kill(quint16 port);

    // Asked of a running node: the primary serving `slot` (0 when none), a node's id, and
    // whether the cluster state is ok there.
    quint16 primaryForSlot(int slot) const;
    QByteArray nodeId(quint16 port) const;
    bool stateOk(quint16 port) const;
    // The primaries serving slots, sorted (asked of a running node).
    QList<quint16> primaries() const;
    // Waits until every running node says cluster_state:ok and reports the same slot owners;
    // false after timeoutMs.
    bool waitUntilConsistent(int timeoutMs);

private:
    // "start-end:port" for every slot range, as `port` sees it; empty when it does not answer.
    QStringList slotOwners(quint16 port) const;
    quint16 anyRunningPort() const;

    std::vector<std::unique_ptr<RedisServer>> m_nodes;
    QString m_error;
};

} // namespace flashsale::test
