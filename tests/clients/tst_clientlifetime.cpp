// The lifetime contract of the two database clients (shared/redis/redisclient.h,
// shared/pg/pgconnection.h): while a client lives every callback runs exactly once; destroying it
// runs none. Owners destroy their clients from their own destructors, where a callback would
// reach members already destroyed: the expiry sweeper crashed on SIGTERM that way (a PostgreSQL
// statement queued at the signal restarted its timer, freed a moment before). Against a real
// redis-server and PostgreSQL, with commands held in flight at the destruction.

#include "pg/pgconnection.h"
#include "redis/redisclient.h"
#include "testservers.h"

#include <QSignalSpy>
#include <QTest>
#include <QTimer>

#include <memory>
#include <optional>

using namespace flashsale;
using namespace flashsale::test;

class TestClientLifetime : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
    }

    void redisClientDestroyedWithCommandsInFlightCallsNothing() {
        auto client = std::make_unique<RedisClient>(
            *RedisClient::Endpoint::fromUrl(m_redisServer.url()), std::chrono::milliseconds(5000));
        QSignalSpy up(client.get(), &RedisClient::connected);
        client->start();
        QVERIFY(up.wait(5000));

        // While it lives, a command is answered once.
        int answered = 0;
        client->command({"PING"}, [&](const Result<RedisValue> &r) {
            QVERIFY(r.has_value());
            ++answered;
        });
        QTRY_COMPARE(answered, 1);

        // A blocking command holds the connection; two more queue behind it on the socket.
        auto calls = std::make_shared<int>(0);
        client->command({"BLPOP", "nothing-here", "10"}, [calls](const auto &) { ++*calls; });
        client->command({"PING"}, [calls](const auto &) { ++*calls; });
        client->command({"GET", "k"}, [calls](const auto &) { ++*calls; });
        QTest::qWait(100); // sent, not answered
        client.reset();
        QTest::qWait(300);
        QCOMPARE(*calls, 0);
        QCOMPARE(calls.use_count(), 1); // the callbacks were freed, not leaked
    }

    void pgConnectionDestroyedWithStatementsInFlightCallsNothing() {
        auto conn = std::make_unique<PgConnection>(m_db.url());
        QSignalSpy up(conn.get(), &PgConnection::connected);
        conn->start();
        QVERIFY(up.wait(5000));

        int answered = 0;
        conn->query("select 1", {}, [&](const Result<PgResult> &r) {
            QVERIFY(r.has_value());
            ++answered;
        });
        QTRY_COMPARE(answered, 1);

        // One statement in flight, two queued behind it.
        auto calls = std::make_shared<int>(0);
        conn->query("select pg_sleep(10)", {}, [calls](const auto &) { ++*calls; });
        conn->query("select 2", {}, [calls](const auto &) { ++*calls; });
        conn->query("select 3", {}, [calls](const auto &) { ++*calls; });
        QTest::qWait(100);
        conn.reset();
        QTest::qWait(300);
        QCOMPARE(*calls, 0);
        QCOMPARE(calls.use_count(), 1);
    }

    // The no-answer bound (--pg-timeout-ms) takes a slow statement for a dead link: it is
    // answered Unavailable and the connection comes back by itself. A statement given a bound
    // of its own (the relay's republish over a whole retention window) may run longer.
    void pgStatementBoundIsPerStatement() {
        PgConnection conn(m_db.url());
        conn.setTimeoutMs(500);
        QSignalSpy up(&conn, &PgConnection::connected);
        conn.start();
        QVERIFY(up.wait(5000));

        std::optional<Result<PgResult>> slow;
        conn.query("select pg_sleep(1.5)", {}, [&](const Result<PgResult> &r) { slow = r; });
        QTRY_VERIFY_WITH_TIMEOUT(slow.has_value(), 5000);
        QVERIFY(!slow->has_value());
        QCOMPARE(slow->error().code, ErrorCode::Unavailable);
        QVERIFY2(slow->error().message.contains(QLatin1String("within 500 ms")),
                 qPrintable(slow->error().message));

        QVERIFY(up.wait(5000)); // reconnected
        std::optional<Result<PgResult>> allowed;
        conn.query("select pg_sleep(1.5), 7", {}, 5000,
                   [&](const Result<PgResult> &r) { allowed = r; });
        QTRY_VERIFY_WITH_TIMEOUT(allowed.has_value(), 8000);
        if (!allowed->has_value())
            QFAIL(qPrintable(allowed->error().message));
        QCOMPARE((*allowed)->rows.value(0).value(1), QByteArray("7"));
    }

    // What the owners rely on: a callback that uses its owner's members is safe to give to a
    // client the owner destroys in its destructor, before or after those members.
    void ownerDestroyedWithWorkQueuedStaysSound() {
        struct Owner {
            std::unique_ptr<PgConnection> pg;
            std::unique_ptr<RedisClient> redis;
            std::unique_ptr<QTimer> timer = std::make_unique<QTimer>(); // destroyed first
        };
        auto owner = std::make_unique<Owner>();
        owner->pg = std::make_unique<PgConnection>(m_db.url());
        owner->redis = std::make_unique<RedisClient>(
            *RedisClient::Endpoint::fromUrl(m_redisServer.url()), std::chrono::milliseconds(5000));
        QSignalSpy pgUp(owner->pg.get(), &PgConnection::connected);
        QSignalSpy redisUp(owner->redis.get(), &RedisClient::connected);
        owner->pg->start();
        owner->redis->start();
        QVERIFY(pgUp.wait(5000));
        QVERIFY(redisUp.count() > 0 || redisUp.wait(5000));
        Owner *raw = owner.get();
        owner->pg->query("select pg_sleep(10)", {}, [raw](const auto &) { raw->timer->start(1); });
        owner->pg->query("select 1", {}, [raw](const auto &) { raw->timer->start(1); });
        owner->redis->command({"BLPOP", "nothing-here", "10"},
                              [raw](const auto &) { raw->timer->start(1); });
        QTest::qWait(100);
        owner.reset(); // the timer goes first, then the clients: no callback may reach it
        QTest::qWait(200);
    }
};

QTEST_GUILESS_MAIN(TestClientLifetime)
#include "tst_clientlifetime.moc"
