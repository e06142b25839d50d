// Operating a waiting room (issue 16, docs/WAITING_ROOM.md "Operating it") on the real
// flashsale-server (api and scheduler roles: the scheduler seals and admits by itself) over a
// real Redis and PostgreSQL: the operator's view after joins, the seal and admission; a pause
// that holds the cursor still over several admission ticks and a resume that moves it again;
// a rate change seen in PostgreSQL and Redis, each change audited under the operator's name;
// problem JSON and typed errors for bad input; `flashsale-ctl queue`.

#include "admission/buyertoken.h"
#include "booking/salekeys.h"
#include "protocol/adminclient.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

using namespace flashsale;
using namespace flashsale::admin;
using namespace flashsale::test;

namespace {

constexpr int kBuyers = 30;
constexpr const char *kMerchPassword = "merch-password-0001";
constexpr const char *kViewerPassword = "viewer-password-001";

QByteArray basic(const QByteArray &name, const QByteArray &password) {
    return "Basic " + (name + ':' + password).toBase64();
}

} // namespace

class TestWaitingRoomOps : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    std::unique_ptr<RedisSync> m_redis;
    PgDatabase m_db;
    Backend m_backend;
    quint16 m_port = 0;
    BuyerTokens m_tokens{Backend::kBuyerTokenSecret};
    std::unique_ptr<AdminClient> m_client; // logged in as "carol", merchandiser
    qint64 m_sale = 0;                     // with a waiting room
    qint64 m_plain = 0;                    // without

    QByteArray path(qint64 sale) const {
        return "/api/v1/admin/sales/" + QByteArray::number(sale) + "/waiting-room";
    }

    HttpResponse getView(qint64 sale, const QByteArray &auth = basic("carol", kMerchPassword)) {
        return http(m_port, "GET", path(sale), {}, {{"Authorization", auth}});
    }

    HttpResponse patch(qint64 sale, const QByteArray &body,
                       const QByteArray &auth = basic("carol", kMerchPassword)) {
        return http(m_port, "PATCH", path(sale), body,
                    {{"Authorization", auth}, {"Content-Type", "application/json"}});
    }

    QJsonObject view(qint64 sale) {
        const HttpResponse r = getView(sale);
        if (r.status != 200)
            qWarning("view: %d %s", r.status, r.body.constData());
        return r.json();
    }

    AdminClient::Reply call(Op op, const QJsonObject &args) {
        std::optional<AdminClient::Reply> reply;
        m_client->request(op, args, [&reply](const AdminClient::Reply &r) { reply = r; });
        (void)QTest::qWaitFor([&reply] { return reply.has_value(); }, 10000);
        return reply.value_or(AdminClient::Reply{});
    }

    qint64 createSale(const QJsonObject &extra) {
        QJsonObject body{
            {"name", "Queue"}, {"starts_at", rfc3339(-1000)}, {"ends_at", rfc3339(3600000)},
            {"stock", 10},     {"price_cents", 100},          {"per_user_limit", 1}};
        for (auto it = extra.constBegin(); it != extra.constEnd(); ++it)
            body.insert(it.key(), it.value());
        const HttpResponse r = postJson(m_port, "/api/v1/admin/sales", body, Backend::kAdminToken);
        if (r.status != 201)
            qWarning("create sale: %d %s", r.status, r.body.constData());
        return r.json().value("id").toInteger();
    }

    QByteArray buyerToken(const QByteArray &user) {
        return m_tokens.issue(user, nowMs(), nowMs() + 600000);
    }

    // The newest audit row of the sale: actor, action, before, after.
    QList<QByteArray> lastAudit(qint64 sale) {
        const QByteArray row = m_db.scalar(
            "SELECT concat_ws('|', actor, action, before::text, after::text) FROM audit_log WHERE "
            "sale_id = "
            + QByteArray::number(sale)
            + " AND action = 'sale.waiting_room.set' ORDER BY id DESC "
              "LIMIT 1");
        return row.split('|');
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_ROLES", "api,scheduler"},
                                  {"FLASHSALE_SCHEDULER_TICK_MS", "100"},
                                  {"FLASHSALE_DEV_USER_IDS", "0"}}),
                 qPrintable(m_backend.error()));
        m_port = m_backend.port();
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/readyz").status, 200, 10000);

        const QUrl url(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(m_port));
        AdminClient boot;
        boot.open(url, {{}, {}, QString::fromLatin1(Backend::kAdminToken)});
        QTRY_COMPARE_WITH_TIMEOUT(boot.state(), AdminClient::State::Connected, 5000);
        for (const auto &[name, role, password] :
             {std::tuple{"carol", "merchandiser", kMerchPassword},
              std::tuple{"victor", "viewer", kViewerPassword}}) {
            std::optional<AdminClient::Reply> reply;
            boot.request(Op::OperatorCreate,
                         {{"name", name}, {"role", role}, {"password", password}},
                         [&reply](const AdminClient::Reply &r) { reply = r; });
            QTRY_VERIFY_WITH_TIMEOUT(reply.has_value(), 10000);
            QVERIFY2(reply->ok, qPrintable(reply->failure.message));
        }
        m_client = std::make_unique<AdminClient>();
        m_client->open(url, {QStringLiteral("carol"), QString::fromLatin1(kMerchPassword), {}});
        QTRY_COMPARE_WITH_TIMEOUT(m_client->state(), AdminClient::State::Connected, 5000);

        m_plain = createSale({});
        QVERIFY(m_plain > 0);
    }

    // Joins, the seal, a pause that holds admission over several ticks, a resume, a new rate,
    // and the view's numbers at each step.
    void viewPauseResumeAndRate() {
        // A slow room (one a second), so a resume shows and the rate change lets the rest in.
        m_sale = createSale({{"waiting_room", true},
                             {"lobby_opens_at", rfc3339(-1000)},
                             {"starts_at", rfc3339(4000)},
                             {"grace_ms", 500},
                             {"admit_per_minute", 60},
                             {"entries_per_address", 0}});
        QVERIFY(m_sale > 0);
        for (int i = 0; i < kBuyers; ++i) {
            const HttpResponse r =
                http(m_port, "POST", "/api/v1/sales/" + QByteArray::number(m_sale) + "/queue", {},
                     {{"Authorization", "Bearer " + buyerToken("b" + QByteArray::number(i))}});
            QVERIFY2(r.status == 201, r.body.constData());
        }

        // The lobby, before the seal.
        QJsonObject v = view(m_sale);
        QCOMPARE(v.value("sale_id").toInteger(), m_sale);
        QCOMPARE(v.value("lobby").toInt(), kBuyers);
        QCOMPARE(v.value("fifo").toInt(), 0);
        QCOMPARE(v.value("sealed").toBool(), false);
        QVERIFY(v.value("cohort_size").isNull());
        QCOMPARE(v.value("cursor").toInt(), 0);
        QCOMPARE(v.value("waiting").toInt(), kBuyers);
        QCOMPARE(v.value("remaining").toInt(), 10);
        QCOMPARE(v.value("admit_per_minute").toInt(), 60);
        QCOMPARE(v.value("paused").toBool(), false);
        QVERIFY(v.value("admitted_per_minute").isNull());
        QVERIFY(v.value("sell_out_seconds").isNull());

        // Paused before the seal: admission must not start after it.
        HttpResponse r = patch(m_sale, R"({"paused": true})");
        QVERIFY2(r.status == 200, r.body.constData());
        QCOMPARE(r.json().value("waiting_room").toObject().value("paused").toBool(), true);
        QVERIFY(r.json().value("audit_id").toInteger() > 0);
        QList<QByteArray> audit = lastAudit(m_sale);
        QCOMPARE(audit.value(0), QByteArray("carol"));
        QCOMPARE(QJsonDocument::fromJson(audit.value(2)).object().value("paused").toBool(), false);
        QCOMPARE(QJsonDocument::fromJson(audit.value(3)).object().value("paused").toBool(), true);

        const SaleKeys k(m_sale);
        // PostgreSQL holds the pause, and warming copies it back into Redis (as after a Redis
        // data loss): the room stays paused.
        QCOMPARE(m_db.scalar("SELECT admission_paused FROM sales WHERE id = "
                             + QByteArray::number(m_sale)),
                 QByteArray("t"));
        m_redis->command({"HSET", k.waitingRoomMeta(), "paused", "0"});
        const HttpResponse warmed =
            postJson(m_port, "/api/v1/admin/sales/" + QByteArray::number(m_sale) + "/warm",
                     QJsonObject{}, Backend::kAdminToken);
        QVERIFY2(warmed.status == 200, warmed.body.constData());
        QCOMPARE(m_redis->one({"HGET", k.waitingRoomMeta(), "paused"}), QByteArray("1"));
        QTRY_VERIFY_WITH_TIMEOUT(view(m_sale).value("sealed").toBool(), 30000);
        // Several admission ticks while paused: each moves the allowance clock (allow_ms).
        QSet<QByteArray> ticks;
        QTRY_VERIFY_WITH_TIMEOUT(
            (ticks.insert(m_redis->one({"HGET", k.waitingRoomMeta(), "allow_ms"})),
             ticks.size() >= 4),
            20000);
        v = view(m_sale);
        QCOMPARE(v.value("cohort_size").toInt(), kBuyers);
        QCOMPARE(v.value("cursor").toInt(), 0);
        QCOMPARE(v.value("admitted").toInt(), 0);
        QCOMPARE(v.value("outstanding").toInt(), 0);
        QCOMPARE(v.value("waiting").toInt(), kBuyers);
        QCOMPARE(v.value("paused").toBool(), true);

        // Resumed over the WebSocket: admission continues, at one a second.
        AdminClient::Reply w =
            call(Op::SaleWaitingRoomSet, {{"sale_id", m_sale}, {"paused", false}});
        QVERIFY2(w.ok, qPrintable(w.failure.message));
        QCOMPARE(w.result.value("waiting_room").toObject().value("paused").toBool(), false);
        audit = lastAudit(m_sale);
        QCOMPARE(audit.value(0), QByteArray("carol"));
        QCOMPARE(QJsonDocument::fromJson(audit.value(3)).object().value("paused").toBool(), false);
        QCOMPARE(m_db.scalar("SELECT admission_paused FROM sales WHERE id = "
                             + QByteArray::number(m_sale)),
                 QByteArray("f"));
        QTRY_VERIFY_WITH_TIMEOUT(view(m_sale).value("cursor").toInt() >= 1, 15000);

        // A new rate: PostgreSQL, Redis' meta, the audit row, and admission up to the stock.
        r = patch(m_sale, R"({"admit_per_minute": 6000})");
        QVERIFY2(r.status == 200, r.body.constData());
        QCOMPARE(r.json().value("waiting_room").toObject().value("admit_per_minute").toInt(), 6000);
        QCOMPARE(m_db.scalar("SELECT admit_per_minute FROM sales WHERE id = "
                             + QByteArray::number(m_sale)),
                 QByteArray("6000"));
        QCOMPARE(m_redis->one({"HGET", k.meta(), "admit_pm"}), QByteArray("6000"));
        audit = lastAudit(m_sale);
        QCOMPARE(audit.value(0), QByteArray("carol"));
        QCOMPARE(QJsonDocument::fromJson(audit.value(2)).object().value("admit_per_minute").toInt(),
                 60);
        QCOMPARE(QJsonDocument::fromJson(audit.value(3)).object().value("admit_per_minute").toInt(),
                 6000);

        // Outstanding admissions stop at the units left (--waiting-room-admit-factor 1).
        QTRY_COMPARE_WITH_TIMEOUT(view(m_sale).value("cursor").toInt(), 10, 20000);
        v = view(m_sale);
        QCOMPARE(v.value("admitted").toInt(), 10);
        QCOMPARE(v.value("outstanding").toInt(), 10);
        QCOMPARE(v.value("waiting").toInt(), kBuyers - 10);
        QCOMPARE(v.value("remaining").toInt(), 10);
        QCOMPARE(v.value("booked").toInt(), 0);
        QVERIFY(v.value("admitted_per_minute").toDouble() > 0);
        QVERIFY(v.value("sell_out_seconds").toDouble() > 0);

        // One admitted buyer books: booked, outstanding and remaining follow.
        QByteArray admittedUser, admission;
        for (int i = 0; i < kBuyers && admission.isEmpty(); ++i) {
            const QByteArray user = "b" + QByteArray::number(i);
            const HttpResponse s =
                http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(m_sale) + "/queue", {},
                     {{"Authorization", "Bearer " + buyerToken(user)}});
            admission = s.json().value("admission").toObject().value("token").toString().toLatin1();
            admittedUser = user;
        }
        QVERIFY(!admission.isEmpty());
        const HttpResponse booked =
            postJson(m_port, "/api/v1/sales/" + QByteArray::number(m_sale) + "/book",
                     QJsonObject{{"quantity", 1}}, buyerToken(admittedUser),
                     {{"X-Admission-Token", admission}});
        QVERIFY2(booked.status == 202, booked.body.constData());
        v = view(m_sale);
        QCOMPARE(v.value("booked").toInt(), 1);
        QCOMPARE(v.value("remaining").toInt(), 9);
        QCOMPARE(v.value("outstanding").toInt(), 9);

        // The same view over the WebSocket, as a viewer may read it.
        w = call(Op::SaleWaitingRoomGet, {{"sale_id", m_sale}});
        QVERIFY2(w.ok, qPrintable(w.failure.message));
        QCOMPARE(w.result.value("waiting_room").toObject().value("booked").toInt(), 1);
        QCOMPARE(getView(m_sale, basic("victor", kViewerPassword)).status, 200);
    }

    void badHttpInput_data() {
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<int>("sale"); // 0: the waiting-room sale, -1 the plain one, else as is
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<QByteArray>("auth");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("slug");
        QTest::addColumn<QString>("pointer");
        const QByteArray carol = basic("carol", kMerchPassword);
        QTest::addRow("unknown sale") << QByteArray("GET") << 999999 << QByteArray() << carol << 404
                                      << "sale-not-found" << QString();
        QTest::addRow("malformed id") << QByteArray("GET") << -2 << QByteArray() << carol << 404
                                      << "sale-not-found" << QString();
        QTest::addRow("no waiting room") << QByteArray("GET") << -1 << QByteArray() << carol << 404
                                         << "waiting-room-not-found" << QString();
        QTest::addRow("set, no waiting room")
            << QByteArray("PATCH") << -1 << QByteArray(R"({"paused":true})") << carol << 404
            << "waiting-room-not-found" << QString();
        QTest::addRow("set, unknown sale")
            << QByteArray("PATCH") << 999999 << QByteArray(R"({"paused":true})") << carol << 404
            << "sale-not-found" << QString();
        QTest::addRow("rate 0") << QByteArray("PATCH") << 0
                                << QByteArray(R"({"admit_per_minute":0})") << carol << 400
                                << "invalid-request"
                                << "/admit_per_minute";
        QTest::addRow("rate too high")
            << QByteArray("PATCH") << 0 << QByteArray(R"({"admit_per_minute":1000001})") << carol
            << 400 << "invalid-request"
            << "/admit_per_minute";
        QTest::addRow("rate not a number")
            << QByteArray("PATCH") << 0 << QByteArray(R"({"admit_per_minute":"fast"})") << carol
            << 400 << "invalid-request"
            << "/admit_per_minute";
        QTest::addRow("paused not a bool")
            << QByteArray("PATCH") << 0 << QByteArray(R"({"paused":"yes"})") << carol << 400
            << "invalid-request"
            << "/paused";
        QTest::addRow("unknown field")
            << QByteArray("PATCH") << 0 << QByteArray(R"({"paused":true,"cursor":0})") << carol
            << 400 << "invalid-request"
            << "/cursor";
        QTest::addRow("nothing to change")
            << QByteArray("PATCH") << 0 << QByteArray("{}") << carol << 400 << "invalid-request"
            << "/paused";
        QTest::addRow("not JSON") << QByteArray("PATCH") << 0 << QByteArray("{paused") << carol
                                  << 400 << "invalid-request" << QString();
        QTest::addRow("no credentials") << QByteArray("GET") << 0 << QByteArray() << QByteArray()
                                        << 401 << "unauthorized" << QString();
        QTest::addRow("viewer may not set")
            << QByteArray("PATCH") << 0 << QByteArray(R"({"paused":true})")
            << basic("victor", kViewerPassword) << 403 << "forbidden" << QString();
    }

    void badHttpInput() {
        QFETCH(QByteArray, method);
        QFETCH(int, sale);
        QFETCH(QByteArray, body);
        QFETCH(QByteArray, auth);
        QFETCH(int, status);
        QFETCH(QString, slug);
        QFETCH(QString, pointer);
        const QByteArray p = sale == -2   ? QByteArray("/api/v1/admin/sales/x1/waiting-room")
                             : sale == -1 ? path(m_plain)
                             : sale == 0  ? path(m_sale)
                                          : path(sale);
        QList<QPair<QByteArray, QByteArray>> headers;
        if (!auth.isEmpty())
            headers.append(qMakePair(QByteArray("Authorization"), auth));
        if (!body.isEmpty())
            headers.append(qMakePair(QByteArray("Content-Type"), QByteArray("application/json")));
        const HttpResponse r = http(m_port, method, p, body, headers);
        verifyProblem(r, status, slug);
        if (!pointer.isEmpty()) {
            QStringList pointers;
            for (const QJsonValue &e : r.json().value("errors").toArray())
                pointers << e.toObject().value("pointer").toString();
            QVERIFY2(pointers.contains(pointer), qPrintable(pointers.join(',')));
        }
        // Nothing changed: the waiting-room sale keeps its rate.
        QCOMPARE(m_db.scalar("SELECT admit_per_minute FROM sales WHERE id = "
                             + QByteArray::number(m_sale)),
                 QByteArray("6000"));
    }

    void badWebSocketInput_data() {
        QTest::addColumn<int>("op");
        QTest::addColumn<QJsonObject>("args"); // sale_id 0: the waiting-room sale, -1: plain
        QTest::addColumn<QString>("code");
        QTest::addColumn<QString>("pointer");
        QTest::addRow("unknown sale")
            << int(Op::SaleWaitingRoomGet) << QJsonObject{{"sale_id", 999999}} << "not-found"
            << QString();
        QTest::addRow("no waiting room")
            << int(Op::SaleWaitingRoomSet) << QJsonObject{{"sale_id", -1}, {"paused", true}}
            << "not-found" << QString();
        QTest::addRow("sale_id missing")
            << int(Op::SaleWaitingRoomGet) << QJsonObject{} << "invalid-args"
            << "/args/sale_id";
        QTest::addRow("get, unknown field")
            << int(Op::SaleWaitingRoomGet) << QJsonObject{{"sale_id", 0}, {"paused", true}}
            << "invalid-args"
            << "/args/paused";
        QTest::addRow("rate 0") << int(Op::SaleWaitingRoomSet)
                                << QJsonObject{{"sale_id", 0}, {"admit_per_minute", 0}}
                                << "invalid-args"
                                << "/args/admit_per_minute";
        QTest::addRow("rate too high")
            << int(Op::SaleWaitingRoomSet)
            << QJsonObject{{"sale_id", 0}, {"admit_per_minute", 2000000}} << "invalid-args"
            << "/args/admit_per_minute";
        QTest::addRow("set, unknown field")
            << int(Op::SaleWaitingRoomSet) << QJsonObject{{"sale_id", 0}, {"speed", 5}}
            << "invalid-args"
            << "/args/speed";
        QTest::addRow("nothing to change")
            << int(Op::SaleWaitingRoomSet) << QJsonObject{{"sale_id", 0}} << "invalid-args"
            << "/args/paused";
    }

    void badWebSocketInput() {
        QFETCH(int, op);
        QFETCH(QJsonObject, args);
        QFETCH(QString, code);
        QFETCH(QString, pointer);
        if (args.value("sale_id").toInteger() == 0 && args.contains("sale_id"))
            args.insert("sale_id", m_sale);
        else if (args.value("sale_id").toInteger() == -1)
            args.insert("sale_id", m_plain);
        const AdminClient::Reply r = call(Op(op), args);
        QVERIFY(!r.ok);
        QCOMPARE(errorName(r.failure.code), code);
        if (!pointer.isEmpty()) {
            QStringList pointers;
            for (const FieldError &e : r.failure.details)
                pointers << e.pointer;
            QVERIFY2(pointers.contains(pointer), qPrintable(pointers.join(',')));
        }
    }

    // flashsale-ctl queue SALE prints the view and exits 0; an unknown sale exits 1; --rate
    // changes it (audited).
    void ctlQueue() {
        const QHash<QString, QString> env{
            {"FLASHSALE_ADMIN_URL", QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(m_port)},
            {"FLASHSALE_OPERATOR", "carol"},
            {"FLASHSALE_OPERATOR_PASSWORD", kMerchPassword}};
        const QStringList unset{"FLASHSALE_ADMIN_TOKEN", "FLASHSALE_API_URL"};
        ProgramRun run = runProgram(ctlBinary(), {"queue", QString::number(m_sale)}, env, unset);
        QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
        QVERIFY2(run.out.contains(QStringLiteral("sale %1 waiting room").arg(m_sale)),
                 qPrintable(run.out));
        QVERIFY2(run.out.contains(QRegularExpression(QStringLiteral("cursor\\s+10\\b"))),
                 qPrintable(run.out));
        QVERIFY2(run.out.contains(QStringLiteral("sell-out in")), qPrintable(run.out));

        run = runProgram(ctlBinary(), {"--json", "queue", QString::number(m_sale)}, env, unset);
        QCOMPARE(run.exitCode, 0);
        QCOMPARE(QJsonDocument::fromJson(run.out.toUtf8())
                     .object()
                     .value("waiting_room")
                     .toObject()
                     .value("booked")
                     .toInt(),
                 1);

        run = runProgram(ctlBinary(), {"queue", "999999"}, env, unset);
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains(QStringLiteral("not-found")), qPrintable(run.err));

        run = runProgram(ctlBinary(), {"queue", QString::number(m_plain)}, env, unset);
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains(QStringLiteral("no waiting room")), qPrintable(run.err));

        run = runProgram(ctlBinary(), {"queue", QString::number(m_sale), "--rate", "1200"}, env,
                         unset);
        QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
        QVERIFY2(run.out.contains(QStringLiteral("changed (audit")), qPrintable(run.out));
        QCOMPARE(m_redis->one({"HGET", SaleKeys(m_sale).meta(), "admit_pm"}), QByteArray("1200"));
        QCOMPARE(lastAudit(m_sale).value(0), QByteArray("carol"));

        run = runProgram(ctlBinary(), {"queue", QString::number(m_sale), "--pause", "--resume"},
                         env, unset);
        QCOMPARE(run.exitCode, 2);
    }
};

QTEST_GUILESS_MAIN(TestWaitingRoomOps)
#include "tst_waitingroomops.moc"
