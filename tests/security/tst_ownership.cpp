// Owner-only reads (issue 15, deliverable 4), as an attacker tries them against the real
// flashsale-server with real redis-server and PostgreSQL: reading someone else's reservation, or
// confirming someone else's hold, with no token, with another buyer's token, in dev mode, or by
// guessing ids. Each is refused with the same 404 a reservation that does not exist gets, and
// the hold is left as it was; the owner alone gets 200 (read) or 202 (purchase).
//
// Two API processes share Redis and PostgreSQL: one in dev mode (FLASHSALE_DEV_USER_IDS=1, which
// issues tokens through POST /api/v1/dev/tokens and must not skip the check), one without.

#include "booking/salekeys.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSet>
#include <QTest>
#include <QUrl>

using namespace flashsale;
using namespace flashsale::test;

using Headers = QList<QPair<QByteArray, QByteArray>>;
Q_DECLARE_METATYPE(Headers)

namespace {

// How the attacker presents the code to POST /purchase.
enum class CodeIn { Query, JsonBody, FormBody, Header };

} // namespace
Q_DECLARE_METATYPE(CodeIn)

class TestOwnership : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_dev;  // dev mode on
    Backend m_prod; // dev mode off
    std::unique_ptr<RedisSync> m_redis;
    qint64 m_sale = 0;
    qint64 m_item = 0;
    int m_keys = 0;

    quint16 port(bool dev) const { return dev ? m_dev.port() : m_prod.port(); }

    // A buyer token for `user`, issued by the dev-mode server (both servers share its secret).
    QByteArray token(const QByteArray &user) {
        const HttpResponse r = postJson(m_dev.port(), "/api/v1/dev/tokens",
                                        QJsonObject{{"user_id", QString::fromUtf8(user)}});
        if (r.status != 201)
            qWarning("dev token: %d %s", r.status, r.body.constData());
        return r.json().value(QStringLiteral("token")).toString().toUtf8();
    }

    Headers auth(const QByteArray &user) { return {{"Authorization", "Bearer " + token(user)}}; }

    // A hold of one unit for `user`, booked with the user's own token; its reservation id.
    QByteArray hold(const QByteArray &user) {
        Headers h = auth(user);
        h.append(qMakePair(QByteArray("Idempotency-Key"), "k" + QByteArray::number(++m_keys)));
        const HttpResponse r =
            postJson(m_prod.port(), "/api/v1/sales/" + QByteArray::number(m_sale) + "/book",
                     QJsonObject{{"item_id", m_item}}, {}, h);
        if (r.status != 202)
            qWarning("book: %d %s", r.status, r.body.constData());
        return r.json().value(QStringLiteral("reservation_id")).toString().toUtf8();
    }

    QByteArray holdStatus(const QByteArray &rid) {
        return m_redis->hash(SaleKeys(m_sale).reservation(rid)).value("status");
    }

    // What a refusal must look like: the problem of an unknown reservation, nothing about it.
    static void verifyNotFound(const HttpResponse &r) {
        QCOMPARE(r.status, 404);
        QCOMPARE(r.headers.value("content-type"), QByteArray("application/problem+json"));
        QCOMPARE(r.json().value(QStringLiteral("type")).toString(),
                 QStringLiteral("/problems/reservation-not-found"));
        for (const char *leak : {"user_id", "amount_cents", "order_id", "item_id", "quantity"})
            QVERIFY2(!r.json().contains(QLatin1String(leak)), leak);
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        const QHash<QString, QString> common{{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                             {"FLASHSALE_PG_URL", m_db.url()}};
        QVERIFY2(m_dev.start(common), qPrintable(m_dev.error()));
        QHash<QString, QString> prod = common;
        prod.insert(QStringLiteral("FLASHSALE_DEV_USER_IDS"), QStringLiteral("0"));
        QVERIFY2(m_prod.start(prod), qPrintable(m_prod.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QTRY_COMPARE_WITH_TIMEOUT(http(m_dev.port(), "GET", "/readyz").status, 200, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(http(m_prod.port(), "GET", "/readyz").status, 200, 10000);

        const HttpResponse r = postJson(
            m_dev.port(), "/api/v1/admin/sales",
            QJsonObject{{"name", "Ownership"},
                        {"per_user_limit", 100},
                        {"starts_at", rfc3339(-1000)},
                        {"ends_at", rfc3339(3600000)},
                        {"items", QJsonArray{QJsonObject{
                                      {"name", "Ticket"}, {"stock", 1000}, {"price_cents", 500}}}}},
            Backend::kAdminToken);
        QCOMPARE(r.status, 201);
        m_sale = r.json().value(QStringLiteral("id")).toInteger();
        m_item = r.json()
                     .value(QStringLiteral("items"))
                     .toArray()
                     .at(0)
                     .toObject()
                     .value(QStringLiteral("id"))
                     .toInteger();
        QVERIFY(m_sale > 0 && m_item > 0);
    }

    // GET /api/v1/reservations/{id}: alice's hold, read by everyone but alice.
    void readReservation_data() {
        QTest::addColumn<bool>("dev");
        QTest::addColumn<QByteArray>("caller"); // "" = no Authorization header
        QTest::addColumn<bool>("guessId");      // another id of the same sale, well formed
        QTest::addColumn<int>("status");

        QTest::addRow("no token") << false << QByteArray() << false << 404;
        QTest::addRow("another buyer's token") << false << QByteArray("mallory") << false << 404;
        QTest::addRow("dev mode without token") << true << QByteArray() << false << 404;
        QTest::addRow("dev mode, another buyer's token")
            << true << QByteArray("mallory") << false << 404;
        QTest::addRow("guessed id, with a token") << false << QByteArray("alice") << true << 404;
        QTest::addRow("guessed id, dev mode without token") << true << QByteArray() << true << 404;
        QTest::addRow("the owner") << false << QByteArray("alice") << false << 200;
        QTest::addRow("the owner, dev mode") << true << QByteArray("alice") << false << 200;
    }

    void readReservation() {
        QFETCH(bool, dev);
        QFETCH(QByteArray, caller);
        QFETCH(bool, guessId);
        QFETCH(int, status);
        const QByteArray rid = hold("alice");
        QVERIFY(!rid.isEmpty());
        // A guess differs from a real id in its random part only.
        const QByteArray id =
            guessId ? QByteArray::number(m_sale) + '-' + QByteArray(32, 'a') : rid;
        const Headers headers = caller.isEmpty() ? Headers{} : auth(caller);
        const HttpResponse r = http(port(dev), "GET", "/api/v1/reservations/" + id, {}, headers);
        if (status == 404) {
            verifyNotFound(r);
            return;
        }
        QCOMPARE(r.status, 200);
        QCOMPARE(r.json().value(QStringLiteral("user_id")).toString(), QStringLiteral("alice"));
        QCOMPARE(r.json().value(QStringLiteral("reservation_id")).toString().toUtf8(), rid);
        QCOMPARE(r.json().value(QStringLiteral("amount_cents")).toInt(), 500);
    }

    // A token that is bad in itself is refused before anything is looked up: 401, and the
    // answer is the same whether the id exists or not.
    void forgedTokenIsRefusedAlike() {
        const QByteArray rid = hold("alice");
        const Headers forged{{"Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged"}};
        const HttpResponse real =
            http(m_prod.port(), "GET", "/api/v1/reservations/" + rid, {}, forged);
        const HttpResponse guess =
            http(m_prod.port(), "GET",
                 "/api/v1/reservations/" + QByteArray::number(m_sale) + '-' + QByteArray(32, 'b'),
                 {}, forged);
        QCOMPARE(real.status, 401);
        QCOMPARE(guess.status, real.status);
        auto withoutInstance = [](QJsonObject o) {
            o.remove(QStringLiteral("instance")); // the path asked for, echoed
            return o;
        };
        QCOMPARE(real.json().value(QStringLiteral("type")).toString(),
                 QStringLiteral("/problems/invalid-token"));
        QCOMPARE(withoutInstance(guess.json()), withoutInstance(real.json()));
    }

    // POST /purchase: confirming alice's hold.
    void purchase_data() {
        QTest::addColumn<bool>("dev");
        QTest::addColumn<QByteArray>("caller");
        QTest::addColumn<bool>("guessCode");
        QTest::addColumn<CodeIn>("codeIn");
        QTest::addColumn<int>("status");

        QTest::addRow("no token") << false << QByteArray() << false << CodeIn::JsonBody << 404;
        QTest::addRow("another buyer's token")
            << false << QByteArray("mallory") << false << CodeIn::JsonBody << 404;
        QTest::addRow("another buyer's token, seed's ?code=")
            << false << QByteArray("mallory") << false << CodeIn::Query << 404;
        QTest::addRow("dev mode without token")
            << true << QByteArray() << false << CodeIn::Query << 404;
        QTest::addRow("dev mode, another buyer's token")
            << true << QByteArray("mallory") << false << CodeIn::Header << 404;
        QTest::addRow("guessed code")
            << false << QByteArray("alice") << true << CodeIn::JsonBody << 404;
        QTest::addRow("the owner, code in a JSON body")
            << false << QByteArray("alice") << false << CodeIn::JsonBody << 202;
        QTest::addRow("the owner, code in a form body")
            << false << QByteArray("alice") << false << CodeIn::FormBody << 202;
        QTest::addRow("the owner, code in X-Checkout-Code")
            << false << QByteArray("alice") << false << CodeIn::Header << 202;
        QTest::addRow("the owner, seed's ?code=, dev mode")
            << true << QByteArray("alice") << false << CodeIn::Query << 202;
    }

    void purchase() {
        QFETCH(bool, dev);
        QFETCH(QByteArray, caller);
        QFETCH(bool, guessCode);
        QFETCH(CodeIn, codeIn);
        QFETCH(int, status);
        const QByteArray rid = hold("alice");
        QVERIFY(!rid.isEmpty());
        const QByteArray code =
            guessCode ? QByteArray::number(m_sale) + '-' + QByteArray(32, 'c') : rid;
        Headers headers = caller.isEmpty() ? Headers{} : auth(caller);
        QByteArray path = "/purchase";
        QByteArray body;
        switch (codeIn) {
        case CodeIn::Query:
            path += "?code=" + code;
            break;
        case CodeIn::JsonBody:
            body = QJsonDocument(QJsonObject{{"code", QString::fromUtf8(code)}}).toJson();
            headers.append(qMakePair(QByteArray("Content-Type"), QByteArray("application/json")));
            break;
        case CodeIn::FormBody:
            body = "code=" + QUrl::toPercentEncoding(QString::fromUtf8(code));
            headers.append(qMakePair(QByteArray("Content-Type"),
                                     QByteArray("application/x-www-form-urlencoded")));
            break;
        case CodeIn::Header:
            headers.append(qMakePair(QByteArray("X-Checkout-Code"), code));
            break;
        }
        const HttpResponse r = http(port(dev), "POST", path, body, headers);
        if (status == 404) {
            verifyNotFound(r);
            QCOMPARE(holdStatus(rid), QByteArray("held")); // not confirmed for anyone
            return;
        }
        QCOMPARE(r.status, 202);
        QCOMPARE(r.json().value(QStringLiteral("status")).toString(), QStringLiteral("confirmed"));
        QCOMPARE(holdStatus(rid), QByteArray("confirmed"));
    }

    // Reservation ids (and so checkout codes) carry 128 random bits: no two alike, and no
    // structure shared between consecutive ones that a guesser could use.
    void idsAreUnguessable() {
        QSet<QByteArray> seen;
        QList<QByteArray> randomParts;
        for (int i = 0; i < 50; ++i) {
            const QByteArray rid = hold("idcheck");
            QVERIFY(rid.startsWith(QByteArray::number(m_sale) + '-'));
            const QByteArray random = rid.mid(rid.indexOf('-') + 1);
            QCOMPARE(random.size(), 32);
            QVERIFY(!seen.contains(random));
            seen.insert(random);
            randomParts << random;
        }
        // Consecutive ids agree on about 2 of 32 hex digits by chance; a counter or a shared
        // prefix would make them agree on many.
        int agreeing = 0;
        for (qsizetype i = 1; i < randomParts.size(); ++i)
            for (int c = 0; c < 32; ++c)
                agreeing += randomParts[i][c] == randomParts[i - 1][c];
        QVERIFY2(agreeing < 49 * 5, qPrintable(QString::number(agreeing)));
    }
};

QTEST_GUILESS_MAIN(TestOwnership)
#include "tst_ownership.moc"
