// Safe defaults against the real flashsale-server (issue 15, deliverable 6): one named row per
// attack, each asserting the refusal a buyer or an operator sees. The server runs in production
// mode (no dev user ids) with the rate limits at their defaults, a rotating buyer-token key set
// (kid "k2" new, "k1" old, plus the legacy secret without kid), and /metrics on its own listener
// with a long cache (docs/ADMISSION.md, docs/API.md "Operations").

#include "admission/buyertoken.h"
#include "admission/powchallenge.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMessageAuthenticationCode>
#include <QProcess>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

using Headers = QList<QPair<QByteArray, QByteArray>>;

namespace {

constexpr const char *kOldKey = "old-rotating-key-0123456789abcdefghijkl";
constexpr const char *kNewKey = "new-rotating-key-0123456789abcdefghijkl";

qint64 nowS() {
    return QDateTime::currentSecsSinceEpoch();
}

QByteArray b64(const QByteArray &s) {
    return s.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

QByteArray json(const QJsonObject &o) {
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

// A JWT with exactly this header and these claims, signed HS256 with `secret`.
QByteArray mint(const QJsonObject &header, const QJsonObject &claims, const QByteArray &secret) {
    const QByteArray body = b64(json(header)) + '.' + b64(json(claims));
    return body + '.'
           + b64(QMessageAuthenticationCode::hash(body, secret, QCryptographicHash::Sha256));
}

// Claims the server accepts for `user`, to be spoilt one at a time by the rows.
QJsonObject goodClaims(const QString &user) {
    return QJsonObject{{"sub", user},
                       {"iss", "flashsale"},
                       {"aud", "flashsale-api"},
                       {"iat", double(nowS())},
                       {"exp", double(nowS() + 600)}};
}

QJsonObject with(QJsonObject o, const QString &key, const QJsonValue &value) {
    if (value.isUndefined())
        o.remove(key);
    else
        o.insert(key, value);
    return o;
}

QJsonObject hs256(const QString &kid = {}) {
    QJsonObject h{{"alg", "HS256"}, {"typ", "JWT"}};
    if (!kid.isEmpty())
        h.insert("kid", kid);
    return h;
}

} // namespace

class TestDefaults : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    quint16 m_port = 0;
    int m_nextIp = 1;

    QByteArray freshIp() {
        const int n = m_nextIp++;
        return "10.9." + QByteArray::number(n / 250) + '.' + QByteArray::number(n % 250 + 1);
    }

    // A token signed with the newest key, as the shop's login service would issue it.
    static QByteArray token(const QString &user) {
        return mint(hs256("k2"), goodClaims(user), kNewKey);
    }

    qint64 createSale(const QJsonObject &extra = {}) {
        QJsonObject body{{"name", "Defaults"},          {"starts_at", rfc3339(-1000)},
                         {"ends_at", rfc3339(3600000)}, {"stock", 1000},
                         {"price_cents", 100},          {"per_user_limit", 100}};
        for (auto it = extra.constBegin(); it != extra.constEnd(); ++it)
            body.insert(it.key(), it.value());
        const HttpResponse r = postJson(m_port, "/api/v1/admin/sales", body, Backend::kAdminToken);
        if (r.status != 201)
            qWarning("create sale: %d %s", r.status, r.body.constData());
        return r.json().value("id").toInteger();
    }

    HttpResponse book(qint64 sale, const QByteArray &bearer, const QByteArray &ip,
                      Headers headers = {}) {
        if (!bearer.isEmpty())
            headers.append({"Authorization", "Bearer " + bearer});
        headers.append({"X-Forwarded-For", ip});
        return postJson(m_port, "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                        QJsonObject{{"quantity", 1}}, {}, headers);
    }

    Headers solvedChallenge(qint64 sale, const QString &user, int *difficulty) {
        const HttpResponse c = postJson(
            m_port, "/api/v1/sales/" + QByteArray::number(sale) + "/challenge", QJsonObject{}, {},
            {{"Authorization", "Bearer " + token(user)}, {"X-Forwarded-For", freshIp()}});
        const QByteArray challenge = c.json().value("challenge").toString().toLatin1();
        *difficulty = c.json().value("difficulty").toInt();
        return {{"X-Pow-Challenge", challenge},
                {"X-Pow-Solution", PowChallenges::solve(challenge, *difficulty)}};
    }

    qint64 redisCalls(const QByteArray &command) {
        RedisSync redis(m_redisServer.port());
        const QByteArray stats = redis.one({"INFO", "commandstats"});
        const QByteArray key = "cmdstat_" + command + ":calls=";
        const qsizetype i = stats.indexOf(key);
        return i < 0 ? 0 : stats.mid(i + key.size()).split(',').first().toLongLong();
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_DEV_USER_IDS", "false"},
                                  // The server's own defaults, not the suites' "off".
                                  {"FLASHSALE_RATE_LIMIT_IP", QString()},
                                  {"FLASHSALE_RATE_LIMIT_USER", QString()},
                                  {"FLASHSALE_METRICS_CACHE_MS", "60000"},
                                  {"FLASHSALE_BUYER_TOKEN_KEYS",
                                   QStringLiteral("k2=%1,k1=%2").arg(kNewKey, kOldKey)},
                                  {"FLASHSALE_TRUSTED_PROXIES", "127.0.0.1"}}),
                 qPrintable(m_backend.error()));
        m_port = m_backend.port();
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/readyz").status, 200, 10000);
    }

    void buyerTokenAttacks_data() {
        QTest::addColumn<QByteArray>("bearer");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("type");

        const QByteArray ok;
        const qint64 now = nowS();
        // Accepted: the controls that show each refusal is about the one thing spoilt.
        QTest::addRow("newest key (kid k2)") << token("bt-new") << 202 << QString();
        QTest::addRow("old key still accepted during rotation (kid k1)")
            << mint(hs256("k1"), goodClaims("bt-old"), kOldKey) << 202 << QString();
        QTest::addRow("legacy secret without kid")
            << mint(hs256(), goodClaims("bt-legacy"), Backend::kBuyerTokenSecret) << 202
            << QString();
        QTest::addRow("aud as an array naming this service") << mint(
            hs256("k2"), with(goodClaims("bt-audarr"), "aud", QJsonArray{"shop", "flashsale-api"}),
            kNewKey) << 202 << QString();
        QTest::addRow("expired within the clock skew")
            << mint(hs256("k2"), with(goodClaims("bt-skew"), "exp", double(now - 5)), kNewKey)
            << 202 << QString();

        // Refused.
        QTest::addRow("unknown kid")
            << mint(hs256("k0"), goodClaims("bt-a"), kOldKey) << 401 << "/problems/invalid-token";
        QTest::addRow("kid of the old key, signed with another")
            << mint(hs256("k1"), goodClaims("bt-b"), "some-other-secret-0123456789abcdef") << 401
            << "/problems/invalid-token";
        QTest::addRow("kid that is not a string")
            << mint(with(hs256(), "kid", 2), goodClaims("bt-c"), kNewKey) << 401
            << "/problems/invalid-token";
        QTest::addRow("alg none") << QByteArray(
            b64(json({{"alg", "none"}, {"typ", "JWT"}, {"kid", "k2"}})) + '.'
            + b64(json(goodClaims("bt-d"))) + '.')
                                  << 401 << "/problems/invalid-token";
        QTest::addRow("wrong aud")
            << mint(hs256("k2"), with(goodClaims("bt-e"), "aud", "another-service"), kNewKey) << 401
            << "/problems/invalid-token";
        QTest::addRow("aud array without this service") << mint(
            hs256("k2"), with(goodClaims("bt-f"), "aud", QJsonArray{"shop", "admin"}), kNewKey)
                                                        << 401 << "/problems/invalid-token";
        QTest::addRow("no aud") << mint(hs256("k2"), with(goodClaims("bt-g"), "aud", {}), kNewKey)
                                << 401 << "/problems/invalid-token";
        QTest::addRow("wrong iss")
            << mint(hs256("k2"), with(goodClaims("bt-h"), "iss", "evil-issuer"), kNewKey) << 401
            << "/problems/invalid-token";
        QTest::addRow("no iss") << mint(hs256("k2"), with(goodClaims("bt-i"), "iss", {}), kNewKey)
                                << 401 << "/problems/invalid-token";
        QTest::addRow("lifetime of 25 hours (limit 24)")
            << mint(hs256("k2"), with(goodClaims("bt-j"), "exp", double(now + 25 * 3600)), kNewKey)
            << 401 << "/problems/invalid-token";
        QTest::addRow("no iat, so no bounded lifetime")
            << mint(hs256("k2"), with(goodClaims("bt-k"), "iat", {}), kNewKey) << 401
            << "/problems/invalid-token";
        QTest::addRow("expired beyond the clock skew") << mint(
            hs256("k2"),
            with(with(goodClaims("bt-l"), "iat", double(now - 600)), "exp", double(now - 60)),
            kNewKey) << 401 << "/problems/token-expired";
        QTest::addRow("nbf beyond the clock skew")
            << mint(hs256("k2"), with(goodClaims("bt-m"), "nbf", double(now + 120)), kNewKey) << 401
            << "/problems/invalid-token";
        QTest::addRow("iat in the future beyond the clock skew") << mint(
            hs256("k2"),
            with(with(goodClaims("bt-n"), "iat", double(now + 300)), "exp", double(now + 900)),
            kNewKey) << 401 << "/problems/invalid-token";
        Q_UNUSED(ok);
    }

    void buyerTokenAttacks() {
        QFETCH(QByteArray, bearer);
        QFETCH(int, status);
        QFETCH(QString, type);
        static const qint64 sale = createSale();
        const HttpResponse r = book(sale, bearer, freshIp());
        QVERIFY2(r.status == status, r.body.constData());
        if (status == 202) {
            QVERIFY(!r.json().value("reservation_id").toString().isEmpty());
        } else {
            QCOMPARE(r.problemType(), type);
            QVERIFY(r.headers.value("www-authenticate").contains("invalid_token"));
        }
    }

    void devModeIsParsedStrictly_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("variable");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("error");

        const QString badBool = QStringLiteral(": must be 1, true, 0 or false");
        QTest::addRow("FLASHSALE_DEV_USER_IDS=off turns nothing on")
            << QStringList() << "FLASHSALE_DEV_USER_IDS"
            << "off"
            << "FLASHSALE_DEV_USER_IDS" + badBool;
        QTest::addRow("FLASHSALE_DEV_USER_IDS=yes") << QStringList() << "FLASHSALE_DEV_USER_IDS"
                                                    << "yes"
                                                    << "FLASHSALE_DEV_USER_IDS" + badBool;
        QTest::addRow("FLASHSALE_DEV_USER_IDS empty") << QStringList() << "FLASHSALE_DEV_USER_IDS"
                                                      << ""
                                                      << "FLASHSALE_DEV_USER_IDS" + badBool;
        QTest::addRow("FLASHSALE_DEV_USER_IDS=TRUE") << QStringList() << "FLASHSALE_DEV_USER_IDS"
                                                     << "TRUE"
                                                     << "FLASHSALE_DEV_USER_IDS" + badBool;
        QTest::addRow("dev mode listening on every address")
            << QStringList{"--listen", "0.0.0.0"} << "FLASHSALE_DEV_USER_IDS"
            << "1"
            << "--dev-user-ids is refused with --listen 0.0.0.0";
        QTest::addRow("dev mode switch on a public IPv6 address")
            << QStringList{"--dev-user-ids", "--listen", "::"} << QString() << QString()
            << "--dev-user-ids is refused with --listen ::";
        QTest::addRow("the same parser for every switch (payment-sim-outage=on)")
            << QStringList() << "FLASHSALE_PAYMENT_SIM_OUTAGE"
            << "on"
            << "FLASHSALE_PAYMENT_SIM_OUTAGE" + badBool;
        QTest::addRow("the same parser for every switch (migrate-only=no)")
            << QStringList() << "FLASHSALE_MIGRATE_ONLY"
            << "no"
            << "FLASHSALE_MIGRATE_ONLY" + badBool;
    }

    void devModeIsParsedStrictly() {
        QFETCH(QStringList, args);
        QFETCH(QString, variable);
        QFETCH(QString, value);
        QFETCH(QString, error);
        QProcessEnvironment env;
        env.insert(QStringLiteral("PATH"), qEnvironmentVariable("PATH"));
        env.insert(QStringLiteral("FLASHSALE_REDIS_URL"), m_redisServer.url());
        env.insert(QStringLiteral("FLASHSALE_PG_URL"), m_db.url());
        if (!variable.isEmpty())
            env.insert(variable, value);
        QProcess p;
        p.setProcessEnvironment(env);
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(Backend::binary(), QStringList{"--port", "0"} + args);
        QVERIFY(p.waitForFinished(20000));
        const QByteArray out = p.readAll();
        QVERIFY2(p.exitCode() != 0, out.constData());
        QVERIFY2(out.contains(error.toUtf8()), out.constData());
    }

    void devModeValuesThatAreAccepted_data() {
        QTest::addColumn<QString>("value");
        QTest::addColumn<int>("devTokens");
        QTest::addRow("0 is off") << "0" << 404;
        QTest::addRow("false is off") << "false" << 404;
        QTest::addRow("true is on, on loopback") << "true" << 201;
        QTest::addRow("1 is on, on loopback") << "1" << 201;
    }

    void devModeValuesThatAreAccepted() {
        QFETCH(QString, value);
        QFETCH(int, devTokens);
        Backend b;
        QVERIFY2(b.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                          {"FLASHSALE_PG_URL", m_db.url()},
                          {"FLASHSALE_DEV_USER_IDS", value}}),
                 qPrintable(b.error()));
        const HttpResponse r =
            postJson(b.port(), "/api/v1/dev/tokens", QJsonObject{{"user_id", "dev-alice"}});
        QCOMPARE(r.status, devTokens);
        if (devTokens == 201) {
            // A dev token passes every check the server makes of a buyer token.
            const QByteArray t = r.json().value("token").toString().toLatin1();
            const qint64 sale = createSale();
            const HttpResponse booked =
                postJson(b.port(), "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                         QJsonObject{{"quantity", 1}}, {}, {{"Authorization", "Bearer " + t}});
            QVERIFY2(booked.status == 202, booked.body.constData());
        }
    }

    void rateLimitsAreOnByDefault_data() {
        QTest::addColumn<QString>("scope");
        QTest::addColumn<QList<QByteArray>>("addresses");
        QTest::addColumn<bool>("oneUser");
        QTest::addColumn<int>("allowed"); // the default burst
        QTest::addRow("one user floods a sale") << "user" << QList<QByteArray>() << true << 5;
        QTest::addRow("one IPv4 address floods a sale with many accounts")
            << "ip" << QList<QByteArray>{"203.0.113.9"} << false << 20;
        QTest::addRow("one IPv6 subscriber rotates addresses inside its /64")
            << "ip"
            << QList<QByteArray>{"2001:db8:5:6::1", "2001:db8:5:6:aaaa::2",
                                 "2001:db8:5:6:ffff:ffff:ffff:fffe"}
            << false << 20;
        QTest::addRow("IPv4-mapped IPv6 counts as its IPv4 address")
            << "ip" << QList<QByteArray>{"198.51.100.77", "::ffff:198.51.100.77"} << false << 20;
    }

    void rateLimitsAreOnByDefault() {
        QFETCH(QString, scope);
        QFETCH(QList<QByteArray>, addresses);
        QFETCH(bool, oneUser);
        QFETCH(int, allowed);
        const qint64 sale = createSale();
        const QByteArray tag = QByteArray::number(sale);
        // All at once over 10 connections, so the refill (10/s per IP, 2/s per user) adds little.
        QList<QByteArray> requests;
        for (int i = 0; i < allowed + 10; ++i) {
            const QByteArray ip =
                addresses.isEmpty() ? freshIp() : addresses.at(i % addresses.size());
            const QString user = oneUser ? QStringLiteral("rl-%1").arg(sale)
                                         : QStringLiteral("rl-%1-%2").arg(sale).arg(i);
            requests << RawHttpConnection::format(
                "POST", "/api/v1/sales/" + tag + "/book", R"({"quantity":1})",
                {{"Authorization", "Bearer " + token(user)}, {"X-Forwarded-For", ip}});
        }
        int accepted = 0;
        HttpResponse limited;
        for (const HttpResponse &r : sendAll(m_port, requests, 10)) {
            if (r.status == 202)
                ++accepted;
            else if (r.status == 429)
                limited = r;
            else
                QFAIL(qPrintable(QString::number(r.status) + QLatin1Char(' ')
                                 + QString::fromUtf8(r.body)));
        }
        QCOMPARE(limited.status, 429);
        QCOMPARE(limited.problemType(), QStringLiteral("/problems/rate-limited"));
        QCOMPARE(limited.json().value("scope").toString(), scope);
        QVERIFY(limited.headers.contains("retry-after"));
        // The burst, give or take what refilled while the requests were in flight.
        QVERIFY2(accepted >= allowed && accepted <= allowed + 5,
                 qPrintable(QString::number(accepted)));
        if (scope == QLatin1String("ip") && addresses.first().contains(':')) {
            // The next /64 is another subscriber.
            QCOMPARE(book(sale, token("rl-other-" + tag), "2001:db8:5:7::1").status, 202);
        }
    }

    void hoardedChallengeAfterTheCrowdCame() {
        // A challenge fetched while the sale is calm costs the base. Once a crowd has drained the
        // admission bucket (here written into Redis, as 50 quick bookings would leave it),
        // book.lua asks for the raised difficulty, so the hoarded cheap one is refused.
        const qint64 sale =
            createSale({{"pow_difficulty", 4}, {"admission_rate", 1}, {"admission_burst", 50}});
        int calm = 0;
        const Headers hoarded = solvedChallenge(sale, "hoarder", &calm);
        QCOMPARE(calm, 4);
        RedisSync redis(m_redisServer.port());
        const QByteArray bucket = "fs:{sale:" + QByteArray::number(sale) + "}:bucket";
        redis.command({"HSET", bucket, "tokens", "0", "ts",
                       QByteArray::number(QDateTime::currentMSecsSinceEpoch())});
        const HttpResponse r = book(sale, token("hoarder"), freshIp(), hoarded);
        QCOMPARE(r.status, 403);
        QCOMPARE(r.problemType(), QStringLiteral("/problems/pow-invalid"));
        QCOMPARE(r.json().value("difficulty").toInt(), 8);
        // A challenge issued now carries the raised difficulty and passes the proof-of-work
        // check; the empty bucket is what answers it.
        int raised = 0;
        const Headers fresh = solvedChallenge(sale, "hoarder", &raised);
        QCOMPARE(raised, 8);
        const HttpResponse paid = book(sale, token("hoarder"), freshIp(), fresh);
        QCOMPARE(paid.status, 429);
        QCOMPARE(paid.problemType(), QStringLiteral("/problems/throttled"));
    }

    void metricsOffThePublicPort_data() {
        QTest::addColumn<bool>("publicPort");
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<int>("status");
        QTest::addRow("scrape /metrics on the public port")
            << true << QByteArray("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") << 404;
        QTest::addRow("scrape /metrics through a trusted proxy on the public port")
            << true
            << QByteArray("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n")
            << 404;
        // The admin listener serves /metrics, /healthz and /readyz (issue 17), no buyer route.
        QTest::addRow("buyer API on the metrics port")
            << false << QByteArray("GET /api/v1/sales/1 HTTP/1.1\r\nHost: x\r\n\r\n") << 404;
        QTest::addRow("WebSocket upgrade on the metrics port")
            << false
            << QByteArray("GET /admin/v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                          "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            << 404;
        QTest::addRow("operator scrape on the metrics listener")
            << false << QByteArray("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") << 200;
    }

    void metricsOffThePublicPort() {
        QFETCH(bool, publicPort);
        QFETCH(QByteArray, request);
        QFETCH(int, status);
        const HttpResponse r = httpRaw(publicPort ? m_port : m_backend.metricsPort(), request);
        QCOMPARE(r.status, status);
        if (status == 200) {
            QVERIFY(r.body.contains("\nflashsale_redis_memory_used_bytes "));
            QVERIFY(r.body.contains("\nflashsale_redis_memory_max_bytes "));
        }
    }

    void metricsScrapeStormCostsNoRedisCallsPerSale() {
        // 20 sales, then 30 scrapes within the cache period: the per-sale reads (HVALS, one per
        // sale) happen once at most, not 30 times 20.
        for (int i = 0; i < 20; ++i)
            QVERIFY(createSale() > 0);
        const QByteArray first = http(m_backend.metricsPort(), "GET", "/metrics").body;
        QVERIFY(first.contains("flashsale_sale_stock_remaining{sale="));
        const qint64 before = redisCalls("hvals");
        for (int i = 0; i < 30; ++i)
            QCOMPARE(http(m_backend.metricsPort(), "GET", "/metrics").status, 200);
        const qint64 after = redisCalls("hvals");
        qInfo("HVALS calls during 30 scrapes of 20+ sales: %lld", after - before);
        QVERIFY2(after - before <= 0, qPrintable(QString::number(after - before)));
        // The registry part is live all the same: scrapes are counted as they happen.
        const QByteArray last = http(m_backend.metricsPort(), "GET", "/metrics").body;
        QVERIFY(last.contains("flashsale_metrics_refreshes_total"));
    }

    void cleanupTestCase() { m_backend.stop(); }
};

QTEST_GUILESS_MAIN(TestDefaults)
#include "tst_defaults.moc"
