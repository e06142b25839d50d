// The merchant webhook rules with no server (webhook/merchantendpoints.h): the endpoints file
// (every refusal names its member), the body merchants receive, and the retry schedule.

#include "webhook/merchantendpoints.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

using namespace flashsale;
using namespace std::chrono_literals;

class TestMerchantEndpoints : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;

    QString write(const QString &name, const QByteArray &content,
                  QFileDevice::Permissions perms = QFileDevice::ReadOwner
                                                   | QFileDevice::WriteOwner) {
        QFile f(m_dir.filePath(name));
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return {};
        f.write(content);
        f.close();
        f.setPermissions(perms);
        return f.fileName();
    }

private Q_SLOTS:
    void initTestCase() {
        write("good.secret", "current-secret-0123456789\nprevious-secret-0123456789\n");
        write("short.secret", "tooshort\n");
        write("empty.secret", "\n\n");
        write("open.secret", "secret-readable-by-group-0\n",
              QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadGroup);
    }

    void validFileIsRead() {
        const QString path = write(
            "ok.json", "{\"endpoints\": ["
                       "{\"id\": \"shop-a\", \"url\": \"https://hooks.shop-a.example/fs?x=1\","
                       "\"secret_file\": \"good.secret\", \"events\": [\"order.paid\", "
                       "\"order.cancelled\"]}]}");
        const auto e = merchantEndpointsLoad(path);
        QVERIFY2(e.has_value(), e ? "" : qPrintable(e.error().message));
        QCOMPARE(e->size(), 1);
        QCOMPARE(e->first().id, QStringLiteral("shop-a"));
        QCOMPARE(e->first().url, QByteArray("https://hooks.shop-a.example/fs?x=1"));
        QCOMPARE(e->first().secrets,
                 QList<QByteArray>({"current-secret-0123456789", "previous-secret-0123456789"}));
        QVERIFY(e->first().subscribes("order.paid"));
        QVERIFY(!e->first().subscribes("order.created"));
        QVERIFY(merchantEndpointsLoad(write("none.json", "[]"))->isEmpty());
    }

    void invalidFileIsRefused_data() {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("expected");
        const auto one = [](const char *member) {
            return QByteArray("[{\"id\":\"a\",\"url\":\"https://h.example/"
                              "\",\"secret_file\":\"good.secret\",")
                   + member + "}]";
        };
        QTest::addRow("not json") << QByteArray("{") << "is not JSON";
        QTest::addRow("not a list") << QByteArray("{\"id\":\"a\"}") << "must hold a JSON array";
        QTest::addRow("not an object") << QByteArray("[1]") << "/0: must be an object";
        QTest::addRow("http") << QByteArray(
            "[{\"id\":\"a\",\"url\":\"http://127.0.0.1/"
            "\",\"secret_file\":\"good.secret\",\"events\":[\"order.paid\"]}]")
                              << "/0/url: must be an https:// URL";
        QTest::addRow("password in url")
            << QByteArray("[{\"id\":\"a\",\"url\":\"https://u:p@h.example/"
                          "\",\"secret_file\":\"good.secret\",\"events\":[\"order.paid\"]}]")
            << "/0/url: must not hold a user or password";
        QTest::addRow("bad id") << QByteArray(
            "[{\"id\":\"A "
            "b\",\"url\":\"https://h.example/"
            "\",\"secret_file\":\"good.secret\",\"events\":[\"order.paid\"]}]")
                                << "/0/id: must be 1-64";
        QTest::addRow("no events") << one("\"events\":[]") << "/0/events: must be a non-empty";
        QTest::addRow("unknown event")
            << one("\"events\":[\"order.shipped\"]") << "/0/events/0: must be one of";
        QTest::addRow("event twice") << one("\"events\":[\"order.paid\",\"order.paid\"]")
                                     << "/0/events/1: \"order.paid\" is listed twice";
        QTest::addRow("unknown member")
            << one("\"events\":[\"order.paid\"],\"secret\":\"x\"") << "/0/secret: unknown member";
        QTest::addRow("missing secret file")
            << QByteArray("[{\"id\":\"a\",\"url\":\"https://h.example/"
                          "\",\"secret_file\":\"nope.secret\",\"events\":[\"order.paid\"]}]")
            << "/0/secret_file: cannot read";
        QTest::addRow("secret readable by group")
            << QByteArray("[{\"id\":\"a\",\"url\":\"https://h.example/"
                          "\",\"secret_file\":\"open.secret\",\"events\":[\"order.paid\"]}]")
            << "readable by group or others";
        QTest::addRow("short secret")
            << QByteArray("[{\"id\":\"a\",\"url\":\"https://h.example/"
                          "\",\"secret_file\":\"short.secret\",\"events\":[\"order.paid\"]}]")
            << "at least 16 bytes";
        QTest::addRow("empty secret")
            << QByteArray("[{\"id\":\"a\",\"url\":\"https://h.example/"
                          "\",\"secret_file\":\"empty.secret\",\"events\":[\"order.paid\"]}]")
            << "holds no secret";
    }
    void invalidFileIsRefused() {
        QFETCH(QByteArray, content);
        QFETCH(QString, expected);
        const auto e = merchantEndpointsLoad(write("bad.json", content));
        QVERIFY(!e.has_value());
        QCOMPARE(e.error().code, ErrorCode::Invalid);
        QVERIFY2(e.error().message.contains(expected), qPrintable(e.error().message));
        QVERIFY2(!e.error().message.contains("0123456789"), qPrintable(e.error().message));
    }

    void everyProblemIsNamedAtOnce() {
        const auto e = merchantEndpointsLoad(
            write("two.json", "["
                              "{\"id\":\"a\",\"url\":\"ftp://h/"
                              "\",\"secret_file\":\"good.secret\",\"events\":[\"order.paid\"]},"
                              "{\"id\":\"a\",\"url\":\"https://h.example/"
                              "\",\"secret_file\":\"good.secret\",\"events\":[\"x\"]}]"));
        QVERIFY(!e.has_value());
        for (const char *part : {"/0/url", "/1/id", "/1/events/0"})
            QVERIFY2(e.error().message.contains(QLatin1String(part)),
                     qPrintable(e.error().message));
    }

    void bodyWrapsTheEvent() {
        const QJsonObject event{{"event_id", "order.paid:1-0"}, {"order_id", 7}};
        const QByteArray body = merchantWebhookBody("order.paid:1-0", "order.paid", 1234, event);
        QCOMPARE(body,
                 QByteArray("{\"created_ms\":1234,\"data\":{\"event_id\":\"order.paid:1-0\","
                            "\"order_id\":7},\"id\":\"order.paid:1-0\",\"type\":\"order.paid\"}"));
    }

    void backoffDoublesIsCappedAndJittered_data() {
        QTest::addColumn<int>("attempt");
        QTest::addColumn<double>("unit");
        QTest::addColumn<qint64>("expectedMs");
        QTest::addRow("first, no jitter") << 1 << 1.0 << qint64(5000);
        QTest::addRow("first, most jitter") << 1 << 0.0 << qint64(2500);
        QTest::addRow("second") << 2 << 1.0 << qint64(10000);
        QTest::addRow("seventh") << 7 << 1.0 << qint64(320000);
        QTest::addRow("capped") << 20 << 1.0 << qint64(3600000);
        QTest::addRow("capped, jittered") << 40 << 0.5 << qint64(2700000);
        QTest::addRow("huge attempt") << 1000000 << 1.0 << qint64(3600000);
    }
    void backoffDoublesIsCappedAndJittered() {
        QFETCH(int, attempt);
        QFETCH(double, unit);
        QFETCH(qint64, expectedMs);
        QCOMPARE(qint64(merchantWebhookBackoff(attempt, 5s, 1h, unit).count()), expectedMs);
    }
};

QTEST_GUILESS_MAIN(TestMerchantEndpoints)
#include "tst_merchantendpoints.moc"
