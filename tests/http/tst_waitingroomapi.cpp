// The waiting room's HTTP routes on the real flashsale-server (production mode: buyer tokens),
// over a real Redis and PostgreSQL: creating a sale with a waiting room, joining it (one entry
// per buyer, proof of work per entry, the address cap per IPv6 /64), the signed receipt, the
// buyer's own entry, and problem+json for every bad input.

#include "admission/admissiontoken.h"
#include "admission/buyertoken.h"
#include "admission/entryreceipt.h"
#include "admission/powchallenge.h"
#include "booking/reservationid.h"
#include "fairness/cohortshuffle.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

using Headers = QList<QPair<QByteArray, QByteArray>>;

namespace {

qint64 parseTime(const QJsonValue &v) {
    return QDateTime::fromString(v.toString(), Qt::ISODateWithMs).toMSecsSinceEpoch();
}

} // namespace

class TestWaitingRoomApi : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    std::unique_ptr<RedisSync> m_redis;
    PgDatabase m_db;
    Backend m_backend;
    quint16 m_port = 0;
    BuyerTokens m_tokens{Backend::kBuyerTokenSecret};
    int m_nextIp = 1;

    QByteArray token(const QByteArray &user) {
        return m_tokens.issue(user, nowMs(), nowMs() + 600000);
    }

    QByteArray freshIp() {
        const int n = m_nextIp++;
        return "10.2." + QByteArray::number(n / 250) + '.' + QByteArray::number(n % 250 + 1);
    }

    HttpResponse createSale(const QJsonObject &extra) {
        QJsonObject body{
            {"name", "Queue"}, {"starts_at", rfc3339(60000)}, {"ends_at", rfc3339(3600000)},
            {"stock", 10},     {"price_cents", 100},          {"per_user_limit", 1}};
        for (auto it = extra.constBegin(); it != extra.constEnd(); ++it)
            body.insert(it.key(), it.value());
        return postJson(m_port, "/api/v1/admin/sales", body, Backend::kAdminToken);
    }

    // A sale whose lobby opened a second ago and which starts in a minute.
    qint64 openLobby(QJsonObject extra = {}) {
        extra.insert("waiting_room", true);
        if (!extra.contains("lobby_opens_at"))
            extra.insert("lobby_opens_at", rfc3339(-1000));
        const HttpResponse r = createSale(extra);
        if (r.status != 201)
            qWarning("create sale: %d %s", r.status, r.body.constData());
        return r.json().value("id").toInteger();
    }

    HttpResponse join(qint64 sale, const QByteArray &user, Headers headers = {},
                      const QByteArray &path = {}) {
        if (!user.isEmpty())
            headers.append({"Authorization", "Bearer " + token(user)});
        if (std::none_of(headers.cbegin(), headers.cend(),
                         [](const auto &h) { return h.first == "X-Forwarded-For"; }))
            headers.append({"X-Forwarded-For", freshIp()});
        return http(m_port, "POST",
                    path.isEmpty() ? "/api/v1/sales/" + QByteArray::number(sale) + "/queue" : path,
                    {}, headers);
    }

    HttpResponse status(qint64 sale, const QByteArray &user, const QByteArray &query = {}) {
        Headers headers;
        if (!user.isEmpty())
            headers.append({"Authorization", "Bearer " + token(user)});
        return http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(sale) + "/queue" + query,
                    {}, headers);
    }

    QByteArray receiptKey() {
        const HttpResponse r = http(m_port, "GET", "/api/v1/waiting-room/receipt-key");
        return QByteArray::fromHex(r.json().value("public_key").toString().toLatin1());
    }

    // POST /api/v1/sales/{id}/book as `user`, with X-Admission-Token when `admission` is set.
    HttpResponse bookWith(qint64 sale, const QByteArray &user, const QByteArray &admission) {
        Headers headers;
        if (!admission.isEmpty())
            headers.append({"X-Admission-Token", admission});
        return postJson(m_port, "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                        QJsonObject{{"quantity", 1}}, token(user), headers);
    }

    // Opens the sale for booking now (it starts in a minute) and admits `entry` for a minute,
    // as the seal and queue_admit.lua would (they are tested on their own).
    void startAndAdmit(qint64 sale, const QByteArray &entry) {
        const QByteArray k = "fs:{sale:" + QByteArray::number(sale) + "}:";
        m_redis->command({"HSET", k + "meta", "starts_ms", QByteArray::number(nowMs() - 10000)});
        m_redis->command({"ZADD", k + "wr:adm", QByteArray::number(nowMs() + 60000), entry});
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_DEV_USER_IDS", "0"},
                                  {"FLASHSALE_TRUSTED_PROXIES", "127.0.0.1"}}),
                 qPrintable(m_backend.error()));
        m_port = m_backend.port();
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/readyz").status, 200, 10000);
    }

    // The settings are echoed with their defaults and the commitment, which is SHA-256 of the
    // seed stored beside it in the same statement, and warm Redis has the same commitment.
    void createEchoesTheRoom() {
        const qint64 before = nowMs();
        const HttpResponse r = createSale({{"waiting_room", true}, {"grace_ms", 2500}});
        QCOMPARE(r.status, 201);
        const QJsonObject room = r.json().value("waiting_room").toObject();
        QCOMPARE(room.value("grace_ms").toInt(), 2500);
        QCOMPARE(room.value("admit_per_minute").toInt(), 600);
        QCOMPARE(room.value("admission_ttl_seconds").toInt(), 120);
        QCOMPARE(room.value("entries_per_buyer").toInt(), 1);
        QCOMPARE(room.value("entries_per_address").toInt(), 1);
        // Starts in a minute, so the default lobby (30 min before) is clamped to now.
        const qint64 lobby = parseTime(room.value("lobby_opens_at"));
        QVERIFY(lobby >= before - 1000 && lobby <= nowMs() + 1000);
        const QString commitment = room.value("commitment").toString();
        QVERIFY2(QRegularExpression(QStringLiteral("^[0-9a-f]{64}$")).match(commitment).hasMatch(),
                 qPrintable(commitment));
        const qint64 id = r.json().value("id").toInteger();
        QCOMPARE(m_db.scalar("SELECT encode(sha256(seed_box), 'hex') = commitment AND "
                             "seed_box_kind = 'plain' FROM sale_fairness WHERE sale_id = "
                             + QByteArray::number(id)),
                 QByteArray("t"));
        QCOMPARE(m_db.scalar("SELECT commitment FROM sale_fairness WHERE sale_id = "
                             + QByteArray::number(id)),
                 commitment.toLatin1());
        QCOMPARE(m_redis->one(
                     {"HGET", "fs:{sale:" + QByteArray::number(id) + "}:wr:meta", "commitment"}),
                 commitment.toLatin1());
        // The public view carries what the buyer page's lobby shows: the same commitment and
        // when the cohort closes (starts_at + grace_ms).
        const HttpResponse view = http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(id));
        QCOMPARE(view.status, 200);
        const QJsonObject pub = view.json().value("waiting_room").toObject();
        QCOMPARE(pub.value("commitment").toString(), commitment);
        QCOMPARE(pub.value("grace_ms").toInt(), 2500);
        QCOMPARE(parseTime(pub.value("lobby_opens_at")), lobby);
        QCOMPARE(parseTime(pub.value("cohort_closes_at")),
                 parseTime(view.json().value("starts_at")) + 2500);
        QCOMPARE(pub.value("admit_per_minute").toInt(), 600);

        // A sale without one: null, no fairness row, no wr key.
        const HttpResponse plain = createSale({});
        QCOMPARE(plain.status, 201);
        QVERIFY(plain.json().value("waiting_room").isNull());
        const QByteArray plainId = QByteArray::number(plain.json().value("id").toInteger());
        QVERIFY(
            http(m_port, "GET", "/api/v1/sales/" + plainId).json().value("waiting_room").isNull());
        QCOMPARE(m_db.scalar("SELECT count(*) FROM sale_fairness WHERE sale_id = " + plainId),
                 QByteArray("0"));
        QCOMPARE(m_redis->command({"KEYS", "fs:{sale:" + plainId + "}:wr:*"}).size(), 0);
    }

    void createRefusesBadSettings_data() {
        QTest::addColumn<QJsonObject>("extra");
        QTest::addColumn<QString>("pointer");
        QTest::addRow("grace without a waiting room")
            << QJsonObject{{"grace_ms", 100}} << "/grace_ms";
        QTest::addRow("lobby after the start")
            << QJsonObject{{"waiting_room", true}, {"lobby_opens_at", rfc3339(120000)}}
            << "/lobby_opens_at";
        QTest::addRow("grace too long")
            << QJsonObject{{"waiting_room", true}, {"grace_ms", 60001}} << "/grace_ms";
        QTest::addRow("two entries per buyer")
            << QJsonObject{{"waiting_room", true}, {"entries_per_buyer", 2}}
            << "/entries_per_buyer";
        QTest::addRow("admission ttl too short")
            << QJsonObject{{"waiting_room", true}, {"admission_ttl_seconds", 5}}
            << "/admission_ttl_seconds";
        QTest::addRow("waiting_room not a boolean")
            << QJsonObject{{"waiting_room", "yes"}} << "/waiting_room";
    }
    void createRefusesBadSettings() {
        QFETCH(QJsonObject, extra);
        QFETCH(QString, pointer);
        const HttpResponse r = createSale(extra);
        QCOMPARE(r.status, 400);
        QCOMPARE(r.problemType(), QStringLiteral("/problems/invalid-request"));
        QVERIFY2(r.body.contains(pointer.toUtf8()), r.body.constData());
    }

    // One entry per buyer: a second join and the status route give the same entry; the receipt
    // verifies under the published key and says what the answer says.
    void joinOncePerBuyerWithAReceipt() {
        const qint64 sale = openLobby();
        QVERIFY(sale > 0);
        const HttpResponse first = join(sale, "alice");
        QCOMPARE(first.status, 201);
        const QJsonObject e = first.json();
        const QByteArray entry = e.value("entry_id").toString().toLatin1();
        QVERIFY2(fairness::CohortShuffle::isEntryId(entry), entry.constData());
        QCOMPARE(e.value("state").toString(), QStringLiteral("lobby"));
        QCOMPARE(e.value("cohort").toBool(), true);
        QVERIFY(e.value("reason").isNull());
        QVERIFY(e.value("position").isNull());
        QCOMPARE(first.headers.value("cache-control"), QByteArray("no-store"));
        const HttpResponse again = join(sale, "alice");
        QCOMPARE(again.status, 200);
        QCOMPARE(again.json().value("entry_id").toString().toLatin1(), entry);
        QCOMPARE(again.json().value("receipt"), e.value("receipt"));
        const HttpResponse mine = status(sale, "alice");
        QCOMPARE(mine.status, 200);
        QCOMPARE(mine.json().value("entry_id").toString().toLatin1(), entry);
        // A poll signs no receipt unless asked: the same receipt when asked.
        QVERIFY(mine.json().value("receipt").isNull());
        const HttpResponse asked = status(sale, "alice", "?receipt=1");
        QCOMPARE(asked.status, 200);
        QCOMPARE(asked.json().value("receipt"), e.value("receipt"));
        const HttpResponse bad = status(sale, "alice", "?receipt=yes");
        QCOMPARE(bad.status, 400);
        QCOMPARE(bad.problemType(), QStringLiteral("/problems/invalid-request"));

        const auto fields =
            EntryReceipts::verify(e.value("receipt").toString().toLatin1(), receiptKey());
        QVERIFY(fields);
        QCOMPARE(fields->saleId, sale);
        QCOMPARE(fields->entryId, entry);
        QCOMPARE(fields->cohort, true);
        QCOMPARE(fields->position, 1);
        QCOMPARE(fields->joinedMs, parseTime(e.value("joined_at")));
        QCOMPARE(fields->commitment, e.value("commitment").toString().toLatin1());
        // One byte changed and it no longer verifies.
        QByteArray forged = e.value("receipt").toString().toLatin1();
        forged[5] = forged[5] == 'A' ? 'B' : 'A';
        QVERIFY(!EntryReceipts::verify(forged, receiptKey()));

        // Another buyer gets another entry, second in arrival order.
        const HttpResponse bob = join(sale, "bob");
        QCOMPARE(bob.status, 201);
        QVERIFY(bob.json().value("entry_id") != e.value("entry_id"));
        QCOMPARE(
            EntryReceipts::verify(bob.json().value("receipt").toString().toLatin1(), receiptKey())
                ->position,
            2);
    }

    // Two addresses of one IPv6 /64 (through the trusted proxy) are one client: with one entry
    // per address, the second account queues behind the cohort.
    void addressCapCountsAnIpv6Slash64Once() {
        const qint64 sale = openLobby();
        const HttpResponse a = join(sale, "v6-a", {{"X-Forwarded-For", "2001:db8:5:6::1"}});
        const HttpResponse b = join(sale, "v6-b", {{"X-Forwarded-For", "2001:db8:5:6:ffff::2"}});
        const HttpResponse c = join(sale, "v6-c", {{"X-Forwarded-For", "2001:db8:5:7::1"}});
        QCOMPARE(a.status, 201);
        QCOMPARE(b.status, 201);
        QCOMPARE(c.status, 201);
        QCOMPARE(a.json().value("cohort").toBool(), true);
        QCOMPARE(b.json().value("cohort").toBool(), false);
        QCOMPARE(b.json().value("reason").toString(), QStringLiteral("address-cap"));
        QCOMPARE(c.json().value("cohort").toBool(), true);
    }

    // The work is spent per entry: a new entry needs a proof of work, the existing one none.
    void proofOfWorkPerEntry() {
        const qint64 sale = openLobby({{"pow_difficulty", 4}});
        const HttpResponse none = join(sale, "pow-a");
        QCOMPARE(none.status, 428);
        QCOMPARE(none.problemType(), QStringLiteral("/problems/pow-required"));
        const HttpResponse c =
            http(m_port, "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/challenge", {},
                 {{"Authorization", "Bearer " + token("pow-a")}, {"X-Forwarded-For", freshIp()}});
        QCOMPARE(c.status, 201);
        const QByteArray challenge = c.json().value("challenge").toString().toLatin1();
        const Headers solved{{"X-Pow-Challenge", challenge},
                             {"X-Pow-Solution", PowChallenges::solve(challenge, 4)}};
        QCOMPARE(join(sale, "pow-a", solved).status, 201);
        QCOMPARE(join(sale, "pow-a").status, 200);
        // The spent challenge buys no entry for the next attempt of another kind either.
        QCOMPARE(join(sale, "pow-a", solved).status, 200);
    }

    void problems_data() {
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<QByteArray>("path");
        QTest::addColumn<QByteArray>("user");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("type");
        QTest::addRow("unknown sale")
            << QByteArray("POST") << QByteArray("/api/v1/sales/987654/queue") << QByteArray("p1")
            << QByteArray() << 404 << "/problems/sale-not-found";
        QTest::addRow("malformed sale id")
            << QByteArray("POST") << QByteArray("/api/v1/sales/12x/queue") << QByteArray("p1")
            << QByteArray() << 404 << "/problems/sale-not-found";
        QTest::addRow("negative sale id")
            << QByteArray("GET") << QByteArray("/api/v1/sales/-3/queue") << QByteArray("p1")
            << QByteArray() << 404 << "/problems/sale-not-found";
        QTest::addRow("no token") << QByteArray("POST") << QByteArray("{sale}") << QByteArray()
                                  << QByteArray() << 401 << "/problems/unauthorized";
        QTest::addRow("unknown field")
            << QByteArray("POST") << QByteArray("{sale}") << QByteArray("p1")
            << QByteArray(R"({"vip":true})") << 400 << "/problems/invalid-request";
        QTest::addRow("not JSON") << QByteArray("POST") << QByteArray("{sale}") << QByteArray("p1")
                                  << QByteArray("{oops") << 400 << "/problems/invalid-request";
        QTest::addRow("lobby not open")
            << QByteArray("POST") << QByteArray("{early}") << QByteArray("p1") << QByteArray()
            << 403 << "/problems/lobby-not-open";
        QTest::addRow("no waiting room")
            << QByteArray("POST") << QByteArray("{plain}") << QByteArray("p1") << QByteArray()
            << 404 << "/problems/waiting-room-not-found";
        QTest::addRow("not in the queue")
            << QByteArray("GET") << QByteArray("{sale}") << QByteArray("p2") << QByteArray() << 404
            << "/problems/not-in-queue";
        QTest::addRow("unknown query parameter")
            << QByteArray("GET") << QByteArray("{sale}?rank=1") << QByteArray("p2") << QByteArray()
            << 400 << "/problems/invalid-request";
    }
    void problems() {
        QFETCH(QByteArray, method);
        QFETCH(QByteArray, path);
        QFETCH(QByteArray, user);
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        QFETCH(QString, type);
        const auto queuePath = [](qint64 id) {
            return "/api/v1/sales/" + QByteArray::number(id) + "/queue";
        };
        if (path.startsWith("{sale}"))
            path = queuePath(openLobby()) + path.mid(6);
        else if (path == "{early}")
            path = queuePath(openLobby({{"lobby_opens_at", rfc3339(30000)}}));
        else if (path == "{plain}")
            path = queuePath(createSale({}).json().value("id").toInteger());
        Headers headers{{"X-Forwarded-For", freshIp()}};
        if (!user.isEmpty())
            headers.append({"Authorization", "Bearer " + token(user)});
        if (!body.isEmpty())
            headers.append(qMakePair(QByteArray("Content-Type"), QByteArray("application/json")));
        const HttpResponse r = http(m_port, method, path, body, headers);
        QCOMPARE(r.status, status);
        QCOMPARE(r.headers.value("content-type"), QByteArray("application/problem+json"));
        QCOMPARE(r.problemType(), type);
        if (type.endsWith(QLatin1String("lobby-not-open"))) {
            const int retry = r.headers.value("retry-after").toInt();
            QVERIFY2(retry >= 25 && retry <= 31, r.headers.value("retry-after").constData());
            QVERIFY(parseTime(r.json().value("lobby_opens_at")) > nowMs());
            QVERIFY(r.json().contains("server_time"));
        }
    }

    // The key is stable across calls (derived, not random) and is 32 bytes.
    void receiptKeyIsStable() {
        const QByteArray k = receiptKey();
        QCOMPARE(k.size(), 32);
        QCOMPARE(receiptKey(), k);
        // Derived from the buyer-token secret, as the docs say, so anyone holding the secret
        // (every API process) derives the same key.
        QCOMPARE(EntryReceipts(Backend::kBuyerTokenSecret).publicKey(), k);
    }
    // Admission end to end over HTTP: without a token a waiting-room sale answers 428 with the
    // queue's URL; once the entry is admitted GET /queue carries the token; forged, another
    // sale's, another buyer's and expired tokens are refused before Redis with problem+json;
    // the token books once (409 after), and the entry then reads booked, without a token.
    void admissionTokenBooksOnce() {
        const qint64 sale = openLobby(), other = openLobby();
        QVERIFY(sale > 0 && other > 0);
        const HttpResponse joined = join(sale, "alice");
        QCOMPARE(joined.status, 201);
        QVERIFY(joined.json().value("admission").isNull());
        const QByteArray entry = joined.json().value("entry_id").toString().toLatin1();
        QCOMPARE(join(sale, "bob").status, 201);
        const HttpResponse joinedOther = join(other, "alice");
        QCOMPARE(joinedOther.status, 201);
        startAndAdmit(other, joinedOther.json().value("entry_id").toString().toLatin1());

        // Started, not admitted: no token to send.
        m_redis->command({"HSET", "fs:{sale:" + QByteArray::number(sale) + "}:meta", "starts_ms",
                          QByteArray::number(nowMs() - 10000)});
        QCOMPARE(status(sale, "alice").json().value("state").toString(), QStringLiteral("queued"));
        HttpResponse r = bookWith(sale, "alice", {});
        verifyProblem(r, 428, QStringLiteral("admission-required"));
        QCOMPARE(r.json().value("queue_url").toString(),
                 QStringLiteral("/api/v1/sales/%1/queue").arg(sale));

        startAndAdmit(sale, entry);
        const QJsonObject s = status(sale, "alice").json();
        QCOMPARE(s.value("state").toString(), QStringLiteral("admitted"));
        const QJsonObject admission = s.value("admission").toObject();
        const QByteArray at = admission.value("token").toString().toLatin1();
        QVERIFY2(at.startsWith("at1." + QByteArray::number(sale) + "." + entry + "."),
                 at.constData());
        const qint64 expires = parseTime(admission.value("expires_at"));
        QVERIFY(expires > nowMs() + 50000 && expires <= nowMs() + 60000);
        const QByteArray otherToken = status(other, "alice")
                                          .json()
                                          .value("admission")
                                          .toObject()
                                          .value("token")
                                          .toString()
                                          .toLatin1();
        QVERIFY(!otherToken.isEmpty());

        QByteArray forged = at;
        forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
        verifyProblem(bookWith(sale, "alice", forged), 403, QStringLiteral("admission-invalid"));
        const QByteArray foreignKey =
            AdmissionTokens("another-secret").issue(sale, entry, "alice", nowMs() + 60000);
        verifyProblem(bookWith(sale, "alice", foreignKey), 403,
                      QStringLiteral("admission-invalid"));
        verifyProblem(bookWith(sale, "alice", otherToken), 403,
                      QStringLiteral("admission-invalid"));
        verifyProblem(bookWith(sale, "bob", at), 403, QStringLiteral("admission-invalid"));
        verifyProblem(bookWith(sale, "alice", "garbage"), 403, QStringLiteral("admission-invalid"));
        const QByteArray expired =
            AdmissionTokens(Backend::kBuyerTokenSecret).issue(sale, entry, "alice", nowMs() - 1);
        verifyProblem(bookWith(sale, "alice", expired), 410, QStringLiteral("admission-expired"));
        // None of those spent it: it books now, once.
        r = bookWith(sale, "alice", at);
        QCOMPARE(r.status, 202);
        verifyProblem(bookWith(sale, "alice", at), 409, QStringLiteral("admission-spent"));
        const QJsonObject after = status(sale, "alice").json();
        QCOMPARE(after.value("state").toString(), QStringLiteral("booked"));
        QVERIFY(after.value("admission").isNull());
        QCOMPARE(m_redis->integer({"XLEN", "fs:{sale:" + QByteArray::number(sale) + "}:stream"}),
                 1);
    }
};

QTEST_GUILESS_MAIN(TestWaitingRoomApi)
#include "tst_waitingroomapi.moc"
