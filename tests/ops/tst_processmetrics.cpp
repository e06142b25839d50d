// Metrics from every process (issue 17): flashsale-server started with one role at a time
// (api, worker, relay, payment, notify, scheduler), each with --metrics-port 0, against real
// Redis, PostgreSQL and librdkafka's mock cluster. Each serves /metrics, /healthz and /readyz on
// its admin listener, with the standard process_* families and its build info; promtool finds
// nothing wrong in any body. Then a scheduler process reconciling every second reports a stock
// drift injected in Redis through flashsale_reconcile_drift{check="stock"}, and 0 after a repair.

#include "booking/salekeys.h"
#include "kafka/kafkaclient.h"
#include "pg/pgconnection.h"
#include "rawhttp.h"
#include "reconcile/reconciler.h"
#include "redis/redisclient.h"
#include "testservers.h"

#include <QDateTime>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTest>

#include <unistd.h>

using namespace flashsale;
using namespace flashsale::test;

class TstProcessMetrics : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    std::unique_ptr<KafkaMockCluster> m_kafka;

    QHash<QString, QString> env(const QString &roles) const {
        return {{"FLASHSALE_ROLES", roles},
                {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                {"FLASHSALE_PG_URL", m_db.url()},
                {"FLASHSALE_KAFKA_BROKERS", m_kafka->bootstraps()},
                {"FLASHSALE_METRICS_PORT", "0"}};
    }

    // The port the process logged ("metrics listening on ADDR port N"); 0 if it did not.
    static quint16 loggedMetricsPort(const Backend &b) {
        static const QRegularExpression re(QStringLiteral("metrics listening on \\S+ port (\\d+)"));
        const auto m = re.match(QString::fromUtf8(b.log()));
        return m.hasMatch() ? quint16(m.captured(1).toUInt()) : 0;
    }

    // The value of the series `series` (name with its labels, exactly as rendered), or nullopt.
    static std::optional<double> value(const QByteArray &body, const QByteArray &series) {
        for (const QByteArray &line : body.split('\n'))
            if (line.startsWith(series + ' '))
                return line.mid(series.size() + 1).toDouble();
        return std::nullopt;
    }

    // promtool check metrics on `body`: its output (empty when clean) and exit code.
    static QPair<QByteArray, int> promtool(const QByteArray &body) {
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(QStringLiteral("promtool"), {QStringLiteral("check"), QStringLiteral("metrics")});
        if (!p.waitForStarted(5000))
            return {"promtool did not start: " + p.errorString().toUtf8(), -1};
        p.write(body);
        p.closeWriteChannel();
        p.waitForFinished(30000);
        return {p.readAll(), p.exitCode()};
    }

    qint64 createSale(quint16 apiPort, int stock) {
        return createOpenSale(apiPort, {QStringLiteral("Metrics"), stock, 5, 300, 600});
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        auto k = KafkaMockCluster::create(1, topics::orderLifecycle(), 2);
        QVERIFY2(k, qPrintable(k ? QString() : k.error().message));
        m_kafka.reset(*k);
        QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("promtool")).isEmpty(),
                 "promtool (Debian package prometheus) is not on PATH");
    }

    void everyRoleServesItsMetrics_data() {
        QTest::addColumn<QString>("roles");
        for (const char *r : {"api", "worker", "relay", "payment", "notify", "scheduler"})
            QTest::newRow(r) << QString::fromLatin1(r);
    }

    void everyRoleServesItsMetrics() {
        QFETCH(QString, roles);
        Backend b;
        QVERIFY2(b.start(env(roles)), qPrintable(b.error()));
        const quint16 port = loggedMetricsPort(b);
        QVERIFY2(port != 0, b.log().right(2000).constData());

        QCOMPARE(http(port, "GET", "/healthz").status, 200);
        // Ready once its connections are up (PostgreSQL; Redis for the roles that use it).
        QTRY_COMPARE_WITH_TIMEOUT(http(port, "GET", "/readyz").status, 200, 15000);
        // Only those routes: anything else is 404, an upgrade is refused.
        QCOMPARE(http(port, "GET", "/api/v1/sales/1").status, 404);

        const HttpResponse m = http(port, "GET", "/metrics");
        QCOMPARE(m.status, 200);
        const QByteArray body = m.body;
        const QByteArray info = "flashsale_build_info{version=\"" FLASHSALE_VERSION "\",roles=\""
                                + roles.toUtf8() + "\"}";
        QVERIFY2(value(body, info) == 1.0, body.left(4000).constData());

        const qint64 now = QDateTime::currentSecsSinceEpoch();
        const auto start = value(body, "process_start_time_seconds");
        QVERIFY2(start && *start > now - 120 && *start <= now + 1, body.constData());
        const auto rss = value(body, "process_resident_memory_bytes");
        QVERIFY(rss && *rss > 1 << 20); // a Qt process holds more than 1 MiB
        const auto vsz = value(body, "process_virtual_memory_bytes");
        QVERIFY(vsz && *vsz >= *rss);
        const auto fds = value(body, "process_open_fds");
        const auto maxFds = value(body, "process_max_fds");
        QVERIFY(fds && maxFds && *fds >= 3 && *fds <= *maxFds);
        QVERIFY(value(body, "process_cpu_seconds_total").has_value());
        // The main thread's event loop is probed in every process; so is the listener's.
        QVERIFY2(value(body, "flashsale_event_loop_lag_seconds_count{thread=\"main\"}").has_value(),
                 body.constData());
        QVERIFY(value(body, "flashsale_event_loop_lag_seconds_count{thread=\"metrics\"}"));
        // The listener's own connections are reported, and up.
        QCOMPARE(value(body, "flashsale_redis_connected{client=\"metrics\"}"), 1.0);
        QCOMPARE(value(body, "flashsale_pg_pool_connections{pool=\"metrics\"}"), 1.0);

        const auto [out, rc] = promtool(body);
        QVERIFY2(out.isEmpty() && rc == 0, out.constData());

        if (roles == QLatin1String("api")) {
            // The public port never serves /metrics.
            QCOMPARE(http(b.port(), "GET", "/metrics").status, 404);
            QTRY_VERIFY_WITH_TIMEOUT(value(http(port, "GET", "/metrics").body,
                                           "flashsale_redis_connected{client=\"api-0\"}")
                                         == 1.0,
                                     10000);
        }
        b.stop();
    }

    void readyzSaysWhatIsMissing() {
        // A worker whose Redis is unreachable is alive but not ready.
        QHash<QString, QString> e = env(QStringLiteral("worker"));
        e.insert(QStringLiteral("FLASHSALE_REDIS_URL"),
                 QStringLiteral("redis://127.0.0.1:%1/0").arg(freePort()));
        Backend b;
        QVERIFY2(b.start(e), qPrintable(b.error()));
        const quint16 port = loggedMetricsPort(b);
        QVERIFY(port != 0);
        QCOMPARE(http(port, "GET", "/healthz").status, 200);
        // PostgreSQL comes up (the listener connects in the background); Redis never does.
        QTRY_COMPARE_WITH_TIMEOUT(http(port, "GET", "/readyz").json().value("postgres").toString(),
                                  QStringLiteral("ok"), 15000);
        const HttpResponse r = http(port, "GET", "/readyz");
        QCOMPARE(r.status, 503);
        QVERIFY(r.headers.value("content-type").startsWith("application/problem+json"));
        QVERIFY2(r.json().value("redis").toString() != QLatin1String("ok"), r.body.constData());
        const HttpResponse m = http(port, "GET", "/metrics");
        QCOMPARE(value(m.body, "flashsale_redis_connected{client=\"worker\"}"), 0.0);
    }

    void reconcileDriftIsReported() {
        Backend b;
        QHash<QString, QString> e = env(QStringLiteral("api,worker,scheduler"));
        e.insert(QStringLiteral("FLASHSALE_RECONCILE_INTERVAL_SECONDS"), QStringLiteral("1"));
        QVERIFY2(b.start(e), qPrintable(b.error()));
        const quint16 port = loggedMetricsPort(b);
        QVERIFY(port != 0);
        // Every connection of the process up (the API threads' included) before selling.
        QTRY_COMPARE_WITH_TIMEOUT(http(port, "GET", "/readyz").status, 200, 15000);
        const qint64 sale = createSale(b.port(), 10);
        QVERIFY(sale > 0);
        const HttpResponse booked =
            http(b.port(), "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                 "{\"user_id\":\"u1\",\"quantity\":2}");
        QCOMPARE(booked.status, 202);
        QTRY_COMPARE_WITH_TIMEOUT(
            m_db.scalar("SELECT count(*) FROM orders WHERE sale_id = " + QByteArray::number(sale))
                .toInt(),
            1, 15000);
        const QByteArray drift =
            "flashsale_reconcile_drift{sale=\"" + QByteArray::number(sale) + "\",check=\"stock\"}";
        auto scrape = [port] { return http(port, "GET", "/metrics").body; };
        // Clean first: the scheduled dry runs find nothing.
        QTRY_COMPARE_WITH_TIMEOUT(value(scrape(), drift), 0.0, 15000);
        QVERIFY(value(scrape(), "flashsale_reconcile_runs_total{result=\"clean\"}") > 0);
        QVERIFY(value(scrape(), "flashsale_reconcile_last_run_timestamp_seconds")
                > QDateTime::currentSecsSinceEpoch() - 30);
        // The booking's answer was observed in the booking histogram.
        QVERIFY(value(scrape(), "flashsale_booking_duration_seconds_count") >= 1.0);

        // Three units too many on sale in Redis.
        RedisSync redis(m_redisServer.port());
        const SaleKeys k(sale);
        const QByteArray item = redis.command({"HKEYS", k.stock()}).value(0);
        QCOMPARE(redis.integer({"HGET", k.stock(), item}), 8);
        redis.command({"HSET", k.stock(), item, "11"});
        QTRY_COMPARE_WITH_TIMEOUT(value(scrape(), drift), 3.0, 15000);
        QVERIFY(value(scrape(), "flashsale_reconcile_runs_total{result=\"drift\"}") > 0);

        // A repair (from this process, as an operator's would be) puts the sale back to 0.
        PgConnection pg(m_db.url());
        RedisClient client(*RedisClient::Endpoint::fromUrl(m_redisServer.url()),
                           std::chrono::milliseconds(5000));
        pg.start();
        client.start();
        Reconciler reconciler(pg, client);
        QTest::qWait(500); // both connect
        std::optional<Result<QJsonObject>> result;
        reconciler.run(sale, Reconciler::Options{true, QStringLiteral("tester")},
                       [&result](const Result<QJsonObject> &r) { result = r; });
        QTRY_VERIFY_WITH_TIMEOUT(result.has_value(), 30000);
        QVERIFY2(*result, qPrintable(*result ? QString() : result->error().message));
        QCOMPARE(redis.integer({"HGET", k.stock(), item}), 8);
        QTRY_COMPARE_WITH_TIMEOUT(value(scrape(), drift), 0.0, 15000);
    }
};

QTEST_GUILESS_MAIN(TstProcessMetrics)
#include "tst_processmetrics.moc"
