// Merchant webhooks end to end (issue 19, docs/MERCHANT_WEBHOOKS.md): the real flashsale-server
// (roles api and notify) consumes order events from librdkafka's mock cluster, records them in a
// real PostgreSQL database and POSTs them over HTTPS to a real receiver on loopback
// (tests/webhook/receiver.py: python3 http.server with ssl, a self-signed certificate made here
// with openssl), which verifies every signature with the endpoint's secret as a merchant would.
//
//   shop-a  order.paid, order.cancelled      answers 200
//   shop-b  order.created, order.paid        answers 500 to its first 3 calls; its secret file
//                                            holds a new and an old secret, the receiver only
//                                            the old one (a rotation: every secret signs)
//   shop-c  order.paid                       answers 500 until told otherwise: dead letters
//
// Asserted: each event reaches each subscribed endpoint once with a valid signature and its
// event id; retries after 500s; a dead letter after max attempts (3 here), listed by
// flashsale-ctl, refused to a viewer, replayed by an admin (audited with their name) and then
// delivered; the console panel lists a dead letter and its Replay delivers it; a notify process
// killed with deliveries pending delivers them after its restart, once.

#include "kafka/kafkaclient.h"
#include "protocol/adminclient.h"
#include "rawhttp.h"
#include "testservers.h"
#include "webhookspanel.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QItemSelectionModel>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageBox>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

namespace {

struct Call {
    QString path;
    QString eventId;
    QString bodyId;
    QString type;
    int attempt = 0;
    bool signatureOk = false;
    int status = 0;
};

struct CtlOutput {
    int exitCode = -1;
    QString out;
    QString err;
    QString describe() const {
        return QStringLiteral("exit %1\nstdout:\n%2\nstderr:\n%3").arg(exitCode).arg(out, err);
    }
};

constexpr const char *kAdminName = "hooks-admin";
constexpr const char *kAdminPassword = "hooks-admin-pass-0001";
constexpr const char *kViewerName = "hooks-viewer";
constexpr const char *kViewerPassword = "hooks-viewer-pass-001";

bool writeFile(const QString &path, const QByteArray &content,
               QFileDevice::Permissions perms = QFileDevice::ReadOwner | QFileDevice::WriteOwner) {
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(content) != content.size())
        return false;
    f.close();
    return f.setPermissions(perms);
}

} // namespace

class TestMerchantWebhooks : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    RedisServer m_redis;
    PgDatabase m_db;
    Backend m_backend;
    std::unique_ptr<KafkaMockCluster> m_kafka;
    std::unique_ptr<KafkaProducer> m_producer;
    QProcess m_receiver;
    quint16 m_receiverPort = 0;

    QString path(const QString &name) const { return m_dir.filePath(name); }

    bool startReceiver() {
        QFile::remove(path("port"));
        m_receiver.setProcessChannelMode(QProcess::MergedChannels);
        m_receiver.start(qEnvironmentVariable("FLASHSALE_TEST_PYTHON", QStringLiteral("python3")),
                         {QStringLiteral(FLASHSALE_TEST_WEBHOOK_DIR "/receiver.py"), "--cert",
                          path("cert.pem"), "--key", path("key.pem"), "--port",
                          QString::number(m_receiverPort), "--port-file", path("port"), "--log",
                          path("calls.jsonl"), "--control", path("control.json"), "--secret",
                          "/hooks/a=" + path("receiver-a.secret"), "--secret",
                          "/hooks/b=" + path("receiver-b.secret"), "--secret",
                          "/hooks/c=" + path("receiver-c.secret")});
        if (!m_receiver.waitForStarted(5000))
            return false;
        if (!QTest::qWaitFor([this] { return QFile::exists(path("port")); }, 10000)) {
            qWarning().noquote() << "receiver did not start:" << m_receiver.readAll();
            return false;
        }
        QFile f(path("port"));
        if (!f.open(QIODevice::ReadOnly))
            return false;
        m_receiverPort = quint16(f.readAll().trimmed().toUInt());
        return m_receiverPort != 0;
    }

    void setControl(const QJsonObject &rules) {
        QVERIFY(writeFile(path("control.json"), QJsonDocument(rules).toJson()));
    }

    QHash<QString, QString> backendEnv(int backoffMs, int maxAttempts) const {
        return {{"FLASHSALE_ROLES", "api,notify"},
                {"FLASHSALE_REDIS_URL", m_redis.url()},
                {"FLASHSALE_PG_URL", m_db.url()},
                {"FLASHSALE_KAFKA_BROKERS", m_kafka->bootstraps()},
                {"FLASHSALE_MERCHANT_WEBHOOKS_FILE", path("endpoints.json")},
                {"FLASHSALE_MERCHANT_WEBHOOK_CA_FILE", path("cert.pem")},
                {"FLASHSALE_MERCHANT_WEBHOOK_BACKOFF_MS", QString::number(backoffMs)},
                {"FLASHSALE_MERCHANT_WEBHOOK_MAX_ATTEMPTS", QString::number(maxAttempts)}};
    }

    QList<Call> calls() const {
        QList<Call> out;
        QFile f(path("calls.jsonl"));
        if (!f.open(QIODevice::ReadOnly))
            return out;
        for (const QByteArray &line : f.readAll().split('\n')) {
            const QJsonObject o = QJsonDocument::fromJson(line).object();
            if (o.isEmpty())
                continue;
            out.append({o.value("path").toString(), o.value("event_id").toString(),
                        o.value("body_id").toString(), o.value("type").toString(),
                        o.value("attempt").toString().toInt(), o.value("signature_ok").toBool(),
                        o.value("status").toInt()});
        }
        return out;
    }
    // Calls to `path` for `eventId` answered with `status`.
    int count(const QString &callPath, const QString &eventId, int status) const {
        int n = 0;
        for (const Call &c : calls())
            n += c.path == callPath && c.eventId == eventId && c.status == status ? 1 : 0;
        return n;
    }

    void publish(const char *topic, const QJsonObject &event) {
        int delivered = 0;
        m_producer->produce(topic, QByteArray::number(event.value("order_id").toInteger()),
                            QJsonDocument(event).toJson(QJsonDocument::Compact),
                            [&](const Result<void> &r) { delivered += r ? 1 : 100; });
        QTRY_COMPARE_WITH_TIMEOUT(delivered, 1, 15000);
    }
    static QJsonObject paid(qint64 order) {
        return {{"event_id", QStringLiteral("evt-paid-%1").arg(order)},
                {"order_id", order},
                {"user_id", "alice"},
                {"quantity", 1},
                {"amount_cents", 1999}};
    }

    CtlOutput ctl(const QStringList &args, const char *name, const char *password,
                  const QByteArray &input = {}) {
        const QHash<QString, QString> login =
            name ? QHash<QString, QString>{{"FLASHSALE_OPERATOR", QString::fromLatin1(name)},
                                           {"FLASHSALE_OPERATOR_PASSWORD",
                                            QString::fromLatin1(password)}}
                 : QHash<QString, QString>{
                     {"FLASHSALE_ADMIN_TOKEN", QString::fromLatin1(Backend::kAdminToken)}};
        const ProgramRun run = runProgram(QStringLiteral(FLASHSALE_CTL_BIN),
                                          QStringList{"--url", m_backend.url()} + args, login,
                                          {"FLASHSALE_ADMIN_URL", "FLASHSALE_OPERATOR",
                                           "FLASHSALE_OPERATOR_PASSWORD", "FLASHSALE_ADMIN_TOKEN"},
                                          input, 30000);
        return CtlOutput{run.exitCode, run.out, run.err};
    }

    qint64 metric(const QByteArray &series) {
        const HttpResponse r = http(m_backend.metricsPort(), "GET", "/metrics");
        for (const QByteArray &line : r.body.split('\n'))
            if (line.startsWith(series + ' '))
                return line.mid(series.size() + 1).trimmed().toDouble();
        return -1;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        // A self-signed certificate for 127.0.0.1: the receiver's, and the CA the server trusts.
        QProcess openssl;
        openssl.setProcessChannelMode(QProcess::MergedChannels);
        openssl.start("openssl",
                      {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", path("key.pem"), "-out", path("cert.pem"), "-days", "1",
                       "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
        QVERIFY(openssl.waitForFinished(30000));
        QVERIFY2(openssl.exitCode() == 0, openssl.readAll().constData());

        // shop-b signs with a new and an old secret; its receiver knows only the old one.
        QVERIFY(writeFile(path("a.secret"), "secret-of-shop-a-0123456789\n"));
        QVERIFY(writeFile(path("b.secret"),
                          "new-secret-of-shop-b-987654\nold-secret-of-shop-b-123456\n"));
        QVERIFY(writeFile(path("c.secret"), "secret-of-shop-c-abcdefghij\n"));
        QVERIFY(writeFile(path("receiver-a.secret"), "secret-of-shop-a-0123456789\n"));
        QVERIFY(writeFile(path("receiver-b.secret"), "old-secret-of-shop-b-123456\n"));
        QVERIFY(writeFile(path("receiver-c.secret"), "secret-of-shop-c-abcdefghij\n"));
        setControl({{"/hooks/b", QJsonObject{{"fail_first", 3}}},
                    {"/hooks/c", QJsonObject{{"always_fail", true}}}});
        m_receiverPort = freePort();
        QVERIFY(startReceiver());
        const QString base = QStringLiteral("https://127.0.0.1:%1/hooks/").arg(m_receiverPort);
        const QJsonArray endpoints{
            QJsonObject{{"id", "shop-a"},
                        {"url", base + "a"},
                        {"secret_file", "a.secret"},
                        {"events", QJsonArray{"order.paid", "order.cancelled"}}},
            QJsonObject{{"id", "shop-b"},
                        {"url", base + "b"},
                        {"secret_file", path("b.secret")},
                        {"events", QJsonArray{"order.created", "order.paid"}}},
            QJsonObject{{"id", "shop-c"},
                        {"url", base + "c"},
                        {"secret_file", "c.secret"},
                        {"events", QJsonArray{"order.paid"}}}};
        QVERIFY(writeFile(path("endpoints.json"), QJsonDocument(endpoints).toJson(),
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadGroup
                              | QFileDevice::ReadOther));

        auto k = KafkaMockCluster::create(1, topics::orderLifecycle(), 1);
        QVERIFY2(k.has_value(), k ? "" : qPrintable(k.error().message));
        m_kafka.reset(*k);
        auto p = KafkaProducer::create(m_kafka->bootstraps());
        QVERIFY2(p.has_value(), p ? "" : qPrintable(p.error().message));
        m_producer.reset(*p);
        QVERIFY2(m_redis.start(), qPrintable(m_redis.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start(backendEnv(100, 3)), qPrintable(m_backend.error()));

        for (const auto &[name, role, password] :
             {std::tuple{kAdminName, "admin", kAdminPassword},
              std::tuple{kViewerName, "viewer", kViewerPassword}}) {
            const CtlOutput created =
                ctl({"operator", "create", name, "--role", role, "--new-password-file", "-"},
                    nullptr, nullptr, QByteArray(password) + "\n");
            QVERIFY2(created.exitCode == 0, qPrintable(created.describe()));
        }
    }

    void cleanupTestCase() {
        m_backend.stop();
        stopProcess(m_receiver, 3000);
    }

    // A bad endpoints file stops the notify role at start-up, naming every problem.
    void invalidEndpointsFileIsRefused_data() {
        QTest::addColumn<QByteArray>("file");
        QTest::addColumn<QString>("expected");
        QTest::addRow("not json") << QByteArray("[{") << "is not JSON";
        QTest::addRow("http url") << QByteArray(
            "[{\"id\":\"x\",\"url\":\"http://127.0.0.1:1/h\",\"secret_file\":\"a.secret\","
            "\"events\":[\"order.paid\"]}]")
                                  << "/0/url: must be an https:// URL";
        QTest::addRow("unknown event") << QByteArray(
            "[{\"id\":\"x\",\"url\":\"https://h.example/\",\"secret_file\":\"a.secret\","
            "\"events\":[\"order.shipped\"]}]")
                                       << "/0/events/0: must be one of";
        QTest::addRow("secret readable by others") << QByteArray(
            "[{\"id\":\"x\",\"url\":\"https://h.example/\",\"secret_file\":\"open.secret\","
            "\"events\":[\"order.paid\"]}]") << "readable by group or others";
        QTest::addRow("duplicate id") << QByteArray(
            "[{\"id\":\"x\",\"url\":\"https://h.example/\",\"secret_file\":\"a.secret\","
            "\"events\":[\"order.paid\"]},"
            "{\"id\":\"x\",\"url\":\"https://h.example/\",\"secret_file\":\"a.secret\","
            "\"events\":[\"order.paid\"]}]")
                                      << "/1/id: \"x\" is used twice";
    }
    void invalidEndpointsFileIsRefused() {
        QFETCH(QByteArray, file);
        QFETCH(QString, expected);
        QVERIFY(
            writeFile(path("open.secret"), "secret-readable-by-all-000\n",
                      QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadOther));
        QVERIFY(writeFile(path("bad-endpoints.json"), file));
        QProcess server;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        auto vars = backendEnv(100, 3);
        vars["FLASHSALE_MERCHANT_WEBHOOKS_FILE"] = path("bad-endpoints.json");
        for (auto it = vars.constBegin(); it != vars.constEnd(); ++it)
            env.insert(it.key(), it.value());
        server.setProcessEnvironment(env);
        server.start(Backend::binary(), {"--port", "0"});
        QVERIFY(server.waitForFinished(30000));
        const QString err = QString::fromUtf8(server.readAllStandardError());
        QCOMPARE(server.exitCode(), 2);
        QVERIFY2(err.contains(expected), qPrintable(err));
        QVERIFY2(!err.contains("secret-"), qPrintable(err)); // no secret in the message
    }

    void eachEventReachesEachEndpointOnceSigned() {
        publish(topics::kOrderCreated, {{"event_id", "evt-created-1001"},
                                        {"order_id", 1001},
                                        {"user_id", "alice"},
                                        {"quantity", 1},
                                        {"amount_cents", 1999}});
        publish(topics::kOrderPaid, paid(1001));
        publish(topics::kOrderCancelled, {{"event_id", "evt-cancelled-1002"},
                                          {"order_id", 1002},
                                          {"user_id", "bob"},
                                          {"reason", "payment_declined"}});

        // shop-a: paid and cancelled; shop-b: created and paid (after three 500s).
        QTRY_COMPARE_WITH_TIMEOUT(m_db.scalar("SELECT count(*) FROM merchant_webhook_deliveries "
                                              "WHERE status = 'delivered'"),
                                  QByteArray("4"), 30000);
        QCOMPARE(count("/hooks/a", "evt-paid-1001", 200), 1);
        QCOMPARE(count("/hooks/a", "evt-cancelled-1002", 200), 1);
        QCOMPARE(count("/hooks/a", "evt-created-1001", 200), 0); // not subscribed
        QCOMPARE(count("/hooks/b", "evt-created-1001", 200), 1);
        QCOMPARE(count("/hooks/b", "evt-paid-1001", 200), 1);
        QCOMPARE(count("/hooks/b", "evt-cancelled-1002", 200), 0);
        int bFailures = 0;
        for (const Call &c : calls()) {
            QVERIFY2(c.signatureOk, qPrintable(c.path + " " + c.eventId));
            QCOMPARE(c.bodyId, c.eventId); // the header names the body's event
            if (c.path == "/hooks/b")
                bFailures += c.status == 500 ? 1 : 0;
        }
        QCOMPARE(bFailures, 3);
        // A delivery that failed says so in its attempt number.
        QCOMPARE(m_db.scalar("SELECT sum(attempts) FROM merchant_webhook_deliveries WHERE "
                             "endpoint_id = 'shop-b'"),
                 QByteArray("5"));

        // shop-c never answers 2xx: three attempts, then the dead-letter list.
        QTRY_COMPARE_WITH_TIMEOUT(
            m_db.scalar("SELECT attempts || ' ' || last_error FROM merchant_webhook_deliveries "
                        "WHERE endpoint_id = 'shop-c' AND status = 'dead'"),
            QByteArray("3 HTTP 500"), 30000);
        QCOMPARE(count("/hooks/c", "evt-paid-1001", 500), 3);
        QTRY_COMPARE_WITH_TIMEOUT(metric("flashsale_merchant_webhook_dead_letters"), qint64(1),
                                  10000);
        QCOMPARE(metric("flashsale_merchant_webhook_deliveries_total{result=\"delivered\"}"), 4);
        QCOMPARE(metric("flashsale_merchant_webhook_deliveries_total{result=\"retry\"}"), 5);
        QCOMPARE(metric("flashsale_merchant_webhook_deliveries_total{result=\"dead\"}"), 1);
    }

    void deadLetterIsListedAndReplayedByAnAdmin() {
        const CtlOutput list = ctl({"webhooks", "list"}, kViewerName, kViewerPassword);
        QVERIFY2(list.exitCode == 0, qPrintable(list.describe()));
        static const QRegularExpression shopC(
            QStringLiteral("shop-c +https://127.0.0.1:\\d+/hooks/c +order.paid +yes +0 +0 +1"));
        QVERIFY2(shopC.match(list.out).hasMatch(), qPrintable(list.out));

        const CtlOutput dead =
            ctl({"--json", "webhooks", "deadletters"}, kViewerName, kViewerPassword);
        QVERIFY2(dead.exitCode == 0, qPrintable(dead.describe()));
        const QJsonArray letters =
            QJsonDocument::fromJson(dead.out.toUtf8()).object().value("dead_letters").toArray();
        QCOMPARE(letters.size(), 1);
        const QJsonObject letter = letters.first().toObject();
        QCOMPARE(letter.value("endpoint_id").toString(), QStringLiteral("shop-c"));
        QCOMPARE(letter.value("event_id").toString(), QStringLiteral("evt-paid-1001"));
        QCOMPARE(letter.value("last_error").toString(), QStringLiteral("HTTP 500"));
        const QString id = QString::number(letter.value("id").toInteger());

        // A viewer may look but not replay.
        const CtlOutput refused = ctl({"webhooks", "replay", id}, kViewerName, kViewerPassword);
        QCOMPARE(refused.exitCode, 1);
        QVERIFY2(refused.err.contains("forbidden"), qPrintable(refused.describe()));

        setControl({}); // shop-c is back
        const CtlOutput replayed = ctl({"webhooks", "replay", id}, kAdminName, kAdminPassword);
        QVERIFY2(replayed.exitCode == 0, qPrintable(replayed.describe()));
        QVERIFY2(replayed.out.startsWith("replayed 1 delivery: " + id), qPrintable(replayed.out));
        QTRY_COMPARE_WITH_TIMEOUT(count("/hooks/c", "evt-paid-1001", 200), 1, 20000);
        QTRY_COMPARE_WITH_TIMEOUT(
            m_db.scalar(
                "SELECT status || ' ' || replays FROM merchant_webhook_deliveries WHERE id = "
                + id.toUtf8()),
            QByteArray("delivered 1"), 10000);
        QCOMPARE(m_db.scalar("SELECT actor || ' ' || (detail->>'replayed') FROM audit_log WHERE "
                             "action = 'webhooks.replay'"),
                 QByteArray(kAdminName) + " 1");
        QTRY_COMPARE_WITH_TIMEOUT(metric("flashsale_merchant_webhook_dead_letters"), qint64(0),
                                  10000);
        // Nothing left to replay: a second replay of the same id is not found.
        const CtlOutput again = ctl({"webhooks", "replay", id}, kAdminName, kAdminPassword);
        QCOMPARE(again.exitCode, 1);
        QVERIFY2(again.err.contains("not-found"), qPrintable(again.describe()));
    }

    void consolePanelReplaysADeadLetter() {
        setControl({{"/hooks/c", QJsonObject{{"always_fail", true}}}});
        publish(topics::kOrderPaid, paid(1003));
        QTRY_COMPARE_WITH_TIMEOUT(m_db.scalar("SELECT count(*) FROM merchant_webhook_deliveries "
                                              "WHERE status = 'dead'"),
                                  QByteArray("1"), 30000);

        admin::AdminClient client;
        client.open(QUrl(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(m_backend.port())),
                    {QString::fromLatin1(kAdminName), QString::fromLatin1(kAdminPassword), {}});
        QTRY_VERIFY_WITH_TIMEOUT(client.state() == admin::AdminClient::State::Connected, 10000);
        console::WebhooksPanel panel(&client);
        panel.resize(1100, 600);
        panel.show();
        panel.refresh();
        QTRY_COMPARE_WITH_TIMEOUT(panel.deadLetters()->rowCount(), 1, 10000);
        QCOMPARE(panel.deadLetters()->item(0, console::WebhooksPanel::Event)->text(),
                 QStringLiteral("evt-paid-1003"));
        QCOMPARE(panel.deadLetters()->item(0, console::WebhooksPanel::LastError)->text(),
                 QStringLiteral("HTTP 500"));
        QTRY_COMPARE(panel.endpoints()->rowCount(), 3);
        QVERIFY(!panel.replayButton()->isEnabled()); // nothing selected yet

        // For a look at the panel under Xvfb (QT_QPA_PLATFORM=xcb): hold it on screen this long,
        // for `import -window root` from outside.
        if (const int holdMs = qEnvironmentVariableIntValue("FLASHSALE_TEST_HOLD_PANEL_MS")) {
            qInfo("holding the webhooks panel on screen for %d ms", holdMs);
            QTest::qWait(holdMs);
        }

        setControl({});
        panel.deadLetterView()->selectRow(0);
        QVERIFY(panel.replayButton()->isEnabled());
        panel.replayButton()->click();
        QMessageBox *box = nullptr;
        QTRY_VERIFY((box = panel.findChild<QMessageBox *>("confirmBox")) != nullptr);
        box->button(QMessageBox::Yes)->click();
        QTRY_COMPARE_WITH_TIMEOUT(count("/hooks/c", "evt-paid-1003", 200), 1, 20000);
        QTRY_COMPARE_WITH_TIMEOUT(panel.deadLetters()->rowCount(), 0, 10000);
    }

    void pendingDeliveriesSurviveARestart() {
        // The receiver is down: shop-a's delivery fails (connection refused) and waits 1-2 s.
        stopProcess(m_receiver, 3000);
        m_backend.stop();
        QVERIFY2(m_backend.start(backendEnv(2000, 8)), qPrintable(m_backend.error()));
        publish(topics::kOrderPaid, paid(1004));
        QTRY_VERIFY_WITH_TIMEOUT(
            m_db.scalar("SELECT attempts >= 1 AND last_error LIKE 'unavailable%' FROM "
                        "merchant_webhook_deliveries WHERE endpoint_id = 'shop-a' AND event_id = "
                        "'evt-paid-1004' AND status = 'pending'")
                == "t",
            20000);
        // Killed with deliveries pending (no chance to finish anything), then started again
        // with the receiver back: every pending delivery arrives, once.
        m_backend.kill();
        QCOMPARE(m_db.scalar("SELECT count(*) FROM merchant_webhook_deliveries WHERE event_id = "
                             "'evt-paid-1004' AND status = 'pending'"),
                 QByteArray("3"));
        QVERIFY(startReceiver());
        QVERIFY2(m_backend.start(backendEnv(2000, 8)), qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(m_db.scalar("SELECT count(*) FROM merchant_webhook_deliveries "
                                              "WHERE event_id = 'evt-paid-1004' AND status = "
                                              "'delivered'"),
                                  QByteArray("3"), 40000);
        for (const char *p : {"/hooks/a", "/hooks/b", "/hooks/c"})
            QCOMPARE(count(p, "evt-paid-1004", 200), 1);
        // One row per (endpoint, event) over the whole suite, redeliveries included: created-1001
        // (b), paid-1001, -1003 and -1004 (a, b, c each), cancelled-1002 (a).
        QCOMPARE(m_db.scalar("SELECT count(*) FROM merchant_webhook_deliveries"), QByteArray("11"));
    }

    // A figure, not a timed test: FLASHSALE_TEST_WEBHOOK_BENCH=N sends N order.paid events (to
    // shop-a, shop-b and shop-c: 3N deliveries) and prints how long the deliveries took.
    void deliveryRateFigure() {
        const int n = qEnvironmentVariableIntValue("FLASHSALE_TEST_WEBHOOK_BENCH");
        if (n <= 0)
            QSKIP("set FLASHSALE_TEST_WEBHOOK_BENCH=N to measure");
        const QByteArray before =
            m_db.scalar("SELECT count(*) FROM merchant_webhook_deliveries WHERE status = "
                        "'delivered'");
        QElapsedTimer clock;
        clock.start();
        int produced = 0;
        for (int i = 0; i < n; ++i)
            m_producer->produce(topics::kOrderPaid, QByteArray::number(200000 + i),
                                QJsonDocument(paid(200000 + i)).toJson(QJsonDocument::Compact),
                                [&](const Result<void> &r) { produced += r ? 1 : 0; });
        QTRY_COMPARE_WITH_TIMEOUT(produced, n, 60000);
        const QByteArray expected = QByteArray::number(before.toLongLong() + 3 * n);
        QTRY_COMPARE_WITH_TIMEOUT(
            m_db.scalar("SELECT count(*) FROM merchant_webhook_deliveries WHERE status = "
                        "'delivered'"),
            expected, 600000);
        const double seconds = clock.elapsed() / 1000.0;
        qInfo("%d deliveries (3 endpoints, one python receiver over TLS) in %.1f s: %.0f/s", 3 * n,
              seconds, 3 * n / seconds);
    }
};

QTEST_MAIN(TestMerchantWebhooks)
#include "tst_merchantwebhooks.moc"
