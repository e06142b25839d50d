// Every role on a Redis Cluster (issue 21, item 2). The real flashsale-server runs the API, the
// stream worker, the expiry sweeper and the scheduler (with its reconciliation every second)
// against a real 6-node cluster (tests/support/rediscluster.h), with sales whose hash tags land on
// every primary. A cluster answers CROSSSLOT to any command or script whose keys span two slots,
// and "MOVED" to one sent to the wrong node, so this is the check that no path the roles take
// mixes sales: bookings are accepted up to the stock and no further, each becomes one order in
// PostgreSQL, expired holds go back to Redis, reconciliation finds no drift, and /metrics reads
// every sale's gauges. The lua/ scripts are checked statically too: no script names a key of its
// own, so every key a script touches is one its caller passed (and the cluster routed) in KEYS.

#include "booking/salekeys.h"
#include "rawhttp.h"
#include "redis/redisslots.h"
#include "rediscluster.h"
#include "tcpproxy.h"
#include "testservers.h"

#include <QDir>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

class TestClusterRoles : public QObject {
    Q_OBJECT

private:
    RedisCluster m_cluster;
    PgDatabase m_db;
    Backend m_backend;

    // The primary holding `sale`'s keys (all of them: one hash tag).
    quint16 nodeOf(qint64 sale) const {
        return m_cluster.primaryForSlot(redisKeySlot(SaleKeys(sale).meta()));
    }

    // Open sales created until their keys are on every primary (each primary's first sale).
    QList<qint64> salesOnEveryPrimary(const OpenSale &spec) {
        const QList<quint16> primaries = m_cluster.primaries();
        QHash<quint16, qint64> firstOn;
        for (int i = 0; i < 40 && firstOn.size() < primaries.size(); ++i) {
            const qint64 sale = createOpenSale(m_backend.port(), spec);
            if (sale == 0)
                return {};
            if (!firstOn.contains(nodeOf(sale)))
                firstOn.insert(nodeOf(sale), sale);
        }
        if (firstOn.size() < primaries.size())
            return {};
        QList<qint64> sales = firstOn.values();
        std::sort(sales.begin(), sales.end());
        return sales;
    }

    qint64 remainingInRedis(qint64 sale) {
        RedisSync node(nodeOf(sale));
        qint64 sum = 0;
        for (const QByteArray &units : node.command({"HVALS", SaleKeys(sale).stock()}))
            sum += units.toLongLong();
        return sum;
    }

    // One booking of one unit by each of `buyers` users (<prefix><n>) on every sale, all sent at
    // once over 16 connections; the answers in order, and the sale of each in `saleOf`.
    QList<HttpResponse> bookEach(const QList<qint64> &sales, int buyers, const QByteArray &prefix,
                                 QList<qint64> &saleOf) {
        QList<QByteArray> raw;
        saleOf.clear();
        for (int i = 0; i < buyers; ++i) {
            for (qint64 sale : sales) {
                raw << RawHttpConnection::format(
                    "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                    "{\"user_id\":\"" + prefix + QByteArray::number(i) + "\",\"quantity\":1}", {});
                saleOf << sale;
            }
        }
        return sendAll(m_backend.port(), raw, 16);
    }

    // Entries of `sale`'s stream delivered to `consumer` and not acknowledged.
    qint64 pendingOn(qint64 sale, const QByteArray &consumer) {
        RedisSync node(nodeOf(sale));
        const auto summary =
            node.value({"XPENDING", SaleKeys(sale).stream(), SaleKeys::consumerGroup()});
        if (!summary || !summary->isArray())
            return -1;
        for (const RedisValue &c : summary->at(3).elements) {
            if (c.at(0).bytes() == consumer)
                return c.at(1).bytes().toLongLong();
        }
        return 0;
    }

    QString seeds() const {
        QStringList seeds;
        for (quint16 port : m_cluster.ports().mid(0, 2))
            seeds << QStringLiteral("127.0.0.1:%1").arg(port);
        return seeds.join(',');
    }

    qint64 orders(qint64 sale, const QByteArray &where = "true") {
        return m_db
            .scalar("SELECT count(*) FROM orders WHERE sale_id = " + QByteArray::number(sale)
                    + " AND " + where)
            .toLongLong();
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_cluster.start(), qPrintable(m_cluster.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_cluster.seedUrls().first()},
                                  {"FLASHSALE_REDIS_CLUSTER_NODES", seeds()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_ROLES", "api,worker,scheduler"},
                                  {"FLASHSALE_RECONCILE_INTERVAL_SECONDS", "1"},
                                  {"FLASHSALE_EXPIRY_INTERVAL_MS", "200"}}),
                 qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_backend.port(), "GET", "/readyz").status, 200, 20000);
    }

    void scriptsNameNoKeysOfTheirOwn() {
        // A key a script builds or spells itself is not routed by the cluster: it may live on
        // another node ("non local key") or in another slot (CROSSSLOT). Every redis.call key
        // argument must come from KEYS (directly, or through a variable a caller filled from it).
        const QDir lua(QStringLiteral(QT_TESTCASE_SOURCEDIR "/../lua"));
        QStringList files;
        for (const QString &f : lua.entryList({QStringLiteral("*.lua")}, QDir::Files))
            files << lua.filePath(f);
        const QDir lib(lua.filePath(QStringLiteral("lib")));
        for (const QString &f : lib.entryList(QDir::Files))
            files << lib.filePath(f);
        QVERIFY(files.size() > 20);
        static const QRegularExpression call(
            QStringLiteral(R"(redis\.p?call\(\s*'([A-Za-z]+)'\s*(?:,\s*([^,)]+))?)"));
        static const QSet<QString> keyless{QStringLiteral("TIME"), QStringLiteral("XINFO"),
                                           QStringLiteral("PUBLISH")};
        int calls = 0;
        for (const QString &path : std::as_const(files)) {
            QFile f(path);
            QVERIFY(f.open(QIODevice::ReadOnly));
            int lineNo = 0;
            for (const QByteArray &raw : f.readAll().split('\n')) {
                ++lineNo;
                const QString line = QString::fromUtf8(raw);
                const QString code = line.section(QStringLiteral("--"), 0, 0);
                const QString where = QStringLiteral("%1:%2: %3").arg(path).arg(lineNo).arg(line);
                QVERIFY2(!code.contains(QLatin1String("'fs:"))
                             && !code.contains(QLatin1String("\"fs:")),
                         qPrintable(where));
                auto it = call.globalMatch(code);
                while (it.hasNext()) {
                    const auto m = it.next();
                    ++calls;
                    if (keyless.contains(m.captured(1).toUpper()))
                        continue;
                    const QString key = m.captured(2).trimmed();
                    QVERIFY2(!key.isEmpty() && !key.startsWith(QLatin1Char('\''))
                                 && !key.startsWith(QLatin1Char('"'))
                                 && !key.contains(QLatin1String("..")),
                             qPrintable(where));
                }
            }
        }
        QVERIFY(calls > 100);
    }

    void salesOnEveryPrimaryAreSoldOnceAndWritten() {
        OpenSale spec;
        spec.stock = 20;
        spec.perUserLimit = 2;
        const QList<qint64> sales = salesOnEveryPrimary(spec);
        QVERIFY2(sales.size() >= 3, "no sale on some primary");

        // 40 buyers per sale, one unit each, all sales at once: the stock, and no more, sells.
        QList<qint64> saleOf;
        const QList<HttpResponse> answers = bookEach(sales, 40, "buyer-", saleOf);
        QHash<qint64, int> accepted;
        for (qsizetype i = 0; i < answers.size(); ++i) {
            QVERIFY2(answers[i].status == 202 || answers[i].status == 409,
                     qPrintable(QStringLiteral("sale %1: %2 %3")
                                    .arg(saleOf[i])
                                    .arg(answers[i].status)
                                    .arg(QString::fromUtf8(answers[i].body))));
            if (answers[i].status == 202)
                ++accepted[saleOf[i]];
        }
        for (qint64 sale : sales) {
            QCOMPARE(accepted.value(sale), spec.stock);
            QCOMPARE(remainingInRedis(sale), 0);
            const HttpResponse view =
                http(m_backend.port(), "GET", "/api/v1/sales/" + QByteArray::number(sale));
            QCOMPARE(view.status, 200);
            QCOMPARE(view.json().value(QStringLiteral("remaining")).toInt(), 0);
        }

        // The worker reads each sale's stream on its own node: every booking is one order.
        for (qint64 sale : sales) {
            QTRY_COMPARE_WITH_TIMEOUT(orders(sale), qint64(spec.stock), 30000);
            QCOMPARE(m_db.scalar("SELECT sum(sold) FROM inventory WHERE sale_id = "
                                 + QByteArray::number(sale))
                         .toLongLong(),
                     qint64(spec.stock));
            RedisSync node(nodeOf(sale));
            // Acknowledged: nothing left pending in the sale's group.
            QTRY_COMPARE_WITH_TIMEOUT(
                node.command({"XPENDING", SaleKeys(sale).stream(), SaleKeys::consumerGroup()})
                    .value(0)
                    .toLongLong(),
                0, 10000);
        }

        // The scheduler's reconciliation (a dry run of each live sale every second, MULTI/EXEC on
        // the sale's node) finds Redis and PostgreSQL agree, for every sale, after the orders.
        const QByteArray since = m_db.scalar("SELECT now()::text");
        for (qint64 sale : sales) {
            const QByteArray runs =
                "SELECT count(*) FROM reconcile_runs WHERE sale_id = " + QByteArray::number(sale)
                + " AND started_at > '" + since + "'";
            QTRY_VERIFY_WITH_TIMEOUT(m_db.scalar(runs + " AND ok").toLongLong() >= 1, 30000);
            QCOMPARE(m_db.scalar(runs + " AND NOT ok").toLongLong(), 0);
        }

        // /metrics reads every sale on its node; conservation holds for each.
        const HttpResponse metrics = http(m_backend.metricsPort(), "GET", "/metrics");
        QCOMPARE(metrics.status, 200);
        QVERIFY(metrics.body.contains("\nflashsale_redis_memory_used_bytes "));
        for (qint64 sale : sales) {
            const QByteArray label = "{sale=\"" + QByteArray::number(sale) + "\"} ";
            QVERIFY2(metrics.body.contains("flashsale_sale_stock_remaining" + label + "0\n"),
                     label.constData());
            QVERIFY2(metrics.body.contains("flashsale_sale_conservation_gap" + label + "0\n"),
                     label.constData());
        }
    }

    void expiredHoldsGoBackOnEveryPrimary() {
        OpenSale spec;
        spec.stock = 5;
        spec.holdSeconds = 1;
        const QList<qint64> sales = salesOnEveryPrimary(spec);
        QVERIFY2(sales.size() >= 3, "no sale on some primary");
        for (qint64 sale : sales) {
            const HttpResponse r =
                postJson(m_backend.port(), "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                         QJsonObject{{"user_id", "late-payer"}, {"quantity", 2}});
            QCOMPARE(r.status, 202);
            QCOMPARE(remainingInRedis(sale), qint64(spec.stock - 2));
        }
        // The sweeper finds the order expired in PostgreSQL and gives the units back on the
        // sale's own node; the order ends cancelled.
        for (qint64 sale : sales) {
            QTRY_COMPARE_WITH_TIMEOUT(orders(sale, "status = 'cancelled'"), 1, 30000);
            QTRY_COMPARE_WITH_TIMEOUT(remainingInRedis(sale), qint64(spec.stock), 10000);
        }
    }

    // A worker killed with entries delivered to it but not written (its PostgreSQL cut off) is
    // taken over on a cluster too: the other worker's claim round (per sale, on the sale's node:
    // XPENDING, the dead consumer's heartbeat gone, XCLAIM) takes them, and each is one order.
    // The victim holds what its first read round got (it then waits on PostgreSQL): which sales
    // that covers is a race with the live worker, so the count is printed, not asserted per sale.
    void killedWorkersEntriesAreTakenOver() {
        OpenSale spec;
        spec.stock = 300;
        spec.perUserLimit = 1;
        const QList<qint64> sales = salesOnEveryPrimary(spec);
        QVERIFY2(sales.size() >= 3, "no sale on some primary");

        TcpProxy proxy(m_db.serverPort());
        QVERIFY(proxy.start());
        Backend victim;
        QVERIFY2(victim.start({{"FLASHSALE_REDIS_URL", m_cluster.seedUrls().first()},
                               {"FLASHSALE_REDIS_CLUSTER_NODES", seeds()},
                               {"FLASHSALE_PG_URL", m_db.urlThroughPort(proxy.port())},
                               {"FLASHSALE_ROLES", "worker"},
                               {"FLASHSALE_WORKER_CONSUMER", "takeover-victim"},
                               {"FLASHSALE_WORKER_HEARTBEAT_MS", "1500"}}),
                 qPrintable(victim.error()));
        // The victim is up (its heartbeat, on the node of that key's slot) before it is cut off.
        const QByteArray heartbeat = "fs:workers:alive:takeover-victim";
        RedisSync heartbeatNode(m_cluster.primaryForSlot(redisKeySlot(heartbeat)));
        QTRY_COMPARE_WITH_TIMEOUT(heartbeatNode.integer({"EXISTS", heartbeat}), 1, 15000);
        proxy.cut();

        // Waves of bookings until the victim holds some: both workers read the streams every
        // 50 ms when idle, and which one gets a wave's entries is a race.
        QHash<qint64, qint64> accepted;
        qint64 held = 0;
        for (int wave = 0; wave < 5 && held == 0; ++wave) {
            QList<qint64> saleOf;
            const QList<HttpResponse> answers =
                bookEach(sales, 30, "takeover-" + QByteArray::number(wave) + "-", saleOf);
            for (qsizetype i = 0; i < answers.size(); ++i) {
                QCOMPARE(answers[i].status, 202);
                ++accepted[saleOf[i]];
            }
            // Every accepted booking is an order or pending on the victim (the live worker
            // writes and acknowledges its own share).
            const auto settled = [&] {
                held = 0;
                qint64 written = 0, total = 0;
                for (qint64 sale : sales) {
                    held += pendingOn(sale, "takeover-victim");
                    written += orders(sale);
                    total += accepted.value(sale);
                }
                return written + held == total;
            };
            QTRY_VERIFY_WITH_TIMEOUT(settled(), 30000);
        }
        QVERIFY2(held > 0, "the victim never got an entry");

        victim.kill();
        for (qint64 sale : sales) {
            QTRY_COMPARE_WITH_TIMEOUT(orders(sale), accepted.value(sale), 60000);
            QCOMPARE(
                m_db.scalar("SELECT count(DISTINCT reservation_id) FROM orders WHERE sale_id = "
                            + QByteArray::number(sale))
                    .toLongLong(),
                accepted.value(sale));
            QCOMPARE(m_db.scalar("SELECT sum(sold) FROM inventory WHERE sale_id = "
                                 + QByteArray::number(sale))
                         .toLongLong(),
                     accepted.value(sale));
            QTRY_COMPARE_WITH_TIMEOUT(pendingOn(sale, "takeover-victim"), 0, 10000);
        }
        qInfo("%lld entries held by the killed worker, all taken over and written once", held);
    }

    // FLASHSALE_TEST_BENCH=1: the cost of book.lua on one node against the cluster, and the
    // redirects in steady state (docs/REDIS_CLUSTER.md, "Measured"). Two API-only servers (no
    // worker: its trim.lua would count as EVALSHA too), one on a single redis-server, one on the
    // cluster; the same bookings to one sale on each; INFO commandstats of the node that ran them.
    // A measurement, not a check: skipped otherwise.
    void bookLuaCostOneNodeAgainstCluster() {
        if (!qEnvironmentVariableIsSet("FLASHSALE_TEST_BENCH"))
            QSKIP("set FLASHSALE_TEST_BENCH=1 to measure");
        const int n = qEnvironmentVariableIntValue("FLASHSALE_TEST_BENCH_BOOKINGS") > 0
                          ? qEnvironmentVariableIntValue("FLASHSALE_TEST_BENCH_BOOKINGS")
                          : 20000;
        RedisServer single;
        QVERIFY2(single.start(), qPrintable(single.error()));
        Backend onOne;
        Backend onCluster;
        QStringList seeds;
        for (quint16 port : m_cluster.ports().mid(0, 2))
            seeds << QStringLiteral("127.0.0.1:%1").arg(port);
        QVERIFY(onOne.start({{"FLASHSALE_REDIS_URL", single.url()},
                             {"FLASHSALE_PG_URL", m_db.url()},
                             {"FLASHSALE_ROLES", "api"}}));
        QVERIFY(onCluster.start({{"FLASHSALE_REDIS_URL", m_cluster.seedUrls().first()},
                                 {"FLASHSALE_REDIS_CLUSTER_NODES", seeds.join(',')},
                                 {"FLASHSALE_PG_URL", m_db.url()},
                                 {"FLASHSALE_ROLES", "api"}}));
        QTRY_COMPARE_WITH_TIMEOUT(http(onOne.port(), "GET", "/readyz").status, 200, 20000);
        QTRY_COMPARE_WITH_TIMEOUT(http(onCluster.port(), "GET", "/readyz").status, 200, 20000);
        auto events = [&](const char *kind) {
            const QByteArray body = http(onCluster.metricsPort(), "GET", "/metrics").body;
            const QByteArray line =
                QByteArray("flashsale_redis_cluster_events_total{kind=\"") + kind + "\"} ";
            const qsizetype at = body.indexOf(line);
            return at < 0 ? 0
                          : body.mid(at + line.size(), body.indexOf('\n', at) - at - line.size())
                                .toLongLong();
        };
        auto run = [&](Backend &backend, quint16 node, const char *what) {
            OpenSale spec;
            spec.stock = n;
            spec.perUserLimit = 1;
            const qint64 sale = createOpenSale(backend.port(), spec);
            QVERIFY(sale > 0);
            if (node == 0)
                node = nodeOf(sale);
            QList<QByteArray> raw;
            for (int i = 0; i < n; ++i)
                raw << RawHttpConnection::format(
                    "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                    "{\"user_id\":\"b" + QByteArray::number(i) + "\",\"quantity\":1}", {});
            RedisSync redis(node);
            redis.command({"CONFIG", "RESETSTAT"});
            const qint64 movedBefore = events("moved"), askBefore = events("ask");
            QElapsedTimer t;
            t.start();
            const QList<HttpResponse> answers = sendAll(backend.port(), raw, 64);
            const double seconds = t.nsecsElapsed() / 1e9;
            int accepted = 0;
            for (const HttpResponse &a : answers)
                accepted += a.status == 202 ? 1 : 0;
            QCOMPARE(accepted, n);
            QByteArray stat;
            for (const QByteArray &l : redis.one({"INFO", "commandstats"}).split('\n'))
                if (l.startsWith("cmdstat_evalsha:"))
                    stat = l.trimmed();
            qInfo("%s: %d bookings in %.2f s (%.0f/s); %s; redirects moved %lld ask %lld", what, n,
                  seconds, n / seconds, stat.constData(), events("moved") - movedBefore,
                  events("ask") - askBefore);
        };
        for (int round = 0; round < 2; ++round) { // the first round warms both
            run(onOne, single.port(), "one node");
            run(onCluster, 0, "cluster");
        }
    }

    void noCrossSlotErrorAndNoRedirect() {
        // Every path above ran; none of them may have met CROSSSLOT or a non-local key, and with
        // the slot map steady every command went to its slot's node at once: no MOVED, no ASK
        // (a command whose key the router looks for in the wrong argument is redirected).
        http(m_backend.metricsPort(), "GET", "/metrics"); // the scrape's own reads counted too
        const QByteArray metrics = http(m_backend.metricsPort(), "GET", "/metrics").body;
        QVERIFY(!metrics.contains("flashsale_redis_cluster_events_total{kind=\"moved\"}"));
        QVERIFY(!metrics.contains("flashsale_redis_cluster_events_total{kind=\"ask\"}"));
        QVERIFY(metrics.contains("flashsale_redis_cluster_events_total{kind=\"refresh\"}"));
        const QByteArray log = m_backend.log();
        QVERIFY2(!log.contains("CROSSSLOT"), log.constData());
        QVERIFY2(!log.contains("non local key"), log.constData());
        QVERIFY2(!log.contains("Lua script attempted to access"), log.constData());
    }
};

QTEST_GUILESS_MAIN(TestClusterRoles)
#include "tst_clusterroles.moc"
