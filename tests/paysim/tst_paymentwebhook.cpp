// POST /api/v1/payments/webhook (shared/api/paymentwebhook.h) on a real flashsale-server (api and
// worker roles) with real Redis and PostgreSQL: the refusals a provider (or an attacker) sees,
// and, for the calls it accepts, what happens to the order: it ends once, whatever the order and
// number of deliveries. Orders come from real bookings; the payment service's claim (a payments
// row 'charging') is written by the test, since no payment role runs here: the webhook is then
// the only way the outcome arrives ("a webhook before the API call returns").
//
// Then the whole loop: flashsale-paysim charging and sending its own signed webhooks, with
// duplicates and reordering, to this server (paysimWebhooksEndEveryOrderOnce).

#include "paysimprocess.h"
#include "rawhttp.h"
#include "tcpproxy.h"
#include "testservers.h"
#include "webhook/signature.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

namespace {

constexpr char kOldSecret[] = "whsec_old_0123456789abcdef0123456789";
constexpr char kNewSecret[] = "whsec_new_fedcba9876543210fedcba9876";

QByteArray paymentEvent(const QByteArray &eventId, const char *type, qint64 orderId,
                        const char *status, const QByteArray &paymentId) {
    const QJsonObject payment{{"id", QString::fromUtf8(paymentId)},
                              {"object", "payment"},
                              {"order_id", QString::number(orderId)},
                              {"amount_cents", 300},
                              {"currency", "eur"},
                              {"status", QLatin1String(status)},
                              {"idempotency_key", QStringLiteral("order-%1").arg(orderId)}};
    return QJsonDocument(QJsonObject{{"id", QString::fromUtf8(eventId)},
                                     {"type", QLatin1String(type)},
                                     {"created_ms", QDateTime::currentMSecsSinceEpoch()},
                                     {"data", QJsonObject{{"object", payment}}}})
        .toJson(QJsonDocument::Compact);
}

} // namespace

class TestPaymentWebhook : public QObject {
    Q_OBJECT

    RedisServer m_redisServer;
    PgDatabase m_db;
    std::unique_ptr<TcpProxy> m_pgProxy; // the server reaches PostgreSQL through it (cut: down)
    Backend m_api;
    QTemporaryDir m_dir;
    qint64 m_sale = 0;
    int m_users = 0;

    HttpResponse post(const QByteArray &body, const QByteArray &signature) {
        QList<QPair<QByteArray, QByteArray>> headers{{"Content-Type", "application/json"}};
        if (!signature.isNull())
            headers.append({"Flashsale-Signature", signature});
        return http(m_api.port(), "POST", "/api/v1/payments/webhook", body, headers);
    }
    HttpResponse postSigned(const QByteArray &body, const QByteArray &secret = kNewSecret,
                            qint64 t = QDateTime::currentSecsSinceEpoch()) {
        return post(body, webhookSign(QByteArrayView(secret), t, body));
    }
    QByteArray sql(const QByteArray &q) { return m_db.scalar(q); }

    // A pending order from a real booking, with the payment service's claim on it ('charging').
    qint64 chargingOrder() {
        const QByteArray user = "w" + QByteArray::number(++m_users);
        const HttpResponse r =
            http(m_api.port(), "POST", "/api/v1/sales/" + QByteArray::number(m_sale) + "/book",
                 "{\"user_id\":\"" + user + "\",\"quantity\":1}");
        if (r.status != 202)
            return 0;
        const QByteArray rid = r.json().value(QStringLiteral("reservation_id")).toString().toUtf8();
        QElapsedTimer t;
        t.start();
        QByteArray id;
        while (id.isEmpty() && t.elapsed() < 15000) {
            id = sql("SELECT id FROM orders WHERE reservation_id = '" + rid + "'");
            if (id.isEmpty())
                QTest::qWait(50);
        }
        if (id.isEmpty())
            return 0;
        sql("INSERT INTO payments (order_id, status, amount_cents, provider) VALUES (" + id
            + ", 'charging', 300, 'http')");
        return id.toLongLong();
    }
    QByteArray orderStatus(qint64 id) {
        return sql("SELECT status FROM orders WHERE id = " + QByteArray::number(id));
    }
    QByteArray paymentStatus(qint64 id) {
        return sql("SELECT status FROM payments WHERE order_id = " + QByteArray::number(id));
    }
    // How many times the order ended: terminal rows in its history.
    int endings(qint64 id) {
        return sql("SELECT count(*) FROM order_history WHERE order_id = " + QByteArray::number(id)
                   + " AND status IN ('paid', 'cancelled')")
            .toInt();
    }

private slots:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        m_pgProxy = std::make_unique<TcpProxy>(m_db.serverPort());
        QVERIFY(m_pgProxy->start());
        // Rotation: the receiver holds the new secret and the old one.
        const QString secrets = m_dir.filePath(QStringLiteral("webhook-secrets"));
        QFile f(secrets);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray(kNewSecret) + '\n' + kOldSecret + '\n');
        f.close();
        f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        QVERIFY2(m_api.start({{"FLASHSALE_ROLES", "api,worker"},
                              {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                              {"FLASHSALE_PG_URL", m_db.urlThroughPort(m_pgProxy->port())},
                              {"FLASHSALE_WORKER_BLOCK_MS", "100"},
                              {"FLASHSALE_PAYMENT_WEBHOOK_SECRET_FILE", secrets},
                              {"FLASHSALE_PAYMENT_WEBHOOK_TOLERANCE_S", "300"}}),
                 qPrintable(m_api.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_api.port(), "GET", "/readyz").status, 200, 10000);
        m_sale = createOpenSale(m_api.port(), {QStringLiteral("Webhooks"), 200, 5, 300, 600});
        QVERIFY(m_sale > 0);
    }

    void refusals_data() {
        QTest::addColumn<QByteArray>("signature"); // null: no header
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("type");
        const QByteArray ev =
            paymentEvent("evt_refused", "payment.succeeded", 1, "succeeded", "pay_1");
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        QTest::addRow("no signature")
            << QByteArray() << ev << 401 << "/problems/webhook-signature-invalid";
        QTest::addRow("malformed signature")
            << QByteArray("t=abc,v1=zz") << ev << 401 << "/problems/webhook-signature-invalid";
        QTest::addRow("forged: another secret")
            << webhookSign(QByteArrayView("whsec_attacker"), now, ev) << ev << 401
            << "/problems/webhook-signature-invalid";
        QTest::addRow("altered body") << webhookSign(QByteArrayView(kNewSecret), now, ev)
                                      << ev + ' ' << 401 << "/problems/webhook-signature-invalid";
        QTest::addRow("stale: 301 s old") << webhookSign(QByteArrayView(kNewSecret), now - 301, ev)
                                          << ev << 401 << "/problems/webhook-signature-stale";
        QTest::addRow("stale: 301 s ahead")
            << webhookSign(QByteArrayView(kNewSecret), now + 301, ev) << ev << 401
            << "/problems/webhook-signature-stale";
        const QByteArray notJson = "{\"id\":\"evt_x\",";
        QTest::addRow("malformed JSON") << webhookSign(QByteArrayView(kNewSecret), now, notJson)
                                        << notJson << 400 << "/problems/webhook-event-invalid";
        const QByteArray noData = R"({"id":"evt_x","type":"payment.succeeded","created_ms":1})";
        QTest::addRow("no data") << webhookSign(QByteArrayView(kNewSecret), now, noData) << noData
                                 << 400 << "/problems/webhook-event-invalid";
        const QByteArray badOrder =
            paymentEvent("evt_y", "payment.succeeded", 1, "succeeded", "pay_1")
                .replace("\"order_id\":\"1\"", "\"order_id\":\"01x\"");
        QTest::addRow("order id not decimal")
            << webhookSign(QByteArrayView(kNewSecret), now, badOrder) << badOrder << 400
            << "/problems/webhook-event-invalid";
        const QByteArray contradiction =
            paymentEvent("evt_z", "payment.succeeded", 1, "declined", "pay_1");
        QTest::addRow("status contradicts type")
            << webhookSign(QByteArrayView(kNewSecret), now, contradiction) << contradiction << 400
            << "/problems/webhook-event-invalid";
    }
    void refusals() {
        QFETCH(QByteArray, signature);
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        QFETCH(QString, type);
        const HttpResponse r = post(body, signature);
        QCOMPARE(r.status, status);
        QCOMPARE(r.headers.value("content-type"), QByteArray("application/problem+json"));
        QCOMPARE(r.problemType(), type);
        // The problem type is documented where every other one is.
        QCOMPARE(http(m_api.port(), "GET", type.toUtf8()).status, 200);
    }

    void bodyOverTheLimitIsRefused() {
        const QByteArray big(70 * 1024, ' ');
        const HttpResponse r = postSigned(big);
        QCOMPARE(r.status, 413);
    }

    void rotatedSecretsBothVerify() {
        const qint64 a = chargingOrder(), b = chargingOrder();
        QVERIFY(a > 0 && b > 0);
        QCOMPARE(
            postSigned(paymentEvent("evt_rot_old", "payment.succeeded", a, "succeeded", "pay_a"),
                       kOldSecret)
                .status,
            200);
        QCOMPARE(
            postSigned(paymentEvent("evt_rot_new", "payment.succeeded", b, "succeeded", "pay_b"),
                       kNewSecret)
                .status,
            200);
        QCOMPARE(orderStatus(a), QByteArray("paid"));
        QCOMPARE(orderStatus(b), QByteArray("paid"));
    }

    // No payment role runs: the webhook is the first and only word on the charge.
    void webhookBeforeTheApiAnswerPaysTheOrder() {
        const qint64 id = chargingOrder();
        QVERIFY(id > 0);
        const HttpResponse r =
            postSigned(paymentEvent("evt_early", "payment.succeeded", id, "succeeded", "pay_e"));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.json().value(QStringLiteral("result")).toString(), QStringLiteral("applied"));
        QCOMPARE(orderStatus(id), QByteArray("paid"));
        QCOMPARE(paymentStatus(id), QByteArray("captured"));
        QCOMPARE(
            sql("SELECT provider_ref FROM payments WHERE order_id = " + QByteArray::number(id)),
            QByteArray("pay_e"));
        QCOMPARE(endings(id), 1);
    }

    void duplicateDeliveryAppliesOnce() {
        const qint64 id = chargingOrder();
        QVERIFY(id > 0);
        const QByteArray ev =
            paymentEvent("evt_dup", "payment.succeeded", id, "succeeded", "pay_d");
        const HttpResponse first = postSigned(ev);
        const HttpResponse second = postSigned(ev);
        QCOMPARE(first.status, 200);
        QCOMPARE(second.status, 200);
        QCOMPARE(first.json().value(QStringLiteral("result")).toString(),
                 QStringLiteral("applied"));
        QCOMPARE(second.json().value(QStringLiteral("result")).toString(),
                 QStringLiteral("duplicate"));
        QCOMPARE(endings(id), 1);
        QCOMPARE(
            sql("SELECT count(*) FROM outbox WHERE topic = 'order.paid' AND payload->>'order_id' "
                "= '"
                + QByteArray::number(id) + "'"),
            QByteArray("1"));
    }

    // A failed then a succeeded for one order (the provider's retry succeeded, its events crossed):
    // the order ends once, cancelled; the money taken is queued for a refund.
    void failedThenSucceededEndsOnceAndQueuesARefund() {
        const qint64 id = chargingOrder();
        QVERIFY(id > 0);
        const HttpResponse failed =
            postSigned(paymentEvent("evt_f", "payment.failed", id, "declined", "pay_f1"));
        QCOMPARE(failed.status, 200);
        QCOMPARE(failed.json().value(QStringLiteral("result")).toString(),
                 QStringLiteral("applied"));
        const HttpResponse succeeded =
            postSigned(paymentEvent("evt_s", "payment.succeeded", id, "succeeded", "pay_s2"));
        QCOMPARE(succeeded.status, 200);
        QCOMPARE(succeeded.json().value(QStringLiteral("result")).toString(),
                 QStringLiteral("refund_queued"));
        QCOMPARE(orderStatus(id), QByteArray("cancelled"));
        QCOMPARE(paymentStatus(id), QByteArray("refund_due"));
        QCOMPARE(endings(id), 1);
    }

    void succeededThenFailedIsIgnored() {
        const qint64 id = chargingOrder();
        QVERIFY(id > 0);
        QCOMPARE(postSigned(paymentEvent("evt_s3", "payment.succeeded", id, "succeeded", "pay_3"))
                     .status,
                 200);
        const HttpResponse late =
            postSigned(paymentEvent("evt_f3", "payment.failed", id, "declined", "pay_3"));
        QCOMPARE(late.status, 200);
        QCOMPARE(late.json().value(QStringLiteral("result")).toString(), QStringLiteral("ignored"));
        QCOMPARE(orderStatus(id), QByteArray("paid"));
        QCOMPARE(endings(id), 1);
    }

    void unknownOrderIsAcknowledged() {
        const HttpResponse r = postSigned(
            paymentEvent("evt_unknown", "payment.succeeded", 987654321, "succeeded", "pay_u"));
        QCOMPARE(r.status, 200);
        QCOMPARE(r.json().value(QStringLiteral("result")).toString(),
                 QStringLiteral("unknown_order"));
    }

    void unhandledTypeIsAcknowledged() {
        const QByteArray ev =
            paymentEvent("evt_other", "payment.succeeded", 1, "succeeded", "pay_1")
                .replace("payment.succeeded", "payment.created");
        const HttpResponse r = postSigned(ev);
        QCOMPARE(r.status, 200);
        QCOMPARE(r.json().value(QStringLiteral("result")).toString(), QStringLiteral("ignored"));
    }

    void metricsCountEveryResult() {
        const HttpResponse m = http(m_api.metricsPort(), "GET", "/metrics");
        QCOMPARE(m.status, 200);
        for (const char *result : {"applied", "duplicate", "refund_queued", "forged", "stale",
                                   "invalid", "unknown_order"})
            QVERIFY2(m.body.contains(QByteArray("flashsale_payment_webhooks_total{result=\"")
                                     + result + "\"}"),
                     result);
    }

    // paysim delivers its own events, each twice at times, held back up to 300 ms so that they
    // cross: every order ends once, as the provider decided.
    void paysimWebhooksEndEveryOrderOnce() {
        const QString secrets = m_dir.filePath(QStringLiteral("paysim-secrets"));
        QFile f(secrets);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray(kNewSecret) + '\n');
        f.close();
        PaySim sim;
        QVERIFY(sim.start({QStringLiteral("--webhook-url"),
                           m_api.url() + QStringLiteral("/api/v1/payments/webhook"),
                           QStringLiteral("--webhook-secret-file"), secrets,
                           QStringLiteral("--webhook-duplicate-percent"), QStringLiteral("50"),
                           QStringLiteral("--webhook-reorder-ms"), QStringLiteral("300"),
                           QStringLiteral("--decline-percent"), QStringLiteral("30")}));
        QList<qint64> ids;
        for (int i = 0; i < 20; ++i) {
            const qint64 id = chargingOrder();
            QVERIFY(id > 0);
            ids << id;
        }
        // Charged as the adapter charges: one Idempotency-Key per order.
        for (qint64 id : ids) {
            const QByteArray body = QJsonDocument(QJsonObject{{"order_id", QString::number(id)},
                                                              {"amount_cents", 300},
                                                              {"currency", "eur"}})
                                        .toJson(QJsonDocument::Compact);
            const quint16 port = quint16(QUrl(sim.url()).port());
            const HttpResponse r = http(port, "POST", "/v1/payments", body,
                                        {{"Content-Type", "application/json"},
                                         {"Idempotency-Key", "order-" + QByteArray::number(id)}});
            QVERIFY(r.status == 201 || r.status == 402);
        }
        QTRY_COMPARE_WITH_TIMEOUT(
            sim.ledger().value(QStringLiteral("webhooks")).toObject().value("pending").toInt(), 0,
            20000);
        const QJsonObject hooks = sim.ledger().value(QStringLiteral("webhooks")).toObject();
        QCOMPARE(hooks.value("failed").toInt(), 0);
        QCOMPARE(hooks.value("events").toInt(), 20);
        QVERIFY(hooks.value("duplicates").toInt() > 0);
        int paid = 0;
        for (qint64 id : ids) {
            QCOMPARE(endings(id), 1);
            paid += orderStatus(id) == "paid";
        }
        QCOMPARE(paid, sim.ledger().value(QStringLiteral("succeeded")).toInt());
    }

    // PostgreSQL down: 503 with Retry-After, so the provider delivers again; once it is back the
    // same delivery is applied. Nothing is lost, nothing is applied twice.
    void databaseDownIs503AndTheRetryApplies() {
        const qint64 id = chargingOrder();
        QVERIFY(id > 0);
        const QByteArray ev =
            paymentEvent("evt_pgdown", "payment.succeeded", id, "succeeded", "pay_pg");
        m_pgProxy->cut();
        const HttpResponse down = postSigned(ev);
        QCOMPARE(down.status, 503);
        QCOMPARE(down.problemType(), QStringLiteral("/problems/backend-unavailable"));
        QVERIFY(down.headers.contains("retry-after"));
        QVERIFY(m_pgProxy->restore());
        QTRY_COMPARE_WITH_TIMEOUT(postSigned(ev).status, 200, 20000);
        QCOMPARE(orderStatus(id), QByteArray("paid"));
        QCOMPARE(endings(id), 1);
        QCOMPARE(postSigned(ev).json().value(QStringLiteral("result")).toString(),
                 QStringLiteral("duplicate"));
    }
};

QTEST_GUILESS_MAIN(TestPaymentWebhook)
#include "tst_paymentwebhook.moc"
