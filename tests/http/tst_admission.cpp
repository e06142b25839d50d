// Admission control on the real flashsale-server in production mode (no dev user ids): buyer
// tokens on every booking route, proof of work, and the per-IP and per-user rate limits that
// book.lua enforces in the same round trip (docs/ADMISSION.md).

#include "admission/buyertoken.h"
#include "admission/powchallenge.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

using Headers = QList<QPair<QByteArray, QByteArray>>;

namespace {

QByteArray b64(const QByteArray &s) {
    return s.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

} // namespace

class TestAdmission : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    quint16 m_port = 0;
    BuyerTokens m_tokens{Backend::kBuyerTokenSecret};
    PowChallenges m_pow{Backend::kBuyerTokenSecret};
    int m_nextIp = 1;

    QByteArray token(const QByteArray &user, qint64 ttlMs = 600000) {
        return m_tokens.issue(user, nowMs(), nowMs() + ttlMs);
    }

    // Every request comes from its own address (through the trusted proxy 127.0.0.1), so only
    // the tests about the per-IP limit share one.
    QByteArray freshIp() {
        const int n = m_nextIp++;
        return "10.1." + QByteArray::number(n / 250) + '.' + QByteArray::number(n % 250 + 1);
    }

    qint64 createSale(QJsonObject extra) {
        QJsonObject body{{"name", "Admission"},         {"starts_at", rfc3339(-1000)},
                         {"ends_at", rfc3339(3600000)}, {"stock", 100},
                         {"price_cents", 100},          {"per_user_limit", 50}};
        for (auto it = extra.constBegin(); it != extra.constEnd(); ++it)
            body.insert(it.key(), it.value());
        const HttpResponse r = postJson(m_port, "/api/v1/admin/sales", body, Backend::kAdminToken);
        if (r.status != 201)
            qWarning("create sale: %d %s", r.status, r.body.constData());
        return r.json().value("id").toInteger();
    }

    HttpResponse book(qint64 sale, const QByteArray &bearer, Headers headers = {},
                      QJsonObject body = {{"quantity", 1}}) {
        if (!bearer.isEmpty())
            headers.append({"Authorization", "Bearer " + bearer});
        if (std::none_of(headers.cbegin(), headers.cend(),
                         [](const auto &h) { return h.first == "X-Forwarded-For"; }))
            headers.append({"X-Forwarded-For", freshIp()});
        return postJson(m_port, "/api/v1/sales/" + QByteArray::number(sale) + "/book", body, {},
                        headers);
    }

    // A challenge from the server for `user`, solved.
    Headers solvedChallenge(qint64 sale, const QByteArray &user, int *difficulty = nullptr) {
        const HttpResponse c = postJson(
            m_port, "/api/v1/sales/" + QByteArray::number(sale) + "/challenge", QJsonObject{}, {},
            {{"Authorization", "Bearer " + token(user)}, {"X-Forwarded-For", freshIp()}});
        if (c.status != 201)
            qWarning("challenge: %d %s", c.status, c.body.constData());
        const QByteArray challenge = c.json().value("challenge").toString().toLatin1();
        const int d = c.json().value("difficulty").toInt();
        if (difficulty)
            *difficulty = d;
        return {{"X-Pow-Challenge", challenge},
                {"X-Pow-Solution", PowChallenges::solve(challenge, d)}};
    }

    static QString problemType(const HttpResponse &r) { return r.json().value("type").toString(); }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_DEV_USER_IDS", "0"},
                                  {"FLASHSALE_RATE_LIMIT_IP", "2"},
                                  {"FLASHSALE_RATE_LIMIT_IP_BURST", "3"},
                                  {"FLASHSALE_RATE_LIMIT_USER", "2"},
                                  {"FLASHSALE_RATE_LIMIT_USER_BURST", "3"},
                                  {"FLASHSALE_TRUSTED_PROXIES", "127.0.0.1"}}),
                 qPrintable(m_backend.error()));
        m_port = m_backend.port();
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/readyz").status, 200, 10000);
    }

    void buyerTokens_data() {
        QTest::addColumn<QByteArray>("bearer");
        QTest::addColumn<QJsonObject>("body");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("type");

        const QByteArray good = token("tok-alice");
        const QList<QByteArray> parts = good.split('.');
        const QByteArray noneHeader = b64(R"({"alg":"none","typ":"JWT"})");
        const QByteArray hs512Header = b64(R"({"alg":"HS512","typ":"JWT"})");
        const QByteArray otherClaims = b64(
            QJsonDocument(QJsonObject{{"sub", "mallory"}, {"exp", double(nowMs() / 1000 + 600)}})
                .toJson(QJsonDocument::Compact));
        const QByteArray one = "{\"quantity\":1}";
        QTest::addRow("valid") << good << QJsonObject{{"quantity", 1}} << 202 << QString();
        QTest::addRow("valid, same user_id")
            << token("tok-bob") << QJsonObject{{"user_id", "tok-bob"}} << 202 << QString();
        QTest::addRow("no token") << QByteArray() << QJsonObject{{"user_id", "tok-carol"}} << 401
                                  << "/problems/unauthorized";
        QTest::addRow("another user's user_id")
            << token("tok-dave") << QJsonObject{{"user_id", "tok-erin"}} << 403
            << "/problems/token-user-mismatch";
        QTest::addRow("forged signature")
            << QByteArray(parts[0] + '.' + otherClaims + '.' + parts[2])
            << QJsonObject{{"quantity", 1}} << 401 << "/problems/invalid-token";
        QTest::addRow("alg none") << QByteArray(noneHeader + '.' + otherClaims + '.')
                                  << QJsonObject{{"quantity", 1}} << 401
                                  << "/problems/invalid-token";
        QTest::addRow("alg HS512")
            << QByteArray(hs512Header + '.' + parts[1] + '.' + parts[2])
            << QJsonObject{{"quantity", 1}} << 401 << "/problems/invalid-token";
        // Past its exp by more than the 30 s the server allows for the issuer's clock.
        QTest::addRow("expired") << m_tokens.issue("tok-frank", nowMs() - 7200000, nowMs() - 60000)
                                 << QJsonObject{{"quantity", 1}} << 401
                                 << "/problems/token-expired";
        QTest::addRow("another audience")
            << BuyerTokens(Backend::kBuyerTokenSecret, BuyerTokenPolicy{"flashsale", "admin"})
                   .issue("tok-hank", nowMs(), nowMs() + 60000)
            << QJsonObject{{"quantity", 1}} << 401 << "/problems/invalid-token";
        QTest::addRow("another issuer")
            << BuyerTokens(Backend::kBuyerTokenSecret, BuyerTokenPolicy{"elsewhere"})
                   .issue("tok-ida", nowMs(), nowMs() + 60000)
            << QJsonObject{{"quantity", 1}} << 401 << "/problems/invalid-token";
        QTest::addRow("longer than the maximum lifetime")
            << m_tokens.issue("tok-jo", nowMs(), nowMs() + 2 * 86400 * 1000)
            << QJsonObject{{"quantity", 1}} << 401 << "/problems/invalid-token";
        QTest::addRow("not a JWT") << QByteArray("abc.def") << QJsonObject{{"quantity", 1}} << 401
                                   << "/problems/invalid-token";
        QTest::addRow("signed with another key")
            << BuyerTokens("another-secret-of-at-least-32-chars!!")
                   .issue("tok-gina", nowMs(), nowMs() + 60000)
            << QJsonObject{{"quantity", 1}} << 401 << "/problems/invalid-token";
        Q_UNUSED(one);
    }

    void buyerTokens() {
        QFETCH(QByteArray, bearer);
        QFETCH(QJsonObject, body);
        QFETCH(int, status);
        QFETCH(QString, type);
        static const qint64 sale = createSale({});
        const HttpResponse r = book(sale, bearer, {}, body);
        QCOMPARE(r.status, status);
        if (status == 202) {
            const QString rid = r.json().value("reservation_id").toString();
            QVERIFY(!rid.isEmpty());
        } else {
            QCOMPARE(problemType(r), type);
            if (status == 401)
                QVERIFY(r.headers.value("www-authenticate").startsWith("Bearer"));
        }
    }

    void noDevRoutesInProduction() {
        QCOMPARE(postJson(m_port, "/api/v1/dev/tokens", QJsonObject{{"user_id", "x"}}).status, 404);
    }

    void checkoutAndPurchaseNeedTheOwner() {
        const qint64 sale = createSale({});
        const QJsonObject view =
            http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(sale)).json();
        const QByteArray item = QByteArray::number(
            view.value("items").toArray().first().toObject().value("id").toInteger());
        const HttpResponse anonymous = postJson(m_port, "/checkout?id=" + item, QJsonObject{}, {},
                                                {{"X-Forwarded-For", freshIp()}});
        QCOMPARE(anonymous.status, 401);
        const HttpResponse held =
            http(m_port, "POST", "/checkout?id=" + item, {},
                 {{"Authorization", "Bearer " + token("owner")}, {"X-Forwarded-For", freshIp()}});
        QCOMPARE(held.status, 202);
        const QByteArray code = held.json().value("code").toString().toLatin1();
        const HttpResponse stranger = http(
            m_port, "POST", "/purchase?code=" + code, {},
            {{"Authorization", "Bearer " + token("stranger")}, {"X-Forwarded-For", freshIp()}});
        // Another buyer's hold is answered as if it did not exist (tests/security/tst_ownership).
        QCOMPARE(stranger.status, 404);
        QCOMPARE(problemType(stranger), QStringLiteral("/problems/reservation-not-found"));
        const HttpResponse noToken =
            http(m_port, "POST", "/purchase?code=" + code, {}, {{"X-Forwarded-For", freshIp()}});
        QCOMPARE(noToken.status, 404);
        const HttpResponse owner =
            http(m_port, "POST", "/purchase?code=" + code, {},
                 {{"Authorization", "Bearer " + token("owner")}, {"X-Forwarded-For", freshIp()}});
        QCOMPARE(owner.status, 202);
        QCOMPARE(owner.json().value("status").toString(), QStringLiteral("confirmed"));
    }

    void proofOfWork() {
        const qint64 sale = createSale({{"pow_difficulty", 8}});
        QCOMPARE(http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(sale))
                     .json()
                     .value("pow_difficulty")
                     .toInt(),
                 8);
        // Without one: 428, and the answer says how hard it must be.
        const HttpResponse missing = book(sale, token("pow-a"));
        QCOMPARE(missing.status, 428);
        QCOMPARE(problemType(missing), QStringLiteral("/problems/pow-required"));
        QCOMPARE(missing.json().value("difficulty").toInt(), 8);

        // A solved challenge books, once.
        int difficulty = 0;
        const Headers solved = solvedChallenge(sale, "pow-a", &difficulty);
        QVERIFY(difficulty >= 8);
        QCOMPARE(PowChallenges::work(solved[0].second, solved[1].second) >= difficulty, true);
        QCOMPARE(book(sale, token("pow-a"), solved).status, 202);
        const HttpResponse replay = book(sale, token("pow-a"), solved);
        QCOMPARE(replay.status, 409);
        QCOMPARE(problemType(replay), QStringLiteral("/problems/pow-replayed"));

        // Refusals, each a 403 pow-invalid.
        Headers wrong = solvedChallenge(sale, "pow-b");
        wrong[1].second = QByteArray::number(wrong[1].second.toLongLong() + 1);
        while (PowChallenges::work(wrong[0].second, wrong[1].second) >= 8)
            wrong[1].second = QByteArray::number(wrong[1].second.toLongLong() + 1);
        const Headers othersChallenge = solvedChallenge(sale, "pow-c");
        const qint64 otherSale = createSale({{"pow_difficulty", 8}});
        const Headers otherSales = solvedChallenge(otherSale, "pow-b");
        QByteArray expired = m_pow.issue(sale, "pow-b", 8, nowMs() - 1);
        QByteArray easy = m_pow.issue(sale, "pow-b", 2, nowMs() + 60000);
        const QByteArray forged = QByteArray(easy).replace(".2.", ".9.");
        const QList<QPair<const char *, Headers>> refusals{
            {"wrong solution", wrong},
            {"another user's challenge", othersChallenge},
            {"another sale's challenge", otherSales},
            {"expired",
             {{"X-Pow-Challenge", expired}, {"X-Pow-Solution", PowChallenges::solve(expired, 8)}}},
            {"edited difficulty",
             {{"X-Pow-Challenge", forged}, {"X-Pow-Solution", PowChallenges::solve(forged, 9)}}},
            {"too easy for the sale",
             {{"X-Pow-Challenge", easy}, {"X-Pow-Solution", PowChallenges::solve(easy, 2)}}},
        };
        for (const auto &[name, headers] : refusals) {
            const HttpResponse r = book(sale, token("pow-b"), headers);
            QVERIFY2(r.status == 403, name);
            QVERIFY2(problemType(r) == QLatin1String("/problems/pow-invalid"), name);
        }
        const HttpResponse half = book(sale, token("pow-b"), {{"X-Pow-Solution", "1"}});
        QCOMPARE(half.status, 400);
        // Of all that, exactly one unit was sold.
        QCOMPARE(http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(sale))
                     .json()
                     .value("remaining")
                     .toInt(),
                 99);
    }

    void difficultyRisesWhileTheBucketIsDrained() {
        // A bucket of 5 bookings refilling at 1/s: draining it doubles... the work asked.
        const qint64 sale =
            createSale({{"pow_difficulty", 4}, {"admission_rate", 1}, {"admission_burst", 5}});
        int first = 0;
        Headers h = solvedChallenge(sale, "drain-0", &first);
        QCOMPARE(first, 4);
        QCOMPARE(book(sale, token("drain-0"), h).status, 202);
        for (int i = 1; i < 5; ++i) {
            const QByteArray user = "drain-" + QByteArray::number(i);
            QCOMPARE(book(sale, token(user), solvedChallenge(sale, user)).status, 202);
        }
        int later = 0;
        (void)solvedChallenge(sale, "drain-late", &later);
        QVERIFY2(later > first, qPrintable(QString::number(later)));
        QCOMPARE(later, 8); // an empty bucket: +4 bits
    }

    void perUserRateLimit() {
        const qint64 sale = createSale({});
        const QByteArray t = token("hasty");
        for (int i = 0; i < 3; ++i)
            QCOMPARE(book(sale, t).status, 202); // the burst
        const HttpResponse limited = book(sale, t);
        QCOMPARE(limited.status, 429);
        QCOMPARE(problemType(limited), QStringLiteral("/problems/rate-limited"));
        QCOMPARE(limited.json().value("scope").toString(), QStringLiteral("user"));
        QVERIFY(limited.headers.contains("retry-after"));
        QVERIFY(limited.json().value("retry_after_ms").toInt() > 0);
        QCOMPARE(book(sale, token("patient")).status, 202); // others are not affected
        // The wait is the test: once the time it was told has passed, the user may book again.
        QTest::qWait(limited.json().value("retry_after_ms").toInt() + 50);
        QCOMPARE(book(sale, t).status, 202);
    }

    void perIpRateLimit() {
        const qint64 sale = createSale({});
        const Headers fromOne{{"X-Forwarded-For", "198.51.100.7"}};
        for (int i = 0; i < 3; ++i)
            QCOMPARE(book(sale, token("ip-user-" + QByteArray::number(i)), fromOne).status, 202);
        const HttpResponse limited = book(sale, token("ip-user-9"), fromOne);
        QCOMPARE(limited.status, 429);
        QCOMPARE(limited.json().value("scope").toString(), QStringLiteral("ip"));
        // Only the last X-Forwarded-For hop counts: what the client wrote before it is not
        // believed.
        const Headers spoofed{{"X-Forwarded-For", "1.2.3.4, 198.51.100.7"}};
        QCOMPARE(book(sale, token("ip-user-10"), spoofed).status, 429);
        QCOMPARE(book(sale, token("ip-user-11"), {{"X-Forwarded-For", "198.51.100.8"}}).status,
                 202);
    }
};

QTEST_GUILESS_MAIN(TestAdmission)
#include "tst_admission.moc"
