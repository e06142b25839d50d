#include "apiserver.h"

#include "admin/adminservice.h"
#include "admin/adminsession.h"
#include "admin/buyerlive.h"
#include "admin/loginthrottle.h"
#include "admin/operatorauth.h"
#include "api/apiroutes.h"
#include "booking/bookingservice.h"
#include "booking/salecatalog.h"
#include "booking/stockbacknotices.h"
#include "core/logging.h"
#include "fairness/seedbox.h"
#include "http/httpserver.h"
#include "metrics/metrics.h"
#include "pg/pgconnection.h"
#include "reconcile/reconciler.h"
#include "redis/redisconnect.h"
#include "redis/redisdurability.h"
#include "redis/redissubscriber.h"
#include "stats/livestats.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QWebSocket>

#include <unistd.h>

namespace flashsale {

// Everything one API thread owns. Constructed on the main thread, then moved to its thread;
// start() and stop() run there.
class ApiWorker final : public QObject {
    Q_OBJECT
public:
    ApiWorker(const Config &config, const ConnectionLimits &limits,
              std::shared_ptr<std::atomic<int>> open, std::shared_ptr<std::atomic<int>> down,
              std::shared_ptr<LoginThrottle> throttle,
              std::shared_ptr<const StockBackNotices> stockBack, int fd)
        : m_config(config)
        , m_limits(limits)
        , m_open(std::move(open))
        , m_down(std::move(down))
        , m_throttle(std::move(throttle))
        , m_stockBack(std::move(stockBack))
        , m_fd(fd) {}

    Q_INVOKABLE QString start() {
        const auto target = RedisTarget::fromConfig(m_config);
        if (!target)
            return target.error().message;
        m_redis = createRedis(*target, std::chrono::milliseconds(m_config.redisTimeoutMs));
        static Histogram &rtt = Metrics::instance().histogram(
            "flashsale_redis_roundtrip_seconds", "Time from sending a Redis command to its reply.");
        m_redis->setRoundTripObserver([](double s) { rtt.observe(s); });
        m_redis->setMetricsName(QThread::currentThread()->objectName().toUtf8());
        m_pg = std::make_unique<PgConnection>(m_config.pgUrl);
        m_pg->setMetricsPool("api");
        m_booking = std::make_unique<BookingService>(
            *m_redis, std::chrono::milliseconds(qint64(m_config.idempotencyTtlSeconds) * 1000),
            std::chrono::milliseconds(m_config.soldOutCacheMs));
        m_booking->setReplicaWait(m_config.redisWaitReplicas,
                                  std::chrono::milliseconds(m_config.redisWaitTimeoutMs));
        m_booking->setStockBackNotices(m_stockBack);
        m_catalog = std::make_unique<SaleCatalog>(*m_pg, *m_redis);
        QString keyError;
        m_catalog->setSeedKey(
            fairness::SeedBox::sealingKey(m_config.waitingRoomSeedKey.toLatin1(),
                                          m_config.waitingRoomSeedPublicKey.toLatin1(), &keyError));
        if (!keyError.isEmpty())
            return keyError;
        m_routes = std::make_unique<ApiRoutes>(m_config, *m_booking, *m_catalog, *m_redis, *m_pg);
        m_stats = std::make_unique<StatsRecorder>(*m_redis, m_config.statsFlushMs);
        m_routes->setStatsRecorder(m_stats.get());
        m_routes->setConnectionsDown([down = m_down] { return down->load(); });
        // Both connections count as down until they connect.
        m_down->fetch_add(2);
        auto track = [down = m_down](bool *up, bool now) {
            if (*up != now) {
                *up = now;
                down->fetch_add(now ? -1 : 1);
            }
        };
        connect(m_redis.get(), &RedisCommands::connected, this, [this, track] {
            track(&m_redisUp, true);
            // Say once per process how much a Redis crash can lose (I3), so an operator who
            // runs Redis without an append-only file hears it at start-up, not after a crash.
            static std::atomic<bool> told{false};
            if (!told.exchange(true))
                readRedisDurability(*m_redis, [](const RedisDurability &d) {
                    if (d.known && d.appendOnly && d.appendFsync != "no")
                        qCInfo(lcApp).noquote() << d.describe();
                    else
                        qCWarning(lcApp).noquote() << d.describe();
                });
        });
        connect(m_redis.get(), &RedisCommands::disconnected, this,
                [this, track] { track(&m_redisUp, false); });
        connect(m_pg.get(), &PgConnection::connected, this,
                [this, track] { track(&m_pgUp, true); });
        connect(m_pg.get(), &PgConnection::disconnected, this,
                [this, track] { track(&m_pgUp, false); });
        m_probe = std::make_unique<LoopLagProbe>();
        m_collector = std::make_unique<StatsCollector>(*m_redis, *m_pg);
        m_reconciler = std::make_unique<Reconciler>(*m_pg, *m_redis);
        m_admin =
            std::make_unique<AdminService>(m_config, *m_pg, *m_redis, *m_catalog, *m_reconciler);
        m_authenticator = std::make_unique<OperatorAuthenticator>(m_config, *m_pg, *m_throttle);
        m_routes->setAdminAuthenticator(m_authenticator.get());
        m_adminHub =
            std::make_unique<AdminHub>(*m_admin, *m_collector, *m_pg, *m_authenticator,
                                       m_config.maxAdminMessageBytes, m_config.webSocketIdleMs);
        m_buyers = std::make_unique<BuyerLiveHub>(*m_redis, *m_pg, m_config.webSocketIdleMs);
        m_http = std::make_unique<HttpServer>();
        m_routes->install(*m_http);
        connect(m_http.get(), &QAbstractHttpServer::newWebSocketConnection, this,
                &ApiWorker::acceptWebSockets);

        auto *tcp = new GuardedTcpServer(m_limits, m_open);
        if (!tcp->setSocketDescriptor(m_fd)) {
            const QString err = tcp->errorString();
            delete tcp;
            return QStringLiteral("cannot adopt listening socket: %1").arg(err);
        }
        m_http->bind(tcp); // takes ownership
        m_redis->start();
        m_pg->start();
        return {};
    }

    Q_INVOKABLE void stop() {
        m_http.reset(); // closes the listening socket and every connection
        m_adminHub.reset();
        m_authenticator.reset();
        m_buyers.reset();
        m_admin.reset();
        m_reconciler.reset();
        m_collector.reset();
        m_probe.reset();
        m_stats.reset();
        m_routes.reset();
        m_catalog.reset();
        m_booking.reset();
        m_redis.reset();
        m_pg.reset();
    }

private:
    // The gate (ConnectionLimits::upgradeGate) let only known paths through, and admin sockets
    // only with a credential of the right form; the session checks it.
    void acceptWebSockets() {
        while (m_http && m_http->hasPendingWebSocketConnections()) {
            std::unique_ptr<QWebSocket> ws = m_http->nextPendingWebSocketConnection();
            if (!ws)
                continue;
            const QString path = ws->requestUrl().path();
            QStringList params;
            if (path == QLatin1String("/admin/v1/ws")) {
                // X-Flashsale-Actor is ignored: the audit names the operator who logged in.
                const auto credential =
                    parseAuthorization(ws->request().rawHeader("Authorization"));
                if (!credential) { // the gate refuses these; never let one through
                    ws->close(QWebSocketProtocol::CloseCodePolicyViolated,
                              QStringLiteral("unauthorized"));
                    continue;
                }
                const QByteArray address =
                    loginAddress(ws->peerAddress(), ws->request().rawHeader("X-Forwarded-For"),
                                 m_config.trustedProxies);
                m_adminHub->accept(std::move(ws), *credential, address);
            } else if (m_http->matchWebSocketRoute(path, &params)) {
                m_buyers->accept(std::move(ws), params.value(0).toLongLong());
            } else {
                ws->close(QWebSocketProtocol::CloseCodePolicyViolated,
                          QStringLiteral("unknown path"));
            }
        }
    }

    const Config &m_config;
    const ConnectionLimits &m_limits;
    std::shared_ptr<std::atomic<int>> m_open;
    std::shared_ptr<std::atomic<int>> m_down;
    std::shared_ptr<LoginThrottle> m_throttle;
    std::shared_ptr<const StockBackNotices> m_stockBack;
    bool m_redisUp = false;
    bool m_pgUp = false;
    int m_fd;
    std::unique_ptr<RedisCommands> m_redis;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<BookingService> m_booking;
    std::unique_ptr<SaleCatalog> m_catalog;
    std::unique_ptr<ApiRoutes> m_routes;
    std::unique_ptr<StatsRecorder> m_stats;
    std::unique_ptr<LoopLagProbe> m_probe;
    std::unique_ptr<StatsCollector> m_collector;
    std::unique_ptr<Reconciler> m_reconciler;
    std::unique_ptr<AdminService> m_admin;
    std::unique_ptr<OperatorAuthenticator> m_authenticator;
    std::unique_ptr<AdminHub> m_adminHub;
    std::unique_ptr<BuyerLiveHub> m_buyers;
    std::unique_ptr<HttpServer> m_http;
};

ApiServer::ApiServer(const Config &config, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_open(std::make_shared<std::atomic<int>>(0))
    , m_down(std::make_shared<std::atomic<int>>(0))
    , m_throttle(std::make_shared<LoginThrottle>(config.maxFailedLogins))
    , m_stockBack(std::make_shared<StockBackNotices>()) {
    m_limits.maxConnections = config.maxConnections;
    m_limits.idleTimeoutMs = config.idleTimeoutMs;
    m_limits.requestTimeoutMs = config.requestTimeoutMs;
    m_limits.maxHeaderBytes = config.maxHeaderBytes;
    m_limits.maxBodyBytes = config.maxBodyBytes;
    m_limits.upgradeGate = [token = config.adminToken, trusted = config.trustedProxies,
                            throttle =
                                m_throttle](const QByteArray &target, const HeaderList &headers,
                                            const QHostAddress &peer) -> std::optional<Problem> {
        const QByteArray path =
            target.left(target.indexOf('?') < 0 ? target.size() : target.indexOf('?'));
        if (path == "/admin/v1/ws") {
            // Only the credential's form and the address's failed logins here: the gate is
            // synchronous. The session checks the credential (argon2 off the event loop) and
            // counts failures per address before it reads any message (AdminSession).
            QByteArray auth, forwardedFor;
            for (const auto &h : headers) {
                if (h.first == "authorization")
                    auth = h.second;
                else if (h.first == "x-forwarded-for")
                    forwardedFor = h.second;
            }
            const int retryAfter = throttle->retryAfterSeconds(
                loginAddress(peer, forwardedFor, trusted), QDateTime::currentMSecsSinceEpoch());
            if (retryAfter > 0)
                return Problem::make(429, QStringLiteral("too-many-login-attempts"),
                                     QStringLiteral("Too many failed logins from this address; "
                                                    "try again in %1 s.")
                                         .arg(retryAfter))
                    .header("Retry-After", QByteArray::number(retryAfter));
            auto credential = parseAuthorization(auth);
            QString refusal = credential ? QString() : credential.error();
            if (credential && credential->kind == LoginCredential::Kind::Bearer && token.isEmpty())
                refusal = QStringLiteral("No bootstrap admin token is configured; log in as an "
                                         "operator with Authorization: Basic.");
            if (refusal.isEmpty())
                return std::nullopt;
            return Problem::make(401, QStringLiteral("unauthorized"), refusal)
                .header("WWW-Authenticate", "Basic realm=\"flashsale-admin\", charset=\"UTF-8\"");
        }
        const QList<QByteArray> parts = path.split('/');
        // "", "api", "v1", "sales", id, "live"
        if (parts.size() == 6 && parts[1] == "api" && parts[2] == "v1" && parts[3] == "sales"
            && parts[5] == "live") {
            bool ok = false;
            const qint64 id = parts[4].toLongLong(&ok);
            if (ok && id > 0)
                return std::nullopt;
            return Problem::make(404, QStringLiteral("sale-not-found"));
        }
        return Problem::make(
            404, QStringLiteral("not-found"),
            QStringLiteral("No WebSocket is served at %1.").arg(QString::fromUtf8(path.left(200))));
    };
}

ApiServer::~ApiServer() {
    stop();
}

Result<quint16> ApiServer::start() {
    static Histogram &latency =
        Metrics::instance().histogram("flashsale_http_request_duration_seconds",
                                      "Time from a request's arrival to its answer, all routes.");
    HttpExchange::setLatencyHistogram(&latency);

    const QHostAddress address(m_config.listen);
    if (address.isNull())
        return fail(ErrorCode::Invalid,
                    QStringLiteral("--listen %1 is not an IP address").arg(m_config.listen));
    if (m_config.soldOutCacheMs > 0) {
        const auto target = RedisTarget::fromConfig(m_config);
        if (!target)
            return std::unexpected(target.error());
        // On a Redis Cluster a PUBLISH reaches the subscribers of every node: the first seed's
        // hear it all (while that node is down, only --sold-out-cache-ms bounds the memory).
        startStockBackSubscriber(target->isCluster() ? target->clusterSeeds.first() : target->node);
    }
    quint16 port = quint16(m_config.port);
    for (int i = 0; i < m_config.threads; ++i) {
        // The first socket may pick a free port; the others join it.
        auto fd = openReusePortSocket(address, port, &port);
        if (!fd) {
            stop();
            return std::unexpected(fd.error());
        }
        auto *thread = new QThread(this);
        thread->setObjectName(QStringLiteral("api-%1").arg(i));
        auto *worker =
            new ApiWorker(m_config, m_limits, m_open, m_down, m_throttle, m_stockBack, *fd);
        worker->moveToThread(thread);
        connect(thread, &QThread::finished, worker, &QObject::deleteLater);
        thread->start();
        m_threads << thread;
        m_workers << worker;
        QString error;
        QMetaObject::invokeMethod(worker, "start", Qt::BlockingQueuedConnection,
                                  Q_RETURN_ARG(QString, error));
        if (!error.isEmpty()) {
            ::close(*fd);
            stop();
            return fail(ErrorCode::Internal, error);
        }
    }
    qCInfo(lcApp) << "API listening on" << m_config.listen << "port" << port << "with"
                  << m_config.threads << "threads";
    return port;
}

void ApiServer::startStockBackSubscriber(const RedisClient::Endpoint &endpoint) {
    static Counter &heard = Metrics::instance().counter(
        "flashsale_stock_back_notices_total",
        "Messages on flashsale:stock-back heard by this process: a sold-out item of the sale "
        "named got units back, and the API threads forgot that the sale was sold out.");
    m_subscriber = std::make_unique<RedisSubscriber>(
        endpoint, QByteArrayList{QByteArrayLiteral("flashsale:stock-back")});
    m_subscriber->setMetricsName("stock-back");
    // Whatever was published before the subscription (or while it was down) went unheard.
    connect(m_subscriber.get(), &RedisSubscriber::subscribed, this,
            [notices = m_stockBack] { notices->forgetAll(); });
    connect(m_subscriber.get(), &RedisSubscriber::message, this,
            [notices = m_stockBack](const QByteArray &, const QByteArray &payload) {
                bool ok = false;
                const qint64 sale = payload.toLongLong(&ok);
                if (ok)
                    notices->saleRestocked(sale);
                else
                    notices->forgetAll(); // not ours to read: forget, to be safe
                // Counted after: whoever sees the count sees the notice in every thread.
                heard.inc();
            });
    m_subscriber->start();
}

std::shared_ptr<std::atomic<int>> ApiServer::openConnections() const {
    return m_open;
}

int ApiServer::connectionsDown() const {
    return m_down->load();
}

void ApiServer::stop() {
    m_subscriber.reset();
    for (ApiWorker *w : std::as_const(m_workers))
        QMetaObject::invokeMethod(w, "stop", Qt::BlockingQueuedConnection);
    for (QThread *t : std::as_const(m_threads)) {
        t->quit();
        t->wait();
    }
    qDeleteAll(m_threads);
    m_threads.clear();
    m_workers.clear();
}

} // namespace flashsale

#include "apiserver.moc"
