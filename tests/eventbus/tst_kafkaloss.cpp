// Kafka losing its data (docs/RELIABILITY.md, "Kafka data loss"): the mock cluster is restarted,
// so every topic comes back empty, and the relay (a real flashsale-server with role relay)
// republishes the outbox rows it still retains; a consumer of the new cluster then receives
// every event at least once. A relay restarted against a cluster that kept its data republishes
// nothing.

#include "kafka/kafkaclient.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

class TestKafkaLoss : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    std::unique_ptr<KafkaMockCluster> m_kafka;

    QHash<QString, QString> env() const {
        return {{"FLASHSALE_ROLES", "relay"},
                {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                {"FLASHSALE_PG_URL", m_db.url()},
                {"FLASHSALE_KAFKA_BROKERS", m_kafka->bootstraps()},
                {"FLASHSALE_RELAY_POLL_MS", "200"}};
    }

    void restartCluster() {
        m_kafka.reset(); // everything it held is gone, as when the process ends
        auto k = KafkaMockCluster::create(3, topics::orderLifecycle(), 6);
        QVERIFY(k.has_value());
        m_kafka.reset(*k);
    }

    int count(const QByteArray &sql) { return m_db.scalar(sql).toInt(); }

    // Outbox rows for events `from`..`to`-1 of order.created, as the booking worker writes them.
    void insertEvents(int from, int to) {
        m_db.scalar("INSERT INTO outbox (topic, key, payload) SELECT 'order.created', 'r' || i, "
                    "jsonb_build_object('event_id', 'order.created:r' || i, 'type', "
                    "'order.created', 'reservation_id', 'r' || i) FROM generate_series("
                    + QByteArray::number(from) + ", " + QByteArray::number(to - 1) + ") AS i");
    }

    // The event ids on order.created, read from the start with a group of its own until
    // `expected` distinct ones arrived (or 20 s passed), then 1 s more for stragglers.
    QPair<QSet<QString>, int> readEvents(int expected) {
        static int group = 0;
        QSet<QString> ids;
        int messages = 0;
        auto c = KafkaConsumer::create(m_kafka->bootstraps(),
                                       QStringLiteral("loss-reader-%1").arg(++group),
                                       {QString::fromLatin1(topics::kOrderCreated)},
                                       [&](const KafkaMessage &m, std::function<void()> done) {
                                           ids.insert(QJsonDocument::fromJson(m.value)
                                                          .object()
                                                          .value(QStringLiteral("event_id"))
                                                          .toString());
                                           ++messages;
                                           done();
                                       });
        if (!c)
            return {{}, -1};
        std::unique_ptr<KafkaConsumer> consumer(*c);
        (void)QTest::qWaitFor([&] { return ids.size() >= expected; }, 20000);
        QTest::qWait(1000); // a duplicate arriving late is still counted
        return {ids, messages};
    }

    static double metric(const Backend &b, const QByteArray &name) {
        const QByteArray body = http(b.metricsPort(), "GET", "/metrics").body;
        const QRegularExpression re(
            QStringLiteral("\n%1 ([0-9.]+)\n").arg(QString::fromLatin1(name)));
        const QRegularExpressionMatch m = re.match(QString::fromUtf8(body));
        return m.hasMatch() ? m.captured(1).toDouble() : -1;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        auto k = KafkaMockCluster::create(3, topics::orderLifecycle(), 6);
        QVERIFY(k.has_value());
        m_kafka.reset(*k);
    }

    void lostTopicsAreRepublishedFromTheOutbox() {
        constexpr int kBefore = 300;
        constexpr int kAfter = 50;
        {
            Backend relay; // it applies the migrations, the outbox among them
            QVERIFY2(relay.start(env()), qPrintable(relay.error()));
            insertEvents(0, kBefore);
            QTRY_COMPARE_WITH_TIMEOUT(
                count("SELECT count(*) FROM outbox WHERE kafka_offset IS NOT NULL"), kBefore,
                20000);
            QCOMPARE(readEvents(kBefore).first.size(), kBefore);
        }

        // A relay restarted against a cluster that kept its data finds nothing lost.
        {
            Backend relay;
            QVERIFY2(relay.start(env()), qPrintable(relay.error()));
            QTRY_VERIFY_WITH_TIMEOUT(relay.log().contains("outbox relay is the active one"), 10000);
            QTest::qWait(6000); // the first check and one periodic check
            QCOMPARE(metric(relay, "flashsale_outbox_republished_total"), 0.0);
            QVERIFY(!relay.log().contains("Kafka lost"));
            const auto [ids, messages] = readEvents(kBefore);
            QCOMPARE(ids.size(), kBefore);
            QCOMPARE(messages, kBefore); // nothing sent twice
        }

        // The cluster restarts empty; the relay comes back to it (new addresses, as the local
        // stack's would) and republishes every retained row, then carries on with new ones.
        restartCluster();
        Backend relay;
        QVERIFY2(relay.start(env()), qPrintable(relay.error()));
        QTRY_VERIFY_WITH_TIMEOUT(relay.log().contains("Kafka lost acknowledged messages"), 20000);
        QTRY_COMPARE_WITH_TIMEOUT(metric(relay, "flashsale_outbox_republished_total"),
                                  double(kBefore), 10000);
        insertEvents(kBefore, kBefore + kAfter);
        QTRY_COMPARE_WITH_TIMEOUT(count("SELECT count(*) FROM outbox WHERE published_at IS NULL"),
                                  0, 20000);
        const auto [ids, messages] = readEvents(kBefore + kAfter);
        for (int i = 0; i < kBefore + kAfter; ++i)
            QVERIFY2(ids.contains(QStringLiteral("order.created:r%1").arg(i)),
                     qPrintable(QStringLiteral("event %1 missing after the restart").arg(i)));
        QVERIFY(messages >= kBefore + kAfter);
        qInfo("after the restart: %d rows republished, %d messages for %d events",
              int(metric(relay, "flashsale_outbox_republished_total")), messages, kBefore + kAfter);
    }

    void rowsBeyondTheRetentionAreNotRepublished() {
        // Rows published longer ago than --relay-retention-s are pruned: they are the loss
        // a cluster restart cannot be repaired beyond.
        m_db.scalar("UPDATE outbox SET published_at = now() - interval '2 hours' "
                    "WHERE published_at IS NOT NULL");
        insertEvents(1000, 1010);
        restartCluster();
        Backend relay;
        auto e = env();
        e.insert("FLASHSALE_RELAY_RETENTION_S", "3600");
        QVERIFY2(relay.start(e), qPrintable(relay.error()));
        QTRY_COMPARE_WITH_TIMEOUT(count("SELECT count(*) FROM outbox"), 10, 20000);
        QTRY_COMPARE_WITH_TIMEOUT(count("SELECT count(*) FROM outbox WHERE published_at IS NULL"),
                                  0, 20000);
        QTest::qWait(6000); // a periodic check finds nothing it could republish
        QCOMPARE(metric(relay, "flashsale_outbox_republished_total"), 0.0);
        QCOMPARE(readEvents(10).first.size(), 10);
    }
};

QTEST_GUILESS_MAIN(TestKafkaLoss)
#include "tst_kafkaloss.moc"
