// Many buyers at once: 200 concurrent keep-alive clients send 5,000 booking requests for a
// stock of 1,000 with a per-user cap. Exactly the stock is sold, no user passes the cap, and
// the stream the worker reads holds exactly one entry per accepted booking.

#include "booking/salekeys.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

class TestConcurrency : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()}}),
                 qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_backend.port(), "GET", "/readyz").status, 200, 10000);
    }

    void burst_data() {
        QTest::addColumn<int>("clients");
        QTest::addColumn<int>("requests");
        QTest::addColumn<int>("stock");
        QTest::addColumn<int>("users");
        QTest::addColumn<int>("limit");
        QTest::addColumn<int>("quantityMax"); // each request asks 1..quantityMax units

        // Stock binds: 700 users x 2 could take 1,400.
        QTest::addRow("stock-bound") << 200 << 5000 << 1000 << 700 << 2 << 1;
        // The cap binds for heavy users, stock for the rest; quantities above 1.
        QTest::addRow("cap-bound, multi-unit") << 200 << 5000 << 1000 << 300 << 5 << 3;
    }

    void burst() {
        QFETCH(int, clients);
        QFETCH(int, requests);
        QFETCH(int, stock);
        QFETCH(int, users);
        QFETCH(int, limit);
        QFETCH(int, quantityMax);
        const quint16 port = m_backend.port();

        const QDateTime now = QDateTime::currentDateTimeUtc();
        const HttpResponse created =
            postJson(port, "/api/v1/admin/sales",
                     QJsonObject{{"name", "Burst"},
                                 {"stock", stock},
                                 {"per_user_limit", limit},
                                 {"price_cents", 100},
                                 {"admission_rate", 0},
                                 {"starts_at", now.addSecs(-1).toString(Qt::ISODate)},
                                 {"ends_at", now.addSecs(3600).toString(Qt::ISODate)}},
                     Backend::kAdminToken);
        QCOMPARE(created.status, 201);
        const qint64 sale = created.json().value(QStringLiteral("id")).toInteger();
        const QByteArray path = "/api/v1/sales/" + QByteArray::number(sale) + "/book";

        QList<QByteArray> raw;
        QList<QByteArray> userOf;
        QList<int> qtyOf;
        for (int i = 0; i < requests; ++i) {
            userOf << "user-" + QByteArray::number(i % users);
            qtyOf << 1 + (i * 7919) % quantityMax;
            raw << RawHttpConnection::format("POST", path,
                                             "{\"user_id\":\"" + userOf.last() + "\",\"quantity\":"
                                                 + QByteArray::number(qtyOf.last()) + "}",
                                             {});
        }
        const QList<HttpResponse> answers = sendAll(port, raw, clients);

        QHash<int, int> statusCount;
        QHash<QString, int> typeCount;
        QHash<QByteArray, qint64> unitsByUser;
        QSet<QString> reservations;
        qint64 unitsAccepted = 0;
        for (qsizetype i = 0; i < answers.size(); ++i) {
            const HttpResponse &r = answers[i];
            ++statusCount[r.status];
            if (r.status == 202) {
                unitsAccepted += qtyOf[i];
                unitsByUser[userOf[i]] += qtyOf[i];
                reservations.insert(r.json().value(QStringLiteral("reservation_id")).toString());
            } else {
                ++typeCount[r.problemType()];
            }
        }

        // I1: exactly the stock was sold, never more.
        QCOMPARE(unitsAccepted, qint64(stock));
        // Every answer is an acceptance or a clean refusal.
        for (auto it = statusCount.constBegin(); it != statusCount.constEnd(); ++it)
            QVERIFY2(it.key() == 202 || it.key() == 409,
                     qPrintable(QStringLiteral("status %1").arg(it.key())));
        for (auto it = typeCount.constBegin(); it != typeCount.constEnd(); ++it)
            QVERIFY2(it.key() == QLatin1String("/problems/sold-out")
                         || it.key() == QLatin1String("/problems/per-user-limit")
                         || it.key() == QLatin1String("/problems/insufficient-stock"),
                     qPrintable(it.key()));
        // I2: no user above the cap, by the answers and by Redis' own count.
        RedisSync redis(m_redisServer.port());
        const SaleKeys k(sale);
        qint64 redisUnits = 0;
        for (auto it = unitsByUser.constBegin(); it != unitsByUser.constEnd(); ++it) {
            QVERIFY2(it.value() <= limit, it.key().constData());
            QCOMPARE(redis.integer({"HGET", k.users(), it.key()}), it.value());
            redisUnits += it.value();
        }
        QCOMPARE(redisUnits, qint64(stock));
        QCOMPARE(redis.integer({"HLEN", k.users()}), qint64(unitsByUser.size()));
        // One stream entry per accepted booking, each with its own reservation id.
        QCOMPARE(redis.integer({"XLEN", k.stream()}), qint64(statusCount.value(202)));
        QCOMPARE(qint64(reservations.size()), qint64(statusCount.value(202)));
        const HttpResponse view = http(port, "GET", "/api/v1/sales/" + QByteArray::number(sale));
        QCOMPARE(view.json().value(QStringLiteral("remaining")).toInt(), 0);
        qInfo("%d requests: %d accepted, %d refused", requests, statusCount.value(202),
              statusCount.value(409));
    }
};

QTEST_GUILESS_MAIN(TestConcurrency)
#include "tst_concurrency.moc"
