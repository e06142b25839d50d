// flashsale-paysim's webhook delivery (backend/flashsale-paysim/webhooksender.h), as a receiver
// sees it: a real paysim process posts to a real HTTP server in this test, which answers as each
// case asks (200, 500, or nothing). Asserted: every call is signed over its raw body with every
// secret (rotation), failures are retried with backoff until the retries run out, duplicates
// repeat the same event, held-back events arrive out of order, and GET /ledger's "webhooks"
// counts say what happened.

#include "http/httpserver.h"
#include "paysimprocess.h"
#include "rawhttp.h"
#include "webhook/signature.h"

#include <QDateTime>
#include <QJsonArray>
#include <QTcpServer>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

namespace {

constexpr char kSecretA[] = "whsec_paysim_a_0123456789";
constexpr char kSecretB[] = "whsec_paysim_b_9876543210";

struct Delivery {
    QByteArray eventId;
    QByteArray body;
    QByteArray signature;
    qint64 atMs = 0;
};

} // namespace

class TestPaySimWebhooks : public QObject {
    Q_OBJECT

    HttpServer m_receiver;
    quint16 m_port = 0;
    QList<Delivery> m_deliveries;
    QList<ExchangePtr> m_hung; // requests left unanswered (a receiver that hangs)
    std::function<int(const QByteArray &eventId, int attempt)> m_answer; // 0: never answer
    QHash<QByteArray, int> m_attempts;
    QTemporaryDir m_dir;

    QString secretFile(const QByteArray &content) {
        static int n = 0;
        const QString path = m_dir.filePath(QStringLiteral("secrets-%1").arg(++n));
        QFile f(path);
        if (f.open(QIODevice::WriteOnly))
            f.write(content);
        return path;
    }
    QString receiverUrl() const { return QStringLiteral("http://127.0.0.1:%1/hook").arg(m_port); }
    // Charges `n` orders at `sim` (each makes one event), with keys.
    void charge(PaySim &sim, int n, const QByteArray &prefix) {
        const quint16 port = quint16(QUrl(sim.url()).port());
        for (int i = 0; i < n; ++i) {
            const QByteArray order = prefix + QByteArray::number(i);
            const HttpResponse r =
                http(port, "POST", "/v1/payments",
                     R"({"order_id":")" + order + R"(","amount_cents":100,"currency":"eur"})",
                     {{"Content-Type", "application/json"}, {"Idempotency-Key", order}});
            QVERIFY(r.status == 201 || r.status == 402);
        }
    }
    QJsonObject hooks(PaySim &sim) {
        return sim.ledger().value(QStringLiteral("webhooks")).toObject();
    }

private slots:
    void initTestCase() {
        m_receiver.addRoute(
            "POST", QStringLiteral("/hook"), [this](const ExchangePtr &ex, const QStringList &) {
                const QByteArray id = QJsonDocument::fromJson(ex->body())
                                          .object()
                                          .value(QStringLiteral("id"))
                                          .toString()
                                          .toUtf8();
                m_deliveries.append(Delivery{id, ex->body(), ex->header(kWebhookSignatureHeader),
                                             QDateTime::currentMSecsSinceEpoch()});
                const int status = m_answer ? m_answer(id, ++m_attempts[id]) : 200;
                if (status == 0)
                    m_hung.append(ex);
                else
                    ex->sendJson(status, QJsonObject{{"received", status == 200}});
            });
        auto *tcp = new QTcpServer;
        QVERIFY(tcp->listen(QHostAddress::LocalHost, 0));
        m_port = tcp->serverPort();
        m_receiver.bind(tcp);
    }
    void init() {
        m_deliveries.clear();
        m_hung.clear();
        m_attempts.clear();
        m_answer = nullptr;
    }

    void everyCallIsSignedWithEverySecret() {
        PaySim sim;
        QVERIFY(sim.start({"--webhook-url", receiverUrl(), "--webhook-secret-file",
                           secretFile(QByteArray(kSecretA) + "\n\n" + kSecretB + "\n")}));
        charge(sim, 3, "sig-");
        QTRY_COMPARE_WITH_TIMEOUT(m_deliveries.size(), 3, 10000);
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        QStringList types;
        for (const Delivery &d : std::as_const(m_deliveries)) {
            // Each secret alone verifies (a receiver holding only the old or only the new one).
            QVERIFY(webhookVerify(d.signature, d.body, {kSecretA}, now).ok());
            QVERIFY(webhookVerify(d.signature, d.body, {kSecretB}, now).ok());
            QVERIFY(!webhookVerify(d.signature, d.body, {"whsec_other"}, now).ok());
            QCOMPARE(d.signature.count(",v1="), 2);
            const QJsonObject ev = QJsonDocument::fromJson(d.body).object();
            types << ev.value(QStringLiteral("type")).toString();
            QVERIFY(ev.value(QStringLiteral("id")).toString().startsWith(QLatin1String("evt_")));
            QVERIFY(ev.value(QStringLiteral("data"))
                        .toObject()
                        .value(QStringLiteral("object"))
                        .toObject()
                        .value(QStringLiteral("order_id"))
                        .toString()
                        .startsWith(QLatin1String("sig-")));
        }
        QCOMPARE(types, QStringList(3, QStringLiteral("payment.succeeded")));
        // The receiver records a call before paysim reads its answer: the last delivery may be
        // counted a moment after the third call arrived.
        QTRY_COMPARE_WITH_TIMEOUT(hooks(sim).value("delivered").toInt(), 3, 5000);
        const QJsonObject h = hooks(sim);
        QCOMPARE(h.value("events").toInt(), 3);
        QCOMPARE(h.value("delivered").toInt(), 3);
        QCOMPARE(h.value("attempts").toInt(), 3);
        QVERIFY(h.value("undelivered_events").toArray().isEmpty());
    }

    void failuresAreRetriedWithBackoff() {
        m_answer = [](const QByteArray &, int attempt) { return attempt <= 2 ? 500 : 200; };
        PaySim sim;
        QVERIFY(sim.start({"--webhook-url", receiverUrl(), "--webhook-secret-file",
                           secretFile(kSecretA), "--webhook-backoff-ms", "100"}));
        charge(sim, 2, "retry-");
        QTRY_COMPARE_WITH_TIMEOUT(hooks(sim).value("delivered").toInt(), 2, 10000);
        QCOMPARE(m_deliveries.size(), 6); // three attempts each
        // The waits double: about 100 ms, then 200 ms, between one event's attempts.
        QList<qint64> at;
        for (const Delivery &d : std::as_const(m_deliveries))
            if (d.eventId == m_deliveries.first().eventId)
                at << d.atMs;
        QCOMPARE(at.size(), 3);
        QVERIFY2(at[1] - at[0] >= 90, qPrintable(QString::number(at[1] - at[0])));
        QVERIFY2(at[2] - at[1] >= 190, qPrintable(QString::number(at[2] - at[1])));
        const QJsonObject h = hooks(sim);
        QCOMPARE(h.value("attempts").toInt(), 6);
        QCOMPARE(h.value("failed").toInt(), 0);
    }

    void exhaustedRetriesAreCountedAsFailed() {
        m_answer = [](const QByteArray &, int) { return 503; };
        PaySim sim;
        QVERIFY(sim.start({"--webhook-url", receiverUrl(), "--webhook-secret-file",
                           secretFile(kSecretA), "--webhook-retries", "2", "--webhook-backoff-ms",
                           "10"}));
        charge(sim, 2, "dead-");
        QTRY_COMPARE_WITH_TIMEOUT(hooks(sim).value("failed").toInt(), 2, 10000);
        const QJsonObject h = hooks(sim);
        QCOMPARE(h.value("attempts").toInt(), 6); // the first try and two retries, each
        QCOMPARE(h.value("delivered").toInt(), 0);
        QCOMPARE(h.value("pending").toInt(), 0);
        QCOMPARE(h.value("undelivered_events").toArray().size(), 2);
    }

    void aReceiverThatHangsIsRetriedAfterTheTimeout() {
        m_answer = [](const QByteArray &, int attempt) { return attempt == 1 ? 0 : 200; };
        PaySim sim;
        QVERIFY(sim.start({"--webhook-url", receiverUrl(), "--webhook-secret-file",
                           secretFile(kSecretA), "--webhook-timeout-ms", "300",
                           "--webhook-backoff-ms", "10"}));
        charge(sim, 1, "hang-");
        QTRY_COMPARE_WITH_TIMEOUT(hooks(sim).value("delivered").toInt(), 1, 10000);
        QCOMPARE(m_deliveries.size(), 2);
        QCOMPARE(m_deliveries[0].body, m_deliveries[1].body); // the same event, again
    }

    void duplicatesRepeatTheSameEvent() {
        PaySim sim;
        QVERIFY(sim.start({"--webhook-url", receiverUrl(), "--webhook-secret-file",
                           secretFile(kSecretA), "--webhook-duplicate-percent", "100"}));
        charge(sim, 5, "dup-");
        QTRY_COMPARE_WITH_TIMEOUT(m_deliveries.size(), 10, 10000);
        QHash<QByteArray, QList<QByteArray>> bodies;
        for (const Delivery &d : std::as_const(m_deliveries))
            bodies[d.eventId] << d.body;
        QCOMPARE(bodies.size(), 5);
        for (const auto &b : std::as_const(bodies)) {
            QCOMPARE(b.size(), 2);
            QCOMPARE(b[0], b[1]);
        }
        QCOMPARE(hooks(sim).value("duplicates").toInt(), 5);
    }

    void heldBackEventsArriveOutOfOrder() {
        PaySim sim;
        QVERIFY(sim.start({"--webhook-url", receiverUrl(), "--webhook-secret-file",
                           secretFile(kSecretA), "--webhook-reorder-ms", "400"}));
        charge(sim, 30, "reorder-");
        QTRY_COMPARE_WITH_TIMEOUT(m_deliveries.size(), 30, 10000);
        int inversions = 0;
        for (qsizetype i = 1; i < m_deliveries.size(); ++i)
            inversions +=
                m_deliveries[i].eventId.mid(4).toInt() < m_deliveries[i - 1].eventId.mid(4).toInt();
        QVERIFY2(inversions > 0, "30 events held 0-400 ms each all arrived in order");
    }

    void settingsChangeAtRunTime() {
        PaySim unsigned_;
        QVERIFY(unsigned_.start());
        QCOMPARE(unsigned_
                     .request("POST", QStringLiteral("/admin/settings"),
                              {{"webhook_url", receiverUrl()}})
                     .first,
                 400); // a URL without a secret would send calls every receiver refuses
        PaySim sim;
        QVERIFY(sim.start({"--webhook-secret-file", secretFile(kSecretA)}));
        charge(sim, 1, "off-");
        QTest::qWait(200);
        QCOMPARE(m_deliveries.size(), 0); // no URL: nothing sent
        QVERIFY(sim.settings({{"webhook_url", receiverUrl()}, {"webhook_duplicate_percent", 100}}));
        QVERIFY(sim.settings({{"webhook_secret_file", secretFile(kSecretB)}}));
        charge(sim, 1, "on-");
        QTRY_COMPARE_WITH_TIMEOUT(m_deliveries.size(), 2, 10000);
        QVERIFY(webhookVerify(m_deliveries[0].signature, m_deliveries[0].body, {kSecretB},
                              QDateTime::currentSecsSinceEpoch())
                    .ok());
        const auto bad = sim.request("POST", QStringLiteral("/admin/settings"),
                                     {{"webhook_url", "ftp://nowhere"}});
        QCOMPARE(bad.first, 400);
        const auto missing = sim.request("POST", QStringLiteral("/admin/settings"),
                                         {{"webhook_secret_file", "/nonexistent/secrets"}});
        QCOMPARE(missing.first, 400);
    }
};

QTEST_GUILESS_MAIN(TestPaySimWebhooks)
#include "tst_paysimwebhooks.moc"
