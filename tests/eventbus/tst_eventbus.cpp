// The event bus against librdkafka's mock cluster (the real Kafka protocol on loopback), real
// Redis and PostgreSQL, and flashsale-server processes per role, so each can be killed:
// every order ends paid or cancelled, stock is conserved, and no crash or broker error loses
// an event or charges an order twice.

#include "booking/salekeys.h"
#include "kafka/kafkaclient.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

class TestEventBus : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    std::unique_ptr<KafkaMockCluster> m_kafka;
    Backend m_api; // roles api and worker
    std::unique_ptr<RedisSync> m_redis;

    QHash<QString, QString> env(const QString &roles,
                                const QHash<QString, QString> &extra = {}) const {
        QHash<QString, QString> e{{"FLASHSALE_ROLES", roles},
                                  {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_KAFKA_BROKERS", m_kafka->bootstraps()},
                                  {"FLASHSALE_WORKER_BLOCK_MS", "200"},
                                  {"FLASHSALE_RELAY_POLL_MS", "200"},
                                  {"FLASHSALE_PAYMENT_SIM_LATENCY_MS", "5"},
                                  {"FLASHSALE_PAYMENT_SIM_DECLINE_PERCENT", "10"}};
        for (auto it = extra.constBegin(); it != extra.constEnd(); ++it)
            e.insert(it.key(), it.value());
        return e;
    }

    qint64 createSale(int stock, int holdSeconds = 300) {
        return createOpenSale(m_api.port(),
                              {QStringLiteral("Event bus"), stock, 5, 500, holdSeconds});
    }

    int book(qint64 sale, int n, const QByteArray &prefix) {
        QList<QByteArray> raw;
        for (int i = 0; i < n; ++i)
            raw << RawHttpConnection::format(
                "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                "{\"user_id\":\"" + prefix + QByteArray::number(i) + "\",\"quantity\":1}", {});
        int accepted = 0;
        for (const HttpResponse &r : sendAll(m_api.port(), raw, 32))
            accepted += r.status == 202;
        return accepted;
    }

    int count(const QByteArray &sql) { return m_db.scalar(sql).toInt(); }
    // Whether the worker has found the sale: it creates the stream's consumer group then.
    bool workerKnows(qint64 sale) {
        const QList<QByteArray> info =
            m_redis->command({"XINFO", "STREAM", SaleKeys(sale).stream()});
        const qsizetype at = info.indexOf("groups");
        return at >= 0 && info.value(at + 1).toInt() == 1;
    }
    int orders(qint64 sale, const QByteArray &where = "true") {
        return count("SELECT count(*) FROM orders WHERE sale_id = " + QByteArray::number(sale)
                     + " AND " + where);
    }

    // Distinct keys, and all messages, of `topic` for this sale, read from the start with a
    // consumer group of its own.
    QPair<int, int> topicCount(const QByteArray &topic, qint64 sale) {
        QSet<QByteArray> keys;
        int messages = 0;
        QElapsedTimer quiet;
        quiet.start();
        static int group = 0;
        auto c = KafkaConsumer::create(
            m_kafka->bootstraps(), QStringLiteral("test-reader-%1").arg(++group),
            {QString::fromUtf8(topic)}, [&](const KafkaMessage &m, std::function<void()> done) {
                if (QJsonDocument::fromJson(m.value)
                        .object()
                        .value(QStringLiteral("sale_id"))
                        .toInteger()
                    == sale) {
                    keys.insert(m.key);
                    ++messages;
                }
                quiet.restart();
                done();
            });
        if (!c)
            return {-1, -1};
        std::unique_ptr<KafkaConsumer> consumer(*c);
        // Read until nothing more came for 3 s: the quiet period is how the end of the topic is
        // told (and how a duplicate arriving late is still counted).
        (void)QTest::qWaitFor([&] { return messages > 0 && quiet.elapsed() >= 3000; }, 20000);
        return {int(keys.size()), messages};
    }

    // Every order ended; each effect happened once; stock conserved (I4, I5, I6).
    void verifyLifecycle(qint64 sale, int n, int stock) {
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), n, 30000);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale, "status = 'pending'"), 0, 60000);
        QCOMPARE(orders(sale), n);
        const int paid = orders(sale, "status = 'paid'");
        const int declined = orders(sale, "status = 'cancelled' AND cancel_reason = 'declined'");
        QCOMPARE(paid + declined, n);
        QVERIFY(declined > 0 && paid > 0);
        const QByteArray saleFilter =
            " FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.sale_id = "
            + QByteArray::number(sale);
        QCOMPARE(count("SELECT count(*)" + saleFilter + " AND p.status = 'captured'"), paid);
        QCOMPARE(count("SELECT count(*)" + saleFilter + " AND p.status = 'declined'"), declined);
        // No order charged twice: one idempotency key per order, at most one capture.
        const QList<QByteArray> ids =
            QByteArray(m_db.scalar("SELECT string_agg(id::text, ',') FROM orders WHERE sale_id = "
                                   + QByteArray::number(sale)))
                .split(',');
        for (const QByteArray &id : ids) {
            QVERIFY2(m_redis->integer({"SCARD", "fs:paysim:keys:" + id}) <= 1, id.constData());
            QVERIFY2(m_redis->integer({"HGET", "fs:paysim:captured", id}) <= 1, id.constData());
        }
        // Conservation: initial stock = remaining (Redis) + held (pending, none left) + paid.
        const SaleKeys k(sale);
        const qint64 remaining =
            m_redis->integer({"HGET", k.stock(), m_redis->command({"HKEYS", k.stock()}).value(0)});
        QCOMPARE(remaining + paid, qint64(stock));
        QCOMPARE(
            count("SELECT sum(sold) FROM inventory WHERE sale_id = " + QByteArray::number(sale)),
            paid);
        // One notification per ending, recorded once and delivered.
        QTRY_COMPARE_WITH_TIMEOUT(
            count("SELECT count(*) FROM notifications n JOIN orders o ON o.id = n.order_id "
                  "WHERE n.delivered_at IS NOT NULL AND o.sale_id = "
                  + QByteArray::number(sale)),
            n, 30000);
        // Every order.created reached Kafka (duplicates allowed, missing ones not).
        QTRY_COMPARE_WITH_TIMEOUT(count("SELECT count(*) FROM outbox WHERE published_at IS NULL"),
                                  0, 30000);
        QCOMPARE(topicCount(topics::kOrderCreated, sale).first, n);
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        auto k = KafkaMockCluster::create(3, topics::orderLifecycle(), 6);
        QVERIFY(k.has_value());
        m_kafka.reset(*k);
        QVERIFY2(m_api.start(env(QStringLiteral("api,worker"))), qPrintable(m_api.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QTRY_COMPARE_WITH_TIMEOUT(http(m_api.port(), "GET", "/readyz").status, 200, 10000);
    }

    void everyOrderEndsExactlyOnce() {
        Backend bus;
        QVERIFY2(bus.start(env(QStringLiteral("relay,payment,notify"))), qPrintable(bus.error()));
        const qint64 sale = createSale(300);
        QTRY_VERIFY(workerKnows(sale));
        QCOMPARE(book(sale, 250, "e2e-"), 250);
        verifyLifecycle(sale, 250, 300);
        QVERIFY(topicCount(topics::kOrderPaid, sale).first > 0);
        // The outbox lag is visible, and drained.
        const QByteArray metrics = http(m_api.metricsPort(), "GET", "/metrics").body;
        QVERIFY(metrics.contains("\nflashsale_outbox_unpublished 0\n"));
        QVERIFY(metrics.contains("\nflashsale_outbox_oldest_unpublished_seconds 0.000\n"));
    }

    void relayKilledMidStream() {
        Backend paymentAndNotify;
        QVERIFY2(paymentAndNotify.start(env(QStringLiteral("payment,notify"))),
                 qPrintable(paymentAndNotify.error()));
        const qint64 sale = createSale(1500);
        QTRY_VERIFY(workerKnows(sale));
        QCOMPARE(book(sale, 1500, "relay-"), 1500);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 1500, 30000);

        // A slow relay (batches of 10), killed once it has published part of the outbox.
        Backend relay;
        QVERIFY2(relay.start(env(QStringLiteral("relay"), {{"FLASHSALE_RELAY_BATCH", "10"}})),
                 qPrintable(relay.error()));
        const QByteArray published = "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL "
                                     "AND topic = 'order.created' "
                                     "AND (payload->>'sale_id')::bigint = "
                                     + QByteArray::number(sale);
        QTRY_VERIFY_WITH_TIMEOUT(count(published) >= 50, 20000);
        relay.kill();
        const int atKill = count(published);
        QVERIFY2(atKill > 0 && atKill < 1500, qPrintable(QString::number(atKill)));

        Backend again;
        QVERIFY2(again.start(env(QStringLiteral("relay"))), qPrintable(again.error()));
        verifyLifecycle(sale, 1500, 1500);
        qInfo("relay killed after %d of 1500 events; all delivered, every order ended once",
              atKill);
    }

    // Issue 20: the relay's leader handover after a kill -9. The lead is a PostgreSQL session
    // advisory lock; the server ends a dead client's session (and frees the lock) as soon as the
    // socket closes, and a standby asks for the lock every second.
    void relayLeaderHandoverWithinThreeSeconds() {
        const QByteArray active = "outbox relay is the active one";
        Backend leader;
        QVERIFY2(leader.start(env(QStringLiteral("relay"))), qPrintable(leader.error()));
        QTRY_VERIFY_WITH_TIMEOUT(leader.log().contains(active), 10000);
        Backend standby;
        QVERIFY2(standby.start(env(QStringLiteral("relay"))), qPrintable(standby.error()));
        QTest::qWait(1500); // a non-event: the standby asks for the lock and is refused
        QVERIFY(!standby.log().contains(active));

        leader.kill();
        QElapsedTimer t;
        t.start();
        QTRY_VERIFY_WITH_TIMEOUT(standby.log().contains(active), 5000);
        const qint64 tookMs = t.elapsed();
        QVERIFY2(tookMs < 3000, qPrintable(QString::number(tookMs)));

        // The new leader publishes.
        const qint64 sale = createSale(50);
        QTRY_VERIFY(workerKnows(sale));
        QCOMPARE(book(sale, 50, "handover-"), 50);
        QTRY_COMPARE_WITH_TIMEOUT(
            count("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL AND topic = "
                  "'order.created' AND (payload->>'sale_id')::bigint = "
                  + QByteArray::number(sale)),
            50, 20000);
        qInfo("relay leader handover after kill -9: %lld ms", tookMs);
    }

    void paymentKilledMidBatch() {
        Backend relayAndNotify;
        QVERIFY2(relayAndNotify.start(env(QStringLiteral("relay,notify"))),
                 qPrintable(relayAndNotify.error()));
        const qint64 sale = createSale(800);
        QTRY_VERIFY(workerKnows(sale));
        QCOMPARE(book(sale, 800, "pay-"), 800);

        // A slow gateway: many charges in flight when the payment service dies.
        Backend payment;
        QVERIFY2(payment.start(
                     env(QStringLiteral("payment"), {{"FLASHSALE_PAYMENT_SIM_LATENCY_MS", "300"}})),
                 qPrintable(payment.error()));
        const QByteArray ended = "SELECT count(*) FROM payments p JOIN orders o ON o.id = "
                                 "p.order_id WHERE p.status <> 'charging' "
                                 "AND o.sale_id = "
                                 + QByteArray::number(sale);
        QTRY_VERIFY_WITH_TIMEOUT(count(ended) >= 100, 30000);
        payment.kill();
        const int atKill = count(ended);
        QVERIFY2(atKill > 0 && atKill < 800, qPrintable(QString::number(atKill)));

        Backend again;
        QVERIFY2(again.start(env(QStringLiteral("payment"))), qPrintable(again.error()));
        verifyLifecycle(sale, 800, 800);
        qInfo("payment killed after %d of 800 payments; no order charged twice", atKill);
    }

    void brokerErrorsAreRetried() {
        Backend bus;
        QVERIFY2(bus.start(env(QStringLiteral("relay,payment,notify"))), qPrintable(bus.error()));
        const qint64 sale = createSale(400);
        QTRY_VERIFY(workerKnows(sale));
        // The next produce requests fail: leadership moved, then timeouts.
        m_kafka->pushRequestErrors(0 /* Produce */, 5, 6 /* NOT_LEADER_FOR_PARTITION */);
        m_kafka->pushRequestErrors(0, 5, 7 /* REQUEST_TIMED_OUT */);
        QCOMPARE(book(sale, 400, "broker-"), 400);
        verifyLifecycle(sale, 400, 400);
    }

    void gatewayOutageKeepsHoldsAlive() {
        Backend bus;
        QVERIFY2(bus.start(env(QStringLiteral("relay,payment,notify"))), qPrintable(bus.error()));
        // First one order through, so the payment service has joined its consumer group.
        const qint64 warmup = createSale(1);
        // Holds of 3 s, a provider down for longer: a hold being paid must not expire.
        const qint64 sale = createSale(60, 3);
        QTRY_VERIFY(workerKnows(sale));
        QCOMPARE(book(warmup, 1, "warmup-"), 1);
        QTRY_COMPARE_WITH_TIMEOUT(orders(warmup, "status <> 'pending'"), 1, 30000);
        m_redis->command({"SET", "fs:paysim:outage", "1"});
        QCOMPARE(book(sale, 50, "outage-"), 50);
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale, "payment_started_at IS NOT NULL"), 50, 20000);
        QTest::qWait(4000); // the wait is the test: well past every hold's end, none may expire
        QCOMPARE(orders(sale, "status = 'cancelled'"), 0);
        QCOMPARE(orders(sale, "status = 'pending'"), 50);
        m_redis->command({"SET", "fs:paysim:outage", "0"});
        verifyLifecycle(sale, 50, 60);
    }
};

QTEST_GUILESS_MAIN(TestEventBus)
#include "tst_eventbus.moc"
