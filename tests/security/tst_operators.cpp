// Operator accounts under attack: one row per attack on the admin WebSocket and the admin HTTP
// routes of a real flashsale-server (real Redis and PostgreSQL), each asserting the refusal the
// attacker sees and, where it matters, what the audit log recorded. The first operator comes
// from the bootstrap file, as on the local stack.

#include "protocol/adminclient.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QSignalSpy>
#include <QSslKey>
#include <QSslServer>
#include <QSslSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QWebSocket>

using namespace flashsale;
using namespace flashsale::admin;
using namespace flashsale::test;

namespace {

QByteArray basic(const QByteArray &name, const QByteArray &password) {
    return "Basic " + (name + ':' + password).toBase64();
}

QByteArray upgradeRequest(const QByteArray &auth) {
    return "GET /admin/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           + (auth.isEmpty() ? QByteArray() : "Authorization: " + auth + "\r\n") + "\r\n";
}

// What a raw WebSocket login attempt saw: the first message and how the socket ended.
struct WsLogin {
    bool upgraded = false;
    QJsonObject first;
    int closeCode = 0;
    bool closed = false;
    QString error; // a refused handshake: "... Unhandled http status code: 429 (...)"
};

WsLogin wsLogin(quint16 port, const QByteArray &auth, const QByteArray &actorHeader = {}) {
    QWebSocket socket;
    WsLogin out;
    QObject::connect(&socket, &QWebSocket::connected, [&] { out.upgraded = true; });
    QObject::connect(&socket, &QWebSocket::textMessageReceived, [&](const QString &t) {
        if (out.first.isEmpty())
            out.first = QJsonDocument::fromJson(t.toUtf8()).object();
    });
    QObject::connect(&socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error),
                     [&] { out.error = socket.errorString(); });
    QObject::connect(&socket, &QWebSocket::disconnected, [&] {
        out.closed = true;
        out.closeCode = int(socket.closeCode());
    });
    QNetworkRequest req(QUrl(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(port)));
    req.setRawHeader("Authorization", auth);
    if (!actorHeader.isEmpty())
        req.setRawHeader("X-Flashsale-Actor", actorHeader);
    socket.open(req);
    (void)QTest::qWaitFor([&] { return out.closed || !out.first.isEmpty(); }, 10000);
    if (!out.first.isEmpty() && out.first.value("event") != "hello")
        (void)QTest::qWaitFor([&] { return out.closed; }, 5000);
    return out;
}

// A TLS terminator in front of the real server, as nginx is on the gateway: it accepts
// wss:// with the given certificate and passes the decrypted bytes to the backend's port.
class TlsProxy final : public QObject {
public:
    TlsProxy(quint16 backend, const QSslConfiguration &tls)
        : m_backend(backend) {
        m_server.setSslConfiguration(tls);
        QObject::connect(&m_server, &QTcpServer::pendingConnectionAvailable, this, [this] {
            while (auto *client = qobject_cast<QSslSocket *>(m_server.nextPendingConnection()))
                pipe(client);
        });
        m_server.listen(QHostAddress::LocalHost, 0);
    }
    quint16 port() const { return m_server.serverPort(); }
    int forwarded() const { return m_forwarded; } // connections that reached the backend

private:
    void pipe(QSslSocket *client) {
        ++m_forwarded;
        auto *upstream = new QTcpSocket(client);
        QObject::connect(client, &QSslSocket::readyRead, upstream,
                         [client, upstream] { upstream->write(client->readAll()); });
        QObject::connect(upstream, &QTcpSocket::readyRead, client,
                         [client, upstream] { client->write(upstream->readAll()); });
        QObject::connect(upstream, &QTcpSocket::connected, client,
                         [client, upstream] { upstream->write(client->readAll()); });
        QObject::connect(upstream, &QTcpSocket::disconnected, client,
                         [client] { client->disconnectFromHost(); });
        QObject::connect(client, &QSslSocket::disconnected, client, [client, upstream] {
            upstream->disconnectFromHost();
            client->deleteLater();
        });
        upstream->connectToHost(QHostAddress::LocalHost, m_backend);
    }

    QSslServer m_server;
    quint16 m_backend;
    int m_forwarded = 0;
};

// Runs openssl with `args` in `dir`; false (with its output in `error`) when it fails.
bool openssl(const QString &dir, const QStringList &args, QString *error) {
    QProcess p;
    p.setWorkingDirectory(dir);
    p.start(QStringLiteral("openssl"), args);
    if (!p.waitForFinished(60000) || p.exitCode() != 0) {
        *error = QString::fromUtf8(p.readAllStandardError());
        return false;
    }
    return true;
}

} // namespace

class TestOperators : public QObject {
    Q_OBJECT

private:
    static constexpr const char *kVeraPassword = "vera-viewer-password";
    static constexpr const char *kMaxPassword = "max-merch-password-1";
    static constexpr const char *kDoraPassword = "dora-disabled-pass-1";
    static constexpr const char *kWrongPassword = "Wr0ng-Pa55word-Canary";

    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    Backend m_throttled; // its own address budget: the throttle row spends it
    QTemporaryDir m_dir;
    QByteArray m_adminPassword;
    qint64 m_saleId = 0;

    AdminClient::Reply call(AdminClient &c, Op op, const QJsonObject &args) {
        std::optional<AdminClient::Reply> reply;
        c.request(op, args, [&reply](const AdminClient::Reply &r) { reply = r; });
        (void)QTest::qWaitFor([&reply] { return reply.has_value(); }, 10000);
        return reply.value_or(AdminClient::Reply{});
    }
    QUrl url(const Backend &b) const {
        return QUrl(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(b.port()));
    }
    bool login(AdminClient &c, const QString &name, const QByteArray &password) {
        c.open(url(m_backend), {name, QString::fromUtf8(password), {}});
        return QTest::qWaitFor([&c] { return c.state() == AdminClient::State::Connected; }, 10000);
    }
    QByteArray lastActor(const QByteArray &action) {
        return m_db.scalar("SELECT actor FROM audit_log WHERE action = '" + action
                           + "' ORDER BY id DESC LIMIT 1");
    }
    QJsonObject saleSpec(const QString &name) const {
        return QJsonObject{{"name", name},
                           {"starts_at", rfc3339(-1000)},
                           {"ends_at", rfc3339(3600000)},
                           {"stock", 3},
                           {"price_cents", 100}};
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        const QString file = m_dir.filePath("bootstrap-operator");
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_BOOTSTRAP_OPERATOR_FILE", file},
                                  // The rows below fail many logins from 127.0.0.1 on purpose;
                                  // the throttle row has its own server with the default 10.
                                  {"FLASHSALE_MAX_FAILED_LOGINS", "1000"}}),
                 qPrintable(m_backend.error()));
        QVERIFY2(m_throttled.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                    {"FLASHSALE_PG_URL", m_db.url()}}),
                 qPrintable(m_throttled.error()));

        // The bootstrap operator: "admin", its password alone in a 0600 file.
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        m_adminPassword = f.readAll().trimmed();
        QCOMPARE(m_adminPassword.size(), 32);
        QCOMPARE(
            f.permissions()
                & (QFile::ReadGroup | QFile::ReadOther | QFile::WriteGroup | QFile::WriteOther),
            QFile::Permissions());

        AdminClient admin;
        QVERIFY(login(admin, QStringLiteral("admin"), m_adminPassword));
        QCOMPARE(admin.role(), QStringLiteral("admin"));
        for (const auto &[name, role, password] : {std::tuple{"vera", "viewer", kVeraPassword},
                                                   std::tuple{"max", "merchandiser", kMaxPassword},
                                                   std::tuple{"dora", "admin", kDoraPassword}}) {
            const auto r = call(admin, Op::OperatorCreate,
                                {{"name", name}, {"role", role}, {"password", password}});
            QVERIFY2(r.ok, qPrintable(r.failure.message));
        }
        QVERIFY(call(admin, Op::OperatorDisable, {{"name", "dora"}}).ok);
        const auto sale = call(admin, Op::SaleCreate, saleSpec(QStringLiteral("Target")));
        QVERIFY2(sale.ok, qPrintable(sale.failure.message));
        m_saleId = sale.result.value("sale").toObject().value("id").toInteger();
    }

    void attack_data() {
        QTest::addColumn<int>("unused");
        for (const char *row :
             {"no credential", "wrong password", "unknown operator", "disabled operator",
              "bootstrap token", "viewer calls a merchandiser op", "merchandiser calls stop",
              "X-Flashsale-Actor spoofing", "HTTP create and warm are audited", "11 failed logins",
              "login flood", "messages before the login", "password never in logs or argv"})
            QTest::addRow("%s", row) << 0;
    }

    void attack() {
        const QByteArray name = QTest::currentDataTag();
        const quint16 port = m_backend.port();
        const QByteArray salePath = "/api/v1/admin/sales";

        if (name == "no credential") {
            // WebSocket: refused at the handshake, no upgrade.
            const HttpResponse ws = httpRaw(port, upgradeRequest({}));
            QCOMPARE(ws.status, 401);
            QCOMPARE(ws.problemType(), QStringLiteral("/problems/unauthorized"));
            QVERIFY(!ws.headers.contains("sec-websocket-accept"));
            QVERIFY(ws.headers.value("www-authenticate").startsWith("Basic"));
            // HTTP admin route: 401, nothing created.
            const HttpResponse r = postJson(port, salePath, saleSpec("no credential"));
            QCOMPARE(r.status, 401);
            QCOMPARE(r.problemType(), QStringLiteral("/problems/unauthorized"));
            QCOMPARE(m_db.scalar("SELECT count(*) FROM sales WHERE name = 'no credential'"),
                     QByteArray("0"));
        } else if (name == "wrong password" || name == "unknown operator"
                   || name == "disabled operator") {
            const QByteArray auth = name == "wrong password"     ? basic("max", kWrongPassword)
                                    : name == "unknown operator" ? basic("mallory", kWrongPassword)
                                                                 : basic("dora", kDoraPassword);
            const WsLogin ws = wsLogin(port, auth);
            QVERIFY(ws.upgraded);
            QVERIFY2(ws.first.value("ok") == QJsonValue(false),
                     QJsonDocument(ws.first).toJson().constData());
            QVERIFY(ws.first.value("id").isNull());
            QCOMPARE(ws.first.value("error").toObject().value("code").toString(),
                     QStringLiteral("unauthorized"));
            QVERIFY(ws.closed);
            QCOMPARE(ws.closeCode, int(QWebSocketProtocol::CloseCodePolicyViolated));
            // The same answer whichever part was wrong: names cannot be probed.
            QCOMPARE(ws.first.value("error").toObject().value("message").toString(),
                     QStringLiteral("Unknown operator, wrong password, or disabled."));
            const HttpResponse r = postJson(port, salePath, saleSpec(QString::fromLatin1(name)), {},
                                            {{"Authorization", auth}});
            QCOMPARE(r.status, 401);
            QCOMPARE(r.problemType(), QStringLiteral("/problems/unauthorized"));
            // AdminClient reports it as refused(401), once.
            AdminClient c;
            QSignalSpy refused(&c, &AdminClient::refused);
            const QByteArray decoded = QByteArray::fromBase64(auth.mid(6));
            c.open(url(m_backend), {QString::fromUtf8(decoded.left(decoded.indexOf(':'))),
                                    QString::fromUtf8(decoded.mid(decoded.indexOf(':') + 1)),
                                    {}});
            QVERIFY(refused.wait(10000));
            QCOMPARE(refused.first().at(0).toInt(), 401);
            QCOMPARE(c.state(), AdminClient::State::Disconnected);
        } else if (name == "bootstrap token") {
            const WsLogin wrong = wsLogin(port, "Bearer not-the-bootstrap-token-000");
            QCOMPARE(wrong.first.value("error").toObject().value("code").toString(),
                     QStringLiteral("unauthorized"));
            QVERIFY(wrong.closed);
            const HttpResponse r = postJson(port, salePath, saleSpec("wrong bootstrap"),
                                            "not-the-bootstrap-token-000");
            QCOMPARE(r.status, 401);
            // The real token acts as operator "bootstrap", role admin, and is audited as such.
            const WsLogin ok = wsLogin(port, QByteArray("Bearer ") + Backend::kAdminToken);
            QCOMPARE(ok.first.value("event").toString(), QStringLiteral("hello"));
            QCOMPARE(ok.first.value("data").toObject().value("operator").toObject(),
                     (QJsonObject{{"name", "bootstrap"}, {"role", "admin"}}));
            const HttpResponse created =
                postJson(port, salePath, saleSpec("by bootstrap"), Backend::kAdminToken);
            QCOMPARE(created.status, 201);
            QCOMPARE(lastActor("sale.create"), QByteArray("bootstrap"));
        } else if (name == "viewer calls a merchandiser op") {
            AdminClient vera;
            QVERIFY(login(vera, QStringLiteral("vera"), kVeraPassword));
            QVERIFY(!vera.allows(Op::SalePause));
            QVERIFY(vera.allows(Op::SaleList));
            for (const auto &[op, args] :
                 {std::pair{Op::SalePause, QJsonObject{{"sale_id", m_saleId}}},
                  std::pair{Op::SaleCreate, saleSpec("by vera")},
                  std::pair{Op::ReconcileRun, QJsonObject{{"sale_id", m_saleId}}}}) {
                const auto r = call(vera, op, args);
                QVERIFY(!r.ok);
                QCOMPARE(r.failure.code, AdminError::Forbidden);
            }
            const HttpResponse r = postJson(port, salePath, saleSpec("by vera"), {},
                                            {{"Authorization", basic("vera", kVeraPassword)}});
            QCOMPARE(r.status, 403);
            QCOMPARE(r.problemType(), QStringLiteral("/problems/forbidden"));
            QCOMPARE(m_db.scalar("SELECT count(*) FROM sales WHERE name = 'by vera'"),
                     QByteArray("0"));
            QCOMPARE(
                m_db.scalar("SELECT state FROM sales WHERE id = " + QByteArray::number(m_saleId)),
                QByteArray("active"));
        } else if (name == "merchandiser calls stop") {
            AdminClient max;
            QVERIFY(login(max, QStringLiteral("max"), kMaxPassword));
            QVERIFY(!max.allows(Op::SaleStop));
            const auto stop = call(max, Op::SaleStop, {{"sale_id", m_saleId}});
            QCOMPARE(stop.failure.code, AdminError::Forbidden);
            const auto repair =
                call(max, Op::ReconcileRun, {{"sale_id", m_saleId}, {"repair", true}});
            QCOMPARE(repair.failure.code, AdminError::Forbidden);
            const auto ops = call(max, Op::OperatorCreate,
                                  {{"name", "maxs-friend"},
                                   {"role", "admin"},
                                   {"password", "a-long-enough-password"}});
            QCOMPARE(ops.failure.code, AdminError::Forbidden);
            QCOMPARE(
                m_db.scalar("SELECT state FROM sales WHERE id = " + QByteArray::number(m_saleId)),
                QByteArray("active"));
            QCOMPARE(m_db.scalar("SELECT count(*) FROM operators WHERE name = 'maxs-friend'"),
                     QByteArray("0"));
        } else if (name == "X-Flashsale-Actor spoofing") {
            QWebSocket socket;
            QList<QJsonObject> messages;
            QObject::connect(&socket, &QWebSocket::textMessageReceived, [&](const QString &t) {
                messages.append(QJsonDocument::fromJson(t.toUtf8()).object());
            });
            QNetworkRequest req(url(m_backend));
            req.setRawHeader("Authorization", basic("max", kMaxPassword));
            req.setRawHeader("X-Flashsale-Actor", "admin");
            socket.open(req);
            QTRY_VERIFY_WITH_TIMEOUT(!messages.isEmpty(), 10000);
            QCOMPARE(messages.first()
                         .value("data")
                         .toObject()
                         .value("operator")
                         .toObject()
                         .value("name"),
                     QJsonValue("max"));
            socket.sendTextMessage(
                QStringLiteral(R"({"v":1,"id":"p1","op":"sale.pause","args":{"sale_id":%1}})")
                    .arg(m_saleId));
            QTRY_VERIFY_WITH_TIMEOUT(messages.size() >= 2 && messages.last().value("id") == "p1",
                                     10000);
            QVERIFY(messages.last().value("ok").toBool());
            QCOMPARE(lastActor("sale.pause"), QByteArray("max"));
            const HttpResponse r = postJson(
                port, salePath, saleSpec("spoofed"), {},
                {{"Authorization", basic("max", kMaxPassword)}, {"X-Flashsale-Actor", "admin"}});
            QCOMPARE(r.status, 201);
            QCOMPARE(lastActor("sale.create"), QByteArray("max"));
            AdminClient admin;
            QVERIFY(login(admin, QStringLiteral("admin"), m_adminPassword));
            QVERIFY(call(admin, Op::SaleResume, {{"sale_id", m_saleId}}).ok);
        } else if (name == "HTTP create and warm are audited") {
            const auto auth =
                QList<QPair<QByteArray, QByteArray>>{{"Authorization", basic("max", kMaxPassword)}};
            const HttpResponse created = postJson(port, salePath, saleSpec("via http"), {}, auth);
            QCOMPARE(created.status, 201);
            const QByteArray id = QByteArray::number(created.json().value("id").toInteger());
            QCOMPARE(m_db.scalar("SELECT actor || ' ' || (after->>'name') FROM audit_log WHERE "
                                 "action = 'sale.create' AND sale_id = "
                                 + id),
                     QByteArray("max via http"));
            const HttpResponse warmed = http(port, "POST", salePath + "/" + id + "/warm", {}, auth);
            QCOMPARE(warmed.status, 200);
            QCOMPARE(m_db.scalar("SELECT actor FROM audit_log WHERE action = 'sale.warm' AND "
                                 "sale_id = "
                                 + id),
                     QByteArray("max"));
            // A viewer may not warm, and nothing is audited for the refusal.
            const HttpResponse denied = http(port, "POST", salePath + "/" + id + "/warm", {},
                                             {{"Authorization", basic("vera", kVeraPassword)}});
            QCOMPARE(denied.status, 403);
            QCOMPARE(m_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'sale.warm' AND "
                                 "sale_id = "
                                 + id),
                     QByteArray("1"));
        } else if (name == "11 failed logins") {
            const quint16 tp = m_throttled.port();
            for (int i = 1; i <= 10; ++i) {
                const HttpResponse r =
                    postJson(tp, salePath, saleSpec("guess"), {},
                             {{"Authorization", basic("max", "guess-" + QByteArray::number(i))}});
                QVERIFY2(r.status == 401,
                         qPrintable(QStringLiteral("attempt %1: %2").arg(i).arg(r.status)));
            }
            // The 11th is refused before its password is looked at, even the right one.
            const HttpResponse r = postJson(tp, salePath, saleSpec("guess"), {},
                                            {{"Authorization", basic("max", kMaxPassword)}});
            QCOMPARE(r.status, 429);
            QCOMPARE(r.problemType(), QStringLiteral("/problems/too-many-login-attempts"));
            const int retryAfter = r.headers.value("retry-after").toInt();
            QVERIFY2(retryAfter >= 1 && retryAfter <= 60, r.headers.value("retry-after"));
            // On the WebSocket too: the handshake itself is answered 429, nothing is upgraded.
            const WsLogin ws = wsLogin(tp, basic("max", kMaxPassword));
            QVERIFY(!ws.upgraded);
            QVERIFY2(ws.error.contains(QLatin1String("429")), qPrintable(ws.error));
            AdminClient c;
            QSignalSpy refused(&c, &AdminClient::refused);
            c.open(url(m_throttled),
                   {QStringLiteral("max"), QString::fromLatin1(kMaxPassword), {}});
            QVERIFY(refused.wait(10000));
            QCOMPARE(refused.first().at(0).toInt(), 429);
            // Another server process (another address budget) still lets max in.
            AdminClient other;
            QVERIFY(login(other, QStringLiteral("max"), kMaxPassword));
            // Each failure was logged at warning level with name and address.
            QTRY_VERIFY_WITH_TIMEOUT(m_throttled.log().count("failed admin login") >= 10, 5000);
            QVERIFY(m_throttled.log().contains("operator max from 127.0.0.1"));
        } else if (name == "login flood") {
            // 100 logins at once (under the per-address limit of this server): argon2 runs on
            // two threads with at most 32 waiting, so the rest are turned away at once with a
            // 503, none hangs, and a real operator gets in right after.
            QList<QByteArray> requests;
            const QByteArray body = QJsonDocument(saleSpec("flood")).toJson(QJsonDocument::Compact);
            for (int i = 0; i < 100; ++i)
                requests << RawHttpConnection::format(
                    "POST", salePath, body,
                    {{"Content-Type", "application/json"},
                     {"Authorization", basic("max", "flood-" + QByteArray::number(i))}});
            QElapsedTimer clock;
            clock.start();
            // Meanwhile /healthz, on the same event loops, answers at once: argon2 runs beside
            // them, never on them.
            RawHttpConnection health(port);
            qint64 healthMs = -1;
            QTimer::singleShot(100, &health, [&] {
                QElapsedTimer h;
                h.start();
                health.sendRequest("GET", "/healthz", {}, {}, [&, h](const HttpResponse &r) {
                    if (r.status == 200)
                        healthMs = h.elapsed();
                });
            });
            const QList<HttpResponse> answers = sendAll(port, requests, 100, 60000);
            QTRY_VERIFY_WITH_TIMEOUT(healthMs >= 0, 5000);
            int refused = 0;
            int busy = 0;
            for (const HttpResponse &r : answers) {
                QVERIFY2(r.status == 401 || r.status == 503, QByteArray::number(r.status));
                refused += r.status == 401;
                if (r.status == 503) {
                    ++busy;
                    QCOMPARE(r.headers.value("retry-after"), QByteArray("1"));
                }
            }
            qInfo("login flood: %d refused after argon2, %d turned away busy, in %lld ms; "
                  "/healthz meanwhile in %lld ms",
                  refused, busy, qlonglong(clock.elapsed()), qlonglong(healthMs));
            QVERIFY2(healthMs < 500, QByteArray::number(healthMs));
            QVERIFY2(busy > 0, "the pool never filled");
            QVERIFY(refused >= 32);
            AdminClient max;
            QVERIFY(login(max, QStringLiteral("max"), kMaxPassword));
            QCOMPARE(m_db.scalar("SELECT count(*) FROM sales WHERE name = 'flood'"),
                     QByteArray("0"));
        } else if (name == "messages before the login") {
            // Requests sent before the login finished wait for it: answered after the hello
            // when it succeeds, never when it fails, and a client that piles them up is closed.
            const auto pipelined = [&](const QByteArray &auth, int count, int padding) {
                QWebSocket socket;
                QList<QJsonObject> messages;
                bool closed = false;
                QObject::connect(&socket, &QWebSocket::textMessageReceived, [&](const QString &t) {
                    messages.append(QJsonDocument::fromJson(t.toUtf8()).object());
                });
                QObject::connect(&socket, &QWebSocket::disconnected, [&] { closed = true; });
                QObject::connect(&socket, &QWebSocket::connected, [&] {
                    for (int i = 0; i < count; ++i)
                        socket.sendTextMessage(
                            QStringLiteral(
                                R"({"v":1,"id":"q%1","op":"sale.list","args":{"limit":1}%2})")
                                .arg(i)
                                .arg(padding ? QStringLiteral(R"(,"pad":"%1")")
                                                   .arg(QString(padding, QLatin1Char('x')))
                                             : QString()));
                });
                QNetworkRequest req(url(m_backend));
                req.setRawHeader("Authorization", auth);
                socket.open(req);
                (void)QTest::qWaitFor([&] { return closed || messages.size() > count; }, 10000);
                QTest::qWait(200); // a wait on purpose: nothing more may come
                return std::pair{messages, closed};
            };
            const auto [ok, okClosed] = pipelined(basic("vera", kVeraPassword), 5, 0);
            QVERIFY(!okClosed);
            QCOMPARE(ok.size(), 6);
            QCOMPARE(ok.first().value("event").toString(), QStringLiteral("hello"));
            for (qsizetype i = 1; i < ok.size(); ++i)
                QVERIFY(ok[i].value("ok").toBool());
            const auto [bad, badClosed] = pipelined(basic("vera", kWrongPassword), 5, 0);
            QVERIFY(badClosed);
            QCOMPARE(bad.size(), 1);
            QCOMPARE(bad.first().value("error").toObject().value("code").toString(),
                     QStringLiteral("unauthorized"));
            // 17 messages, or 4 of 20 KB, before the login (the right password this time): the
            // connection is closed, and none of them is answered.
            for (const auto &[count, padding] : {std::pair{17, 0}, std::pair{4, 20000}}) {
                const auto [flood, floodClosed] =
                    pipelined(basic("vera", kVeraPassword), count, padding);
                QVERIFY(floodClosed);
                for (const QJsonObject &m : flood)
                    QVERIFY2(!m.contains("ok") && m.value("event") != "hello",
                             QJsonDocument(m).toJson().constData());
            }
        } else if (name == "password never in logs or argv") {
            for (const Backend *b : {&m_backend, &m_throttled}) {
                const QByteArray log = b->log();
                QVERIFY(log.contains("failed admin login"));
                for (const QByteArray &secret :
                     {QByteArray(kWrongPassword), QByteArray(kVeraPassword),
                      QByteArray(kMaxPassword), QByteArray(kDoraPassword), m_adminPassword,
                      QByteArray(Backend::kAdminToken), QByteArray("guess-1")})
                    QVERIFY2(!log.contains(secret), secret.constData());
                QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(b->pid()));
                QVERIFY(cmdline.open(QIODevice::ReadOnly));
                const QByteArray argv = cmdline.readAll();
                QVERIFY(!argv.isEmpty());
                QVERIFY(!argv.contains(Backend::kAdminToken));
                QVERIFY(!argv.contains(m_adminPassword));
            }
            QCOMPARE(m_db.scalar("SELECT count(*) FROM audit_log WHERE concat(before::text, "
                                 "after::text, detail::text) ~ "
                                 "'(vera-viewer-password|max-merch-password|dora-disabled-pass|"
                                 "argon2)'"),
                     QByteArray("0"));
            QCOMPARE(m_db.scalar("SELECT count(*) FROM operators WHERE password_hash NOT LIKE "
                                 "'$argon2id$%'"),
                     QByteArray("0"));
        } else {
            QFAIL("no such attack");
        }
    }

    // The client side of TLS: AdminClient in front of a TLS terminator whose certificate a
    // local CA signed for "localhost".
    void transport_data() {
        QTest::addColumn<QString>("url");     // %1: the proxy's port
        QTest::addColumn<bool>("withCa");     // setCaFile(the local CA)
        QTest::addColumn<bool>("connects");   // else refused(0, ...)
        QTest::addColumn<QString>("refusal"); // part of the refusal
        QTest::addRow("credentials over ws:// to a remote host")
            << "ws://192.0.2.10:%1/admin/v1/ws" << true << false << "unencrypted ws://";
        QTest::addRow("wss:// to a certificate no trusted CA signed")
            << "wss://localhost:%1/admin/v1/ws" << false << false << "TLS certificate";
        QTest::addRow("wss:// to a name the certificate does not carry")
            << "wss://127.0.0.1:%1/admin/v1/ws" << true << false << "TLS certificate";
        QTest::addRow("wss:// with the local CA")
            << "wss://localhost:%1/admin/v1/ws" << true << true << "";
    }

    void transport() {
        QFETCH(QString, url);
        QFETCH(bool, withCa);
        QFETCH(bool, connects);
        QFETCH(QString, refusal);
        QTemporaryDir dir;
        QString error;
        const QString d = dir.path();
        QVERIFY2(
            openssl(d,
                    {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj",
                     "/CN=flashsale test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign"},
                    &error),
            qPrintable(error));
        QVERIFY2(
            openssl(d,
                    {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"},
                    &error),
            qPrintable(error));
        QFile ext(dir.filePath("server.ext"));
        QVERIFY(ext.open(QIODevice::WriteOnly));
        ext.write("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n");
        ext.close();
        QVERIFY2(openssl(d,
                         {"x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                          "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile",
                          "server.ext"},
                         &error),
                 qPrintable(error));
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        const auto certs = QSslCertificate::fromPath(dir.filePath("server.pem"));
        QCOMPARE(certs.size(), 1);
        tls.setLocalCertificate(certs.first());
        QFile keyFile(dir.filePath("server.key"));
        QVERIFY(keyFile.open(QIODevice::ReadOnly));
        tls.setPrivateKey(QSslKey(keyFile.readAll(), QSsl::Ec));
        tls.setPeerVerifyMode(QSslSocket::VerifyNone);
        TlsProxy proxy(m_backend.port(), tls);
        QVERIFY(proxy.port() != 0);

        AdminClient c;
        QSignalSpy refused(&c, &AdminClient::refused);
        if (withCa)
            c.setCaFile(dir.filePath("ca.pem"));
        c.open(QUrl(url.arg(proxy.port())),
               {QStringLiteral("max"), QString::fromLatin1(kMaxPassword), {}});
        if (connects) {
            QTRY_COMPARE_WITH_TIMEOUT(c.state(), AdminClient::State::Connected, 10000);
            QCOMPARE(c.operatorName(), QStringLiteral("max"));
            QVERIFY(call(c, Op::Ping, {}).ok);
            QCOMPARE(refused.size(), 0);
            QCOMPARE(proxy.forwarded(), 1);
            return;
        }
        QVERIFY(refused.wait(10000));
        QCOMPARE(refused.first().at(0).toInt(), 0);
        QVERIFY2(refused.first().at(1).toString().contains(refusal),
                 qPrintable(refused.first().at(1).toString()));
        QCOMPARE(c.state(), AdminClient::State::Disconnected);
        // Nothing, credentials included, got past the TLS handshake to the server.
        QCOMPARE(proxy.forwarded(), 0);
    }
};

QTEST_GUILESS_MAIN(TestOperators)
#include "tst_operators.moc"
