#include "adminlistener.h"

#include "api/metricsroute.h"
#include "core/logging.h"
#include "http/guardedtcpserver.h"
#include "http/httpserver.h"
#include "pg/pgconnection.h"
#include "redis/redisconnect.h"
#include "stats/livestats.h"

#include <QJsonObject>

namespace flashsale {

// Everything the listener's thread owns. Constructed on the main thread, moved to the listener's
// thread; start() and stop() run there.
class AdminListenerWorker final : public QObject {
    Q_OBJECT
public:
    AdminListenerWorker(const Config &config, const ConnectionLimits &limits,
                        std::shared_ptr<std::atomic<int>> open, const AdminListener &owner)
        : m_config(config)
        , m_limits(limits)
        , m_open(std::move(open))
        , m_owner(owner) {}

    // Listens; returns an error, or empty with port() set.
    Q_INVOKABLE QString start() {
        const auto target = RedisTarget::fromConfig(m_config);
        if (!target)
            return target.error().message;
        m_redis = createRedis(*target, std::chrono::milliseconds(m_config.redisTimeoutMs));
        m_redis->setMetricsName("metrics");
        m_pg = std::make_unique<PgConnection>(m_config.pgUrl);
        m_pg->setMetricsPool("metrics");
        m_route = std::make_unique<MetricsRoute>(*m_redis, *m_pg, m_config.metricsCacheMs);
        m_http = std::make_unique<HttpServer>();
        m_http->addRoute(
            "GET", QStringLiteral("/metrics"),
            [this](const ExchangePtr &ex, const QStringList &) { m_route->serve(ex); });
        m_http->addRoute("GET", QStringLiteral("/healthz"),
                         [](const ExchangePtr &ex, const QStringList &) {
                             ex->sendJson(200, QJsonObject{{"status", "ok"}});
                         });
        m_http->addRoute("GET", QStringLiteral("/readyz"),
                         [this](const ExchangePtr &ex, const QStringList &) { ready(ex); });
        auto *tcp = new GuardedTcpServer(m_limits, m_open);
        if (!tcp->listen(QHostAddress(m_config.metricsListen), quint16(m_config.metricsPort))) {
            const QString err = tcp->errorString();
            delete tcp;
            return QStringLiteral("cannot listen for /metrics on %1 port %2: %3")
                .arg(m_config.metricsListen)
                .arg(m_config.metricsPort)
                .arg(err);
        }
        m_port = tcp->serverPort();
        m_http->bind(tcp);                          // takes ownership
        m_probe = std::make_unique<LoopLagProbe>(); // this thread's event-loop lag
        m_redis->start();
        m_pg->start();
        return {};
    }

    Q_INVOKABLE void stop() {
        m_probe.reset();
        m_http.reset();
        m_route.reset();
        m_redis.reset();
        m_pg.reset();
    }

    quint16 port() const { return m_port; }

private:
    // PostgreSQL for every role; Redis for the roles that use it; then the registered checks.
    void ready(const ExchangePtr &ex) {
        struct State {
            QJsonObject deps;
            int waiting = 1;
        };
        const bool needsRedis = m_config.hasRole(QStringLiteral("api"))
                                || m_config.hasRole(QStringLiteral("worker"))
                                || m_config.hasRole(QStringLiteral("payment"))
                                || m_config.hasRole(QStringLiteral("scheduler"));
        auto state = std::make_shared<State>();
        state->waiting = needsRedis ? 2 : 1;
        auto finish = [ex, state, checks = m_owner.checks()] {
            if (--state->waiting > 0)
                return;
            for (const AdminListener::Check &c : checks) {
                const QString why = c.ok();
                state->deps.insert(c.name, why.isEmpty() ? QStringLiteral("ok") : why);
            }
            QStringList bad;
            for (auto it = state->deps.constBegin(); it != state->deps.constEnd(); ++it)
                if (it.value().toString() != QLatin1String("ok"))
                    bad << it.key() + QLatin1String(": ") + it.value().toString();
            if (bad.isEmpty()) {
                QJsonObject body = state->deps;
                body.insert(QStringLiteral("status"), QStringLiteral("ready"));
                ex->sendJson(200, body);
                return;
            }
            Problem p = Problem::make(503, QStringLiteral("backend-unavailable"),
                                      bad.join(QLatin1String("; ")));
            for (auto it = state->deps.constBegin(); it != state->deps.constEnd(); ++it)
                p.with(it.key(), it.value());
            ex->sendProblem(p.header("Retry-After", "1"));
        };
        m_pg->query("SELECT 1", {}, [state, finish](const Result<PgResult> &r) {
            state->deps.insert(QStringLiteral("postgres"),
                               r ? QStringLiteral("ok") : r.error().message);
            finish();
        });
        if (needsRedis)
            m_redis->command({"PING"}, [state, finish](const Result<RedisValue> &r) {
                state->deps.insert(QStringLiteral("redis"), r && !r->isError()
                                                                ? QStringLiteral("ok")
                                                            : r ? QString::fromUtf8(r->string)
                                                                : r.error().message);
                finish();
            });
    }

    const Config &m_config;
    const ConnectionLimits &m_limits;
    std::shared_ptr<std::atomic<int>> m_open;
    const AdminListener &m_owner;
    quint16 m_port = 0;
    std::unique_ptr<RedisCommands> m_redis;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<MetricsRoute> m_route;
    std::unique_ptr<HttpServer> m_http;
    std::unique_ptr<LoopLagProbe> m_probe;
};

AdminListener::AdminListener(const Config &config,
                             std::shared_ptr<std::atomic<int>> openConnections, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_open(std::move(openConnections)) {
    m_limits.maxConnections = config.maxConnections;
    m_limits.idleTimeoutMs = config.idleTimeoutMs;
    m_limits.requestTimeoutMs = config.requestTimeoutMs;
    m_limits.maxHeaderBytes = config.maxHeaderBytes;
    m_limits.maxBodyBytes = config.maxBodyBytes;
    m_limits.upgradeGate = [](const QByteArray &, const HeaderList &, const QHostAddress &) {
        return std::optional<Problem>(Problem::make(
            404, QStringLiteral("not-found"),
            QStringLiteral("The admin listener serves GET /metrics, /healthz and /readyz only.")));
    };
}

AdminListener::~AdminListener() {
    stop();
}

void AdminListener::addCheck(const QString &name, std::function<QString()> ok) {
    std::lock_guard lock(m_checksLock);
    m_checks.push_back({name, std::move(ok)});
}

std::vector<AdminListener::Check> AdminListener::checks() const {
    std::lock_guard lock(m_checksLock);
    return m_checks;
}

Result<quint16> AdminListener::start() {
    if (m_config.metricsPort < 0)
        return quint16(0);
    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("metrics"));
    m_worker = new AdminListenerWorker(m_config, m_limits, m_open, *this);
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread->start();
    QString error;
    QMetaObject::invokeMethod(m_worker, "start", Qt::BlockingQueuedConnection,
                              Q_RETURN_ARG(QString, error));
    if (!error.isEmpty()) {
        stop();
        return fail(ErrorCode::Internal, error);
    }
    m_port = m_worker->port();
    qCInfo(lcApp) << "metrics listening on" << m_config.metricsListen << "port" << m_port;
    return m_port;
}

void AdminListener::stop() {
    if (!m_worker)
        return;
    QMetaObject::invokeMethod(m_worker, "stop", Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
    delete m_thread;
    m_thread = nullptr;
    m_worker = nullptr; // deleted by the thread's finished signal
}

} // namespace flashsale

#include "adminlistener.moc"
