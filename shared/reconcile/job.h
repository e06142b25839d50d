#pragma once

#include "core/result.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"

#include <QPointer>

#include <functional>
#include <memory>

// Internal to reconcile/: the frame its asynchronous jobs share (a run, reading a snapshot, the
// repairs).

namespace flashsale::reconcile {

// One asynchronous job: a chain of callbacks on the thread of its two connections. It keeps
// itself alive through the callbacks it hands out (shared_from_this(); create it with
// std::make_shared), calls `done` exactly once, and drops every answer that arrives after it
// ended. Derived is the job's own class, Out what it ends with.
template<typename Derived, typename Out>
class Job : public std::enable_shared_from_this<Derived> {
public:
    using Done = std::function<void(const Result<Out> &)>;

protected:
    Job(PgConnection &pg, RedisCommands &redis, Done done)
        : m_pg(&pg)
        , m_redis(&redis)
        , m_done(std::move(done)) {}

    bool ended() const { return m_ended; }
    // False once either connection object is gone.
    bool connected() const { return m_pg && m_redis; }

    void finish(const Result<Out> &result) {
        if (m_ended)
            return;
        m_ended = true;
        m_done(result);
    }
    void fail(ErrorCode code, const QString &message) { finish(flashsale::fail(code, message)); }
    void failGone() { fail(ErrorCode::Unavailable, QStringLiteral("connection gone")); }

    // A Redis command; `next` gets the reply. A transport failure or an error reply ends the job
    // with an error naming the command, unless `allowError` accepts the error reply.
    void redis(const QList<QByteArray> &argv, std::function<void(const RedisValue &)> next,
               std::function<bool(const RedisValue &)> allowError = {}) {
        if (!connected())
            return failGone();
        m_redis->command(argv, replyTo(argv.first(), std::move(next), std::move(allowError)));
    }

    // MULTI, `commands`, EXEC on one connection (all keys of one slot on a cluster), with the
    // failure handling of redis(); `next` gets EXEC's reply.
    void transaction(const QList<QList<QByteArray>> &commands,
                     std::function<void(const RedisValue &)> next) {
        if (!connected())
            return failGone();
        m_redis->transaction(commands, replyTo("EXEC", std::move(next), {}));
    }

    // A script, with the failure handling of redis().
    void eval(const RedisScript &script, const QList<QByteArray> &keys,
              const QList<QByteArray> &args, std::function<void(const RedisValue &)> next) {
        if (!connected())
            return failGone();
        m_redis->eval(script, keys, args,
                      [self = this->shared_from_this(), name = script.name,
                       next = std::move(next)](const Result<RedisValue> &r) {
                          if (self->m_ended)
                              return;
                          if (!r || r->isError())
                              return self->fail(r ? ErrorCode::Internal : r.error().code,
                                                QStringLiteral("Redis %1: %2")
                                                    .arg(name, r ? QString::fromUtf8(r->string)
                                                                 : r.error().message));
                          next(*r);
                      });
    }

    // A PostgreSQL statement; a failure ends the job with the error's code.
    void pg(const QByteArray &sql, const QList<QByteArray> &params,
            std::function<void(const PgResult &)> next) {
        if (!connected())
            return failGone();
        m_pg->query(
            sql, params,
            [self = this->shared_from_this(), next = std::move(next)](const Result<PgResult> &r) {
                if (self->m_ended)
                    return;
                if (!r)
                    return self->fail(r.error().code,
                                      QStringLiteral("PostgreSQL: ") + r.error().message);
                next(*r);
            });
    }

    QPointer<PgConnection> m_pg;
    QPointer<RedisCommands> m_redis;

private:
    RedisCommands::Callback replyTo(const QByteArray &name,
                                    std::function<void(const RedisValue &)> next,
                                    std::function<bool(const RedisValue &)> allowError) {
        return [self = this->shared_from_this(), name, next = std::move(next),
                allowError = std::move(allowError)](const Result<RedisValue> &r) {
            if (self->m_ended)
                return;
            if (!r)
                return self->fail(r.error().code,
                                  QStringLiteral("Redis %1: %2")
                                      .arg(QString::fromLatin1(name), r.error().message));
            if (r->isError() && !(allowError && allowError(*r)))
                return self->fail(ErrorCode::Internal, QStringLiteral("Redis %1: %2")
                                                           .arg(QString::fromLatin1(name),
                                                                QString::fromUtf8(r->string)));
            next(*r);
        };
    }

    Done m_done;
    bool m_ended = false;
};

} // namespace flashsale::reconcile
