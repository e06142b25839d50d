// The live conservation line (shared/stats/conservation.h) against real Redis and PostgreSQL,
// with the real API and worker processes: stock = remaining + in_flight + held + paying + paid
// must read gap 0 on every read, at rest and in the middle of a burst while the worker commits
// and the expiry sweeper returns holds; and a real corruption of either store must show a gap
// on the next read, with the term that moved.

#include "booking/salekeys.h"
#include "pg/pgconnection.h"
#include "rawhttp.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"
#include "stats/conservation.h"
#include "stats/livestats.h"
#include "testservers.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTest>
#include <QTimer>

using namespace flashsale;
using namespace flashsale::test;

class TestConservation : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_api;
    Backend m_worker;
    std::unique_ptr<RedisSync> m_redis;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<RedisClient> m_client;
    std::unique_ptr<ConservationReader> m_reader;

    qint64 createSale(int stock, int limit, int holdSeconds) {
        return createOpenSale(m_api.port(),
                              {QStringLiteral("Conservation"), stock, limit, 100, holdSeconds});
    }

    QByteArray bookRequest(qint64 sale, const QByteArray &user) {
        return RawHttpConnection::format("POST",
                                         "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                                         "{\"user_id\":\"" + user + "\",\"quantity\":1}", {});
    }

    int book(qint64 sale, int requests, const QByteArray &prefix) {
        QList<QByteArray> raw;
        for (int i = 0; i < requests; ++i)
            raw << bookRequest(sale, prefix + QByteArray::number(i));
        int accepted = 0;
        for (const HttpResponse &r : sendAll(m_api.port(), raw, 16))
            accepted += r.status == 202;
        return accepted;
    }

    int orders(qint64 sale, const QByteArray &where = "true") {
        return m_db
            .scalar("SELECT count(*) FROM orders WHERE sale_id = " + QByteArray::number(sale)
                    + " AND " + where)
            .toInt();
    }

    // One read through the production code path, waited for on this thread's event loop.
    ConservationTerms read(qint64 sale) {
        std::optional<Result<QList<ConservationTerms>>> got;
        QEventLoop loop;
        m_reader->read({sale}, [&](const Result<QList<ConservationTerms>> &r) {
            got = r;
            loop.quit();
        });
        if (!got) {
            QTimer::singleShot(10000, &loop, &QEventLoop::quit);
            loop.exec();
        }
        if (!got || !*got || (*got)->size() != 1) {
            qWarning("conservation read failed");
            return {};
        }
        return (*got)->first();
    }

    // The "conservation" object of the admin live stats (StatsCollector, as the hub pushes it).
    QJsonObject statsConservation(qint64 sale) {
        StatsCollector collector(*m_client, *m_pg);
        std::optional<Result<QJsonObject>> got;
        QEventLoop loop;
        collector.collect(sale, [&](const Result<QJsonObject> &r) {
            got = r;
            loop.quit();
        });
        if (!got) {
            QTimer::singleShot(10000, &loop, &QEventLoop::quit);
            loop.exec();
        }
        if (!got || !*got)
            return {};
        return (*got)->value("conservation").toObject();
    }

    // flashsale_sale_conservation_gap{sale} from the API process's /metrics; nullopt when absent.
    std::optional<qint64> metricsGap(qint64 sale, qint64 *remaining = nullptr) {
        const HttpResponse r = http(m_api.metricsPort(), "GET", "/metrics");
        const QRegularExpression gap(
            QStringLiteral("^flashsale_sale_conservation_gap\\{sale=\"%1\"\\} (-?\\d+)$").arg(sale),
            QRegularExpression::MultilineOption);
        const QRegularExpression rem(
            QStringLiteral("^flashsale_sale_units\\{sale=\"%1\",term=\"remaining\"\\} (-?\\d+)$")
                .arg(sale),
            QRegularExpression::MultilineOption);
        const QString body = QString::fromUtf8(r.body);
        if (remaining) {
            const auto m = rem.match(body);
            *remaining = m.hasMatch() ? m.captured(1).toLongLong() : -1;
        }
        const auto m = gap.match(body);
        if (!m.hasMatch())
            return std::nullopt;
        return m.captured(1).toLongLong();
    }

    static QByteArray describe(const ConservationTerms &t) {
        return QByteArray("stock ") + QByteArray::number(t.stock) + " remaining "
               + QByteArray::number(t.remaining) + " in_flight " + QByteArray::number(t.inFlight())
               + " held " + QByteArray::number(t.held()) + " paying "
               + QByteArray::number(t.paying()) + " paid " + QByteArray::number(t.paid)
               + " returned " + QByteArray::number(t.returned()) + " gap "
               + QByteArray::number(t.gap()) + (t.exact() ? "" : " (not exact)");
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_api.start({{"FLASHSALE_ROLES", "api"},
                              {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                              {"FLASHSALE_PG_URL", m_db.url()}}),
                 qPrintable(m_api.error()));
        // Small batches, so the worker commits (and then acknowledges) many times in a burst.
        QVERIFY2(m_worker.start({{"FLASHSALE_ROLES", "worker"},
                                 {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                 {"FLASHSALE_PG_URL", m_db.url()},
                                 {"FLASHSALE_WORKER_BLOCK_MS", "100"},
                                 {"FLASHSALE_WORKER_BATCH", "20"},
                                 {"FLASHSALE_EXPIRY_INTERVAL_MS", "50"},
                                 {"FLASHSALE_EXPIRY_BATCH", "25"}}),
                 qPrintable(m_worker.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QTRY_COMPARE_WITH_TIMEOUT(http(m_api.port(), "GET", "/readyz").status, 200, 10000);
        m_pg = std::make_unique<PgConnection>(m_db.url());
        m_client = std::make_unique<RedisClient>(
            *RedisClient::Endpoint::fromUrl(m_redisServer.url()), std::chrono::seconds(5));
        QSignalSpy pgUp(m_pg.get(), &PgConnection::connected);
        QSignalSpy redisUp(m_client.get(), &RedisClient::connected);
        m_pg->start();
        m_client->start();
        QTRY_VERIFY(pgUp.size() == 1 && redisUp.size() == 1);
        m_reader = std::make_unique<ConservationReader>(*m_client, *m_pg);
    }

    void cleanup() { m_reader = std::make_unique<ConservationReader>(*m_client, *m_pg); }

    void holdsAtRestInStatsAndMetrics() {
        const qint64 sale = createSale(50, 5, 300);
        ConservationTerms t = read(sale);
        QVERIFY2(t.exact(), describe(t));
        QCOMPARE(t.stock, 50);
        QCOMPARE(t.remaining, 50);
        QCOMPARE(t.gap(), 0);

        QCOMPARE(book(sale, 30, "rest"), 30);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 30, 15000);
        t = read(sale);
        QVERIFY2(t.exact() && t.gap() == 0, describe(t));
        QCOMPARE(t.remaining, 20);
        QCOMPARE(t.inFlight(), 0);
        QCOMPARE(t.held(), 30);

        // The live stats carry the same object, in the contract's shape.
        const QJsonObject c = statsConservation(sale);
        QCOMPARE(c.value("stock").toInteger(), 50);
        QCOMPARE(c.value("remaining").toInteger(), 20);
        QCOMPARE(c.value("in_flight").toInteger(), 0);
        QCOMPARE(c.value("held").toInteger(), 30);
        QCOMPARE(c.value("paying").toInteger(), 0);
        QCOMPARE(c.value("paid").toInteger(), 0);
        QCOMPARE(c.value("returned").toInteger(), 0);
        QCOMPARE(c.value("gap").toInteger(), 0);
        QCOMPARE(c.value("holds").toBool(false), true);
        QCOMPARE(c.value("exact").toBool(false), true);
        // And /metrics (the API process's admin listener) the same gap.
        qint64 remaining = -1;
        QCOMPARE(metricsGap(sale, &remaining), std::optional<qint64>(0));
        QCOMPARE(remaining, 20);
        // The new families keep /metrics clean for Prometheus's own linter (deploy/local/lib.sh
        // installs promtool).
        QProcess promtool;
        promtool.start(QStringLiteral("promtool"),
                       {QStringLiteral("check"), QStringLiteral("metrics")});
        QVERIFY2(promtool.waitForStarted(), "promtool is missing (package prometheus)");
        promtool.write(http(m_api.metricsPort(), "GET", "/metrics").body);
        promtool.closeWriteChannel();
        QVERIFY(promtool.waitForFinished(30000));
        QVERIFY2(promtool.exitCode() == 0, promtool.readAll().constData());
    }

    // The heart of it: hundreds of reads while bookings arrive, the worker commits in batches of
    // 20 and then acknowledges, and the sweeper returns 1-second holds (Redis first, then
    // PostgreSQL). Every read must be exact with gap 0, and the reads must really have caught
    // units in flight, held and coming back, or the test proves nothing.
    void holdsOnEveryReadDuringABurst() {
        const qint64 sale = createSale(300, 1000, 1);
        // A crowd of 12 connections for 8 s, each pausing 15 ms between its bookings: long
        // enough for the worker to find the sale and commit many batches, and for 1-second holds
        // to expire and come back (and be sold again) while bookings still arrive.
        constexpr int kConnections = 12;
        constexpr qint64 kBurstMs = 8000;
        QElapsedTimer clock;
        clock.start();
        int sent = 0, answered = 0, accepted = 0;
        QList<RawHttpConnection *> conns;
        std::function<void(RawHttpConnection *)> next = [&](RawHttpConnection *c) {
            if (clock.elapsed() >= kBurstMs)
                return;
            const QByteArray user = "burst" + QByteArray::number(sent % 400);
            ++sent;
            c->send(bookRequest(sale, user), [&, c](const HttpResponse &r) {
                ++answered;
                accepted += r.status == 202;
                QTimer::singleShot(15, c, [&, c] { next(c); });
            });
        };
        for (int i = 0; i < kConnections; ++i) {
            conns << new RawHttpConnection(m_api.port(), this);
            next(conns.last());
        }

        int reads = 0, sawInFlight = 0, sawHeld = 0, sawReturned = 0, sawReturning = 0;
        QList<QByteArray> bad;
        while ((clock.elapsed() < kBurstMs || answered < sent || reads < 300)
               && clock.elapsed() < 120000) {
            const ConservationTerms t = read(sale);
            ++reads;
            if (!t.exact() || t.gap() != 0)
                bad << describe(t);
            sawInFlight += t.inFlight() > 0;
            sawHeld += t.held() > 0;
            sawReturned += t.returned() > 0;
            // Released in Redis by the sweeper, not yet cancelled in PostgreSQL at the read.
            sawReturning += t.returnedExpire > t.cancelledExpired;
        }
        qDeleteAll(conns);
        qInfo("burst: %d requests answered, %d accepted, %d reads in %lld ms; reads with units "
              "in flight %d, held %d, returned %d, released not yet cancelled %d",
              answered, accepted, reads, clock.elapsed(), sawInFlight, sawHeld, sawReturned,
              sawReturning);
        QVERIFY2(bad.isEmpty(), bad.mid(0, 5).join("\n").constData());
        QCOMPARE(answered, sent);
        QVERIFY(reads >= 300);
        // More accepted than the stock: holds expired and their units were sold again.
        QVERIFY2(accepted > 300, QByteArray::number(accepted).constData());
        QVERIFY(sawInFlight > 0);
        QVERIFY(sawHeld > 0);
        QVERIFY(sawReturned > 0);

        // At rest, every hold expired and came back: the whole stock is remaining again.
        QTRY_VERIFY_WITH_TIMEOUT(orders(sale, "status = 'pending'") == 0, 30000);
        ConservationTerms t;
        QTRY_VERIFY_WITH_TIMEOUT((t = read(sale)).inFlight() == 0 && t.remaining == 300, 30000);
        QVERIFY2(t.exact() && t.gap() == 0, describe(t));
        QCOMPARE(t.held(), 0);
        QCOMPARE(t.returned(), qint64(accepted));
        QCOMPARE(t.accepted, qint64(accepted));
    }

    // A declined payment cancels in PostgreSQL first and gives the units back in Redis after:
    // between the two the units are counted as paying, and the line holds at each step.
    void declinedPaymentInTransitHolds() {
        const qint64 sale = createSale(20, 5, 300);
        QCOMPARE(book(sale, 4, "pay"), 4);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 4, 15000);
        const QByteArray s = QByteArray::number(sale);
        // One paid, one paying, one about to be declined.
        m_db.scalar("UPDATE orders SET payment_started_at = now() WHERE id IN (SELECT id FROM "
                    "orders WHERE sale_id = "
                    + s + " ORDER BY id LIMIT 3)");
        m_db.scalar("UPDATE orders SET status = 'paid' WHERE id = (SELECT min(id) FROM orders "
                    "WHERE sale_id = "
                    + s + ")");
        ConservationTerms t = read(sale);
        QVERIFY2(t.exact() && t.gap() == 0, describe(t));
        QCOMPARE(t.paid, 1);
        QCOMPARE(t.paying(), 2);
        QCOMPARE(t.held(), 1);

        const QByteArray victim =
            m_db.scalar("SELECT id || ' ' || reservation_id || ' ' || item_id || ' ' || user_id "
                        "FROM orders WHERE sale_id = "
                        + s
                        + " AND status = 'pending' AND payment_started_at IS NOT NULL "
                          "ORDER BY id LIMIT 1");
        const QList<QByteArray> v = victim.split(' ');
        QCOMPARE(v.size(), 4);
        // The payment service's decline: cancel and give back `sold` in one statement...
        m_db.scalar("WITH o AS (UPDATE orders SET status = 'cancelled', cancel_reason = "
                    "'declined' WHERE id = "
                    + v[0]
                    + " RETURNING item_id, quantity) UPDATE inventory i SET sold = sold - "
                      "o.quantity FROM o WHERE i.item_id = o.item_id");
        t = read(sale);
        QVERIFY2(t.exact() && t.gap() == 0, describe(t));
        QCOMPARE(t.paying(), 2); // still on its way back
        QCOMPARE(t.remaining, 16);
        // ...then release.lua in Redis.
        const SaleKeys k(sale);
        const QByteArray released = m_redis->one(
            {"EVAL", RedisScript::load(QStringLiteral("release")).body, "5", k.stock(), k.users(),
             k.released(), k.reservation(v[1]), k.meta(), v[1], v[2], v[3], "1", "cancel"});
        t = read(sale);
        QVERIFY2(t.exact() && t.gap() == 0, describe(t));
        QCOMPARE(t.paying(), 1);
        QCOMPARE(t.remaining, 17);
        QCOMPARE(t.returned(), 1);
    }

    void corruptionInRedisShowsAGap() {
        const qint64 sale = createSale(40, 5, 300);
        QCOMPARE(book(sale, 10, "cr"), 10);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 10, 15000);
        const ConservationTerms before = read(sale);
        QVERIFY2(before.exact() && before.gap() == 0, describe(before));
        const QByteArray item = m_db.scalar("SELECT item_id FROM inventory WHERE sale_id = "
                                            + QByteArray::number(sale));
        m_redis->command({"HINCRBY", SaleKeys(sale).stock(), item, "3"});
        const ConservationTerms after = read(sale);
        QCOMPARE(after.gap(), -3);
        QCOMPARE(after.remaining - before.remaining, 3); // the term that moved
        QCOMPARE(after.held(), before.held());
        QCOMPARE(after.inFlight(), before.inFlight());
        const QJsonObject c = statsConservation(sale);
        QCOMPARE(c.value("holds").toBool(true), false);
        QCOMPARE(c.value("gap").toInteger(), -3);
        QCOMPARE(metricsGap(sale), std::optional<qint64>(-3));
    }

    void corruptionInPostgresShowsAGap() {
        const qint64 sale = createSale(40, 5, 300);
        const QByteArray s = QByteArray::number(sale);
        QCOMPARE(book(sale, 10, "cp"), 10);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 10, 15000);
        ConservationTerms before = read(sale);
        QVERIFY2(before.exact() && before.gap() == 0, describe(before));

        // A deleted order row.
        m_db.scalar("DELETE FROM orders WHERE id = (SELECT max(id) FROM orders WHERE sale_id = " + s
                    + ")");
        ConservationTerms after = read(sale);
        QCOMPARE(after.gap(), 1);
        QCOMPARE(before.held() - after.held(), 1);
        QCOMPARE(after.remaining, before.remaining);

        // A stock adjustment applied to PostgreSQL only.
        const QByteArray item = m_db.scalar("SELECT item_id FROM inventory WHERE sale_id = " + s);
        m_db.scalar("UPDATE inventory SET stock = stock + 5 WHERE item_id = " + item);
        before = after;
        after = read(sale);
        QCOMPARE(after.stock - before.stock, 5);
        QCOMPARE(after.gap(), 6);

        // The same adjustment in Redis (adjust.lua, as the admin's adjust does) closes it by 5.
        m_redis->command({"EVAL", RedisScript::load(QStringLiteral("adjust")).body, "1",
                          SaleKeys(sale).stock(), item, "5"});
        after = read(sale);
        QCOMPARE(after.gap(), 1);
    }

    // A sale whose keys were retired (after --sale-retention-seconds) or were warmed before the
    // counters existed cannot be judged: exact false, holds and gap null, no gap gauge. No alarm.
    void unreadableSaleIsNotAnAlarm() {
        const qint64 sale = createSale(10, 5, 300);
        QCOMPARE(book(sale, 2, "rt"), 2);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 2, 15000);
        QVERIFY(read(sale).exact());

        // Counters missing (a sale warmed by an older release).
        m_redis->command({"HDEL", SaleKeys(sale).meta(), "units_accepted"});
        ConservationTerms t = read(sale);
        QVERIFY(!t.exact());
        QJsonObject c = statsConservation(sale);
        QCOMPARE(c.value("exact").toBool(true), false);
        QVERIFY(c.value("holds").isNull());
        QVERIFY(c.value("gap").isNull());
        QVERIFY(c.value("in_flight").isNull());
        QCOMPARE(c.value("remaining").toInteger(), 8);
        QCOMPARE(metricsGap(sale), std::nullopt);

        // Retired: every key of the sale is gone from Redis; PostgreSQL still has its orders.
        const SaleKeys k(sale);
        m_redis->command({"DEL", k.meta(), k.stock(), k.price(), k.items(), k.users(), k.stream(),
                          k.reservations(), k.released()});
        c = statsConservation(sale);
        QCOMPARE(c.value("exact").toBool(true), false);
        QVERIFY(c.value("holds").isNull());
        QVERIFY(c.value("remaining").isNull());
        QCOMPARE(c.value("stock").toInteger(), 10);
        QCOMPARE(c.value("held").toInteger(), 2);
        QCOMPARE(metricsGap(sale), std::nullopt);
    }
};

QTEST_GUILESS_MAIN(TestConservation)
#include "tst_conservation.moc"
