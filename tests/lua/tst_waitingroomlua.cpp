// queue_join.lua and queue_status.lua run directly against a private redis-server: one entry
// per buyer under a pipelined flood, the cohort boundary on Redis' own clock, the lobby, the
// address cap, the room's bound, and no key written for a sale a join cannot enter (I9).

#include "booking/reservationid.h"
#include "booking/salekeys.h"
#include "booking/waitingroom.h"
#include "fairness/cohortshuffle.h"
#include "metrics/metrics.h"
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
    RedisScript m_join, m_status, m_warm, m_admit, m_book, m_release;
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

    // A started sale whose cohort is sealed as `ranked` (the seal's output, written directly:
    // the seal is not under test here) with `fifo` behind it; stock of item 7, admit rate.
    qint64 sealed(const QList<QByteArray> &ranked, const QList<QByteArray> &fifo, qint64 stock,
                  int perMinute = 600) {
        Room room;
        room.lobbyIn = -120000;
        room.startsIn = -60000;
        const qint64 sale = warm(room);
        const SaleKeys k(sale);
        m_redis->command({"HSET", k.stock(), "7", QByteArray::number(stock)});
        m_redis->command({"HSET", k.meta(), "admit_pm", QByteArray::number(perMinute)});
        int pos = 1;
        for (const QByteArray &e : ranked) {
            m_redis->command({"RPUSH", k.waitingRoomRanked(), e});
            m_redis->command({"HSET", k.waitingRoomBuyers(), "u-" + e,
                              e + "|c|" + QByteArray::number(pos++) + "|1"});
        }
        pos = 1;
        for (const QByteArray &e : fifo) {
            m_redis->command({"RPUSH", k.waitingRoomFifo(), e});
            m_redis->command({"HSET", k.waitingRoomBuyers(), "u-" + e,
                              e + "|f|" + QByteArray::number(pos++) + "|1"});
        }
        m_redis->command({"HSET", k.waitingRoomMeta(), "ranked", "1", "cohort_n",
                          QByteArray::number(ranked.size())});
        return sale;
    }

    // One queue_admit.lua tick: {outcome, admitted, expired, cursor, outstanding, remaining,
    // sold_out}.
    QList<QByteArray> admit(qint64 saleId, double k = 1) {
        const SaleKeys s(saleId);
        return m_redis->command({"EVALSHA", m_admit.sha1, "7", s.meta(), s.waitingRoomMeta(),
                                 s.waitingRoomRanked(), s.waitingRoomFifo(),
                                 s.waitingRoomAdmitted(), s.waitingRoomDone(), s.stock(),
                                 QByteArray::number(k), "1000"});
    }

    // The admitted entries, in line order (their expiries are equal within one tick).
    QList<QByteArray> admitted(qint64 saleId) {
        return m_redis->command({"ZRANGE", SaleKeys(saleId).waitingRoomAdmitted(), "0", "-1"});
    }

    // Moves the allowance's clock back `ms`, as if that long had passed since the last tick.
    void elapse(qint64 saleId, qint64 ms) {
        m_redis->command({"HSET", SaleKeys(saleId).waitingRoomMeta(), "allow_ms",
                          QByteArray::number(redisNow() - ms)});
    }

    // book.lua for `entry`'s buyer ("u-" + entry) with its admission, as BookingService sends it.
    QList<QByteArray> book(qint64 saleId, const QByteArray &entry, const QByteArray &rid) {
        const SaleKeys k(saleId);
        const QByteArray user = "u-" + entry;
        return m_redis->command({"EVALSHA",
                                 m_book.sha1,
                                 "16",
                                 k.meta(),
                                 k.stock(),
                                 k.price(),
                                 k.users(),
                                 k.bucket(),
                                 k.idempotency(user, "-"),
                                 k.reservation(rid),
                                 k.stream(),
                                 k.reservations(),
                                 k.rateLimitIp("127.0.0.1"),
                                 k.rateLimitUser(user),
                                 k.powNonce(""),
                                 k.waitingRoomBuyers(),
                                 k.waitingRoomAdmitted(),
                                 k.waitingRoomDone(),
                                 k.waitingRoomMeta(),
                                 user,
                                 "",
                                 "1",
                                 rid,
                                 "",
                                 "60000",
                                 "0",
                                 "1",
                                 "0",
                                 "1",
                                 "-1",
                                 "0",
                                 "",
                                 "",
                                 entry});
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
        m_admit = RedisScript::load(QStringLiteral("queue_admit"));
        m_book = RedisScript::load(QStringLiteral("book"));
        m_release = RedisScript::load(QStringLiteral("release"));
        QCOMPARE(m_redis->one({"SCRIPT", "LOAD", m_join.body}), m_join.sha1);
        QCOMPARE(m_redis->one({"SCRIPT", "LOAD", m_status.body}), m_status.sha1);
        for (const RedisScript *script : {&m_admit, &m_book, &m_release})
            QCOMPARE(m_redis->one({"SCRIPT", "LOAD", script->body}), script->sha1);
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
                Join j{"b" + QByteArray::number(n++)};
                // The loop joins as fast as it can for ~60 ms: past the default bound of 1,000
                // once a TIME and a join take less than 60 us together.
                j.maxEntries = 1000000;
                const QList<QByteArray> r = join(sale, j);
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
                m_redis->one({"EVALSHA", m_status.sha1, "7", k.meta(), k.waitingRoomMeta(),
                              k.waitingRoomBuyers(), k.waitingRoomRanks(), k.waitingRoomAdmitted(),
                              k.waitingRoomDone(), k.stock(), j.user});
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
        const QList<QByteArray> s = m_redis->command(
            {"EVALSHA", m_status.sha1, "7", k.meta(), k.waitingRoomMeta(), k.waitingRoomBuyers(),
             k.waitingRoomRanks(), k.waitingRoomAdmitted(), k.waitingRoomDone(), k.stock(), "a3"});
        QCOMPARE(s.value(0), QByteArray("entry"));
        QCOMPARE(s.value(2), QByteArray("f"));
        QCOMPARE(s.value(5), QByteArray("a"));
        QCOMPARE(s.value(9), QByteArray("1"));
        QCOMPARE(m_redis
                     ->command({"EVALSHA", m_status.sha1, "7", k.meta(), k.waitingRoomMeta(),
                                k.waitingRoomBuyers(), k.waitingRoomRanks(),
                                k.waitingRoomAdmitted(), k.waitingRoomDone(), k.stock(), "nobody"})
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
    // The rate: the first tick after the seal admits one second's worth (600/min: 10), in rank
    // order; then the allowance grows with the time passed (500 ms: 5) and never beyond one
    // second's worth, however long the gap (a minute: still 10).
    void admitsAtTheRate() {
        QList<QByteArray> ranked;
        for (int i = 0; i < 40; ++i)
            ranked << "R" + QByteArray::number(i).rightJustified(2, '0');
        const qint64 sale = sealed(ranked, {}, 1000);
        QList<QByteArray> r = admit(sale);
        QCOMPARE(r.value(0), QByteArray("ok"));
        QCOMPARE(r.value(1), QByteArray("10"));
        QCOMPARE(admitted(sale), ranked.mid(0, 10));
        QCOMPARE(admit(sale).value(1), QByteArray("0")); // no time passed
        elapse(sale, 500);
        r = admit(sale);
        QCOMPARE(r.value(1), QByteArray("5"));
        QCOMPARE(r.value(3), QByteArray("15")); // cursor
        elapse(sale, 60000);
        QCOMPARE(admit(sale).value(1), QByteArray("10"));
        const auto meta = m_redis->hash(SaleKeys(sale).waitingRoomMeta());
        QCOMPARE(meta.value("cursor"), QByteArray("25"));
        QCOMPARE(meta.value("admitted"), QByteArray("25"));
        QCOMPARE(admitted(sale), ranked.mid(0, 25));
        // Each admission expires adm_ttl_ms (120 s) after its tick.
        const qint64 expiry =
            m_redis->one({"ZSCORE", SaleKeys(sale).waitingRoomAdmitted(), "R00"}).toLongLong();
        QVERIFY(qAbs(expiry - (redisNow() + 120000)) < 2000);
    }

    // Admitted-but-unbooked stays <= ceil(k x remaining): 3 units, k = 1 admits 3 however much
    // rate there is; k = 2 admits 3 more; k = 1.5 with 3 units allows ceil(4.5) = 5.
    void admitsAtMostKTimesRemaining() {
        QList<QByteArray> ranked;
        for (int i = 0; i < 20; ++i)
            ranked << "K" + QByteArray::number(i);
        const qint64 sale = sealed(ranked, {}, 3, 60000);
        QList<QByteArray> r = admit(sale, 1);
        QCOMPARE(r.value(1), QByteArray("3"));
        QCOMPARE(r.value(4), QByteArray("3")); // outstanding
        QCOMPARE(r.value(5), QByteArray("3")); // remaining
        elapse(sale, 1000);
        QCOMPARE(admit(sale, 1).value(1), QByteArray("0"));
        elapse(sale, 1000);
        QCOMPARE(admit(sale, 2).value(1), QByteArray("3"));
        QCOMPARE(admitted(sale).size(), 6);

        const qint64 other = sealed(ranked, {}, 3, 60000);
        QCOMPARE(admit(other, 1.5).value(1), QByteArray("5"));
    }

    // The whole cohort first, in rank order, then the FIFO in arrival order; the cursor stops
    // at the end of the line.
    void admitsTheCohortThenTheFifo() {
        const qint64 sale = sealed({"C2", "C1"}, {"F1", "F2"}, 100, 60000);
        QList<QByteArray> order;
        for (int i = 0; i < 3; ++i) {
            elapse(sale, 1000);
            const QList<QByteArray> r = admit(sale, 1);
            QCOMPARE(r.value(0), QByteArray("ok"));
        }
        QCOMPARE(m_redis->hash(SaleKeys(sale).waitingRoomMeta()).value("cursor"), QByteArray("4"));
        const QList<QByteArray> z = m_redis->command(
            {"ZRANGE", SaleKeys(sale).waitingRoomAdmitted(), "0", "-1", "WITHSCORES"});
        QCOMPARE(z.size(), 8);
        // A single tick admitted all four (rate 1000/s), in line order: ZRANGE sorts equal
        // scores by member, so check the set and the cursor instead of the order here, and the
        // order with one entry per tick below.
        const qint64 slow = sealed({"C2", "C1"}, {"F1", "F2"}, 100, 60);
        for (int i = 0; i < 4; ++i) {
            elapse(slow, 1000);
            const QList<QByteArray> r = admit(slow, 1);
            QCOMPARE(r.value(1), QByteArray("1"));
            const QList<QByteArray> now = admitted(slow);
            for (const QByteArray &e : now)
                if (!order.contains(e))
                    order << e;
        }
        QCOMPARE(order, (QList<QByteArray>{"C2", "C1", "F1", "F2"}));
        elapse(slow, 1000);
        QCOMPARE(admit(slow, 1).value(1), QByteArray("0"));
    }

    // Paused: nothing admitted, and the allowance's clock follows, so a resume after a long
    // pause brings no flood.
    void pauseAdmitsNothingAndResumesWithoutFlood() {
        QList<QByteArray> ranked;
        for (int i = 0; i < 30; ++i)
            ranked << "P" + QByteArray::number(i);
        const qint64 sale = sealed(ranked, {}, 100);
        QCOMPARE(admit(sale).value(1), QByteArray("10"));
        const SaleKeys k(sale);
        m_redis->command({"HSET", k.waitingRoomMeta(), "paused", "1"});
        elapse(sale, 60000);
        const QList<QByteArray> r = admit(sale);
        QCOMPARE(r.value(0), QByteArray("paused"));
        QCOMPARE(r.value(1), QByteArray("0"));
        QCOMPARE(admitted(sale).size(), 10);
        m_redis->command({"HSET", k.waitingRoomMeta(), "paused", "0"});
        QVERIFY(admit(sale).value(1).toInt() <= 1);
        elapse(sale, 1000);
        QCOMPARE(admit(sale).value(1), QByteArray("10"));
    }

    // A no-show's admission expires: the next tick removes it, marks it noshow, counts it, and
    // its place (k x remaining) goes to the next in line.
    void noShowFreesItsPlace() {
        const qint64 sale = sealed({"N1", "N2", "N3"}, {}, 1, 60000);
        const SaleKeys k(sale);
        QCOMPARE(admit(sale).value(1), QByteArray("1"));
        elapse(sale, 1000);
        QCOMPARE(admit(sale).value(1), QByteArray("0"));
        m_redis->command(
            {"ZADD", k.waitingRoomAdmitted(), QByteArray::number(redisNow() - 1), "N1"});
        elapse(sale, 1000);
        const QList<QByteArray> r = admit(sale);
        QCOMPARE(r.value(1), QByteArray("1")); // admitted
        QCOMPARE(r.value(2), QByteArray("1")); // expired
        QCOMPARE(admitted(sale), QList<QByteArray>{"N2"});
        QCOMPARE(m_redis->one({"HGET", k.waitingRoomDone(), "N1"}), QByteArray("noshow"));
        QCOMPARE(m_redis->hash(k.waitingRoomMeta()).value("noshows"), QByteArray("1"));
        // The no-show's booking is refused as expired, and books nothing.
        QCOMPARE(book(sale, "N1", QByteArray::number(sale) + "-n1").value(0),
                 QByteArray("admission_expired"));
    }

    // Sold out: the flag is set and nothing admitted; a unit given back by release.lua (an
    // expired hold) clears it and the next tick admits the next in line.
    void releasedUnitAdmitsTheNextAndSoldOutClears() {
        const qint64 sale = sealed({"S1", "S2", "S3"}, {}, 1, 60000);
        const SaleKeys k(sale);
        QCOMPARE(admit(sale).value(1), QByteArray("1"));
        const QByteArray rid = QByteArray::number(sale) + "-s1";
        QCOMPARE(book(sale, "S1", rid).value(0), QByteArray("accepted"));
        QCOMPARE(m_redis->one({"HGET", k.waitingRoomDone(), "S1"}), QByteArray("booked"));
        elapse(sale, 1000);
        QList<QByteArray> r = admit(sale);
        QCOMPARE(r.value(0), QByteArray("sold_out"));
        QCOMPARE(r.value(6), QByteArray("1"));
        QCOMPARE(m_redis->hash(k.waitingRoomMeta()).value("sold_out"), QByteArray("1"));
        QCOMPARE(admitted(sale).size(), 0);

        QCOMPARE(m_redis
                     ->command({"EVALSHA", m_release.sha1, "5", k.stock(), k.users(), k.released(),
                                k.reservation(rid), k.meta(), rid, "7", "u-S1", "1", "expire"})
                     .value(0),
                 QByteArray("released"));
        elapse(sale, 1000);
        r = admit(sale);
        QCOMPARE(r.value(0), QByteArray("ok"));
        QCOMPARE(r.value(1), QByteArray("1"));
        QCOMPARE(r.value(6), QByteArray("0"));
        QCOMPARE(m_redis->hash(k.waitingRoomMeta()).value("sold_out"), QByteArray("0"));
        QCOMPARE(admitted(sale), QList<QByteArray>{"S2"});
    }

    // Before the seal, or for a sale that is unknown, has no waiting room or has ended, a tick
    // does nothing and writes no key (I9).
    void admitWritesNothingBeforeTheSealOrForOtherSales_data() {
        QTest::addColumn<QByteArray>("kind");
        QTest::addColumn<QByteArray>("outcome");
        QTest::addRow("not sealed") << QByteArray("unsealed") << QByteArray("not_sealed");
        QTest::addRow("unknown sale") << QByteArray("unknown") << QByteArray("unknown_sale");
        QTest::addRow("no waiting room") << QByteArray("plain") << QByteArray("no_waiting_room");
        QTest::addRow("stopped") << QByteArray("stopped") << QByteArray("closed");
    }
    void admitWritesNothingBeforeTheSealOrForOtherSales() {
        QFETCH(QByteArray, kind);
        QFETCH(QByteArray, outcome);
        qint64 sale = 999998;
        if (kind != "unknown") {
            sale = sealed({"X1"}, {}, 5);
            const SaleKeys k(sale);
            if (kind == "unsealed")
                m_redis->command({"HDEL", k.waitingRoomMeta(), "ranked"});
            if (kind == "plain")
                m_redis->command({"HSET", k.meta(), "wr", "0"});
            if (kind == "stopped")
                m_redis->command({"HSET", k.meta(), "state", "stopped"});
        }
        const auto before = m_redis->hash(SaleKeys(sale).waitingRoomMeta());
        const qint64 keys = m_redis->integer({"DBSIZE"});
        QCOMPARE(admit(sale).value(0), outcome);
        QCOMPARE(m_redis->integer({"DBSIZE"}), keys);
        QCOMPARE(m_redis->hash(SaleKeys(sale).waitingRoomMeta()), before);
    }
    // WaitingRoomService::admitTick, as the scheduler's driver calls it: the script's counts
    // parsed, and the metrics the operators watch (admitted, no-shows, cursor) per sale.
    void admitTickCountsAndMetrics() {
        const qint64 sale = sealed({"M1", "M2", "M3"}, {}, 2, 60000);
        WaitingRoomService service(*m_client, 1000);
        std::optional<Result<AdmitTick>> tick;
        service.admitTick(sale, 1, [&tick](const Result<AdmitTick> &r) { tick = r; });
        QTRY_VERIFY(tick.has_value());
        QVERIFY(*tick);
        QCOMPARE((*tick)->kind, AdmitTick::Kind::Admitted);
        QCOMPARE((*tick)->admitted, 2);
        QCOMPARE((*tick)->cursor, 2);
        QCOMPARE((*tick)->outstanding, 2);
        QCOMPARE((*tick)->remaining, 2);
        m_redis->command({"ZADD", SaleKeys(sale).waitingRoomAdmitted(),
                          QByteArray::number(redisNow() - 1), "M1"});
        elapse(sale, 1000);
        tick.reset();
        service.admitTick(sale, 1, [&tick](const Result<AdmitTick> &r) { tick = r; });
        QTRY_VERIFY(tick.has_value());
        QCOMPARE((*tick)->expired, 1);
        QCOMPARE((*tick)->admitted, 1);
        const QByteArray label = "{sale=\"" + QByteArray::number(sale) + "\"}";
        const QByteArray text = Metrics::instance().render();
        QVERIFY2(text.contains("flashsale_waiting_room_admitted_total" + label + " 3"),
                 text.constData());
        QVERIFY(text.contains("flashsale_waiting_room_noshows_total" + label + " 1"));
        QVERIFY(text.contains("flashsale_waiting_room_cursor" + label + " 3"));
        tick.reset();
        service.admitTick(999997, 1, [&tick](const Result<AdmitTick> &r) { tick = r; });
        QTRY_VERIFY(tick.has_value());
        QCOMPARE((*tick)->kind, AdmitTick::Kind::UnknownSale);
    }
};

QTEST_GUILESS_MAIN(TestWaitingRoomLua)
#include "tst_waitingroomlua.moc"
