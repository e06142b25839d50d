#pragma once

#include "core/result.h"
#include "redisclient.h"
#include "rediscommands.h"

#include <QList>
#include <QObject>

#include <chrono>
#include <functional>
#include <memory>

namespace flashsale {

struct Config;

// Which Redis a process talks to (issue 21): one node, the default (Config::redisUrl), or a Redis
// Cluster (Config::redisClusterNodes, with redisUrl's credentials).
struct RedisTarget {
    RedisClient::Endpoint node;                // one node; with a cluster: the credentials
    QList<RedisClient::Endpoint> clusterSeeds; // non-empty: a Redis Cluster

    bool isCluster() const { return !clusterSeeds.isEmpty(); }

    // Fails with ErrorCode::Invalid (a bad URL, a seed that is not host:port, a db other than 0
    // with a cluster), naming nothing secret.
    [[nodiscard]] static Result<RedisTarget> fromConfig(const Config &config);
};

// A client for `target`, not started (call start()): a RedisClient for one node, a
// RedisClusterClient for a cluster. It belongs to the calling thread, like either class.
std::unique_ptr<RedisCommands> createRedis(const RedisTarget &target,
                                           std::chrono::milliseconds timeout,
                                           QObject *parent = nullptr);

// Sends `argv` to every primary of a cluster, or to the one node, for work that is not tied to
// a key (INFO) or that covers every key (SCAN, KEYS, DBSIZE: each node holds its own keys).
// `done` gets one reply per node (in the order of RedisClusterClient::primaries()); a cluster
// without a slot map yet gives ErrorCode::Unavailable as its only reply.
void redisOnEveryPrimary(RedisCommands &redis, const QList<QByteArray> &argv,
                         std::function<void(const QList<Result<RedisValue>> &replies)> done);

} // namespace flashsale
