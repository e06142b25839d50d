#include "rediscluster.h"

#include <QElapsedTimer>
#include <QThread>

#include <algorithm>

namespace flashsale::test {

RedisCluster::~RedisCluster() {
    stop();
}

bool RedisCluster::start(int primaries, int replicasPerPrimary) {
    const int count = primaries * (1 + replicasPerPrimary);
    QStringList addresses;
    for (int i = 0; i < count; ++i) {
        auto node = std::make_unique<RedisServer>();
        // nodes.conf is relative to --dir, the server's own temporary folder.
        if (!node->start({QStringLiteral("--cluster-enabled"), QStringLiteral("yes"),
                          QStringLiteral("--cluster-config-file"), QStringLiteral("nodes.conf"),
                          QStringLiteral("--cluster-node-timeout"),
                          QString::number(kNodeTimeoutMs)})) {
            m_error = node->error();
            return false;
        }
        addresses << QStringLiteral("127.0.0.1:%1").arg(node->port());
        m_nodes.push_back(std::move(node));
    }
    const ProgramRun create = runProgram(
        QStringLiteral("redis-cli"),
        QStringList{QStringLiteral("--cluster"), QStringLiteral("create")} + addresses
            + QStringList{QStringLiteral("--cluster-replicas"), QString::number(replicasPerPrimary),
                          QStringLiteral("--cluster-yes")});
    if (create.exitCode != 0) {
        m_error = QStringLiteral("redis-cli --cluster create failed: ") + create.describe();
        return false;
    }
    if (!waitUntilConsistent(30000)) {
        m_error = QStringLiteral("the cluster did not reach cluster_state:ok on every node");
        return false;
    }
    // A replica that has not synced cannot take over: wait for every link to be up.
    QElapsedTimer t;
    t.start();
    for (const auto &node : m_nodes) {
        RedisSync sync(node->port());
        for (;;) {
            const QByteArray info = sync.one({"INFO", "replication"});
            if (info.contains("role:master") || info.contains("master_link_status:up"))
                break;
            if (t.elapsed() > 30000) {
                m_error = QStringLiteral("replica on %1 never synced").arg(node->port());
                return false;
            }
            QThread::msleep(50);
        }
    }
    return true;
}

void RedisCluster::stop() {
    for (const auto &node : m_nodes)
        node->stop();
    m_nodes.clear();
}

QList<quint16> RedisCluster::ports() const {
    QList<quint16> out;
    for (const auto &node : m_nodes)
        out << node->port();
    return out;
}

QStringList RedisCluster::seedUrls() const {
    QStringList out;
    for (const auto &node : m_nodes)
        if (node->pid() != 0)
            out << node->url();
    return out;
}

bool RedisCluster::isRunning(quint16 port) const {
    for (const auto &node : m_nodes)
        if (node->port() == port)
            return node->pid() != 0;
    return false;
}

void RedisCluster::kill(quint16 port) {
    for (const auto &node : m_nodes)
        if (node->port() == port)
            node->kill();
}

quint16 RedisCluster::anyRunningPort() const {
    for (const auto &node : m_nodes)
        if (node->pid() != 0)
            return node->port();
    return 0;
}

QStringList RedisCluster::slotOwners(quint16 port) const {
    RedisSync sync(port);
    const auto reply = sync.value({"CLUSTER", "SLOTS"});
    QStringList out;
    if (!reply || !reply->isArray())
        return out;
    for (const RedisValue &range : reply->elements)
        out << QStringLiteral("%1-%2:%3")
                   .arg(range.at(0).toInt())
                   .arg(range.at(1).toInt())
                   .arg(range.at(2).at(1).toInt());
    out.sort();
    return out;
}

quint16 RedisCluster::primaryForSlot(int slot) const {
    for (const QString &range : slotOwners(anyRunningPort())) {
        const QStringList parts = range.split(QLatin1Char(':'));
        const QStringList bounds = parts[0].split(QLatin1Char('-'));
        if (slot >= bounds[0].toInt() && slot <= bounds[1].toInt())
            return quint16(parts[1].toUInt());
    }
    return 0;
}

QList<quint16> RedisCluster::primaries() const {
    QList<quint16> out;
    for (const QString &range : slotOwners(anyRunningPort()))
        out << quint16(range.section(QLatin1Char(':'), 1).toUInt());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

QByteArray RedisCluster::nodeId(quint16 port) const {
    RedisSync sync(port);
    return sync.one({"CLUSTER", "MYID"});
}

bool RedisCluster::stateOk(quint16 port) const {
    RedisSync sync(port);
    return sync.one({"CLUSTER", "INFO"}).contains("cluster_state:ok");
}

bool RedisCluster::waitUntilConsistent(int timeoutMs) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < timeoutMs) {
        bool ok = true;
        QStringList first;
        bool haveFirst = false;
        for (const auto &node : m_nodes) {
            if (node->pid() == 0)
                continue;
            const QStringList owners = slotOwners(node->port());
            if (!stateOk(node->port()) || owners.isEmpty() || (haveFirst && owners != first)) {
                ok = false;
                break;
            }
            first = owners;
            haveFirst = true;
        }
        if (ok && haveFirst)
            return true;
        QThread::msleep(50);
    }
    return false;
}

} // namespace flashsale::test
