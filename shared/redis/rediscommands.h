#pragma once

#include "core/result.h"
#include "redisscript.h"
#include "redisvalue.h"

#include <QByteArray>
#include <QList>
#include <QObject>

#include <chrono>
#include <functional>

namespace flashsale {

// What a caller needs to send commands and scripts, whichever way Redis is deployed: one node
// (RedisClient) or a Redis Cluster (RedisClusterClient); redisconnect.h makes the one the
// configuration asks for. Both classes are final, so code that holds the concrete type calls them
// directly; code written against this interface pays one virtual call per command.
//
// Keys: on a cluster every command and script must address keys of one slot (one sale's
// {sale:ID} hash tag, or one global key); anything else gets CROSSSLOT. Work over every key
// (SCAN) goes through redisForEachPrimary() (redisconnect.h).
//
// Threads, ownership and failure are those of the implementations: call from the owning thread;
// while the object lives, every callback runs exactly once, on that thread; a Redis error reply
// is a successful Result holding a RedisValue of type Error.
class RedisCommands : public QObject {
    Q_OBJECT
public:
    using Callback = std::function<void(const Result<RedisValue> &)>;

    using QObject::QObject;
    ~RedisCommands() override = default;

    // Starts connecting; returns at once. connected() follows when commands can flow.
    virtual void start() = 0;
    // Whether commands can flow now (a cluster: the slot map is loaded).
    virtual bool isReady() const = 0;
    // How long a command waits for its reply before its callback gets ErrorCode::Timeout.
    virtual std::chrono::milliseconds timeout() const = 0;
    // Names the connection(s) in flashsale_redis_* metrics; call once, before start().
    virtual void setMetricsName(const QByteArray &client) = 0;
    // Called with the round-trip time of every answered command (for metrics); before start().
    virtual void setRoundTripObserver(std::function<void(double seconds)> observer) = 0;

    virtual void command(const QList<QByteArray> &argv, Callback callback) = 0;
    // Sent to the node that holds `routingKey` (a cluster), for commands whose own arguments name
    // no key: WAIT after a write must reach the node that took the write.
    virtual void commandForKey(const QByteArray &routingKey, const QList<QByteArray> &argv,
                               Callback callback) = 0;

    // EVALSHA the script; on NOSCRIPT re-sends it as EVAL (which caches it again) on the node that
    // answered, and delivers that answer.
    virtual void eval(const RedisScript &script, const QList<QByteArray> &keys,
                      const QList<QByteArray> &args, Callback callback) = 0;

    // MULTI, `commands`, EXEC, back to back on one connection (a cluster: the node of the first
    // command's key; every key must share its slot); `callback` gets EXEC's reply. The replies
    // to the queued commands are not delivered (QUEUED or an error that makes EXEC fail).
    virtual void transaction(const QList<QList<QByteArray>> &commands, Callback callback) = 0;

Q_SIGNALS:
    // One node: the connection is up / lost. A cluster: the slot map is loaded and a node is
    // connected / no node is connected any more.
    void connected();
    void disconnected();
};

} // namespace flashsale
