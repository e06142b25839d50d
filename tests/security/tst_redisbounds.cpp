// Bounded Redis (issue 15, deliverable 5; invariant I9): requests about sales that do not exist
// or have ended create no key, streams keep only what is not yet persisted, and an ended sale's
// keys expire after the retention. Against a real redis-server this test starts, PostgreSQL,
// and flashsale-server processes in the roles api, worker and scheduler.

#include "booking/salekeys.h"
#include "pg/pgconnection.h"
#include "rawhttp.h"
#include "redis/redisclient.h"
#include "stats/livestats.h"
#include "testservers.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMap>
#include <QSet>
#include <QSignalSpy>
#include <QTest>

#include <optional>

using namespace flashsale;
using namespace flashsale::test;

using Headers = QList<QPair<QByteArray, QByteArray>>;

class TestRedisBounds : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_api;
    std::unique_ptr<RedisSync> m_redis;
    qint64 m_ended = 0;     // a sale that has ended, created at the start
    qint64 m_endedRoom = 0; // a sale with a waiting room that has ended, with entries
    qint64 m_earlyRoom = 0; // a waiting room whose lobby opens in an hour
    qint64 m_plain = 0;     // an open sale without a waiting room
    QByteArray m_token;     // a buyer token for "probe"

    static constexpr int kRetentionSeconds = 120;
    static constexpr int kMaxEntries = 50; // --waiting-room-max-entries

    QHash<QString, QString> env(const QString &roles) const {
        return {
            {"FLASHSALE_ROLES", roles},
            {"FLASHSALE_REDIS_URL", m_redisServer.url()},
            {"FLASHSALE_PG_URL", m_db.url()},
            // Rate limits on: their state is a key per client, which an ended sale must not get.
            // The bursts are as high: at 100,000/s a burst of 20 is 0.2 ms, which one client on
            // loopback can exceed, and a limited answer here would be noise, not a finding.
            {"FLASHSALE_RATE_LIMIT_IP", "100000"},
            {"FLASHSALE_RATE_LIMIT_IP_BURST", "100000"},
            {"FLASHSALE_RATE_LIMIT_USER", "100000"},
            {"FLASHSALE_RATE_LIMIT_USER_BURST", "100000"},
            {"FLASHSALE_STATS_FLUSH_MS", "50"},
            {"FLASHSALE_WORKER_BLOCK_MS", "100"},
            {"FLASHSALE_SCHEDULER_TICK_MS", "100"},
            {"FLASHSALE_SALE_RETENTION_SECONDS", QString::number(kRetentionSeconds)},
            {"FLASHSALE_WAITING_ROOM_MAX_ENTRIES", QString::number(kMaxEntries)}};
    }

    // Creates a sale of one item through the admin API; returns its id and the item's.
    // `lobbyInMs`, when given, gives it a waiting room whose lobby opens then.
    QPair<qint64, qint64> createSale(qint64 endsInMs, int stock = 1000,
                                     std::optional<qint64> lobbyInMs = {}) {
        QJsonObject body{
            {"name", "Bounds"},
            {"per_user_limit", 10},
            {"starts_at", rfc3339(lobbyInMs ? qMax<qint64>(-1000, *lobbyInMs + 1000) : -1000)},
            {"ends_at", rfc3339(endsInMs)},
            {"items",
             QJsonArray{QJsonObject{{"name", "Seat"}, {"stock", stock}, {"price_cents", 100}}}}};
        if (lobbyInMs) {
            body.insert("waiting_room", true);
            body.insert("lobby_opens_at", rfc3339(*lobbyInMs));
        }
        const HttpResponse r =
            postJson(m_api.port(), "/api/v1/admin/sales", body, Backend::kAdminToken);
        if (r.status != 201)
            qWarning("create sale: %d %s", r.status, r.body.constData());
        const QJsonObject o = r.json();
        return {o.value("id").toInteger(),
                o.value("items").toArray().at(0).toObject().value("id").toInteger()};
    }

    int bookMany(qint64 sale, int n, const QByteArray &userPrefix) {
        QList<QByteArray> requests;
        for (int i = 0; i < n; ++i)
            requests << bookRequest(sale, userPrefix + QByteArray::number(i),
                                    "k" + QByteArray::number(i));
        int accepted = 0;
        for (const HttpResponse &r : sendAll(m_api.port(), requests, 8))
            accepted += r.status == 202;
        return accepted;
    }

    static QByteArray request(const QByteArray &method, const QByteArray &path,
                              const QByteArray &body, const Headers &headers) {
        QByteArray r = method + ' ' + path + " HTTP/1.1\r\nHost: test\r\n";
        for (const auto &[name, value] : headers)
            r += name + ": " + value + "\r\n";
        if (!body.isEmpty())
            r += "Content-Type: application/json\r\n";
        r += "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body;
        return r;
    }

    static QByteArray joinRequest(qint64 sale, const QByteArray &user) {
        return request("POST", "/api/v1/sales/" + QByteArray::number(sale) + "/queue",
                       "{\"user_id\":\"" + user + "\"}", {});
    }

    static QByteArray bookRequest(qint64 sale, const QByteArray &user, const QByteArray &key) {
        return request("POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                       "{\"user_id\":\"" + user + "\"}", {{"Idempotency-Key", key}});
    }

    QSet<QByteArray> keys(const QByteArray &pattern = "*") {
        const QList<QByteArray> all = m_redis->command({"KEYS", pattern});
        return QSet<QByteArray>(all.begin(), all.end());
    }

    int orders(qint64 sale) {
        return m_db
            .scalar("SELECT count(*) FROM orders WHERE sale_id = " + QByteArray::number(sale))
            .toInt();
    }

    bool hasGroup(qint64 sale) {
        return m_redis->command({"XINFO", "GROUPS", SaleKeys(sale).stream()}).size() == 1;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_api.start(env("api")), qPrintable(m_api.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QTRY_COMPARE_WITH_TIMEOUT(http(m_api.port(), "GET", "/readyz").status, 200, 10000);
        const HttpResponse t =
            postJson(m_api.port(), "/api/v1/dev/tokens", QJsonObject{{"user_id", "probe"}});
        QCOMPARE(t.status, 201);
        m_token = t.json().value("token").toString().toUtf8();

        // A sale that ends 1.5 s from now, with a booking, so its keys are all there; and a
        // waiting room that ends with it, with entries.
        m_ended = createSale(1500).first;
        QVERIFY(m_ended > 0);
        QCOMPARE(bookMany(m_ended, 3, "early"), 3);
        m_endedRoom = createSale(1500, 10, -2000).first;
        QVERIFY(m_endedRoom > 0);
        for (const HttpResponse &r :
             sendAll(m_api.port(),
                     {joinRequest(m_endedRoom, "early1"), joinRequest(m_endedRoom, "early2")}, 2))
            QCOMPARE(r.status, 201);
        m_earlyRoom = createSale(7200000, 10, 3600000).first;
        QVERIFY(m_earlyRoom > 0);
        m_plain = createSale(3600000).first;
        QVERIFY(m_plain > 0);
        QTRY_COMPARE_WITH_TIMEOUT(
            http(m_api.port(), "GET", "/api/v1/sales/" + QByteArray::number(m_ended))
                .json()
                .value("state")
                .toString(),
            QStringLiteral("closed"), 5000);
    }

    // Every kind of request about something that is not there (or no longer open), many times
    // over: each is refused, and Redis holds exactly the keys it held before.
    void requestsAboutNothingCreateNothing_data() {
        QTest::addColumn<QList<QByteArray>>("requests");
        QTest::addColumn<int>("status");

        const Headers bearer{{"Authorization", "Bearer " + m_token}};
        QList<QByteArray> unknownSales, endedSale, checkouts, purchases, reads, challenges;
        for (int i = 0; i < 10000; ++i) {
            unknownSales << bookRequest(900000000 + i, "u" + QByteArray::number(i),
                                        "k" + QByteArray::number(i));
            endedSale << bookRequest(m_ended, "late" + QByteArray::number(i),
                                     "late" + QByteArray::number(i));
        }
        for (int i = 0; i < 2000; ++i) {
            const QByteArray n = QByteArray::number(800000000 + i);
            checkouts << request("POST", "/checkout?user_id=c" + QByteArray::number(i) + "&id=" + n,
                                 {}, {{"Idempotency-Key", "c" + n}});
            const QByteArray code = n + '-' + QByteArray::number(i).rightJustified(32, 'e');
            purchases << request("POST", "/purchase", "{\"code\":\"" + code + "\"}", bearer);
            reads << request("GET", "/api/v1/reservations/" + code, {}, bearer);
            challenges << request("POST", "/api/v1/sales/" + n + "/challenge", {}, bearer);
        }
        QTest::addRow("10,000 bookings of unknown sales") << unknownSales << 404;
        QTest::addRow("10,000 bookings of an ended sale") << endedSale << 403;
        QTest::addRow("2,000 checkouts of unknown items") << checkouts << 404;
        QTest::addRow("2,000 purchases of unknown codes") << purchases << 404;
        QTest::addRow("2,000 reads of unknown reservations") << reads << 404;
        QTest::addRow("2,000 challenges of unknown sales") << challenges << 404;

        // The waiting room's routes (issue 16): joins and polls of sales a join cannot enter.
        QList<QByteArray> unknownJoins, endedJoins, earlyJoins, plainJoins, unknownPolls;
        for (int i = 0; i < 2000; ++i) {
            const QByteArray u = "w" + QByteArray::number(i);
            unknownJoins << joinRequest(700000000 + i, u);
            endedJoins << joinRequest(m_endedRoom, u);
            earlyJoins << joinRequest(m_earlyRoom, u);
            plainJoins << joinRequest(m_plain, u);
            unknownPolls << request(
                "GET", "/api/v1/sales/" + QByteArray::number(700000000 + i) + "/queue", {}, bearer);
        }
        QTest::addRow("2,000 joins of unknown sales") << unknownJoins << 404;
        QTest::addRow("2,000 joins of an ended waiting room") << endedJoins << 403;
        QTest::addRow("2,000 joins before the lobby opens") << earlyJoins << 403;
        QTest::addRow("2,000 joins of a sale without a waiting room") << plainJoins << 404;
        QTest::addRow("2,000 polls of unknown sales' queues") << unknownPolls << 404;
    }

    void requestsAboutNothingCreateNothing() {
        QFETCH(QList<QByteArray>, requests);
        QFETCH(int, status);
        const QSet<QByteArray> before = keys();
        const qint64 sizeBefore = m_redis->integer({"DBSIZE"});
        QElapsedTimer took;
        took.start();
        const QList<HttpResponse> answers = sendAll(m_api.port(), requests, 16);
        const qint64 ms = took.elapsed();
        QCOMPARE(answers.size(), requests.size());
        for (const HttpResponse &r : answers)
            QVERIFY2(r.status == status, r.body.constData());
        // A wait on purpose: the API threads flush their live stats every 50 ms; nothing may
        // reach Redis from these requests in that time or after.
        QTest::qWait(500);
        const QSet<QByteArray> created = keys() - before;
        QVERIFY2(created.isEmpty(),
                 qPrintable(QStringLiteral("%1 new keys, e.g. %2")
                                .arg(created.size())
                                .arg(QString::fromUtf8(created.isEmpty() ? QByteArray()
                                                                         : *created.begin()))));
        QCOMPARE(m_redis->integer({"DBSIZE"}), sizeBefore);
        qInfo("%lld requests answered %d in %lld ms; Redis keys before and after: %lld",
              qint64(requests.size()), status, ms, sizeBefore);
    }

    // One waiting room holds --waiting-room-max-entries entries at most: later joins are
    // refused with queue-full and add no entry, while those inside still get theirs back.
    void waitingRoomEntriesAreBounded() {
        const qint64 sale = createSale(3600000, 10, -1000).first;
        QVERIFY(sale > 0);
        QList<QByteArray> joins;
        for (int i = 0; i < kMaxEntries * 3; ++i)
            joins << joinRequest(sale, "cap" + QByteArray::number(i));
        int joined = 0, full = 0;
        QMap<QString, int> others; // what else came back, to say so when the counts are off
        for (const HttpResponse &r : sendAll(m_api.port(), joins, 8)) {
            joined += r.status == 201;
            if (r.status == 409 && r.problemType() == QStringLiteral("/problems/queue-full"))
                ++full;
            else if (r.status != 201)
                ++others[QString::number(r.status) + u' ' + QString::fromUtf8(r.body.left(200))];
        }
        for (auto it = others.cbegin(); it != others.cend(); ++it)
            qWarning("%d × %s", it.value(), qPrintable(it.key()));
        QCOMPARE(joined, kMaxEntries);
        QCOMPARE(full, kMaxEntries * 2);
        const SaleKeys k(sale);
        QCOMPARE(m_redis->integer({"HLEN", k.waitingRoomBuyers()}), qint64(kMaxEntries));
        QCOMPARE(m_redis->integer({"LLEN", k.waitingRoomCohort()})
                     + m_redis->integer({"LLEN", k.waitingRoomFifo()}),
                 qint64(kMaxEntries));
        QCOMPARE(http(m_api.port(), "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/queue",
                      "{\"user_id\":\"cap0\"}", {{"Content-Type", "application/json"}})
                     .status,
                 200);
    }

    // The worker acknowledges only what PostgreSQL committed, and then trims it: the stream
    // holds the backlog, never the sale's history. What is not persisted is never trimmed.
    void streamIsTrimmedOncePersisted() {
        const qint64 sale = createSale(3600000).first;
        QVERIFY(sale > 0);
        const QByteArray stream = SaleKeys(sale).stream();
        {
            Backend worker;
            QVERIFY2(worker.start(env("worker")), qPrintable(worker.error()));
            QTRY_VERIFY_WITH_TIMEOUT(hasGroup(sale), 10000);
            QCOMPARE(bookMany(sale, 40, "t"), 40);
            QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 40, 15000);
            QTRY_COMPARE_WITH_TIMEOUT(m_redis->integer({"XLEN", stream}), 0, 5000);
            worker.stop();
        }
        // No worker: accepted bookings wait in the stream, all of them.
        QCOMPARE(bookMany(sale, 10, "w"), 10);
        QCOMPARE(m_redis->integer({"XLEN", stream}), 10);
        Backend worker;
        QVERIFY2(worker.start(env("worker")), qPrintable(worker.error()));
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 50, 15000);
        QTRY_COMPARE_WITH_TIMEOUT(m_redis->integer({"XLEN", stream}), 0, 5000);
        const QList<QByteArray> info = m_redis->command({"XINFO", "STREAM", stream});
        QCOMPARE(info.value(info.indexOf("entries-added") + 1).toInt(), 50);
    }

    // When the scheduler records that a sale has closed, every key of the sale gets the same
    // expiry: its close plus --sale-retention-seconds. Until then it still answers.
    void endedSaleKeysExpireAfterTheRetention() {
        // With a waiting room and entries (an address cap of 1 and two joins from one address
        // fill the cohort, the FIFO and the address counts), so its keys expire too.
        const auto [sale, item] = createSale(1500, 1000, -2000);
        QVERIFY(sale > 0);
        // A waiting-room sale books admitted buyers only (tst_waitingroomapi, tst_booklua); the
        // bookings here are for the keys they leave, so they are made with admission off.
        // wr:adm and wr:done are not made here: Scheduler::retire does not list them yet.
        m_redis->command({"HSET", SaleKeys(sale).meta(), "wr", "0"});
        QCOMPARE(bookMany(sale, 3, "r"), 3);
        m_redis->command({"HSET", SaleKeys(sale).meta(), "wr", "1"});
        for (const HttpResponse &r :
             sendAll(m_api.port(), {joinRequest(sale, "j1"), joinRequest(sale, "j2")}, 1))
            QCOMPARE(r.status, 201);
        const QSet<QByteArray> saleKeys = keys("fs:{sale:" + QByteArray::number(sale) + "}:*");
        QVERIFY(saleKeys.contains(SaleKeys(sale).meta()));
        for (const QByteArray &wr :
             {SaleKeys(sale).waitingRoomMeta(), SaleKeys(sale).waitingRoomBuyers(),
              SaleKeys(sale).waitingRoomCohort(), SaleKeys(sale).waitingRoomFifo(),
              SaleKeys(sale).waitingRoomAddresses()})
            QVERIFY2(saleKeys.contains(wr), wr.constData());
        QVERIFY(saleKeys.contains(SaleKeys(sale).stream()));
        QCOMPARE(m_redis->integer({"PTTL", SaleKeys(sale).meta()}), -1); // open: no expiry

        Backend scheduler;
        QVERIFY2(scheduler.start(env("scheduler")), qPrintable(scheduler.error()));
        QTRY_VERIFY_WITH_TIMEOUT(m_redis->integer({"PTTL", SaleKeys(sale).meta()}) > 0, 15000);
        const qint64 closedMs =
            m_db.scalar(
                    "SELECT (extract(epoch FROM closed_at) * 1000)::bigint FROM sales WHERE id = "
                    + QByteArray::number(sale))
                .toLongLong();
        QVERIFY(closedMs > 0);
        for (const QByteArray &key : keys("fs:{sale:" + QByteArray::number(sale) + "}:*")) {
            const qint64 ttl = m_redis->integer({"PTTL", key});
            QVERIFY2(ttl > 0, key.constData()); // nothing of the sale is kept forever
            QVERIFY2(ttl <= qint64(kRetentionSeconds) * 1000 + 86400 * 1000 + 600000,
                     key.constData());
        }
        for (const QByteArray &key : saleKeys) {
            if (key.contains(":res:") || key.contains(":stats:") || key.contains(":rl:")
                || key.contains(":idem:"))
                continue; // their own, shorter expiry
            const qint64 expiresAt = m_redis->integer({"PEXPIRETIME", key});
            QCOMPARE(expiresAt, closedMs + qint64(kRetentionSeconds) * 1000);
        }
        QVERIFY(m_redis->integer({"PTTL", SaleKeys::itemOwner(item)}) > 0);
        // Within the retention the ended sale still reads as closed.
        const HttpResponse view =
            http(m_api.port(), "GET", "/api/v1/sales/" + QByteArray::number(sale));
        QCOMPARE(view.status, 200);
        QCOMPARE(view.json().value("state").toString(), QStringLiteral("closed"));
    }

    // After the retention the keys are gone; nothing brings them back: the worker forgets the
    // sale instead of making its stream again, bookings of it create nothing, and the
    // operators' live stats show it closed (not "scheduled", as a sale not yet in Redis).
    void retiredSaleStaysGone() {
        Backend worker;
        QVERIFY2(worker.start(env("worker")), qPrintable(worker.error()));
        const qint64 sale = createSale(4000).first;
        QVERIFY(sale > 0);
        QCOMPARE(bookMany(sale, 2, "g"), 2);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 2, 15000);
        QTRY_COMPARE_WITH_TIMEOUT(
            http(m_api.port(), "GET", "/api/v1/sales/" + QByteArray::number(sale))
                .json()
                .value("state")
                .toString(),
            QStringLiteral("closed"), 10000);
        const QByteArray pattern = "fs:{sale:" + QByteArray::number(sale) + "}:*";
        // What the expiry does when the retention is over.
        QList<QByteArray> del{"DEL"};
        for (const QByteArray &k : keys(pattern))
            del << k;
        m_redis->command(del);
        QTRY_COMPARE_WITH_TIMEOUT(
            m_redis->integer({"SISMEMBER", SaleKeys::saleIndex(), QByteArray::number(sale)}), 0,
            10000);
        // A wait on purpose: the worker re-reads the sales every 2 s and must not recreate any.
        QTest::qWait(2500);
        QVERIFY(keys(pattern).isEmpty());
        QCOMPARE(bookMany(sale, 5, "z"), 0);
        QVERIFY(keys(pattern).isEmpty());

        PgConnection pg(m_db.url());
        RedisClient redis(*RedisClient::Endpoint::fromUrl(m_redisServer.url()),
                          std::chrono::seconds(5));
        QSignalSpy pgUp(&pg, &PgConnection::connected);
        QSignalSpy redisUp(&redis, &RedisClient::connected);
        pg.start();
        redis.start();
        QTRY_VERIFY(pgUp.size() == 1 && redisUp.size() == 1);
        StatsCollector stats(redis, pg);
        std::optional<Result<QJsonObject>> snapshot;
        stats.collect(sale, [&snapshot](const Result<QJsonObject> &r) { snapshot = r; });
        QTRY_VERIFY(snapshot.has_value());
        QVERIFY2(snapshot->has_value(), qPrintable(snapshot->error().message));
        QCOMPARE((*snapshot)->value("phase").toString(), QStringLiteral("closed"));
        QVERIFY((*snapshot)->value("remaining").isNull());
        QCOMPARE((*snapshot)->value("orders").toObject().value("held").toInt(), 2);
        QVERIFY(keys(pattern).isEmpty()); // reading created nothing either
    }
};

QTEST_GUILESS_MAIN(TestRedisBounds)
#include "tst_redisbounds.moc"
