// Issue 18 item 2, over real sockets against the real binary with real redis-server and
// PostgreSQL: a sale known to be sold out is answered before its body is read (the same bytes as
// Redis's sold-out answer), a request with an Idempotency-Key still reaches Redis, and a unit
// that comes back is sold at once: the scripts that return stock publish on
// flashsale:stock-back, and the server forgets the sale was sold out.
//
// The server runs the API and worker roles, with one API thread (the sold-out memory is per
// thread, so each request meets the same one), and remembers sold-out answers for 60 s: only a
// stock-back notice, or a new subscription, can make it forget within a test.

#include "booking/salekeys.h"
#include "rawhttp.h"
#include "redis/redisscript.h"
#include "testservers.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

using Headers = QList<QPair<QByteArray, QByteArray>>;

class TestSoldOut : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    std::unique_ptr<RedisSync> m_redis;
    quint16 m_port = 0;

    // An open sale of one item with `stock` units and `holdSeconds` holds, once the server has
    // heard warm.lua's notice of its units (a sale warmed with stock is published too: a server
    // may remember one sold out from before its keys expired).
    qint64 openSale(int stock, int holdSeconds = 600) {
        const double heard = notices();
        OpenSale s;
        s.stock = stock;
        s.holdSeconds = holdSeconds;
        const qint64 sale = createOpenSale(m_port, s);
        if (!QTest::qWaitFor([&] { return notices() > heard; }, 10000))
            qWarning("no stock-back notice for sale %lld", sale);
        return sale;
    }

    qint64 itemOf(qint64 sale) {
        return http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(sale))
            .json()
            .value(QStringLiteral("items"))
            .toArray()
            .at(0)
            .toObject()
            .value(QStringLiteral("id"))
            .toInteger();
    }

    HttpResponse bookRaw(qint64 sale, const QByteArray &body, const Headers &headers = {}) {
        return http(m_port, "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book", body,
                    headers);
    }

    HttpResponse book(qint64 sale, const QByteArray &user, const Headers &headers = {}) {
        return bookRaw(sale, R"({"user_id":")" + user + R"(","quantity":1})", headers);
    }

    // The value of the metric line that starts with `series` (name and labels), 0 when absent.
    double metric(const QByteArray &series) {
        return metricValue(http(m_backend.metricsPort(), "GET", "/metrics").body, series);
    }

    double soldOutAnswers() { return metric(R"(flashsale_bookings_total{outcome="sold_out"})"); }
    double notices() { return metric("flashsale_stock_back_notices_total"); }

    // Sells the sale's only unit to "first" and has Redis answer "second" sold-out (which the
    // server now remembers); returns that answer.
    HttpResponse sellOut(qint64 sale) {
        const HttpResponse first = book(sale, "first-" + QByteArray::number(sale));
        if (first.status != 202)
            qWarning("first booking: %d %s", first.status, first.body.constData());
        return book(sale, "second-" + QByteArray::number(sale));
    }

    // A sale of one unit, sold out (the server remembers it), then given a unit back by a write
    // no script made, so nothing is published: the server still remembers it sold out. 0 on
    // failure.
    qint64 soldOutWithAnUnannouncedUnit() {
        const qint64 sale = openSale(1);
        if (sale <= 0 || sellOut(sale).status != 409)
            return 0;
        m_redis->command({"HSET", SaleKeys(sale).stock(), QByteArray::number(itemOf(sale)), "1"});
        return sale;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_THREADS", "1"},
                                  // The worker role writes the orders and sweeps expired holds.
                                  {"FLASHSALE_ROLES", "api,worker"},
                                  {"FLASHSALE_WORKER_BLOCK_MS", "100"},
                                  {"FLASHSALE_EXPIRY_INTERVAL_MS", "100"},
                                  {"FLASHSALE_SOLD_OUT_CACHE_MS", "60000"}}),
                 qPrintable(m_backend.error()));
        m_port = m_backend.port();
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/readyz").status, 200, 10000);
        // Subscribed: the stock-back connection reports itself up.
        QTRY_COMPARE_WITH_TIMEOUT(metric(R"(flashsale_redis_connected{client="stock-back"})"), 1.0,
                                  10000);
    }

    // What the normal path answers on a live sale, and what a sold-out sale answers instead:
    // the same sold-out bytes whatever the request carries, as long as it has no
    // Idempotency-Key. The buyer is not checked, the body not read: nothing but "sold out" is
    // told, which GET /api/v1/sales/{id} tells anyone.
    void answeredBeforeTheBodyIsRead_data() {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<Headers>("headers");
        QTest::addColumn<int>("liveStatus"); // on a sale with stock
        QTest::addColumn<QString>("liveType");

        const Headers none;
        QTest::addRow("malformed JSON")
            << QByteArray("{\"user_id\":") << none << 400 << "/problems/invalid-request";
        QTest::addRow("not JSON") << QByteArray("user_id=eve")
                                  << Headers{{"Content-Type", "application/x-www-form-urlencoded"}}
                                  << 415 << "/problems/unsupported-media-type";
        QTest::addRow("no user") << QByteArray(R"({"quantity":1})") << none << 400
                                 << "/problems/invalid-request";
        QTest::addRow("an unknown member") << QByteArray(R"({"user_id":"eve","colour":"red"})")
                                           << none << 400 << "/problems/invalid-request";
        QTest::addRow("a forged buyer token")
            << QByteArray(R"({"quantity":1})") << Headers{{"Authorization", "Bearer e30.e30.x"}}
            << 401 << "/problems/invalid-token";
        QTest::addRow("an item of no sale") << QByteArray(R"({"user_id":"eve","item_id":999999})")
                                            << none << 404 << "/problems/item-not-found";
        QTest::addRow("a valid booking")
            << QByteArray(R"({"user_id":"eve","quantity":1})") << none << 202 << QString();
    }

    void answeredBeforeTheBodyIsRead() {
        QFETCH(QByteArray, body);
        QFETCH(Headers, headers);
        QFETCH(int, liveStatus);
        QFETCH(QString, liveType);

        const qint64 live = openSale(10);
        QVERIFY(live > 0);
        const HttpResponse onLive = bookRaw(live, body, headers);
        QCOMPARE(onLive.status, liveStatus);
        if (!liveType.isEmpty())
            QCOMPARE(onLive.problemType(), liveType);

        const qint64 sale = openSale(1);
        QVERIFY(sale > 0);
        const HttpResponse fromRedis = sellOut(sale);
        verifyProblem(fromRedis, 409, QStringLiteral("sold-out"));
        const double before = soldOutAnswers();

        const HttpResponse fromMemory = bookRaw(sale, body, headers);
        QCOMPARE(fromMemory.status, 409);
        QCOMPARE(fromMemory.headers.value("content-type"), fromRedis.headers.value("content-type"));
        QCOMPARE(fromMemory.body, fromRedis.body); // byte for byte
        QCOMPARE(fromMemory.json().value(QStringLiteral("remaining")).toInt(-1), 0);
        // Counted as any sold-out answer is: dashboards see it.
        QCOMPARE(soldOutAnswers(), before + 1);
    }

    // A buyer whose booking was accepted and who retries with the same Idempotency-Key (their
    // 202 got lost) gets their 202 again on the sold-out sale; a request with a key is read as
    // any other, so a malformed one gets its 400.
    void idempotencyKeyStillReachesRedis() {
        const qint64 sale = openSale(1);
        QVERIFY(sale > 0);
        const Headers key{{"Idempotency-Key", "retry-after-a-lost-answer"}};
        const HttpResponse first = book(sale, "alice", key);
        QCOMPARE(first.status, 202);
        verifyProblem(book(sale, "bob"), 409, QStringLiteral("sold-out"));
        verifyProblem(bookRaw(sale, "{"), 409, QStringLiteral("sold-out")); // remembered

        const HttpResponse replay = book(sale, "alice", key);
        QCOMPARE(replay.status, 202);
        QCOMPARE(replay.headers.value("idempotent-replayed"), QByteArray("true"));
        QCOMPARE(replay.json().value(QStringLiteral("reservation_id")),
                 first.json().value(QStringLiteral("reservation_id")));

        verifyProblem(bookRaw(sale, "{", key), 400, QStringLiteral("invalid-request"));
        // The same key for another quantity is refused, as on a sale with stock.
        verifyProblem(bookRaw(sale, R"({"user_id":"alice","quantity":2})", key), 422,
                      QStringLiteral("idempotency-key-reused"));
        // Another buyer's key books nothing: Redis says sold out. These keyed bookings went to
        // lua/book_sold_out.lua, not the whole of book.lua.
        const double shortBefore = metric("flashsale_bookings_sold_out_short_total");
        verifyProblem(book(sale, "carol", {{"Idempotency-Key", "carol-1"}}), 409,
                      QStringLiteral("sold-out"));
        QCOMPARE(metric("flashsale_bookings_sold_out_short_total"), shortBefore + 1);
    }

    // A booking with a key on an item remembered sold out asks Redis whether it still is: a unit
    // back by a write no script made (nothing published, so the server still remembers the item
    // sold out) is sold to it, while a booking without a key is answered from memory.
    void keyedBookingFindsAUnitNobodyAnnounced() {
        const qint64 sale = soldOutWithAnUnannouncedUnit();
        QVERIFY(sale > 0);
        const SaleKeys k(sale);
        const QByteArray item = QByteArray::number(itemOf(sale));
        verifyProblem(book(sale, "no-key"), 409, QStringLiteral("sold-out"));

        const double shortBefore = metric("flashsale_bookings_sold_out_short_total");
        const HttpResponse keyed = book(sale, "keyed", {{"Idempotency-Key", "keyed-1"}});
        QCOMPARE(keyed.status, 202);
        QCOMPARE(metric("flashsale_bookings_sold_out_short_total"), shortBefore + 1);
        QCOMPARE(m_redis->hash(k.stock()).value(item), QByteArray("0"));
        // Its retry is a replay; the next buyer is refused by Redis again.
        const HttpResponse again = book(sale, "keyed", {{"Idempotency-Key", "keyed-1"}});
        QCOMPARE(again.status, 202);
        QCOMPARE(again.json().value(QStringLiteral("reservation_id")),
                 keyed.json().value(QStringLiteral("reservation_id")));
        verifyProblem(book(sale, "late", {{"Idempotency-Key", "late-1"}}), 409,
                      QStringLiteral("sold-out"));
    }

    // A unit that comes back is sold to the very next buyer, though the server would remember
    // the sale sold out for a minute: the script that returned it published the sale's id, and
    // the server forgot. Waiting is for the notice only.
    void returnedUnitIsSoldAtOnce_data() {
        QTest::addColumn<QString>("how");
        QTest::addRow("a hold expires") << "expiry";
        QTest::addRow("a merchant adds a unit") << "adjust";
        QTest::addRow("reconciliation gives a unit back") << "reconcile";
    }

    void returnedUnitIsSoldAtOnce() {
        QFETCH(QString, how);
        const bool expiry = how == QLatin1String("expiry");
        const qint64 sale = openSale(1, expiry ? 2 : 600);
        QVERIFY(sale > 0);
        const double heard = notices();
        verifyProblem(sellOut(sale), 409, QStringLiteral("sold-out"));
        // Remembered: a malformed body is answered sold-out, not 400.
        verifyProblem(bookRaw(sale, "{"), 409, QStringLiteral("sold-out"));

        const SaleKeys k(sale);
        const QByteArray item = QByteArray::number(itemOf(sale));
        if (how == QLatin1String("adjust")) {
            // lua/adjust.lua, as the admin's stock adjustment runs it.
            const QList<QByteArray> r =
                m_redis->command({"EVAL", RedisScript::load(QStringLiteral("adjust")).body, "1",
                                  k.stock(), item, "1"});
            QCOMPARE(r.value(0), QByteArray("ok"));
        } else if (how == QLatin1String("reconcile")) {
            // lua/reconcile_apply.lua with one stock delta of +1, as a repair applies it.
            m_redis->command({"EVAL", RedisScript::load(QStringLiteral("reconcile_apply")).body,
                              "4", k.stock(), k.users(), k.released(), k.meta(), "1", "0", "0",
                              item, "1"});
        } // else the server's expiry sweeper releases the 2 s hold (lua/release.lua)
        QTRY_VERIFY_WITH_TIMEOUT(notices() > heard, 15000);
        QCOMPARE(m_redis->hash(k.stock()).value(item), QByteArray("1"));

        const HttpResponse next = book(sale, "next");
        QCOMPARE(next.status, 202);
        verifyProblem(book(sale, "after-next"), 409, QStringLiteral("sold-out"));
    }

    // Messages published while the subscription was down are lost: on subscribing again the
    // server forgets every sale it remembered sold out.
    void resubscribingForgetsEverything() {
        const qint64 sale = soldOutWithAnUnannouncedUnit();
        QVERIFY(sale > 0);
        verifyProblem(bookRaw(sale, "{"), 409, QStringLiteral("sold-out")); // still remembered

        QCOMPARE(m_redis->integer({"CLIENT", "KILL", "TYPE", "pubsub"}), 1);
        // Once subscribed again the sale is not remembered: its bodies are read again.
        QTRY_COMPARE_WITH_TIMEOUT(bookRaw(sale, "{").status, 400, 10000);
        QCOMPARE(book(sale, "after-resubscribe").status, 202);
    }
};

QTEST_GUILESS_MAIN(TestSoldOut)
#include "tst_soldout.moc"
