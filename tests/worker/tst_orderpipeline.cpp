// The order pipeline against real Redis and PostgreSQL: the API accepts bookings, separate
// worker processes (flashsale-server --roles worker) turn them into orders. Every accepted
// booking must become exactly one order row, through worker crashes, two workers sharing a
// group, poison entries and a PostgreSQL outage; expired holds come back to stock exactly once.

#include "booking/reservationid.h"
#include "booking/salekeys.h"
#include "booking/streamentry.h"
#include "rawhttp.h"
#include "tcpproxy.h"
#include "testservers.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <csignal>

using namespace flashsale;
using namespace flashsale::test;

class TestOrderPipeline : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_api;
    std::unique_ptr<RedisSync> m_redis;

    QHash<QString, QString> workerEnv(const QString &pgUrl = {}) const {
        return {{"FLASHSALE_ROLES", "worker"},
                {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                {"FLASHSALE_PG_URL", pgUrl.isEmpty() ? m_db.url() : pgUrl},
                {"FLASHSALE_WORKER_BLOCK_MS", "200"},
                {"FLASHSALE_WORKER_CLAIM_IDLE_MS", "1000"},
                {"FLASHSALE_EXPIRY_INTERVAL_MS", "100"}};
    }

    // The Authorization header of a reservation's owner (read from its Redis hash), with a token
    // from the server's dev mode: reading or confirming a reservation needs it in every mode.
    QList<QPair<QByteArray, QByteArray>> ownerAuth(const QByteArray &rid) {
        const QByteArray user =
            m_redis->hash(SaleKeys(reservationSale(rid)).reservation(rid)).value("user");
        const HttpResponse t = postJson(m_api.port(), "/api/v1/dev/tokens",
                                        QJsonObject{{"user_id", QString::fromUtf8(user)}});
        return {{"Authorization", "Bearer " + t.json().value("token").toString().toUtf8()}};
    }

    qint64 createSale(int stock, int limit, int holdSeconds = 300) {
        return createOpenSale(m_api.port(),
                              {QStringLiteral("Pipeline"), stock, limit, 250, holdSeconds});
    }

    // Books `requests` times one unit for users u0..u(users-1), 64 connections at once; returns
    // the reservation ids accepted.
    QStringList book(qint64 sale, int requests, int users, const QByteArray &userPrefix = "u") {
        QList<QByteArray> raw;
        for (int i = 0; i < requests; ++i) {
            raw << RawHttpConnection::format(
                "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                "{\"user_id\":\"" + userPrefix + QByteArray::number(i % users)
                    + "\",\"quantity\":1}",
                {});
        }
        QStringList accepted;
        for (const HttpResponse &r : sendAll(m_api.port(), raw, 64)) {
            if (r.status == 202)
                accepted << r.json().value(QStringLiteral("reservation_id")).toString();
        }
        return accepted;
    }

    int orders(qint64 sale, const QByteArray &where = "true") {
        return m_db
            .scalar("SELECT count(*) FROM orders WHERE sale_id = " + QByteArray::number(sale)
                    + " AND " + where)
            .toInt();
    }
    int outbox(qint64 sale, const QByteArray &topic) {
        return m_db
            .scalar("SELECT count(*) FROM outbox WHERE topic = '" + topic
                    + "' AND (payload->>'sale_id')::bigint = " + QByteArray::number(sale))
            .toInt();
    }
    int sold(qint64 sale) {
        return m_db
            .scalar("SELECT sum(sold) FROM inventory WHERE sale_id = " + QByteArray::number(sale))
            .toInt();
    }
    qint64 pendingEntries(qint64 sale) {
        return m_redis->command({"XPENDING", SaleKeys(sale).stream(), SaleKeys::consumerGroup()})
            .value(0)
            .toLongLong();
    }

    // Every accepted reservation is exactly one order, with one history row and one event.
    void verifyExactlyOnce(qint64 sale, const QStringList &accepted) {
        QCOMPARE(orders(sale), int(accepted.size()));
        QCOMPARE(m_db.scalar("SELECT count(DISTINCT reservation_id) FROM orders WHERE sale_id = "
                             + QByteArray::number(sale))
                     .toInt(),
                 int(accepted.size()));
        QStringList quoted;
        for (const QString &r : accepted)
            quoted << QLatin1Char('\'') + r + QLatin1Char('\'');
        QCOMPARE(m_db.scalar("SELECT count(*) FROM orders WHERE reservation_id IN ("
                             + quoted.join(QLatin1Char(',')).toUtf8() + ")")
                     .toInt(),
                 int(accepted.size()));
        QCOMPARE(sold(sale), int(accepted.size()));
        QCOMPARE(outbox(sale, "order.created"), int(accepted.size()));
        QCOMPARE(
            m_db.scalar("SELECT count(*) FROM order_timeline t JOIN orders o ON o.id = t.order_id "
                        "WHERE t.status = 'pending' AND o.sale_id = "
                        + QByteArray::number(sale))
                .toInt(),
            int(accepted.size()));
        QTRY_COMPARE(pendingEntries(sale), 0);
    }

    // Books n units of `sale` and has them all delivered to `first`, a worker whose PostgreSQL
    // (through `proxy`) is then cut off: it holds them, alive, retrying its one batch. The sale
    // leaves the index (fs:sales) while it is booked so that no worker reads part of it early;
    // the worker finds it when it comes back and reads everything in one XREADGROUP.
    void holdInOneWorker(qint64 sale, int n, const QByteArray &prefix, TcpProxy &proxy,
                         Backend &first, QStringList &accepted) {
        QCOMPARE(m_redis->integer({"SREM", SaleKeys::saleIndex(), QByteArray::number(sale)}), 1);
        accepted = book(sale, n, 300, prefix);
        QCOMPARE(accepted.size(), n);
        QVERIFY(proxy.start());
        auto env = workerEnv(m_db.urlThroughPort(proxy.port()));
        env.insert(QStringLiteral("FLASHSALE_WORKER_BATCH"), QString::number(n));
        QVERIFY2(first.start(env), qPrintable(first.error())); // migrations need PostgreSQL
        proxy.cut();
        m_redis->command({"SADD", SaleKeys::saleIndex(), QByteArray::number(sale)});
        QTRY_COMPARE_WITH_TIMEOUT(pendingEntries(sale), qint64(n), 10000); // all delivered
        QCOMPARE(orders(sale), 0);
    }

    // Batches a worker process has committed (its flashsale_worker_batch_size histogram count).
    static qint64 batchesWritten(const Backend &worker) {
        static const QRegularExpression line(
            QStringLiteral("^flashsale_worker_batch_size_count(?:\\{[^}]*\\})? (\\d+)"),
            QRegularExpression::MultilineOption);
        const QByteArray metrics = http(worker.metricsPort(), "GET", "/metrics").body;
        const auto m = line.match(QString::fromUtf8(metrics));
        return m.hasMatch() ? m.captured(1).toLongLong() : 0;
    }

    // Consumer groups on the sale's stream: the first worker to find the sale creates the one.
    int streamGroups(qint64 sale) {
        const QList<QByteArray> info =
            m_redis->command({"XINFO", "STREAM", SaleKeys(sale).stream()});
        const qsizetype at = info.indexOf("groups");
        return at < 0 ? 0 : info.value(at + 1).toInt();
    }
    // Entries ever added to the sale's stream (XINFO STREAM entries-added): the worker trims what
    // it persisted, so XLEN counts only the backlog.
    qint64 entriesAdded(qint64 sale) {
        const QList<QByteArray> info =
            m_redis->command({"XINFO", "STREAM", SaleKeys(sale).stream()});
        const qsizetype at = info.indexOf("entries-added");
        return at < 0 ? 0 : info.value(at + 1).toLongLong();
    }
    // XGROUP CREATE calls Redis has answered, BUSYGROUP included. Each worker asks once for every
    // sale it comes to know; it is the only sign that a worker no entry reached yet has seen a
    // sale (Redis 7.0 lists a consumer only once it was given an entry).
    qint64 groupCreations() {
        static const QByteArray field = "cmdstat_xgroup|create:calls=";
        const QByteArray info = m_redis->one({"INFO", "commandstats"});
        const qsizetype at = info.indexOf(field);
        return at < 0 ? 0 : info.mid(at + field.size()).split(',').value(0).toLongLong();
    }
    qint64 warmedSales() { return m_redis->integer({"SCARD", SaleKeys::saleIndex()}); }

    // A worker behind `proxy` with a no-answer bound of 1.5 s (--pg-timeout-ms), 200 orders of a
    // new sale written through it before anything goes wrong.
    void startBehindProxy(TcpProxy &proxy, Backend &worker, qint64 &sale, QStringList &before,
                          const QByteArray &prefix) {
        QVERIFY(proxy.start());
        auto env = workerEnv(m_db.urlThroughPort(proxy.port()));
        env.insert(QStringLiteral("FLASHSALE_PG_TIMEOUT_MS"), QStringLiteral("1500"));
        QVERIFY2(worker.start(env), qPrintable(worker.error()));
        sale = createSale(2000, 10);
        QTRY_COMPARE(streamGroups(sale), 1); // the worker has found the sale
        before = book(sale, 200, 100, prefix + "a");
        QCOMPARE(before.size(), 200);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 200, 15000);
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_api.start({{"FLASHSALE_ROLES", "api"},
                              {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                              {"FLASHSALE_PG_URL", m_db.url()}}),
                 qPrintable(m_api.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QTRY_COMPARE_WITH_TIMEOUT(http(m_api.port(), "GET", "/readyz").status, 200, 10000);
    }

    void acceptedBookingsBecomeOrders() {
        const qint64 sale = createSale(400, 5);
        const QStringList accepted = book(sale, 500, 200);
        QCOMPARE(accepted.size(), 400);
        // Before any worker ran, a reservation is known to Redis only.
        const QByteArray path = "/api/v1/reservations/" + accepted.first().toUtf8();
        const auto owner = ownerAuth(accepted.first().toUtf8());
        QCOMPARE(http(m_api.port(), "GET", path, {}, owner)
                     .json()
                     .value(QStringLiteral("status"))
                     .toString(),
                 QStringLiteral("reserved"));
        QCOMPARE(orders(sale), 0);

        Backend worker;
        QVERIFY2(worker.start(workerEnv()), qPrintable(worker.error()));
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 400, 20000);
        verifyExactlyOnce(sale, accepted);
        const QJsonObject status = http(m_api.port(), "GET", path, {}, owner).json();
        QCOMPARE(status.value(QStringLiteral("status")).toString(), QStringLiteral("pending"));
        QCOMPARE(status.value(QStringLiteral("amount_cents")).toInt(), 250);
        QCOMPARE(
            http(m_api.port(), "GET",
                 "/api/v1/reservations/" + QByteArray::number(sale) + "-" + QByteArray(32, '0'), {},
                 owner)
                .status,
            404);

        // A paid order reads as paid (payment itself arrives with the event bus).
        m_db.scalar("UPDATE orders SET status = 'paid' WHERE reservation_id = '"
                    + accepted.first().toUtf8() + "'");
        QCOMPARE(http(m_api.port(), "GET", path, {}, owner)
                     .json()
                     .value(QStringLiteral("status"))
                     .toString(),
                 QStringLiteral("paid"));
        // The stream metrics show a drained group.
        const QByteArray metrics = http(m_api.metricsPort(), "GET", "/metrics").body;
        QVERIFY(metrics.contains("flashsale_stream_pending{sale=\"" + QByteArray::number(sale)
                                 + "\"} 0"));
        QVERIFY(
            metrics.contains("flashsale_stream_lag{sale=\"" + QByteArray::number(sale) + "\"} 0"));
    }

    // Found by the fault matrix (deploy/bench/faults): a worker stopped with SIGTERM while a
    // Redis command was in flight (nearly always: its blocking XREADGROUP) wrote into freed
    // memory, because the Redis client's error callbacks ran after the worker's other members
    // were destroyed; glibc then aborted it ("malloc_consolidate(): unaligned fastbin chunk").
    // glibc's malloc checks and perturbed frees make that use-after-free crash every time.
    // CI later caught the expiry sweeper doing the same with a queued PostgreSQL statement (about
    // one run in 30 on a loaded machine); since then a destroyed client runs no callback at all
    // (tests/clients/tst_clientlifetime.cpp).
    void workerStopsCleanlyWithRedisCommandsInFlight() {
        QVERIFY(createSale(10, 1) > 0); // a stream to block on
        QTemporaryDir dir;
        QProcess worker;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        const auto vars = workerEnv();
        for (auto it = vars.begin(); it != vars.end(); ++it)
            env.insert(it.key(), it.value());
        const QString mallocDebug = QStringLiteral("/lib/x86_64-linux-gnu/libc_malloc_debug.so.0");
        if (QFile::exists(mallocDebug))
            env.insert(QStringLiteral("LD_PRELOAD"), mallocDebug);
        env.insert(QStringLiteral("MALLOC_CHECK_"), QStringLiteral("3"));
        env.insert(QStringLiteral("MALLOC_PERTURB_"), QStringLiteral("165"));
        worker.setProcessEnvironment(env);
        worker.setProcessChannelMode(QProcess::MergedChannels);
        const QString ready = dir.filePath(QStringLiteral("ready"));
        worker.start(Backend::binary(), {QStringLiteral("--ready-file"), ready});
        QVERIFY(worker.waitForStarted(5000));
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(ready), 20000);
        QThread::msleep(500); // it reads the sale list and blocks in XREADGROUP
        // Hold every command in Redis, so some are certainly in flight at the SIGTERM.
        QCOMPARE(m_redis->one({"CLIENT", "PAUSE", "1500", "ALL"}), QByteArray("OK"));
        QThread::msleep(200);
        worker.terminate();
        QVERIFY(worker.waitForFinished(10000));
        const QByteArray log = worker.readAll().right(1500);
        QVERIFY2(worker.exitStatus() == QProcess::NormalExit && worker.exitCode() == 0,
                 log.constData());
        QThread::msleep(1500); // the pause ends
    }

    void workerKilledMidRunLosesNothing() {
        const int n = 6000;
        const qint64 sale = createSale(n, 20);
        const QStringList accepted = book(sale, n, 300, "k");
        QCOMPARE(accepted.size(), n);

        Backend first;
        auto env = workerEnv();
        env.insert(QStringLiteral("FLASHSALE_WORKER_BATCH"), QStringLiteral("25"));
        QVERIFY2(first.start(env), qPrintable(first.error()));
        QElapsedTimer t;
        t.start();
        int atKill = 0;
        while (t.elapsed() < 20000 && (atKill = orders(sale)) == 0)
            QThread::msleep(5);
        first.kill(); // SIGKILL mid-run: its last batch may be committed but not acknowledged
        atKill = orders(sale);
        QVERIFY2(atKill > 0 && atKill < n, qPrintable(QString::number(atKill)));
        QVERIFY(pendingEntries(sale) > 0 || atKill < n);

        // A new worker takes over the dead one's pending entries (its heartbeat is gone: XCLAIM)
        // and the rest.
        Backend second;
        QVERIFY2(second.start(env), qPrintable(second.error()));
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), n, 30000);
        verifyExactlyOnce(sale, accepted);
        qInfo("killed at %d of %d orders; the second worker wrote the rest, no duplicates", atKill,
              n);
    }

    // A worker holding delivered entries it cannot write (its PostgreSQL is cut off) keeps them
    // while it is alive, and a second worker has them all written within 3 s of its kill -9.
    void deadWorkerIsTakenOverWithinThreeSeconds() {
        const int n = 2000;
        const qint64 sale = createSale(n, 20);
        QStringList accepted;
        TcpProxy proxy(m_db.serverPort());
        Backend first;
        holdInOneWorker(sale, n, "t", proxy, first, accepted);
        if (QTest::currentTestFailed())
            return;

        Backend second;
        QVERIFY2(second.start(workerEnv()), qPrintable(second.error()));
        // The first is alive (heartbeat) though its entries are older than the claim idle time
        // (1 s here): nothing is taken from it. A non-event, so waited for on purpose.
        QTest::qWait(3000);
        QCOMPARE(orders(sale), 0);
        QCOMPARE(pendingEntries(sale), qint64(n));

        first.kill();
        QElapsedTimer t;
        t.start();
        // 3 s is the target; 2 s more of margin for a loaded CI machine, far below the old 30 s.
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), n, 5000);
        const qint64 tookMs = t.elapsed();
        verifyExactlyOnce(sale, accepted);
        qInfo("takeover: %d entries of a killed worker written by another in %lld ms", n, tookMs);
    }

    // A worker stalled (SIGSTOP) longer than its heartbeat is taken for dead and robbed; when it
    // resumes it writes the same batch again. ON CONFLICT (reservation_id) DO NOTHING keeps that
    // from becoming a second order, stock movement or event.
    void stalledWorkerRobbedWritesNoSecondOrder() {
        const int n = 500;
        const qint64 sale = createSale(n, 20);
        QStringList accepted;
        TcpProxy proxy(m_db.serverPort());
        Backend first;
        holdInOneWorker(sale, n, "s", proxy, first, accepted);
        if (QTest::currentTestFailed())
            return;

        QCOMPARE(::kill(pid_t(first.pid()), SIGSTOP), 0);
        QTRY_COMPARE_WITH_TIMEOUT(processState(first.pid()), 'T', 5000); // stopped, not stopping
        Backend second;
        QVERIFY2(second.start(workerEnv()), qPrintable(second.error()));
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), n, 10000);

        // The first resumes with its batch still in hand and PostgreSQL back: it writes it again.
        QVERIFY(proxy.restore());
        QCOMPARE(::kill(pid_t(first.pid()), SIGCONT), 0);
        QTRY_VERIFY_WITH_TIMEOUT(batchesWritten(first) >= 1, 20000);
        verifyExactlyOnce(sale, accepted);
    }

    // Redis killed (or the connection dropped) just after it answered an XREADGROUP: the entries
    // are delivered to the worker's consumer in Redis, but the worker never got them. No other
    // worker takes them while its heartbeat lives, and ">" never delivers them again: the worker
    // itself must claim them. Found by the fault matrix (redis-kill: stream pending 3 forever).
    void lostDeliveryIsClaimedByItsOwnAliveWorker() {
        // Another sale known to the worker, so its first claim round (which always looked at
        // its own entries) is over before the lost delivery exists.
        createSale(10, 10);
        const int n = 200;
        const qint64 sale = createSale(n, 20);
        QCOMPARE(m_redis->integer({"SREM", SaleKeys::saleIndex(), QByteArray::number(sale)}), 1);
        const QStringList accepted = book(sale, n, 300, "l");
        QCOMPARE(accepted.size(), n);

        auto env = workerEnv();
        env.insert(QStringLiteral("FLASHSALE_WORKER_CONSUMER"), QStringLiteral("lost-delivery"));
        Backend worker;
        QVERIFY2(worker.start(env), qPrintable(worker.error()));
        QTest::qWait(1500); // several claim rounds
        // The delivery whose answer was lost: to the worker's consumer, never read by it.
        m_redis->command({"XGROUP", "CREATE", SaleKeys(sale).stream(), SaleKeys::consumerGroup(),
                          "0", "MKSTREAM"});
        const QList<QByteArray> delivered = m_redis->command(
            {"XREADGROUP", "GROUP", SaleKeys::consumerGroup(), "lost-delivery", "COUNT",
             QByteArray::number(n), "STREAMS", SaleKeys(sale).stream(), ">"});
        QVERIFY(!delivered.isEmpty());
        QCOMPARE(pendingEntries(sale), qint64(n));
        m_redis->command({"SADD", SaleKeys::saleIndex(), QByteArray::number(sale)});

        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), n, 15000);
        QTRY_COMPARE_WITH_TIMEOUT(pendingEntries(sale), qint64(0), 5000);
        verifyExactlyOnce(sale, accepted);
    }

    void twoWorkersShareTheGroup() {
        const qint64 asked = groupCreations();
        const qint64 known = warmedSales();
        Backend a, b;
        auto env = workerEnv();
        env.insert(QStringLiteral("FLASHSALE_WORKER_BATCH"), QStringLiteral("50"));
        QVERIFY2(a.start(env), qPrintable(a.error()));
        QVERIFY2(b.start(env), qPrintable(b.error()));
        const qint64 sale = createSale(3000, 10);
        // Both workers know every sale, the new one included.
        QTRY_VERIFY(groupCreations() >= asked + 2 * (known + 1));
        const QStringList accepted = book(sale, 3000, 300, "w");
        QCOMPARE(accepted.size(), 3000);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 3000, 30000);
        verifyExactlyOnce(sale, accepted);
        // Both consumers are in the one group.
        QVERIFY(m_redis
                    ->command(
                        {"XINFO", "CONSUMERS", SaleKeys(sale).stream(), SaleKeys::consumerGroup()})
                    .size()
                >= 2);
    }

    void poisonEntriesGoToDeadLetters() {
        Backend worker;
        QVERIFY2(worker.start(workerEnv()), qPrintable(worker.error()));
        const qint64 sale = createSale(50, 5);
        QTRY_COMPARE(streamGroups(sale), 1); // the worker has found the sale
        const SaleKeys k(sale);
        const QByteArray rid1 = QByteArray::number(sale) + "-" + QByteArray(32, 'a');
        const QByteArray rid2 = QByteArray::number(sale) + "-" + QByteArray(32, 'b');
        // Unparseable: no item, quantity or price.
        m_redis->command({"XADD", k.stream(), "*", "type", "book", "rid", rid1, "user", "mallory"});
        // Well formed, but for an item PostgreSQL does not know: the database refuses it.
        m_redis->command(StreamEntry::book(OrderRow{rid2, sale, 987654321, "mallory", 1, 1,
                                                    1700000000000, 1700000300000})
                             .xadd());
        const QStringList accepted = book(sale, 20, 20, "p");
        QCOMPARE(accepted.size(), 20);

        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 20, 20000);
        QTRY_COMPARE_WITH_TIMEOUT(m_redis->integer({"XLEN", k.deadLetters()}), 2, 10000);
        const QList<QByteArray> dead = m_redis->command({"XRANGE", k.deadLetters(), "-", "+"});
        QCOMPARE(dead.size(), 2);
        QTRY_COMPARE(pendingEntries(sale), 0); // acknowledged, not retried forever
        verifyExactlyOnce(sale, accepted);
        const QByteArray metrics = http(m_api.metricsPort(), "GET", "/metrics").body;
        QVERIFY(metrics.contains("flashsale_stream_dead_letter_entries{sale=\""
                                 + QByteArray::number(sale) + "\"} 2"));
    }

    // With several workers, the confirmation of a hold can be read while another worker is still
    // writing the hold's order. Simulated here in the worst order, the confirmation before the
    // booking: it must wait for the order, not be acknowledged and lost.
    void confirmationBeforeItsOrderIsKept() {
        Backend worker;
        QVERIFY2(worker.start(workerEnv()), qPrintable(worker.error()));
        const qint64 sale = createSale(10, 5);
        QTRY_COMPARE(streamGroups(sale), 1); // the worker has found the sale's stream
        const SaleKeys k(sale);
        const QByteArray rid = QByteArray::number(sale) + "-" + QByteArray(32, 'c');
        const QByteArray item = m_redis->command({"HKEYS", k.stock()}).value(0);
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        m_redis->command(StreamEntry::confirm(sale, rid, now).xadd());
        // Read, found no order, put back: queued again at the end of the stream.
        QTRY_VERIFY(entriesAdded(sale) >= 2);
        QCOMPARE(orders(sale), 0);
        m_redis->command(StreamEntry::book(OrderRow{rid, sale, item.toLongLong(), "carol", 1, 100,
                                                    now, now + 300000})
                             .xadd());
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale, "payment_started_at IS NOT NULL"), 1, 10000);
        QCOMPARE(m_redis->integer({"XLEN", k.deadLetters()}), 0);
        QTRY_COMPARE(pendingEntries(sale), 0);
    }

    // The expiry sweep gives a hold's units back in Redis first and cancels the order in
    // PostgreSQL second. A booking of those units can reach the worker in between, when
    // PostgreSQL still counts them sold: the inventory CHECK refuses it. Found by the ticketing
    // rehearsal (deploy/bench/rehearsal), where such bookings were dead-lettered and lost. They
    // must wait for the sweep's commit instead.
    void unitsSoldAgainBeforeTheSweepCommitsAreKept() {
        Backend worker;
        QVERIFY2(worker.start(workerEnv()), qPrintable(worker.error()));
        const qint64 sale = createSale(2, 5);
        QTRY_COMPARE(streamGroups(sale), 1); // the worker has found the sale's stream
        const QStringList accepted = book(sale, 2, 2, "s");
        QCOMPARE(accepted.size(), 2);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 2, 10000);
        QCOMPARE(sold(sale), 2);

        // Redis released s0's hold and sold the unit to s9; PostgreSQL has not heard yet.
        const SaleKeys k(sale);
        const QByteArray rid = QByteArray::number(sale) + "-" + QByteArray(32, 'd');
        const QByteArray item = m_redis->command({"HKEYS", k.stock()}).value(0);
        const qint64 nowMs = QDateTime::currentMSecsSinceEpoch();
        m_redis->command(StreamEntry::book(OrderRow{rid, sale, item.toLongLong(), "s9", 1, 250,
                                                    nowMs, nowMs + 300000})
                             .xadd());
        // Refused by the CHECK and queued again, twice: the two bookings, s9's and two copies.
        QTRY_VERIFY(entriesAdded(sale) >= 5);
        QCOMPARE(orders(sale), 2);
        QCOMPARE(m_redis->integer({"XLEN", k.deadLetters()}), 0);

        // The sweep's PostgreSQL side commits.
        m_db.scalar("WITH c AS (UPDATE orders SET status = 'cancelled', cancel_reason = 'expired' "
                    "WHERE reservation_id = '"
                    + accepted.first().toUtf8()
                    + "' RETURNING item_id, quantity) UPDATE inventory i SET sold = i.sold - "
                      "c.quantity FROM c WHERE i.item_id = c.item_id");
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale, "reservation_id = '" + rid + "'"), 1, 10000);
        QCOMPARE(sold(sale), 2);
        QCOMPARE(m_redis->integer({"XLEN", k.deadLetters()}), 0);
        QTRY_COMPARE(pendingEntries(sale), 0);
    }

    void expiredHoldsReturnStockExactlyOnce() {
        // Two workers, so two expiry sweepers race for the same holds.
        const qint64 asked = groupCreations();
        const qint64 known = warmedSales();
        Backend a, b;
        QVERIFY2(a.start(workerEnv()), qPrintable(a.error()));
        QVERIFY2(b.start(workerEnv()), qPrintable(b.error()));
        const qint64 sale = createSale(10, 2, 1);
        QTRY_VERIFY(groupCreations() >= asked + 2 * (known + 1)); // both sweep the new sale
        const QStringList accepted = book(sale, 10, 5, "e");
        QCOMPARE(accepted.size(), 10);
        // One buyer confirms in time: that hold's payment is in flight and must not expire.
        const QByteArray kept = accepted.first().toUtf8();
        QCOMPARE(http(m_api.port(), "POST", "/purchase?code=" + kept, {}, ownerAuth(kept)).status,
                 202);

        QTRY_COMPARE_WITH_TIMEOUT(
            orders(sale, "status = 'cancelled' AND cancel_reason = 'expired'"), 9, 20000);
        // A wait on purpose: nothing may happen in it. More sweeps by both release nothing twice.
        QTest::qWait(1000);
        const SaleKeys k(sale);
        QCOMPARE(orders(sale, "status = 'pending'"), 1);
        QCOMPARE(
            m_redis->integer({"HGET", k.stock(), m_redis->command({"HKEYS", k.stock()}).value(0)}),
            9);
        QCOMPARE(m_redis->integer({"SCARD", k.released()}), 9);
        QCOMPARE(m_redis->integer({"HLEN", k.users()}),
                 1); // only the buyer who confirmed holds units
        QCOMPARE(sold(sale), 1);
        QCOMPARE(outbox(sale, "order.cancelled"), 9);
        QCOMPARE(
            m_db.scalar("SELECT count(*) FROM order_history h JOIN orders o ON o.id = h.order_id "
                        "WHERE h.status = 'cancelled' AND o.sale_id = "
                        + QByteArray::number(sale))
                .toInt(),
            9);
        // Stock and PostgreSQL agree: initial = remaining + held.
        QCOMPARE(9 + sold(sale), 10);

        const QByteArray last = accepted.last().toUtf8();
        const QJsonObject expired =
            http(m_api.port(), "GET", "/api/v1/reservations/" + last, {}, ownerAuth(last)).json();
        QCOMPARE(expired.value(QStringLiteral("status")).toString(), QStringLiteral("cancelled"));
        QCOMPARE(expired.value(QStringLiteral("cancel_reason")).toString(),
                 QStringLiteral("expired"));
        const QJsonObject paying =
            http(m_api.port(), "GET", "/api/v1/reservations/" + kept, {}, ownerAuth(kept)).json();
        QCOMPARE(paying.value(QStringLiteral("status")).toString(), QStringLiteral("pending"));
        QCOMPARE(paying.value(QStringLiteral("payment_started")).toBool(), true);
        // An expired hold can no longer be confirmed, and its units were sold again.
        QCOMPARE(http(m_api.port(), "POST", "/purchase?code=" + last, {}, ownerAuth(last)).status,
                 409);
        QCOMPARE(book(sale, 9, 9, "again").size(), 9);
    }

    void postgresOutageLosesNothing() {
        TcpProxy proxy(m_db.serverPort());
        QVERIFY(proxy.start());
        Backend worker;
        QVERIFY2(worker.start(workerEnv(m_db.urlThroughPort(proxy.port()))),
                 qPrintable(worker.error()));
        const qint64 sale = createSale(2000, 10);
        QTRY_COMPARE(streamGroups(sale), 1); // the worker has found the sale
        const QStringList before = book(sale, 500, 100, "o1");
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 500, 15000);

        // PostgreSQL unreachable for the worker for 10 s; the API keeps accepting meanwhile.
        proxy.cut();
        QStringList during;
        QElapsedTimer t;
        t.start();
        for (int round = 0; t.elapsed() < 10000; ++round) {
            during += book(sale, 100, 100, "o2-" + QByteArray::number(round) + "-");
            QTest::qWait(500); // pacing on purpose: the bookings are spread over the outage
        }
        QVERIFY(during.size() >= 1000);
        QCOMPARE(orders(sale), 500); // nothing reached PostgreSQL during the outage...
        // ...Redis kept it (the stream holds what is not acknowledged: the outage's bookings, and
        // a batch whose COMMIT answer the cut may have swallowed).
        QVERIFY(m_redis->integer({"XLEN", SaleKeys(sale).stream()}) >= qint64(during.size()));

        QVERIFY(proxy.restore());
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), int(500 + during.size()), 30000);
        verifyExactlyOnce(sale, before + during);
        qInfo("%lld bookings accepted while PostgreSQL was unreachable, all persisted after",
              qint64(during.size()));
    }

    // PostgreSQL silent (a partition dropping packets, no RST): the worker gives its connections
    // up after --pg-timeout-ms and is writing again within that bound plus its reconnect backoff
    // (at most 5 s) of the network healing. Without the bound a statement waited on the silent
    // socket for the kernel's retransmission timeout, about 15 minutes (behind this proxy, whose
    // kernel acknowledges what it drops, for ever).
    void silentPostgresIsGivenUpWithinTheTimeout() {
        TcpProxy proxy(m_db.serverPort());
        Backend worker;
        qint64 sale = 0;
        QStringList before;
        startBehindProxy(proxy, worker, sale, before, "s");
        if (QTest::currentTestFailed())
            return;

        proxy.silence();
        const QStringList during = book(sale, 300, 100, "sb");
        QCOMPARE(during.size(), 300);
        QTest::qWait(5000); // a non-event on purpose: several timeouts and reconnects go by
        QCOMPARE(orders(sale), 200);

        proxy.heal();
        QElapsedTimer t;
        t.start();
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 500, 20000);
        const qint64 ms = t.elapsed();
        // The bound: an attempt begun just before the heal times out (1.5 s), then the backoff
        // (5 s at most); 1.5 s of margin for a loaded machine.
        QVERIFY2(ms <= 8000, qPrintable(QStringLiteral("resumed %1 ms after the heal").arg(ms)));
        QTRY_COMPARE_WITH_TIMEOUT(pendingEntries(sale), 0, 10000);
        verifyExactlyOnce(sale, before + during);
        QVERIFY(worker.log().contains("no answer from PostgreSQL within 1500 ms"));
        qInfo("silent PostgreSQL for 5 s: the worker wrote the backlog %lld ms after the heal", ms);
    }

    // Only PostgreSQL's answers are lost: the worker's batch commits, but it never learns so and
    // does not acknowledge its entries. It gives the connection up after --pg-timeout-ms and
    // writes the batch again once PostgreSQL answers: ON CONFLICT (reservation_id) DO NOTHING
    // (the stream entry's reservation id is the key) keeps that from a second order.
    void commitWithUnknownOutcomeIsWrittenOnce() {
        TcpProxy proxy(m_db.serverPort());
        Backend worker;
        qint64 sale = 0;
        QStringList before;
        startBehindProxy(proxy, worker, sale, before, "c");
        if (QTest::currentTestFailed())
            return;

        // Whether the worker's next statement is a batch that PostgreSQL commits depends on
        // when the bookings reach it; a round where none did is healed, drained and tried again.
        QStringList during;
        int committedUnknown = 0;
        for (int round = 0; round < 3 && committedUnknown == 0; ++round) {
            proxy.silence(true);
            const int written = orders(sale);
            const QStringList more = book(sale, 300, 100, "cb" + QByteArray::number(round) + "-");
            QCOMPARE(more.size(), 300);
            during += more;
            QElapsedTimer w;
            w.start();
            while (orders(sale) == written && w.elapsed() < 5000)
                QTest::qWait(100);
            committedUnknown = orders(sale) - written;
            if (committedUnknown > 0) {
                QTest::qWait(3000); // the timeout goes by; reconnecting fails (no answer either)
                QVERIFY(pendingEntries(sale) > 0); // the worker does not know: not acknowledged
                break;
            }
            qInfo("round %d: no batch reached PostgreSQL before the connection was given up",
                  round);
            proxy.heal();
            QTRY_COMPARE_WITH_TIMEOUT(pendingEntries(sale), 0, 20000);
        }
        QVERIFY(committedUnknown > 0);

        proxy.heal();
        QTRY_COMPARE_WITH_TIMEOUT(pendingEntries(sale), 0, 20000);
        verifyExactlyOnce(sale, before + during);
        QVERIFY(worker.log().contains("no answer from PostgreSQL within 1500 ms"));
        qInfo("%d orders committed with their answer lost; written again after the heal, each "
              "still once",
              committedUnknown);
    }
};

QTEST_GUILESS_MAIN(TestOrderPipeline)
#include "tst_orderpipeline.moc"
