#include "redisclient.h"

#include "core/contract.h"
#include "core/logging.h"
#include "metrics/metrics.h"

#include <QRandomGenerator>
#include <QUrl>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>

namespace flashsale {

Result<RedisClient::Endpoint> RedisClient::Endpoint::fromUrl(const QString &text) {
    const QUrl url(text, QUrl::StrictMode);
    // Error messages name the URL without its password: they end up in logs.
    const QString shown = url.toString(QUrl::RemovePassword);
    if (!url.isValid() || url.scheme() != QLatin1String("redis") || url.host().isEmpty())
        return fail(ErrorCode::Invalid, QStringLiteral("not a redis:// URL: %1").arg(shown));
    Endpoint e;
    e.host = url.host();
    e.port = url.port(6379);
    e.username = url.userName(QUrl::FullyDecoded).toUtf8();
    e.password = url.password(QUrl::FullyDecoded).toUtf8();
    const QString path = url.path().mid(1);
    if (!path.isEmpty()) {
        bool ok = false;
        e.db = path.toInt(&ok);
        if (!ok || e.db < 0)
            return fail(ErrorCode::Invalid, QStringLiteral("bad database number in %1").arg(shown));
    }
    return e;
}

RedisClient::RedisClient(Endpoint endpoint, std::chrono::milliseconds timeout, QObject *parent)
    : RedisCommands(parent)
    , m_endpoint(std::move(endpoint))
    , m_timeout(timeout) {
    m_timeoutTimer.setInterval(std::max<int>(5, int(m_timeout.count() / 4)));
    connect(&m_timeoutTimer, &QTimer::timeout, this, &RedisClient::checkTimeouts);
}

RedisClient::~RedisClient() {
    if (m_ctx) {
        redisAsyncContext *ctx = m_ctx;
        ctx->data = nullptr; // the static callbacks must not reach a dying object
        m_ctx = nullptr;
        redisAsyncFree(ctx); // hands every pending command to onReply, which drops it
    }
    setConnectedGauge(false);
    addPendingGauge(-qint64(m_pending.size()));
    // No callback runs (see the class comment): the pending commands are only freed.
    qDeleteAll(m_pending);
    m_pending.clear();
}

void RedisClient::setMetricsName(const QByteArray &client) {
    const QByteArray labels = "client=\"" + labelValue(client) + '"';
    m_connectedGauge = &Metrics::instance().gauge(
        "flashsale_redis_connected", "Whether this Redis connection is up (1) or not (0).", labels);
    m_pendingGauge = &Metrics::instance().gauge(
        "flashsale_redis_pending_commands",
        "Commands sent on this Redis connection and not yet answered.", labels);
    m_connectedGauge->set(m_ready ? 1 : 0);
}

void RedisClient::setConnectedGauge(bool up) {
    if (m_connectedGauge)
        m_connectedGauge->set(up ? 1 : 0);
}

void RedisClient::addPendingGauge(qint64 delta) {
    if (m_pendingGauge && delta != 0)
        m_pendingGauge->add(delta);
}

void RedisClient::start() {
    m_timeoutTimer.start();
    connectNow();
}

void RedisClient::connectNow() {
    if (m_ctx)
        return;
    redisAsyncContext *ctx =
        redisAsyncConnect(m_endpoint.host.toUtf8().constData(), m_endpoint.port);
    if (!ctx || ctx->err) {
        qCWarning(lcRedis) << "connect to" << m_endpoint.host << m_endpoint.port
                           << "failed:" << (ctx ? ctx->errstr : "out of memory");
        if (ctx)
            redisAsyncFree(ctx);
        scheduleReconnect();
        return;
    }
    m_ctx = ctx;
    ctx->data = this;
    m_events.attach(ctx, this);
    redisAsyncSetConnectCallback(ctx, &RedisClient::onConnect);
    redisAsyncSetDisconnectCallback(ctx, &RedisClient::onDisconnect);
}

void RedisClient::scheduleReconnect() {
    m_backoff.schedule();
}

void RedisClient::onConnect(const redisAsyncContext *ctx, int status) {
    auto *self = static_cast<RedisClient *>(ctx->data);
    if (!self)
        return;
    if (status != REDIS_OK) {
        qCWarning(lcRedis) << "cannot connect to" << self->m_endpoint.host << self->m_endpoint.port
                           << ":" << ctx->errstr;
        // hiredis frees the context after this callback returns.
        self->m_ctx = nullptr;
        self->m_ready = false;
        self->setConnectedGauge(false);
        self->scheduleReconnect();
        return;
    }
    self->m_backoff.connected();
    self->m_ready = true;
    self->setConnectedGauge(true);
    // AUTH and SELECT go first on the wire; a failure shows in the log and in every command.
    if (!self->m_endpoint.password.isEmpty()) {
        QList<QByteArray> auth{QByteArrayLiteral("AUTH")};
        if (!self->m_endpoint.username.isEmpty())
            auth << self->m_endpoint.username;
        auth << self->m_endpoint.password;
        self->command(auth, [user = self->m_endpoint.username](const Result<RedisValue> &r) {
            // Redis's answer (WRONGPASS, ...) never contains the password.
            if (r && r->isError())
                qCCritical(lcRedis).noquote()
                    << "AUTH as" << (user.isEmpty() ? QByteArray("default") : user)
                    << "refused:" << r->string;
        });
    }
    if (self->m_endpoint.db != 0) {
        self->command({"SELECT", QByteArray::number(self->m_endpoint.db)},
                      [](const Result<RedisValue> &r) {
                          if (r && r->isError())
                              qCCritical(lcRedis) << "SELECT failed:" << r->string;
                      });
    }
    qCInfo(lcRedis) << "connected to" << self->m_endpoint.host << self->m_endpoint.port;
    Q_EMIT self->connected();
}

void RedisClient::onDisconnect(const redisAsyncContext *ctx, int status) {
    auto *self = static_cast<RedisClient *>(ctx->data);
    if (!self)
        return;
    const bool wasReady = self->m_ready;
    self->m_ctx = nullptr; // hiredis frees it after this callback
    self->m_ready = false;
    self->setConnectedGauge(false);
    qCWarning(lcRedis) << "disconnected from" << self->m_endpoint.host << self->m_endpoint.port
                       << (status == REDIS_OK ? "" : ctx->errstr);
    self->scheduleReconnect();
    if (wasReady)
        Q_EMIT self->disconnected();
}

void RedisClient::command(const QList<QByteArray> &argv, Callback callback) {
    assertOwnThread(this, "RedisClient::command");
    callback = exactlyOnce(std::move(callback), "RedisClient::command");
    if (!m_ctx || !m_ready) {
        callback(fail(ErrorCode::Unavailable, QStringLiteral("redis not connected")));
        return;
    }
    // Fail fast while Redis does not answer at all: the oldest command already timed out.
    if (!m_pending.empty() && m_pending.front()->done) {
        callback(fail(ErrorCode::Unavailable, QStringLiteral("redis not answering")));
        return;
    }
    QVarLengthArray<const char *, 16> args;
    QVarLengthArray<size_t, 16> lens;
    for (const QByteArray &a : argv) {
        args.append(a.constData());
        lens.append(size_t(a.size()));
    }
    auto *pending = new Pending{std::move(callback), std::chrono::steady_clock::now()};
    m_pending.push_back(pending);
    addPendingGauge(1);
    if (redisAsyncCommandArgv(m_ctx, &RedisClient::onReply, pending, int(args.size()), args.data(),
                              lens.data())
        != REDIS_OK) {
        m_pending.pop_back();
        addPendingGauge(-1);
        pending->callback(fail(ErrorCode::Unavailable, QStringLiteral("redis connection closing")));
        delete pending;
    }
}

void RedisClient::eval(const RedisScript &script, const QList<QByteArray> &keys,
                       const QList<QByteArray> &args, Callback callback) {
    QList<QByteArray> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv << QByteArrayLiteral("EVALSHA") << script.sha1 << QByteArray::number(keys.size());
    argv << keys << args;
    const QByteArray body = script.body; // implicitly shared, no copy
    command(argv, [this, argv, body,
                   callback = std::move(callback)](const Result<RedisValue> &r) mutable {
        if (r && r->isError() && r->string.startsWith("NOSCRIPT")) {
            argv[0] = QByteArrayLiteral("EVAL");
            argv[1] = body;
            command(argv, std::move(callback));
            return;
        }
        callback(r);
    });
}

void RedisClient::onReply(redisAsyncContext *ctx, void *reply, void *privdata) {
    auto *pending = static_cast<Pending *>(privdata);
    auto *self = static_cast<RedisClient *>(ctx->data);
    if (!self) { // client destroyed: its destructor frees the pending commands
        return;
    }
    self->complete(pending, reply);
}

void RedisClient::complete(Pending *pending, void *reply) {
    auto it = std::find(m_pending.begin(), m_pending.end(), pending);
    if (it != m_pending.end()) {
        m_pending.erase(it);
        addPendingGauge(-1);
    }
    if (!pending->done) {
        pending->done = true;
        if (reply) {
            if (onRoundTrip) {
                const auto rtt = std::chrono::steady_clock::now() - pending->sentAt;
                onRoundTrip(std::chrono::duration<double>(rtt).count());
            }
            pending->callback(RedisValue::fromHiredis(static_cast<redisReply *>(reply)));
        } else {
            pending->callback(
                fail(ErrorCode::Unavailable, QStringLiteral("redis connection lost")));
        }
    }
    delete pending;
}

void RedisClient::checkTimeouts() {
    if (m_pending.empty())
        return;
    const auto now = std::chrono::steady_clock::now();
    for (Pending *p : m_pending) {
        if (now - p->sentAt < m_timeout)
            break;
        if (!p->done) {
            p->done = true;
            p->callback(fail(ErrorCode::Timeout, QStringLiteral("redis did not answer in time")));
        }
    }
    // Redis silent for much longer than the timeout (frozen, or a half-open connection): start
    // over on a new connection rather than wait forever for replies that may never come.
    const auto watchdog =
        std::max<std::chrono::milliseconds>(m_timeout * 6, std::chrono::seconds(3));
    if (!m_pending.empty() && now - m_pending.front()->sentAt > watchdog)
        dropConnection("no reply within the watchdog period");
}

void RedisClient::dropConnection(const char *why) {
    if (!m_ctx)
        return;
    qCWarning(lcRedis) << "dropping connection:" << why;
    redisAsyncContext *ctx = m_ctx;
    m_ctx = nullptr;
    m_ready = false;
    setConnectedGauge(false);
    addPendingGauge(-qint64(m_pending.size()));
    ctx->data = nullptr;
    redisAsyncFree(ctx); // onReply sees data == nullptr and ignores; we answer the rest here
    for (Pending *p : m_pending) {
        if (!p->done)
            p->callback(fail(ErrorCode::Unavailable, QStringLiteral("redis connection dropped")));
        delete p;
    }
    m_pending.clear();
    scheduleReconnect();
    Q_EMIT disconnected();
}

void RedisClient::transaction(const QList<QList<QByteArray>> &commands, Callback callback) {
    // Nothing else can be queued between MULTI and EXEC: only this thread writes here.
    const auto ignore = [](const Result<RedisValue> &) {};
    command({QByteArrayLiteral("MULTI")}, ignore);
    for (const QList<QByteArray> &c : commands)
        command(c, ignore);
    command({QByteArrayLiteral("EXEC")}, std::move(callback));
}

} // namespace flashsale
