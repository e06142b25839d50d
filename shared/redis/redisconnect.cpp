#include "redisconnect.h"

#include "core/config.h"
#include "redisclusterclient.h"

namespace flashsale {

Result<RedisTarget> RedisTarget::fromConfig(const Config &config) {
    auto endpoint = RedisClient::Endpoint::fromUrl(config.redisUrl);
    if (!endpoint)
        return fail(endpoint.error().code, endpoint.error().message);
    RedisTarget target;
    target.node = *endpoint;
    if (config.redisClusterNodes.trimmed().isEmpty())
        return target;
    if (target.node.db != 0)
        return fail(ErrorCode::Invalid,
                    QStringLiteral("a Redis Cluster has only database 0 (--redis-url names %1)")
                        .arg(target.node.db));
    for (const QString &raw : config.redisClusterNodes.split(QLatin1Char(','))) {
        const QString node = raw.trimmed();
        const qsizetype colon = node.lastIndexOf(QLatin1Char(':'));
        bool ok = false;
        const int port = colon > 0 ? node.mid(colon + 1).toInt(&ok) : 0;
        if (!ok || port < 1 || port > 65535)
            return fail(ErrorCode::Invalid,
                        QStringLiteral("redis cluster node '%1' is not host:port").arg(node));
        RedisClient::Endpoint seed = target.node;
        seed.host = node.left(colon);
        seed.port = port;
        target.clusterSeeds << seed;
    }
    return target;
}

std::unique_ptr<RedisCommands> createRedis(const RedisTarget &target,
                                           std::chrono::milliseconds timeout, QObject *parent) {
    if (!target.isCluster())
        return std::make_unique<RedisClient>(target.node, timeout, parent);
    RedisClusterClient::Options options;
    options.seeds = target.clusterSeeds;
    options.timeout = timeout;
    return std::make_unique<RedisClusterClient>(std::move(options), parent);
}

void redisOnEveryPrimary(RedisCommands &redis, const QList<QByteArray> &argv,
                         std::function<void(const QList<Result<RedisValue>> &replies)> done) {
    auto *cluster = qobject_cast<RedisClusterClient *>(&redis);
    if (!cluster) {
        redis.command(argv, [done = std::move(done)](const Result<RedisValue> &r) { done({r}); });
        return;
    }
    const QStringList nodes = cluster->primaries();
    if (nodes.isEmpty()) {
        done({fail(ErrorCode::Unavailable, QStringLiteral("redis cluster: no slot map yet"))});
        return;
    }
    struct State {
        QList<Result<RedisValue>> replies;
        qsizetype left = 0;
        std::function<void(const QList<Result<RedisValue>> &)> done;
    };
    auto state = std::make_shared<State>();
    state->replies.resize(nodes.size(), fail(ErrorCode::Unavailable, QString()));
    state->left = nodes.size();
    state->done = std::move(done);
    for (qsizetype i = 0; i < nodes.size(); ++i) {
        cluster->commandOnNode(nodes[i], argv, [state, i](const Result<RedisValue> &r) {
            state->replies[i] = r;
            if (--state->left == 0)
                state->done(state->replies);
        });
    }
}

} // namespace flashsale
