// NotificationService with SmtpSender: order.paid and order.cancelled events from librdkafka's
// mock cluster, a real PostgreSQL database (FLASHSALE_TEST_PG_URL) and a real SMTP server
// (aiosmtpd, tests/notify/smtpserver.h). Each event is emailed once and recorded delivered; a
// recipient the server refuses (550) is recorded failed, with the reply, and not retried.

#include "kafka/kafkaclient.h"
#include "notify/notificationservice.h"
#include "notify/smtpsender.h"
#include "pg/migrator.h"
#include "smtpserver.h"
#include "testservers.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QTest>

#include <algorithm>

using namespace flashsale;
using flashsale::test::SmtpServer;

class TestNotifySmtp : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void eachEventIsEmailedOnceAndRecorded();
    void refusedRecipientIsRecordedFailedNotRetried();
    void relayDownThenEveryMessageArrivesOnce();

private:
    void publish(const QByteArray &topic, const QJsonObject &event);
    std::unique_ptr<NotificationService> startService(const QString &smtpUrl);

    std::unique_ptr<KafkaMockCluster> m_kafka;
    std::unique_ptr<KafkaProducer> m_producer;
    std::unique_ptr<test::PgDatabase> m_db;
};

void TestNotifySmtp::init() {
    auto k = KafkaMockCluster::create(1, topics::orderLifecycle(), 1);
    QVERIFY2(k.has_value(), k ? "" : qPrintable(k.error().message));
    m_kafka.reset(*k);
    auto p = KafkaProducer::create(m_kafka->bootstraps());
    QVERIFY2(p.has_value(), p ? "" : qPrintable(p.error().message));
    m_producer.reset(*p);
    m_db = std::make_unique<test::PgDatabase>();
    QVERIFY2(m_db->create(), qPrintable(m_db->error()));
    auto m = applyMigrations(m_db->url());
    QVERIFY2(m.has_value(), m ? "" : qPrintable(m.error().message));
}

void TestNotifySmtp::cleanup() {
    m_producer.reset();
    m_kafka.reset();
    m_db.reset();
}

void TestNotifySmtp::publish(const QByteArray &topic, const QJsonObject &event) {
    int delivered = 0;
    m_producer->produce(topic, event.value(QStringLiteral("order_id")).toVariant().toByteArray(),
                        QJsonDocument(event).toJson(QJsonDocument::Compact),
                        [&](const Result<void> &r) { delivered += r ? 1 : 100; });
    QTRY_COMPARE_WITH_TIMEOUT(delivered, 1, 15000);
}

std::unique_ptr<NotificationService> TestNotifySmtp::startService(const QString &smtpUrl) {
    SmtpConfig c;
    c.url = smtpUrl;
    c.from = QStringLiteral("orders@shop.example.test");
    c.recipientTemplate = QStringLiteral("{user}@example.test");
    c.connectTimeoutMs = 2000;
    c.timeoutMs = 5000;
    auto service = std::make_unique<NotificationService>(m_kafka->bootstraps(), m_db->url(),
                                                         std::make_unique<SmtpSender>(c));
    service->setRetryPolicy({50, 500});
    const auto r = service->start();
    return r ? std::move(service) : nullptr;
}

void TestNotifySmtp::eachEventIsEmailedOnceAndRecorded() {
    SmtpServer smtp;
    QVERIFY(smtp.start());
    auto service = startService(smtp.url());
    QVERIFY(service);

    // The paid email names the item and the sale as the catalogue has them.
    const QByteArray saleId = m_db->scalar(
        "INSERT INTO sales (name, per_user_limit, starts_at, ends_at, hold_seconds, "
        "admission_rate, admission_burst) VALUES ('Winter sale', 2, now(), now() + interval "
        "'1 hour', 300, 0, 1) RETURNING id");
    const QByteArray itemId = m_db->scalar("INSERT INTO sale_items (sale_id, name, price_cents, "
                                           "stock) VALUES ("
                                           + saleId + ", 'Espresso cup', 1999, 10) RETURNING id");
    QVERIFY(itemId.toLongLong() > 0);
    publish(topics::kOrderPaid, {{"event_id", "evt-paid-1"},
                                 {"order_id", 501},
                                 {"user_id", "alice"},
                                 {"sale_id", saleId.toLongLong()},
                                 {"item_id", itemId.toLongLong()},
                                 {"quantity", 2},
                                 {"amount_cents", 3998}});
    publish(topics::kOrderCancelled, {{"event_id", "evt-cancel-1"},
                                      {"order_id", 502},
                                      {"user_id", "bob"},
                                      {"item_id", 7},
                                      {"sale_id", 3},
                                      {"quantity", 1},
                                      {"amount_cents", 1999},
                                      {"reason", "declined"}});

    QTRY_COMPARE_WITH_TIMEOUT(
        m_db->scalar("SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL"), "2",
        20000);
    QTRY_COMPARE(smtp.messages().size(), 2);
    const auto received = smtp.messages();
    QByteArrayList subjects;
    for (const auto &m : received) {
        for (const QByteArray &line : m.data.split('\n')) {
            if (line.startsWith("Subject:"))
                subjects << line.trimmed();
        }
    }
    std::sort(subjects.begin(), subjects.end());
    QCOMPARE(subjects, QByteArrayList({"Subject: Your order 501 is paid",
                                       "Subject: Your order 502 was cancelled: payment declined"}));
    const auto cancelled = received[0].data.contains("502") ? received[0] : received[1];
    QVERIFY(cancelled.data.contains("To: bob@example.test\r\n"));
    QVERIFY(cancelled.data.contains("Your payment was declined, so we cancelled the order"));
    QVERIFY(cancelled.data.contains("  Order total:   19.99\r\n"));
    QVERIFY(cancelled.data.contains("Message-ID: <notify.evt-cancel-1@shop.example.test>\r\n"));
    const auto paid = received[0].data.contains("501") ? received[0] : received[1];
    QVERIFY(paid.data.contains("  Item:          Espresso cup (Winter sale)\r\n"));
    QVERIFY(paid.data.contains("  Amount paid:   39.98\r\n"));

    // A redelivery of the first event after it was delivered (the same event id): recorded
    // once, not emailed again. A fresh event behind it shows when the consumer got that far.
    publish(topics::kOrderPaid, {{"event_id", "evt-paid-1"},
                                 {"order_id", 501},
                                 {"user_id", "alice"},
                                 {"quantity", 2},
                                 {"amount_cents", 3998}});
    publish(topics::kOrderPaid, {{"event_id", "evt-paid-2"},
                                 {"order_id", 503},
                                 {"user_id", "carol"},
                                 {"quantity", 1},
                                 {"amount_cents", 1999}});
    QTRY_COMPARE_WITH_TIMEOUT(
        m_db->scalar("SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL"), "3",
        20000);
    QCOMPARE(smtp.messages().size(), 3);
    QCOMPARE(m_db->scalar("SELECT count(*) FROM notifications"), "3");
    QCOMPARE(m_db->scalar("SELECT count(*) FROM notifications WHERE failed_at IS NOT NULL"), "0");
}

void TestNotifySmtp::refusedRecipientIsRecordedFailedNotRetried() {
    SmtpServer smtp;
    QVERIFY(smtp.start(QStringLiteral("refuse")));
    auto service = startService(smtp.url());
    QVERIFY(service);

    publish(topics::kOrderPaid, {{"event_id", "evt-paid-9"},
                                 {"order_id", 509},
                                 {"user_id", "nobody"},
                                 {"quantity", 1},
                                 {"amount_cents", 1999}});
    QTRY_COMPARE_WITH_TIMEOUT(
        m_db->scalar("SELECT failure LIKE '%550%' FROM notifications WHERE event_id = "
                     "'evt-paid-9' AND failed_at IS NOT NULL AND delivered_at IS NULL"),
        "t", 20000);
    QCOMPARE(smtp.messages().size(), 0);

    // A redelivered event finds the failed row and sends nothing: with the server now
    // accepting, a retry would show up as a message.
    service.reset();
    SmtpServer accepting(smtp.port());
    smtp.stop();
    QVERIFY(accepting.start());
    service = startService(accepting.url());
    QVERIFY(service);
    publish(topics::kOrderPaid, {{"event_id", "evt-paid-9"},
                                 {"order_id", 509},
                                 {"user_id", "nobody"},
                                 {"quantity", 1},
                                 {"amount_cents", 1999}});
    // A second, fresh event proves the service is consuming (it arrives after the redelivery).
    publish(topics::kOrderPaid, {{"event_id", "evt-paid-10"},
                                 {"order_id", 510},
                                 {"user_id", "carol"},
                                 {"quantity", 1},
                                 {"amount_cents", 1999}});
    QTRY_COMPARE_WITH_TIMEOUT(
        m_db->scalar("SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL"), "1",
        20000);
    const auto received = accepting.messages();
    QCOMPARE(received.size(), 1);
    QVERIFY(received[0].data.contains("To: carol@example.test\r\n"));
    QCOMPARE(m_db->scalar("SELECT count(*) FROM notifications"), "2");
}

void TestNotifySmtp::relayDownThenEveryMessageArrivesOnce() {
    // The relay is down while 20 orders end (and one event arrives twice): nothing is sent,
    // nothing recorded delivered, nothing lost. Once it is up, each message arrives once.
    SmtpServer smtp; // not started: its port refuses connections
    auto service = startService(smtp.url());
    QVERIFY(service);
    QSet<QByteArray> expected;
    for (int i = 1; i <= 20; ++i) {
        const bool paid = i % 3 != 0;
        const QByteArray id =
            (paid ? "evt-down-paid-" : "evt-down-cancel-") + QByteArray::number(i);
        QJsonObject e{{"event_id", QString::fromLatin1(id)},
                      {"order_id", 600 + i},
                      {"user_id", QStringLiteral("user%1").arg(i)},
                      {"quantity", 1},
                      {"amount_cents", 1999}};
        if (!paid)
            e.insert(QStringLiteral("reason"), QStringLiteral("expired"));
        publish(paid ? topics::kOrderPaid : topics::kOrderCancelled, e);
        if (i == 5) // the same event again, while the first copy is still waiting
            publish(topics::kOrderPaid, e);
        expected.insert("Message-ID: <notify." + id + "@shop.example.test>");
    }
    QTRY_COMPARE_WITH_TIMEOUT(m_db->scalar("SELECT count(*) FROM notifications"), "20", 20000);
    QTest::qWait(1500); // several retries against the closed port
    QCOMPARE(m_db->scalar("SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL "
                          "OR failed_at IS NOT NULL"),
             "0");

    QVERIFY(smtp.start());
    QTRY_COMPARE_WITH_TIMEOUT(
        m_db->scalar("SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL"), "20",
        30000);
    QTRY_COMPARE(smtp.messages().size(), 20);
    QTest::qWait(1000); // a late duplicate would show here
    const auto received = smtp.messages();
    QCOMPARE(received.size(), 20);
    QSet<QByteArray> ids;
    for (const auto &m : received) {
        for (const QByteArray &line : m.data.split('\n')) {
            if (line.startsWith("Message-ID:"))
                ids.insert(line.trimmed());
        }
    }
    QCOMPARE(ids, expected); // 20 messages, 20 distinct events: each once
    QCOMPARE(m_db->scalar("SELECT count(*) FROM notifications WHERE failed_at IS NOT NULL"), "0");
}

QTEST_GUILESS_MAIN(TestNotifySmtp)
#include "tst_notifysmtp.moc"
