// book.lua, warm.lua and purchase.lua run directly against a real redis-server: every rule of
// the hot path, one table row or one test each, asserting outcomes and the Redis state left.

#include "booking/salekeys.h"
#include "redis/redisscript.h"
#include "testservers.h"

#include <QDateTime>
#include <QRandomGenerator>
#include <QTest>
#include <QThread>

using namespace flashsale;
using namespace flashsale::test;

namespace {

struct Item {
    qint64 id;
    qint64 stock;
    qint64 price;
};

} // namespace

class TestBookLua : public QObject {
    Q_OBJECT

private:
    RedisServer m_server;
    std::unique_ptr<RedisSync> m_redis;
    RedisScript m_book, m_warm, m_purchase;
    qint64 m_nextSale = 1;

    qint64 now() const { return QDateTime::currentMSecsSinceEpoch(); }

    qint64 warm(const QByteArray &state, qint64 startsIn, qint64 endsIn, int limit, int rate,
                int burst, qint64 holdMs, const QList<Item> &items, qint64 saleId = 0) {
        if (saleId == 0)
            saleId = m_nextSale++;
        const SaleKeys k(saleId);
        QList<QByteArray> argv{"EVAL",
                               m_warm.body,
                               "4",
                               k.meta(),
                               k.stock(),
                               k.price(),
                               k.items(),
                               state,
                               QByteArray::number(now() + startsIn),
                               QByteArray::number(now() + endsIn),
                               QByteArray::number(limit),
                               QByteArray::number(rate),
                               QByteArray::number(burst),
                               QByteArray::number(holdMs),
                               "Test sale",
                               "0"}; // no proof of work
        for (const Item &i : items)
            argv << QByteArray::number(i.id) << QByteArray::number(i.stock)
                 << QByteArray::number(i.price);
        for (const Item &i : items)
            argv << "item " + QByteArray::number(i.id);
        m_redis->command(argv);
        return saleId;
    }

    // Returns book.lua's reply, flattened.
    QList<QByteArray> book(qint64 saleId, const QByteArray &user, int qty,
                           const QByteArray &item = "", const QByteArray &idem = "",
                           QByteArray rid = {}) {
        const SaleKeys k(saleId);
        if (rid.isEmpty())
            rid = QByteArray::number(saleId) + "-"
                  + QByteArray::number(QRandomGenerator::global()->generate64(), 16)
                        .rightJustified(32, '0');
        return m_redis->command(
            {"EVAL", m_book.body, "9", k.meta(), k.stock(), k.price(), k.users(), k.bucket(),
             k.idempotency(user, idem.isEmpty() ? "-" : idem), k.reservation(rid), k.stream(),
             k.reservations(), user, item, QByteArray::number(qty), rid, idem, "60000"});
    }

    qint64 remaining(qint64 saleId, const QByteArray &item) {
        return m_redis->integer({"HGET", SaleKeys(saleId).stock(), item});
    }
    qint64 streamLength(qint64 saleId) {
        return m_redis->integer({"XLEN", SaleKeys(saleId).stream()});
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_server.start(), qPrintable(m_server.error()));
        m_redis = std::make_unique<RedisSync>(m_server.port());
        m_book = RedisScript::load(QStringLiteral("book"));
        m_warm = RedisScript::load(QStringLiteral("warm"));
        m_purchase = RedisScript::load(QStringLiteral("purchase"));
    }

    void decisions_data() {
        QTest::addColumn<QByteArray>("state");
        QTest::addColumn<qint64>("startsIn");
        QTest::addColumn<qint64>("endsIn");
        QTest::addColumn<int>("stock");
        QTest::addColumn<int>("limit");
        QTest::addColumn<int>("rate");
        QTest::addColumn<int>("burst");
        QTest::addColumn<QStringList>("before"); // "user:qty" bookings made first
        QTest::addColumn<QByteArray>("user");
        QTest::addColumn<int>("qty");
        QTest::addColumn<QByteArray>("outcome");
        QTest::addColumn<int>("remainingAfter");
        QTest::addColumn<int>("streamAfter");

        const qint64 hour = 3600000;
        QTest::addRow("not started yet")
            << QByteArray("active") << hour << 2 * hour << 10 << 5 << 0 << 1 << QStringList{}
            << QByteArray("alice") << 1 << QByteArray("not_started") << 10 << 0;
        QTest::addRow("open") << QByteArray("active") << -1000LL << hour << 10 << 5 << 0 << 1
                              << QStringList{} << QByteArray("alice") << 1 << QByteArray("accepted")
                              << 9 << 1;
        QTest::addRow("closed: ended")
            << QByteArray("active") << -2 * hour << -1000LL << 10 << 5 << 0 << 1 << QStringList{}
            << QByteArray("alice") << 1 << QByteArray("closed") << 10 << 0;
        QTest::addRow("closed: stopped")
            << QByteArray("stopped") << -1000LL << hour << 10 << 5 << 0 << 1 << QStringList{}
            << QByteArray("alice") << 1 << QByteArray("closed") << 10 << 0;
        QTest::addRow("paused") << QByteArray("paused") << -1000LL << hour << 10 << 5 << 0 << 1
                                << QStringList{} << QByteArray("alice") << 1 << QByteArray("paused")
                                << 10 << 0;
        QTest::addRow("cap reached by earlier bookings")
            << QByteArray("active") << -1000LL << hour << 10 << 2 << 0 << 1
            << QStringList{"alice:1", "alice:1"} << QByteArray("alice") << 1
            << QByteArray("per_user_limit") << 8 << 2;
        QTest::addRow("cap exceeded by one quantity")
            << QByteArray("active") << -1000LL << hour << 10 << 2 << 0 << 1 << QStringList{}
            << QByteArray("alice") << 3 << QByteArray("per_user_limit") << 10 << 0;
        QTest::addRow("cap is per user")
            << QByteArray("active") << -1000LL << hour << 10 << 2 << 0 << 1
            << QStringList{"alice:2"} << QByteArray("bob") << 2 << QByteArray("accepted") << 6 << 2;
        QTest::addRow("quantity above 1")
            << QByteArray("active") << -1000LL << hour << 10 << 5 << 0 << 1 << QStringList{}
            << QByteArray("alice") << 3 << QByteArray("accepted") << 7 << 1;
        QTest::addRow("last units")
            << QByteArray("active") << -1000LL << hour << 3 << 5 << 0 << 1 << QStringList{"a:1"}
            << QByteArray("b") << 2 << QByteArray("accepted") << 0 << 2;
        QTest::addRow("sold out") << QByteArray("active") << -1000LL << hour << 2 << 5 << 0 << 1
                                  << QStringList{"a:1", "b:1"} << QByteArray("c") << 1
                                  << QByteArray("sold_out") << 0 << 2;
        QTest::addRow("fewer left than asked")
            << QByteArray("active") << -1000LL << hour << 2 << 5 << 0 << 1 << QStringList{"a:1"}
            << QByteArray("b") << 2 << QByteArray("insufficient_stock") << 1 << 1;
        QTest::addRow("token bucket empty")
            << QByteArray("active") << -1000LL << hour << 10 << 5 << 1 << 1 << QStringList{"a:1"}
            << QByteArray("b") << 1 << QByteArray("throttled") << 9 << 1;
        QTest::addRow("token bucket burst")
            << QByteArray("active") << -1000LL << hour << 10 << 5 << 1 << 3
            << QStringList{"a:1", "b:1"} << QByteArray("c") << 1 << QByteArray("accepted") << 7
            << 3;
    }

    void decisions() {
        QFETCH(QByteArray, state);
        QFETCH(qint64, startsIn);
        QFETCH(qint64, endsIn);
        QFETCH(int, stock);
        QFETCH(int, limit);
        QFETCH(int, rate);
        QFETCH(int, burst);
        QFETCH(QStringList, before);
        QFETCH(QByteArray, user);
        QFETCH(int, qty);
        QFETCH(QByteArray, outcome);
        QFETCH(int, remainingAfter);
        QFETCH(int, streamAfter);

        // Earlier bookings need an open sale; state and time window are applied afterwards.
        const qint64 sale =
            warm("active", -1000, 3600000, limit, rate, burst, 60000, {{7, stock, 100}});
        for (const QString &b : before) {
            const QStringList p = b.split(QLatin1Char(':'));
            QCOMPARE(book(sale, p[0].toUtf8(), p[1].toInt()).value(0), QByteArray("accepted"));
        }
        m_redis->command({"HSET", SaleKeys(sale).meta(), "state", state, "starts_ms",
                          QByteArray::number(now() + startsIn), "ends_ms",
                          QByteArray::number(now() + endsIn)});

        const QList<QByteArray> r = book(sale, user, qty);
        QCOMPARE(r.value(0), outcome);
        QCOMPARE(remaining(sale, "7"), qint64(remainingAfter));
        QCOMPARE(streamLength(sale), qint64(streamAfter));
        // The per-user count matches what that user was granted.
        qint64 heldBefore = 0;
        for (const QString &b : before) {
            if (b.startsWith(QString::fromUtf8(user) + QLatin1Char(':')))
                heldBefore += b.section(QLatin1Char(':'), 1).toInt();
        }
        const qint64 held = m_redis->integer({"HGET", SaleKeys(sale).users(), user});
        QCOMPARE(held, heldBefore + (outcome == "accepted" ? qty : 0));
        if (outcome == "throttled")
            QVERIFY(r.value(1).toLongLong() > 0 && r.value(1).toLongLong() <= 1000);
        if (outcome == "not_started")
            QVERIFY(r.value(1).toLongLong() > r.value(2).toLongLong());
    }

    void acceptedBookingIsRecorded() {
        const qint64 sale = warm("active", -1000, 3600000, 5, 0, 1, 60000, {{11, 4, 250}});
        const QByteArray rid = QByteArray::number(sale) + "-0123456789abcdef0123456789abcdef";
        const QList<QByteArray> r = book(sale, "dora", 2, "", "", rid);
        QCOMPARE(r.value(0), QByteArray("accepted"));
        QCOMPARE(r.value(1), rid);
        QCOMPARE(r.value(2), QByteArray("11"));
        QCOMPARE(r.value(3), QByteArray("2"));
        QCOMPARE(r.value(5), QByteArray("2"));   // remaining
        QCOMPARE(r.value(7), QByteArray("250")); // price
        const qint64 expires = r.value(4).toLongLong();
        QVERIFY(qAbs(expires - (now() + 60000)) < 5000);

        const auto res = m_redis->hash(SaleKeys(sale).reservation(rid));
        QCOMPARE(res.value("user"), QByteArray("dora"));
        QCOMPARE(res.value("qty"), QByteArray("2"));
        QCOMPARE(res.value("status"), QByteArray("held"));
        QVERIFY(m_redis->integer({"PTTL", SaleKeys(sale).reservation(rid)}) > 60000);

        // The stream entry carries everything the worker needs to write the order.
        const QList<QByteArray> entry =
            m_redis->command({"XREVRANGE", SaleKeys(sale).stream(), "+", "-", "COUNT", "1"});
        QCOMPARE(entry.size(), 1);
        QCOMPARE(m_redis->integer({"XLEN", SaleKeys(sale).stream()}), 1);
    }

    void idempotentReplay() {
        const qint64 sale = warm("active", -1000, 3600000, 5, 0, 1, 60000, {{21, 10, 100}});
        const QList<QByteArray> first = book(sale, "erin", 2, "", "key-1");
        QCOMPARE(first.value(0), QByteArray("accepted"));
        QCOMPARE(first.value(6), QByteArray("0"));
        const QList<QByteArray> again = book(sale, "erin", 2, "", "key-1");
        QCOMPARE(again.value(0), QByteArray("accepted"));
        QCOMPARE(again.value(1), first.value(1));  // same reservation
        QCOMPARE(again.value(4), first.value(4));  // same expiry
        QCOMPARE(again.value(6), QByteArray("1")); // marked as a replay
        QCOMPARE(remaining(sale, "21"), 8);        // booked once
        QCOMPARE(streamLength(sale), 1);

        // Same key, different request: refused, nothing booked.
        QCOMPARE(book(sale, "erin", 1, "", "key-1").value(0), QByteArray("idempotency_mismatch"));
        // Keys are per user: another user's identical key is a new booking.
        const QList<QByteArray> other = book(sale, "frank", 2, "", "key-1");
        QCOMPARE(other.value(0), QByteArray("accepted"));
        QVERIFY(other.value(1) != first.value(1));
        QCOMPARE(remaining(sale, "21"), 6);

        // A replay still answers the first result after the sale closed.
        m_redis->command({"HSET", SaleKeys(sale).meta(), "state", "stopped"});
        QCOMPARE(book(sale, "erin", 2, "", "key-1").value(1), first.value(1));
        QVERIFY(m_redis->integer({"PTTL", SaleKeys(sale).idempotency("erin", "key-1")}) > 0);
    }

    void tokenBucketRefills() {
        // 20 per second, burst 2: two pass, the third waits about 50 ms.
        const qint64 sale = warm("active", -1000, 3600000, 100, 20, 2, 60000, {{31, 100, 100}});
        QCOMPARE(book(sale, "u1", 1).value(0), QByteArray("accepted"));
        QCOMPARE(book(sale, "u2", 1).value(0), QByteArray("accepted"));
        const QList<QByteArray> t = book(sale, "u3", 1);
        QCOMPARE(t.value(0), QByteArray("throttled"));
        QVERIFY2(t.value(1).toLongLong() >= 1 && t.value(1).toLongLong() <= 50,
                 t.value(1).constData());
        QThread::msleep(120);
        QCOMPARE(book(sale, "u3", 1).value(0), QByteArray("accepted"));
        // A refusal for another reason spends no token.
        QCOMPARE(book(sale, "u1", 200).value(0), QByteArray("per_user_limit"));
    }

    void severalItems() {
        const qint64 sale =
            warm("active", -1000, 3600000, 3, 0, 1, 60000, {{41, 5, 100}, {42, 5, 300}});
        QCOMPARE(book(sale, "g", 1).value(0), QByteArray("item_required"));
        QCOMPARE(book(sale, "g", 1, "99").value(0), QByteArray("unknown_item"));
        QCOMPARE(book(sale, "g", 2, "41").value(0), QByteArray("accepted"));
        QCOMPARE(book(sale, "g", 1, "42").value(7), QByteArray("300"));
        // The cap counts units across items.
        QCOMPARE(book(sale, "g", 1, "42").value(0), QByteArray("per_user_limit"));
        QCOMPARE(remaining(sale, "41"), 3);
        QCOMPARE(remaining(sale, "42"), 4);
    }

    void unknownSale() {
        QCOMPARE(book(987654, "h", 1).value(0), QByteArray("unknown_sale"));
        QCOMPARE(m_redis->integer({"EXISTS", SaleKeys(987654).stream()}), 0);
    }

    void warmIsIdempotent() {
        const qint64 sale = warm("active", -1000, 3600000, 5, 0, 1, 60000, {{51, 5, 100}});
        QCOMPARE(book(sale, "i", 2).value(0), QByteArray("accepted"));
        // Warming again must not reset stock that is partly sold.
        warm("active", -1000, 3600000, 5, 0, 1, 60000, {{51, 5, 100}}, sale);
        QCOMPARE(remaining(sale, "51"), 3);
        QCOMPARE(m_redis->hash(SaleKeys(sale).meta()).value("default_item"), QByteArray("51"));
    }

    void purchaseConfirmsOnce() {
        const qint64 sale = warm("active", -1000, 3600000, 5, 0, 1, 60000, {{61, 5, 100}});
        const QList<QByteArray> b = book(sale, "j", 1);
        const QByteArray rid = b.value(1);
        const SaleKeys k(sale);
        auto purchase = [&](const QByteArray &id) {
            return m_redis->command(
                {"EVAL", m_purchase.body, "2", k.reservation(id), k.stream(), id});
        };
        const QList<QByteArray> p = purchase(rid);
        QCOMPARE(p.value(0), QByteArray("confirmed"));
        QCOMPARE(p.value(5), QByteArray("0"));
        QCOMPARE(purchase(rid).value(5), QByteArray("1")); // replay
        QCOMPARE(streamLength(sale), 2);                   // the booking and one confirm
        QCOMPARE(purchase(QByteArray::number(sale) + "-ffffffffffffffffffffffffffffffff").value(0),
                 QByteArray("unknown"));

        // A hold past its expiry cannot be confirmed.
        const qint64 shortSale = warm("active", -1000, 3600000, 5, 0, 1, 30, {{62, 5, 100}});
        const QByteArray late = book(shortSale, "k", 1).value(1);
        QThread::msleep(80);
        const SaleKeys k2(shortSale);
        QCOMPARE(
            m_redis
                ->command({"EVAL", m_purchase.body, "2", k2.reservation(late), k2.stream(), late})
                .value(0),
            QByteArray("expired"));
    }
};

QTEST_GUILESS_MAIN(TestBookLua)
#include "tst_booklua.moc"
