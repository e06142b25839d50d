#include "apiserver.h"

#include "api/apiroutes.h"
#include "booking/bookingservice.h"
#include "booking/salecatalog.h"
#include "core/logging.h"
#include "http/httpserver.h"
#include "metrics/metrics.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"

#include <unistd.h>

namespace flashsale {

// Everything one API thread owns. Constructed on the main thread, then moved to its thread;
// start() and stop() run there.
class ApiWorker final : public QObject {
    Q_OBJECT
public:
    ApiWorker(const Config &config, const ConnectionLimits &limits,
              std::shared_ptr<std::atomic<int>> open, int fd)
        : m_config(config)
        , m_limits(limits)
        , m_open(std::move(open))
        , m_fd(fd) {}

    Q_INVOKABLE QString start() {
        auto endpoint = RedisClient::Endpoint::fromUrl(m_config.redisUrl);
        if (!endpoint)
            return endpoint.error().message;
        m_redis = std::make_unique<RedisClient>(*endpoint,
                                                std::chrono::milliseconds(m_config.redisTimeoutMs));
        static Histogram &rtt = Metrics::instance().histogram(
            "flashsale_redis_roundtrip_seconds", "Time from sending a Redis command to its reply.");
        m_redis->onRoundTrip = [](double s) { rtt.observe(s); };
        m_pg = std::make_unique<PgConnection>(m_config.pgUrl);
        m_booking = std::make_unique<BookingService>(
            *m_redis, std::chrono::milliseconds(qint64(m_config.idempotencyTtlSeconds) * 1000),
            std::chrono::milliseconds(m_config.soldOutCacheMs));
        m_catalog = std::make_unique<SaleCatalog>(*m_pg, *m_redis);
        m_routes = std::make_unique<ApiRoutes>(m_config, *m_booking, *m_catalog, *m_redis, *m_pg);
        m_http = std::make_unique<HttpServer>();
        m_routes->install(*m_http);

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
        m_routes.reset();
        m_catalog.reset();
        m_booking.reset();
        m_redis.reset();
        m_pg.reset();
    }

private:
    const Config &m_config;
    const ConnectionLimits &m_limits;
    std::shared_ptr<std::atomic<int>> m_open;
    int m_fd;
    std::unique_ptr<RedisClient> m_redis;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<BookingService> m_booking;
    std::unique_ptr<SaleCatalog> m_catalog;
    std::unique_ptr<ApiRoutes> m_routes;
    std::unique_ptr<HttpServer> m_http;
};

ApiServer::ApiServer(const Config &config, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_open(std::make_shared<std::atomic<int>>(0)) {
    m_limits.maxConnections = config.maxConnections;
    m_limits.idleTimeoutMs = config.idleTimeoutMs;
    m_limits.requestTimeoutMs = config.requestTimeoutMs;
    m_limits.maxHeaderBytes = config.maxHeaderBytes;
    m_limits.maxBodyBytes = config.maxBodyBytes;
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
        auto *worker = new ApiWorker(m_config, m_limits, m_open, *fd);
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

void ApiServer::stop() {
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
