// queue_join.lua and queue_status.lua run directly against a private redis-server: one entry
// per buyer under a pipelined flood, the cohort boundary on Redis' own clock, the lobby, the
// address cap, the room's bound, and no key written for a sale a join cannot enter (I9).

#include "booking/reservationid.h"
#include "booking/salekeys.h"
#include "booking/waitingroom.h"
#include "fairness/cohortshuffle.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"
#include "testservers.h"

#include <QSet>
#include <QSignalSpy>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

namespace {

// A waiting room as warm.lua stores it; times relative to Redis' clock.
struct Room {
    QByteArray state = "active";
    qint64 lobbyIn = -60000; // lobby_ms - now
    qint64 startsIn = 60000;
    qint64 endsIn = 3600000;
    int graceMs = 3000;
    int entriesPerAddress = 0;
    int pow = 0;
    bool waitingRoom = true;
};

struct Join {
    QByteArray user;
    QByteArray address = "10.0.0.1";
    int presented = -1; // proof-of-work difficulty presented; -1 none
    QByteArray nonce;
    int maxEntries = 1000;
    int ipRate = 0; // per second, 0 = off
};

} // namespace

class TestWaitingRoomLua : public QObject {
    Q_OBJECT

private:
    RedisServer m_server;
    std::unique_ptr<RedisSync> m_redis;
    std::unique_ptr<RedisClient> m_client; // pipelines
    RedisScript m_join, m_status, m_warm;
    qint64 m_nextSale = 1;

    qint64 redisNow() {
        const QList<QByteArray> t = m_redis->command({"TIME"});
        return t.value(0).toLongLong() * 1000 + t.value(1).toLongLong() / 1000;
    }

    qint64 warm(const Room &room) {
        const qint64 saleId = m_nextSale++;
        const SaleKeys k(saleId);
        const qint64 now = redisNow();
        m_redis->command({"EVAL",
                          m_warm.body,
                          "5",
                          k.meta(),
                          k.stock(),
                          k.price(),
                          k.items(),
                          k.waitingRoomMeta(),
                          room.state,
                          QByteArray::number(now + room.startsIn),
                          QByteArray::number(now + room.endsIn),
                          "1",
                          "0",
                          "1",
                          "600000",
                          "Room",
                          QByteArray::number(room.pow),
                          room.waitingRoom ? "1" : "0",
                          QByteArray::number(now + room.lobbyIn),
                          QByteArray::number(room.graceMs),
                          "600",
                          "120000",
                          QByteArray::number(room.entriesPerAddress),
                          QByteArray(64, 'a'),
                          "7",
                          "10",
                          "100",
                          "Phone"});
        return saleId;
    }

    QList<QByteArray> joinArgv(qint64 saleId, const Join &j) {
        const SaleKeys k(saleId);
        return {"EVALSHA",
                m_join.sha1,
                "9",
                k.meta(),
                k.waitingRoomMeta(),
                k.waitingRoomBuyers(),
                k.waitingRoomCohort(),
                k.waitingRoomFifo(),
                k.waitingRoomAddresses(),
                k.powNonce(j.nonce),
                k.waitingRoomRateIp(j.address),
                k.waitingRoomRateUser(j.user),
                j.user,
                fairness::CohortShuffle::newEntryId(),
                j.address,
                QByteArray::number(j.presented),
                "60000",
                QByteArray::number(j.ipRate),
                "1",
                "0",
                "1",
                QByteArray::number(j.maxEntries)};
    }

    // queue_join.lua's reply, flattened.
    QList<QByteArray> join(qint64 saleId, const Join &j) {
        return m_redis->command(joinArgv(saleId, j));
    }

    qint64 keysOf(qint64 saleId, const QByteArray &pattern) {
        return m_redis->command({"KEYS", "fs:{sale:" + QByteArray::number(saleId) + "}:" + pattern})
            .size();
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_server.start(), qPrintable(m_server.error()));
        m_redis = std::make_unique<RedisSync>(m_server.port());
        m_join = RedisScript::load(QStringLiteral("queue_join"));
        m_status = RedisScript::load(QStringLiteral("queue_status"));
        m_warm = RedisScript::load(QStringLiteral("warm"));
        QCOMPARE(m_redis->one({"SCRIPT", "LOAD", m_join.body}), m_join.sha1);
        QCOMPARE(m_redis->one({"SCRIPT", "LOAD", m_status.body}), m_status.sha1);
        m_client = std::make_unique<RedisClient>(*RedisClient::Endpoint::fromUrl(m_server.url()),
                                                 std::chrono::seconds(10));
        QSignalSpy connected(m_client.get(), &RedisClient::connected);
        m_client->start();
        QTRY_COMPARE(connected.size(), 1);
    }

    // warm.lua gives a waiting-room sale its settings in meta and the commitment in wr:meta,
    // and a sale without one no wr:meta at all.
    void warmWritesTheRoom() {
        const qint64 sale = warm(Room{});
        const auto meta = m_redis->hash(SaleKeys(sale).meta());
        QCOMPARE(meta.value("wr"), QByteArray("1"));
        QCOMPARE(meta.value("grace_ms"), QByteArray("3000"));
        QCOMPARE(meta.value("adm_ttl_ms"), QByteArray("120000"));
        QCOMPARE(m_redis->hash(SaleKeys(sale).waitingRoomMeta()).value("commitment"),
                 QByteArray(64, 'a'));
        QCOMPARE(m_redis->hash(SaleKeys(sale).stock()).value("7"), QByteArray("10"));
        Room plain;
        plain.waitingRoom = false;
        const qint64 other = warm(plain);
        QCOMPARE(m_redis->integer({"EXISTS", SaleKeys(other).waitingRoomMeta()}), 0);
        QCOMPARE(m_redis->hash(SaleKeys(other).meta()).value("wr"), QByteArray("0"));
    }

    // 1,000 joins of one buyer, pipelined on one connection, each with a fresh proof of work:
    // one entry, one list element, one spent challenge; 999 answers name that same entry.
    void oneEntryPerBuyerUnderPipelinedJoins() {
        Room room;
        room.pow = 4;
        const qint64 sale = warm(room);
        const SaleKeys k(sale);
        QList<QueueOutcome> outcomes;
        int failures = 0;
        for (int i = 0; i < 1000; ++i) {
            Join j{"alice"};
            j.presented = 4;
            j.nonce = "n" + QByteArray::number(i);
            const QList<QByteArray> argv = joinArgv(sale, j).mid(3); // keys, then args
            m_client->eval(m_join, argv.mid(0, 9), argv.mid(9),
                           [&outcomes, &failures](const Result<RedisValue> &r) {
                               const auto o = r ? QueueOutcome::fromReply(*r) : std::nullopt;
                               if (o)
                                   outcomes << *o;
                               else
                                   ++failures;
                           });
        }
        QTRY_COMPARE_WITH_TIMEOUT(outcomes.size() + failures, 1000, 30000);
        QCOMPARE(failures, 0);
        int joined = 0;
        QSet<QByteArray> ids;
        for (const QueueOutcome &o : outcomes) {
            joined += o.kind == QueueOutcome::Kind::Joined;
            QVERIFY(o.kind == QueueOutcome::Kind::Joined || o.kind == QueueOutcome::Kind::Existing);
            ids.insert(o.entry.entryId);
        }
        QCOMPARE(joined, 1);
        QCOMPARE(ids.size(), 1);
        QVERIFY(fairness::CohortShuffle::isEntryId(*ids.cbegin()));
        QCOMPARE(m_redis->integer({"HLEN", k.waitingRoomBuyers()}), 1);
        QCOMPARE(m_redis->integer({"LLEN", k.waitingRoomCohort()}), 1);
        QCOMPARE(m_redis->integer({"LLEN", k.waitingRoomFifo()}), 0);
        QCOMPARE(keysOf(sale, "pow:*"), 1);
    }

    // The cohort closes at starts_ms + grace_ms by Redis' clock, to the millisecond: distinct
    // buyers join back to back across the close, and each reply carries the script's own now.
    void cohortBoundaryOnRedisClock() {
        // A stall of this machine across the close could leave a millisecond unseen: try again
        // with a fresh sale (three tries).
        for (int attempt = 0; attempt < 3; ++attempt) {
            Room room;
            room.graceMs = 10;
            room.startsIn = 20; // closes 30 ms from now
            const qint64 sale = warm(room);
            const qint64 close =
                m_redis->hash(SaleKeys(sale).meta()).value("starts_ms").toLongLong() + room.graceMs;
            QSet<qint64> seenCohort, seenFifo;
            int n = 0;
            while (redisNow() < close + 30) {
                const QList<QByteArray> r = join(sale, Join{"b" + QByteArray::number(n++)});
                QCOMPARE(r.value(0), QByteArray("joined"));
                const qint64 now = r.value(6).toLongLong();
                QCOMPARE(r.value(7).toLongLong(), close);
                const bool cohort = r.value(2) == "c";
                QCOMPARE(cohort, now < close); // the rule itself, on every reply
                (cohort ? seenCohort : seenFifo).insert(now);
            }
            const SaleKeys k(sale);
            QCOMPARE(m_redis->integer({"LLEN", k.waitingRoomCohort()})
                         + m_redis->integer({"LLEN", k.waitingRoomFifo()}),
                     qint64(n));
            if (seenCohort.contains(close - 1) && seenFifo.contains(close)
                && seenFifo.contains(close + 1))
                return;
            qWarning("attempt %d: the milliseconds around the close were not all seen", attempt);
        }
        QFAIL("no join was seen at close - 1, close and close + 1 in three tries");
    }

    // Before the lobby opens: the time it opens and Redis' now, and nothing written.
    void lobbyNotOpen() {
        Room room;
        room.lobbyIn = 5000;
        const qint64 sale = warm(room);
        const qint64 keys = m_redis->integer({"DBSIZE"});
        const QList<QByteArray> r = join(sale, Join{"early"});
        QCOMPARE(r.value(0), QByteArray("lobby_not_open"));
        const qint64 lobby = r.value(1).toLongLong(), now = r.value(2).toLongLong();
        QVERIFY2(lobby - now > 4000 && lobby - now <= 5000, r.join(' ').constData());
        QCOMPARE(m_redis->integer({"DBSIZE"}), keys);
    }

    // A join that cannot enter writes no key at all (I9), even with the rate limits and a
    // proof of work that would otherwise be recorded.
    void noKeyForSalesAJoinCannotEnter_data() {
        QTest::addColumn<QByteArray>("kind");
        QTest::addColumn<QByteArray>("outcome");
        QTest::addRow("unknown sale") << QByteArray("unknown") << QByteArray("unknown_sale");
        QTest::addRow("no waiting room") << QByteArray("plain") << QByteArray("no_waiting_room");
        QTest::addRow("stopped") << QByteArray("stopped") << QByteArray("closed");
        QTest::addRow("past its end") << QByteArray("ended") << QByteArray("closed");
        QTest::addRow("lobby not open") << QByteArray("early") << QByteArray("lobby_not_open");
    }
    void noKeyForSalesAJoinCannotEnter() {
        QFETCH(QByteArray, kind);
        QFETCH(QByteArray, outcome);
        Room room;
        if (kind == "plain")
            room.waitingRoom = false;
        if (kind == "stopped")
            room.state = "stopped";
        if (kind == "ended") {
            room.lobbyIn = -7200000;
            room.startsIn = -3600000;
            room.endsIn = -1000;
        }
        if (kind == "early")
            room.lobbyIn = 60000;
        const qint64 sale = kind == "unknown" ? 999999 : warm(room);
        const qint64 keys = m_redis->integer({"DBSIZE"});
        for (int i = 0; i < 20; ++i) {
            Join j{"u" + QByteArray::number(i)};
            j.ipRate = 10;
            j.presented = 4;
            j.nonce = "x" + QByteArray::number(i);
            QCOMPARE(join(sale, j).value(0), outcome);
            const SaleKeys k(sale);
            const QByteArray status =
                m_redis->one({"EVALSHA", m_status.sha1, "5", k.meta(), k.waitingRoomMeta(),
                              k.waitingRoomBuyers(), k.waitingRoomAdmitted(), k.waitingRoomDone(), j.user});
            Q_UNUSED(status); // read only: whatever it answers, it writes nothing
        }
        QCOMPARE(m_redis->integer({"DBSIZE"}), keys);
        QCOMPARE(keysOf(sale, "wr:*"), kind == "plain" || kind == "unknown" ? 0 : 1); // wr:meta
    }

    // entries_per_address 2: the third account behind one address queues FIFO, flagged; other
    // addresses still enter the cohort; after the close everyone is FIFO, unflagged.
    void addressCapOverflowsToFifo() {
        Room room;
        room.entriesPerAddress = 2;
        const qint64 sale = warm(room);
        const auto kindOf = [&](const QByteArray &user, const QByteArray &address) {
            Join j{user};
            j.address = address;
            const QList<QByteArray> r = join(sale, j);
            return r.value(2) + (r.value(5).isEmpty() ? QByteArray() : "|" + r.value(5));
        };
        QCOMPARE(kindOf("a1", "192.0.2.7"), QByteArray("c"));
        QCOMPARE(kindOf("a2", "192.0.2.7"), QByteArray("c"));
        QCOMPARE(kindOf("a3", "192.0.2.7"), QByteArray("f|a"));
        QCOMPARE(kindOf("a4", "192.0.2.7"), QByteArray("f|a"));
        QCOMPARE(kindOf("b1", "2001:db8:1:2::/64"), QByteArray("c"));
        QCOMPARE(kindOf("a1", "192.0.2.7"), QByteArray("c")); // existing: unchanged
        const SaleKeys k(sale);
        QCOMPARE(m_redis->integer({"LLEN", k.waitingRoomCohort()}), 3);
        QCOMPARE(m_redis->integer({"LLEN", k.waitingRoomFifo()}), 2);
        QCOMPARE(m_redis->integer({"HGET", k.waitingRoomAddresses(), "192.0.2.7"}), 2);
        // The buyer's own view says the same.
        const QList<QByteArray> s =
            m_redis->command({"EVALSHA", m_status.sha1, "5", k.meta(), k.waitingRoomMeta(),
                              k.waitingRoomBuyers(), k.waitingRoomAdmitted(), k.waitingRoomDone(), "a3"});
        QCOMPARE(s.value(0), QByteArray("entry"));
        QCOMPARE(s.value(2), QByteArray("f"));
        QCOMPARE(s.value(5), QByteArray("a"));
        QCOMPARE(s.value(9), QByteArray("1"));
        QCOMPARE(m_redis
                     ->command({"EVALSHA", m_status.sha1, "5", k.meta(), k.waitingRoomMeta(),
                                k.waitingRoomBuyers(), k.waitingRoomAdmitted(), k.waitingRoomDone(), "nobody"})
                     .value(0),
                 QByteArray("not_in_queue"));

        Room late;
        late.entriesPerAddress = 2;
        late.lobbyIn = -60000;
        late.startsIn = -10000; // closed 7 s ago
        const qint64 after = warm(late);
        Join j{"z1"};
        const QList<QByteArray> r = join(after, j);
        QCOMPARE(r.value(2), QByteArray("f"));
        QCOMPARE(r.value(5), QByteArray());
        QCOMPARE(r.value(3), QByteArray("1"));
    }

    // The room holds max_entries at most; those in it still get their entry back.
    void queueFull() {
        const qint64 sale = warm(Room{});
        for (const QByteArray user : {"q1", "q2", "q3"}) {
            Join j{user};
            j.maxEntries = 3;
            QCOMPARE(join(sale, j).value(0), QByteArray("joined"));
        }
        Join fourth{"q4"};
        fourth.maxEntries = 3;
        const QList<QByteArray> r = join(sale, fourth);
        QCOMPARE(r.value(0), QByteArray("queue_full"));
        QCOMPARE(r.value(1), QByteArray("3"));
        Join again{"q2"};
        again.maxEntries = 3;
        QCOMPARE(join(sale, again).value(0), QByteArray("existing"));
        QCOMPARE(m_redis->integer({"HLEN", SaleKeys(sale).waitingRoomBuyers()}), 3);
    }

    // Proof of work, per entry: required without one, refused below the sale's difficulty,
    // spent once.
    void proofOfWorkPerEntry() {
        Room room;
        room.pow = 8;
        const qint64 sale = warm(room);
        QCOMPARE(join(sale, Join{"p1"}).value(0), QByteArray("pow_required"));
        Join easy{"p1"};
        easy.presented = 6;
        easy.nonce = "e1";
        QCOMPARE(join(sale, easy).value(0), QByteArray("pow_too_easy"));
        Join good{"p1"};
        good.presented = 8;
        good.nonce = "g1";
        QCOMPARE(join(sale, good).value(0), QByteArray("joined"));
        Join replay{"p2"};
        replay.presented = 8;
        replay.nonce = "g1";
        QCOMPARE(join(sale, replay).value(0), QByteArray("pow_replayed"));
        // The existing entry needs no new work.
        QCOMPARE(join(sale, Join{"p1"}).value(0), QByteArray("existing"));
    }
};

QTEST_GUILESS_MAIN(TestWaitingRoomLua)
#include "tst_waitingroomlua.moc"
