#include "redissubscriber.h"

#include "core/logging.h"
#include "metrics/metrics.h"

#include <QRandomGenerator>
#include <QVarLengthArray>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>

namespace flashsale {

namespace {

QByteArray replyText(const redisReply *r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR)
               ? QByteArray(r->str, qsizetype(r->len))
               : QByteArray();
}

} // namespace

RedisSubscriber::RedisSubscriber(RedisClient::Endpoint endpoint, QByteArrayList channels,
                                 QObject *parent)
    : QObject(parent)
    , m_endpoint(std::move(endpoint))
    , m_channels(std::move(channels)) {}

RedisSubscriber::~RedisSubscriber() {
    if (m_ctx) {
        redisAsyncContext *ctx = m_ctx;
        ctx->data = nullptr; // the static callbacks must not reach a dying object
        m_ctx = nullptr;
        redisAsyncFree(ctx);
    }
    if (m_connectedGauge)
        m_connectedGauge->set(0);
}

void RedisSubscriber::setMetricsName(const QByteArray &client) {
    m_connectedGauge = &Metrics::instance().gauge(
        "flashsale_redis_connected", "Whether this Redis connection is up (1) or not (0).",
        "client=\"" + labelValue(client) + '"');
    m_connectedGauge->set(m_subscribed ? 1 : 0);
}

void RedisSubscriber::start() {
    connectNow();
}

void RedisSubscriber::setSubscribed(bool now) {
    if (m_subscribed == now)
        return;
    m_subscribed = now;
    if (m_connectedGauge)
        m_connectedGauge->set(now ? 1 : 0);
    if (now)
        Q_EMIT subscribed();
    else
        Q_EMIT unsubscribed();
}

void RedisSubscriber::connectNow() {
    if (m_ctx)
        return;
    redisAsyncContext *ctx =
        redisAsyncConnect(m_endpoint.host.toUtf8().constData(), m_endpoint.port);
    if (!ctx || ctx->err) {
        qCWarning(lcRedis) << "subscriber: connect to" << m_endpoint.host << m_endpoint.port
                           << "failed:" << (ctx ? ctx->errstr : "out of memory");
        if (ctx)
            redisAsyncFree(ctx);
        scheduleReconnect();
        return;
    }
    m_ctx = ctx;
    m_confirmed = 0;
    ctx->data = this;
    m_events.attach(ctx, this);
    redisAsyncSetConnectCallback(ctx, &RedisSubscriber::onConnect);
    redisAsyncSetDisconnectCallback(ctx, &RedisSubscriber::onDisconnect);
}

void RedisSubscriber::scheduleReconnect() {
    m_backoff.schedule();
}

void RedisSubscriber::onConnect(const redisAsyncContext *ctx, int status) {
    auto *self = static_cast<RedisSubscriber *>(ctx->data);
    if (!self)
        return;
    if (status != REDIS_OK) {
        qCWarning(lcRedis) << "subscriber: cannot connect to" << self->m_endpoint.host
                           << self->m_endpoint.port << ":" << ctx->errstr;
        self->m_ctx = nullptr; // hiredis frees the context after this callback returns
        self->scheduleReconnect();
        return;
    }
    redisEnableKeepAlive(&self->m_ctx->c);
    if (self->m_endpoint.password.isEmpty()) {
        self->subscribeNow();
        return;
    }
    QList<QByteArray> auth{QByteArrayLiteral("AUTH")};
    if (!self->m_endpoint.username.isEmpty())
        auth << self->m_endpoint.username;
    auth << self->m_endpoint.password;
    QVarLengthArray<const char *, 3> args;
    QVarLengthArray<size_t, 3> lens;
    for (const QByteArray &a : auth) {
        args.append(a.constData());
        lens.append(size_t(a.size()));
    }
    redisAsyncCommandArgv(self->m_ctx, &RedisSubscriber::onAuth, nullptr, int(args.size()),
                          args.data(), lens.data());
}

void RedisSubscriber::onAuth(redisAsyncContext *ctx, void *reply, void *) {
    auto *self = static_cast<RedisSubscriber *>(ctx->data);
    if (!self || !reply) // going away, or the connection is
        return;
    const auto *r = static_cast<const redisReply *>(reply);
    if (r->type == REDIS_REPLY_ERROR) {
        // Redis's answer (WRONGPASS, ...) never contains the password.
        qCCritical(lcRedis).noquote()
            << "subscriber: AUTH as"
            << (self->m_endpoint.username.isEmpty() ? QByteArray("default")
                                                    : self->m_endpoint.username)
            << "refused:" << replyText(r);
        redisAsyncDisconnect(ctx); // onDisconnect retries, with backoff
        return;
    }
    self->subscribeNow();
}

void RedisSubscriber::subscribeNow() {
    QVarLengthArray<const char *, 4> args{"SUBSCRIBE"};
    QVarLengthArray<size_t, 4> lens{9};
    for (const QByteArray &c : std::as_const(m_channels)) {
        args.append(c.constData());
        lens.append(size_t(c.size()));
    }
    redisAsyncCommandArgv(m_ctx, &RedisSubscriber::onPush, nullptr, int(args.size()), args.data(),
                          lens.data());
}

void RedisSubscriber::onPush(redisAsyncContext *ctx, void *reply, void *) {
    auto *self = static_cast<RedisSubscriber *>(ctx->data);
    const auto *r = static_cast<const redisReply *>(reply);
    // No reply: the connection is closing, and onDisconnect follows.
    if (!self || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    const QByteArray kind = replyText(r->element[0]);
    if (kind == "message") {
        Q_EMIT self->message(replyText(r->element[1]), replyText(r->element[2]));
    } else if (kind == "subscribe") {
        if (++self->m_confirmed == self->m_channels.size()) {
            self->m_backoff.connected();
            qCInfo(lcRedis).noquote() << "subscribed to" << self->m_channels.join(", ") << "on"
                                      << self->m_endpoint.host << self->m_endpoint.port;
            self->setSubscribed(true);
        }
    }
}

void RedisSubscriber::onDisconnect(const redisAsyncContext *ctx, int status) {
    auto *self = static_cast<RedisSubscriber *>(ctx->data);
    if (!self)
        return;
    self->m_ctx = nullptr; // hiredis frees it after this callback
    qCWarning(lcRedis) << "subscriber: disconnected from" << self->m_endpoint.host
                       << self->m_endpoint.port << (status == REDIS_OK ? "" : ctx->errstr);
    self->scheduleReconnect();
    self->setSubscribed(false);
}

} // namespace flashsale
