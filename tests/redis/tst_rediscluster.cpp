// RedisClusterClient (shared/redis/redisclusterclient.h) against a real Redis Cluster of 3
// primaries and 3 replicas (tests/support/rediscluster.h, cluster-node-timeout 1000 ms): slots
// as the server computes them, routing, a slot migrated under the client (ASK, then MOVED), a
// multi-key script retried through ASK and TRYAGAIN until its slot is assigned, NOSCRIPT on one
// node, a primary killed and its replica promoted, and a shard lost entirely (CLUSTERDOWN: a clean
// error, no hang). The cases share one cluster and run in order; the last two kill nodes.

#include "redis/redisclusterclient.h"
#include "redis/redisslots.h"
#include "rediscluster.h"

#include <QCryptographicHash>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTest>

#include <optional>

using namespace flashsale;
using namespace flashsale::test;

namespace {

// Longest a single command may take, retries included, before the test calls it a hang.
constexpr int kNoHangMs = 15000;

RedisScript incrScript() {
    RedisScript s;
    s.name = QStringLiteral("test-incrby");
    s.body = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    s.sha1 = QCryptographicHash::hash(s.body, QCryptographicHash::Sha1).toHex();
    return s;
}

} // namespace

class TestRedisCluster : public QObject {
    Q_OBJECT
private:
    RedisCluster m_cluster;
    std::unique_ptr<RedisClusterClient> m_client;

    // Runs `send` and waits for its callback; nullopt when none came within kNoHangMs.
    std::optional<Result<RedisValue>>
    await(const std::function<void(RedisCommands::Callback)> &send) {
        std::optional<Result<RedisValue>> out;
        send([&out](const Result<RedisValue> &r) { out = r; });
        (void)QTest::qWaitFor([&] { return out.has_value(); }, kNoHangMs);
        return out;
    }
    std::optional<Result<RedisValue>> run(const QList<QByteArray> &argv) {
        return await([&](RedisCommands::Callback cb) { m_client->command(argv, std::move(cb)); });
    }
    // The value of `key` read through the client, or a description of what came instead.
    QByteArray get(const QByteArray &key) {
        const auto r = run({"GET", key});
        if (!r)
            return "<no answer>";
        if (!*r)
            return "<error " + (*r).error().message.toUtf8() + '>';
        return (*r)->isError() ? "<reply " + (*r)->string + '>' : (*r)->bytes();
    }

    // Puts `slot` halfway through a migration from its primary (`source`) to another primary
    // (`target`): IMPORTING on the target, MIGRATING on the source, no key moved yet.
    void beginMigration(int slot, quint16 &source, quint16 &target) {
        source = m_cluster.primaryForSlot(slot);
        target = 0;
        for (quint16 p : m_cluster.primaries())
            if (p != source)
                target = p;
        QVERIFY(target != 0);
        const QByteArray slotText = QByteArray::number(slot);
        QCOMPARE(RedisSync(target).one(
                     {"CLUSTER", "SETSLOT", slotText, "IMPORTING", m_cluster.nodeId(source)}),
                 QByteArray("OK"));
        QCOMPARE(RedisSync(source).one(
                     {"CLUSTER", "SETSLOT", slotText, "MIGRATING", m_cluster.nodeId(target)}),
                 QByteArray("OK"));
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_cluster.start(), qPrintable(m_cluster.error()));
        RedisClusterClient::Options options;
        for (const QString &url : m_cluster.seedUrls().mid(0, 2)) // any seed yields the map
            options.seeds << *RedisClient::Endpoint::fromUrl(url);
        m_client = std::make_unique<RedisClusterClient>(options);
        QSignalSpy ready(m_client.get(), &RedisClusterClient::ready);
        m_client->start();
        QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, 10000);
        QCOMPARE(m_client->primaries().size(), 3);
    }

    void cleanupTestCase() {
        m_client.reset();
        m_cluster.stop();
    }

    void slotsMatchClusterKeyslot() {
        QList<QByteArray> keys{"foo",
                               "bar",
                               "123456789",
                               "{user1000}.following",
                               "{user1000}.followers",
                               "foo{}{bar}",
                               "foo{{bar}}zap",
                               "foo{bar}{zap}",
                               "{}",
                               "{",
                               "}",
                               "}{",
                               "{{}}",
                               "a{b}c",
                               "{sale:7}:stock",
                               "{sale:7}:holds",
                               "",
                               QByteArray("\0\xff{", 3)};
        auto *rng = QRandomGenerator::global();
        const QByteArray alphabet("ab{}:_0\xc3\xa9");
        for (int i = 0; i < 500; ++i) {
            QByteArray key;
            const int len = int(rng->bounded(12));
            for (int j = 0; j < len; ++j)
                key += alphabet.at(rng->bounded(alphabet.size()));
            keys << key;
        }
        RedisSync sync(m_cluster.ports().first());
        for (const QByteArray &key : keys)
            QVERIFY2(sync.integer({"CLUSTER", "KEYSLOT", key}) == redisKeySlot(key),
                     key.toHex().constData());
    }

    void commandsGoToTheSlotOwner() {
        const quint64 movedBefore = m_client->stats().moved;
        for (int i = 0; i < 200; ++i) {
            const QByteArray key = "route:" + QByteArray::number(i);
            const auto r = run({"SET", key, "v" + QByteArray::number(i)});
            QVERIFY(r && *r);
            QCOMPARE((*r)->string, QByteArray("OK"));
        }
        // Each key is on the primary the server says serves its slot, read there directly.
        for (int i = 0; i < 200; ++i) {
            const QByteArray key = "route:" + QByteArray::number(i);
            const quint16 owner = m_cluster.primaryForSlot(redisKeySlot(key));
            QCOMPARE(m_client->nodeForSlot(redisKeySlot(key)),
                     QStringLiteral("127.0.0.1:%1").arg(owner));
            RedisSync sync(owner);
            QCOMPARE(sync.one({"GET", key}), "v" + QByteArray::number(i));
        }
        QCOMPARE(m_client->stats().moved, movedBefore); // steady state: no redirect
        const auto ping = run({"PING"});
        QVERIFY(ping && *ping);
        QCOMPARE((*ping)->string, QByteArray("PONG"));
    }

    // FLASHSALE_TEST_BENCH=1: what routing costs the client. N pipelined SETs to one slot's
    // node, through RedisClusterClient and through a plain RedisClient to that same node; prints
    // both rates. Skipped otherwise (a measurement, not a check).
    void pipelinedRateAgainstOneNodeClient() {
        if (!qEnvironmentVariableIsSet("FLASHSALE_TEST_BENCH"))
            QSKIP("set FLASHSALE_TEST_BENCH=1 to measure");
        constexpr int n = 100000;
        const quint16 owner = m_cluster.primaryForSlot(redisKeySlot("{bench}"));
        RedisClient plain(
            *RedisClient::Endpoint::fromUrl(QStringLiteral("redis://127.0.0.1:%1/0").arg(owner)),
            std::chrono::milliseconds(5000));
        QSignalSpy up(&plain, &RedisClient::connected);
        plain.start();
        QTRY_COMPARE(up.size(), 1);
        // The same reply timeout for both: 100,000 commands in one burst take over a second.
        RedisClusterClient::Options options;
        options.seeds << plain.endpoint();
        options.timeout = std::chrono::milliseconds(5000);
        RedisClusterClient cluster(options);
        QSignalSpy ready(&cluster, &RedisClusterClient::ready);
        cluster.start();
        QTRY_COMPARE(ready.size(), 1);
        auto measure = [&](RedisCommands &client, const QByteArray &prefix) {
            int ok = 0, answered = 0;
            QElapsedTimer t;
            t.start();
            for (int i = 0; i < n; ++i)
                client.command({"SET", prefix + QByteArray::number(i), "x"},
                               [&](const Result<RedisValue> &r) {
                                   ++answered;
                                   ok += (r && r->string == "OK") ? 1 : 0;
                               });
            [&] { QTRY_COMPARE_WITH_TIMEOUT(answered, n, 60000); }();
            const double rate = n / (t.nsecsElapsed() / 1e9);
            return std::pair{ok, rate};
        };
        for (int round = 0; round < 2; ++round) { // the first round warms both
            const auto [plainOk, plainRate] = measure(plain, "{bench}:p:");
            const auto [clusterOk, clusterRate] = measure(cluster, "{bench}:c:");
            QCOMPARE(plainOk, n);
            QCOMPARE(clusterOk, n);
            qInfo("round %d: %d pipelined SETs: RedisClient %.0f/s, RedisClusterClient %.0f/s",
                  round, n, plainRate, clusterRate);
        }
    }

    void evalReloadsAScriptFlushedOnItsNode() {
        const RedisScript script = incrScript();
        const QByteArray key = "{script}:counter";
        auto eval = [&](const QByteArray &by) {
            return await([&](RedisCommands::Callback cb) {
                m_client->eval(script, {key}, {by}, std::move(cb));
            });
        };
        auto first = eval("5");
        QVERIFY(first && *first);
        QCOMPARE((*first)->integer, 5);
        RedisSync owner(m_cluster.primaryForSlot(redisKeySlot(key)));
        QCOMPARE(owner.one({"SCRIPT", "FLUSH"}), QByteArray("OK"));
        QCOMPARE(owner.command({"SCRIPT", "EXISTS", script.sha1}), QList<QByteArray>{"0"});
        const quint64 noscriptBefore = m_client->stats().noscript;
        auto second = eval("7");
        QVERIFY(second && *second);
        QVERIFY2(!(*second)->isError(), (*second)->string.constData());
        QCOMPARE((*second)->integer, 12);
        QCOMPARE(m_client->stats().noscript, noscriptBefore + 1);
        QCOMPARE(owner.command({"SCRIPT", "EXISTS", script.sha1}), QList<QByteArray>{"1"});
    }

    void askAndTryagainDuringMigrationThenMovedAfterIt() {
        const QByteArray oldKey = "{migrate}:old", newKey = "{migrate}:new";
        const int slot = redisKeySlot(oldKey);
        const auto kept = run({"SET", oldKey, "kept"});
        QVERIFY(kept && *kept);
        quint16 source = 0, target = 0;
        beginMigration(slot, source, target);
        if (QTest::currentTestFailed())
            return;
        const QByteArray targetId = m_cluster.nodeId(target);
        RedisSync src(source), dst(target);
        const QByteArray slotText = QByteArray::number(slot);

        // Mid-migration: a key the source still has is served there; a new one is ASKed over.
        const quint64 askBefore = m_client->stats().ask;
        QCOMPARE(get(oldKey), QByteArray("kept"));
        const auto set = run({"SET", newKey, "arrived"});
        QVERIFY(set && *set);
        QCOMPARE((*set)->string, QByteArray("OK"));
        QVERIFY(m_client->stats().ask > askBefore);
        QCOMPARE(get(newKey), QByteArray("arrived"));
        // The source keeps the old key only; the new one is on the target.
        QCOMPARE(src.integer({"CLUSTER", "COUNTKEYSINSLOT", slotText}), 1);
        QCOMPARE(dst.one({"ASKING"}), QByteArray("OK"));
        QCOMPARE(dst.one({"GET", newKey}), QByteArray("arrived"));

        // A two-key read now finds one key on the source and not the other: TRYAGAIN, which the
        // client retries (bounded) until the migration below has ended.
        const quint64 retriesBefore = m_client->stats().retries;
        auto mget = std::make_shared<std::optional<Result<RedisValue>>>();
        m_client->command({"MGET", oldKey, newKey},
                          [mget](const Result<RedisValue> &r) { *mget = r; });
        QTRY_VERIFY_WITH_TIMEOUT(m_client->stats().retries > retriesBefore || mget->has_value(),
                                 5000);
        QVERIFY2(!mget->has_value(), "MGET answered mid-migration without TRYAGAIN");

        // Finish the migration: the key moves, the slot is assigned to the target everywhere. The
        // client learns it from a MOVED (the retried MGET's, or the next command's).
        const quint64 movedBefore = m_client->stats().moved;
        QCOMPARE(src.one({"MIGRATE", "127.0.0.1", QByteArray::number(target), "", "0", "5000",
                          "KEYS", oldKey}),
                 QByteArray("OK"));
        QCOMPARE(dst.one({"CLUSTER", "SETSLOT", slotText, "NODE", targetId}), QByteArray("OK"));
        QCOMPARE(src.one({"CLUSTER", "SETSLOT", slotText, "NODE", targetId}), QByteArray("OK"));
        for (quint16 p : m_cluster.primaries())
            RedisSync(p).one({"CLUSTER", "SETSLOT", slotText, "NODE", targetId});

        QTRY_VERIFY_WITH_TIMEOUT(mget->has_value(), kNoHangMs);
        QVERIFY2(mget->value(), mget->value() ? "" : qPrintable(mget->value().error().message));
        QCOMPARE(mget->value()->elements.size(), 2);
        QCOMPARE(mget->value()->at(0).bytes(), QByteArray("kept"));
        QCOMPARE(mget->value()->at(1).bytes(), QByteArray("arrived"));

        QCOMPARE(get(oldKey), QByteArray("kept"));
        QCOMPARE(get(newKey), QByteArray("arrived"));
        QVERIFY(m_client->stats().moved > movedBefore);
        QTRY_COMPARE_WITH_TIMEOUT(m_client->nodeForSlot(slot),
                                  QStringLiteral("127.0.0.1:%1").arg(target), 5000);
        QVERIFY(m_cluster.waitUntilConsistent(10000));
    }

    // book.lua's case during a reshard: a script of several keys of one hash tag, some of them
    // absent (a new buyer's idempotency key). Once every key of the slot has moved but the slot
    // is not assigned yet, the source answers ASK and the target, asked with ASKING, TRYAGAIN (a
    // key is missing, so it cannot know the script's keys are all there). The client must keep
    // retrying, bounded by maxRetries, through that ASK-then-TRYAGAIN round until the slot is
    // assigned, not hand the caller a raw ASK (a 500 for a booking) once the retries have added
    // up more than maxRedirects ASKs (found while adding deploy/bench/faults redis-reshard).
    void scriptRetriesThroughAskAndTryagainUntilTheSlotIsAssigned() {
        const QByteArray present = "{script-migrate}:present", absent = "{script-migrate}:absent";
        const int slot = redisKeySlot(present);
        const auto set = run({"SET", present, "5"});
        QVERIFY(set && *set);
        quint16 source = 0, target = 0;
        beginMigration(slot, source, target);
        if (QTest::currentTestFailed())
            return;
        const QByteArray targetId = m_cluster.nodeId(target);
        RedisSync src(source), dst(target);
        const QByteArray slotText = QByteArray::number(slot);
        QCOMPARE(src.one({"MIGRATE", "127.0.0.1", QByteArray::number(target), "", "0", "5000",
                          "KEYS", present}),
                 QByteArray("OK"));

        RedisScript script;
        script.name = QStringLiteral("test-two-keys");
        script.body = "redis.call('SET', KEYS[2], ARGV[1]) "
                      "return redis.call('INCRBY', KEYS[1], ARGV[1])";
        script.sha1 = QCryptographicHash::hash(script.body, QCryptographicHash::Sha1).toHex();
        const quint64 askBefore = m_client->stats().ask;
        auto result = std::make_shared<std::optional<Result<RedisValue>>>();
        auto describe = [result]() -> QByteArray {
            if (!result->has_value())
                return "no answer";
            if (!result->value())
                return "error " + result->value().error().message.toUtf8();
            return result->value()->isError() ? "reply " + result->value()->string : "a value";
        };
        m_client->eval(script, {present, absent}, {"3"},
                       [result](const Result<RedisValue> &r) { *result = r; });
        // More ASKs than maxRedirects for this one script, each answered TRYAGAIN by the target.
        const quint64 manyAsks = askBefore + quint64(RedisClusterClient::Options{}.maxRedirects);
        QTRY_VERIFY_WITH_TIMEOUT(m_client->stats().ask > manyAsks || result->has_value(),
                                 kNoHangMs);
        QVERIFY2(!result->has_value(), describe().constData());

        // The migration's last step: the slot is the target's everywhere. The script then runs
        // there, once.
        for (quint16 p : m_cluster.primaries())
            QCOMPARE(RedisSync(p).one({"CLUSTER", "SETSLOT", slotText, "NODE", targetId}),
                     QByteArray("OK"));
        QTRY_VERIFY_WITH_TIMEOUT(result->has_value(), kNoHangMs);
        QVERIFY2(result->value() && !result->value()->isError(), describe().constData());
        QCOMPARE(result->value()->integer, 8);
        QCOMPARE(dst.one({"GET", present}), QByteArray("8"));
        QCOMPARE(dst.one({"GET", absent}), QByteArray("3"));
        QVERIFY(m_cluster.waitUntilConsistent(10000));
    }

    void killedPrimaryIsReplacedByItsReplica() {
        const QByteArray key = "{failover}:k";
        const int slot = redisKeySlot(key);
        const RedisScript script = incrScript();
        // Run once: from then on the client loads it on every node it connects to.
        const auto warm = await([&](RedisCommands::Callback cb) {
            m_client->eval(script, {"{failover}:warm"}, {"1"}, std::move(cb));
        });
        QVERIFY(warm && *warm);
        QCOMPARE(get(key), QByteArray()); // nil: not there yet
        const auto set = run({"SET", key, "before"});
        QVERIFY(set && *set);
        // The replica must have the write before its primary dies.
        const auto wait = await([&](RedisCommands::Callback cb) {
            m_client->commandForKey(key, {"WAIT", "1", "5000"}, std::move(cb));
        });
        QVERIFY(wait && *wait);
        QCOMPARE((*wait)->integer, 1);
        // No replica has the script (the client knows primaries only): the promoted one gets it
        // only if the client loads it when it connects there.
        const QList<quint16> primaries = m_cluster.primaries();
        for (quint16 p : m_cluster.ports())
            if (m_cluster.isRunning(p) && !primaries.contains(p))
                QCOMPARE(RedisSync(p).one({"SCRIPT", "FLUSH"}), QByteArray("OK"));
        const quint16 primary = m_cluster.primaryForSlot(slot);
        m_cluster.kill(primary);

        // Until the replica is promoted, commands fail cleanly (never hang); then they succeed.
        QElapsedTimer t;
        t.start();
        QByteArray value;
        int errors = 0;
        while (t.elapsed() < 60000) {
            const auto r = run({"GET", key});
            QVERIFY2(r.has_value(), "a command got no answer: the client hangs");
            if (*r && !(*r)->isError()) {
                value = (*r)->bytes();
                break;
            }
            ++errors;
            if (!*r)
                QVERIFY2((*r).error().code == ErrorCode::Unavailable
                             || (*r).error().code == ErrorCode::Timeout,
                         qPrintable((*r).error().message));
            QTest::qWait(100); // pace the attempts; the outcome is asserted below
        }
        QCOMPARE(value, QByteArray("before"));
        qInfo("failover: %d clean errors before the replica answered", errors);
        const QString promoted = m_client->nodeForSlot(slot);
        QVERIFY(!promoted.isEmpty());
        QVERIFY(promoted != QStringLiteral("127.0.0.1:%1").arg(primary));
        const auto after = run({"SET", key, "after"});
        QVERIFY(after && *after);
        QCOMPARE((*after)->string, QByteArray("OK"));
        QCOMPARE(get(key), QByteArray("after"));

        // The promoted replica got the script when the client connected to it.
        RedisSync promotedNode(quint16(promoted.section(QLatin1Char(':'), 1).toUInt()));
        QCOMPARE(promotedNode.command({"SCRIPT", "EXISTS", script.sha1}), QList<QByteArray>{"1"});
        const quint64 noscriptBefore = m_client->stats().noscript;
        const QByteArray counter = "{failover}:counter";
        const auto eval = await([&](RedisCommands::Callback cb) {
            m_client->eval(script, {counter}, {"3"}, std::move(cb));
        });
        QVERIFY(eval && *eval);
        QCOMPARE((*eval)->integer, 3);
        QCOMPARE(m_client->stats().noscript, noscriptBefore);
    }

    void lostShardGivesACleanErrorNotAHang() {
        // Kill the promoted primary too: its shard has no node left, the cluster goes down.
        const QByteArray deadKey = "{failover}:k";
        const quint16 last = quint16(
            m_client->nodeForSlot(redisKeySlot(deadKey)).section(QLatin1Char(':'), 1).toUInt());
        QVERIFY(last != 0);
        m_cluster.kill(last);
        auto everyNodeDown = [&] {
            for (quint16 p : m_cluster.ports())
                if (m_cluster.isRunning(p) && m_cluster.stateOk(p))
                    return false;
            return true;
        };
        QTRY_VERIFY_WITH_TIMEOUT(everyNodeDown(), 20000);

        // A key on a live shard: the node answers CLUSTERDOWN, retried a bounded number of times.
        QByteArray liveKey;
        for (int i = 0; liveKey.isEmpty(); ++i) {
            const QByteArray k = "live:" + QByteArray::number(i);
            const quint16 owner = m_cluster.primaryForSlot(redisKeySlot(k));
            if (owner != 0 && owner != last && m_cluster.isRunning(owner))
                liveKey = k;
        }
        for (const QByteArray &key : {liveKey, deadKey}) {
            const auto r = run({"GET", key});
            QVERIFY2(r.has_value(), "a command got no answer: the client hangs");
            QVERIFY2(!*r, key.constData());
            QCOMPARE((*r).error().code, ErrorCode::Unavailable);
        }
    }
};

QTEST_GUILESS_MAIN(TestRedisCluster)
#include "tst_rediscluster.moc"
