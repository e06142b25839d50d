#pragma once

#include "core/result.h"
#include "redisscript.h"
#include "redisvalue.h"

#include <QByteArray>
#include <QList>

#include <functional>

namespace flashsale {

// What a caller needs to send commands and scripts, whichever way Redis is deployed: one node
// (RedisClient) or a Redis Cluster (RedisClusterClient). Both classes are final, so code that
// holds the concrete type calls them directly; only code written against this interface pays
// for a virtual call.
//
// Threads, ownership and failure are those of the implementations: call from the owning thread;
// while the object lives, every callback runs exactly once, on that thread; a Redis error reply
// is a successful Result holding a RedisValue of type Error.
class RedisCommands {
public:
    using Callback = std::function<void(const Result<RedisValue> &)>;

    virtual ~RedisCommands() = default;

    virtual void command(const QList<QByteArray> &argv, Callback callback) = 0;

    // EVALSHA the script; on NOSCRIPT re-sends it as EVAL (which caches it again) on the node that
    // answered, and delivers that answer.
    virtual void eval(const RedisScript &script, const QList<QByteArray> &keys,
                      const QList<QByteArray> &args, Callback callback) = 0;
};

} // namespace flashsale
