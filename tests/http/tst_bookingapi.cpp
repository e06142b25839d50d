// The HTTP API of flashsale-server, over real sockets against the real binary, with real
// redis-server and PostgreSQL behind it: every status a buyer or operator can get, malformed
// input, the connection limits, health and metrics, and a Redis outage.

#include "booking/salekeys.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <atomic>
#include <csignal>
#include <thread>

using namespace flashsale;
using namespace flashsale::test;

using Headers = QList<QPair<QByteArray, QByteArray>>;

class TestBookingApi : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    std::unique_ptr<RedisSync> m_redis;
    quint16 m_port = 0;
    const QByteArray m_token = Backend::kAdminToken;

    // Creates a sale through the admin API; returns its JSON (id, items[].id).
    QJsonObject createSale(QJsonObject body) {
        if (!body.contains(QStringLiteral("name")))
            body.insert(QStringLiteral("name"), QStringLiteral("Test sale"));
        if (!body.contains(QStringLiteral("starts_at")))
            body.insert(QStringLiteral("starts_at"), rfc3339(-1000));
        if (!body.contains(QStringLiteral("ends_at")))
            body.insert(QStringLiteral("ends_at"), rfc3339(3600000));
        if (!body.contains(QStringLiteral("items"))
            && !body.contains(QStringLiteral("price_cents")))
            body.insert(QStringLiteral("price_cents"), 100);
        const HttpResponse r = postJson(m_port, "/api/v1/admin/sales", body, m_token);
        if (r.status != 201)
            qWarning("create sale failed: %d %s", r.status, r.body.constData());
        return r.json();
    }

    HttpResponse book(qint64 sale, const QJsonObject &body, const Headers &headers = {}) {
        return postJson(m_port, "/api/v1/sales/" + QByteArray::number(sale) + "/book", body, {},
                        headers);
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_IDLE_TIMEOUT_MS", "1500"},
                                  {"FLASHSALE_REQUEST_TIMEOUT_MS", "1000"},
                                  {"FLASHSALE_MAX_CONNECTIONS", "40"},
                                  {"FLASHSALE_REDIS_TIMEOUT_MS", "300"}}),
                 qPrintable(m_backend.error()));
        m_port = m_backend.port();
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        // Both threads must have their Redis and PostgreSQL connections before the table runs.
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/readyz").status, 200, 10000);
    }

    void migrationsAppliedOnce() {
        const int files = QDir(QStringLiteral(":/sql")).entryList(QDir::Files).size();
        QVERIFY(files >= 1);
        QCOMPARE(m_db.scalar("SELECT count(*) FROM schema_migrations").toInt(), files);
        QCOMPARE(m_db.scalar("SELECT count(DISTINCT version) FROM schema_migrations").toInt(),
                 files);
    }

    void createAndReadSale() {
        const HttpResponse r = postJson(
            m_port, "/api/v1/admin/sales",
            QJsonObject{
                {"name", "Hourly drop"},
                {"per_user_limit", 3},
                {"starts_at", rfc3339(60000)},
                {"ends_at", rfc3339(3600000)},
                {"items",
                 QJsonArray{QJsonObject{{"name", "Cap"}, {"stock", 5}, {"price_cents", 1500}},
                            QJsonObject{{"name", "Mug"}, {"stock", 7}, {"price_cents", 900}}}}},
            m_token);
        QCOMPARE(r.status, 201);
        const qint64 id = r.json().value(QStringLiteral("id")).toInteger();
        QVERIFY(id > 0);
        QCOMPARE(r.headers.value("location"), "/api/v1/sales/" + QByteArray::number(id));
        QCOMPARE(r.json().value(QStringLiteral("items")).toArray().size(), 2);
        // Stored in PostgreSQL, the source of truth...
        QCOMPARE(
            m_db.scalar("SELECT count(*) FROM sale_items WHERE sale_id = " + QByteArray::number(id))
                .toInt(),
            2);
        QCOMPARE(
            m_db.scalar("SELECT per_user_limit FROM sales WHERE id = " + QByteArray::number(id))
                .toInt(),
            3);
        // ...and warmed into Redis under the sale's hash tag before it opens.
        QCOMPARE(m_redis->hash(SaleKeys(id).meta()).value("state"), QByteArray("active"));

        const HttpResponse g = http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(id));
        QCOMPARE(g.status, 200);
        const QJsonObject sale = g.json();
        QCOMPARE(sale.value(QStringLiteral("state")).toString(), QStringLiteral("scheduled"));
        QCOMPARE(sale.value(QStringLiteral("remaining")).toInt(), 12);
        QCOMPARE(sale.value(QStringLiteral("items"))
                     .toArray()
                     .at(1)
                     .toObject()
                     .value(QStringLiteral("name"))
                     .toString(),
                 QStringLiteral("Mug"));
        QVERIFY(sale.contains(QStringLiteral("server_time")));

        // Warming again leaves it as it is.
        const HttpResponse w = postJson(
            m_port, "/api/v1/admin/sales/" + QByteArray::number(id) + "/warm", {}, m_token);
        QCOMPARE(w.status, 200);
        QCOMPARE(w.json().value(QStringLiteral("warmed")).toBool(), false);
        QCOMPARE(http(m_port, "GET", "/api/v1/sales/999999").status, 404);
    }

    void statuses_data() {
        QTest::addColumn<QString>("sale");       // how the sale is set up
        QTest::addColumn<QStringList>("before"); // "user:qty[:key]" bookings made first
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<QByteArray>("path"); // "{sale}" is replaced by the sale id
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<Headers>("headers");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("type");
        QTest::addColumn<QByteArray>("header"); // a header the answer must carry

        const QByteArray bookPath = "/api/v1/sales/{sale}/book";
        const Headers none;
        QTest::addRow("202 accepted") << "open" << QStringList{} << QByteArray("POST") << bookPath
                                      << QByteArray(R"({"user_id":"ann","quantity":1})") << none
                                      << 202 << QString() << QByteArray("location");
        QTest::addRow("404 unknown sale")
            << "open" << QStringList{} << QByteArray("POST")
            << QByteArray("/api/v1/sales/888888/book") << QByteArray(R"({"user_id":"ann"})") << none
            << 404 << "/problems/sale-not-found" << QByteArray();
        QTest::addRow("404 sale id not a number")
            << "open" << QStringList{} << QByteArray("POST") << QByteArray("/api/v1/sales/x1/book")
            << QByteArray(R"({"user_id":"ann"})") << none << 404 << "/problems/sale-not-found"
            << QByteArray();
        QTest::addRow("404 unknown item")
            << "open" << QStringList{} << QByteArray("POST") << bookPath
            << QByteArray(R"({"user_id":"ann","item_id":999999})") << none << 404
            << "/problems/item-not-found" << QByteArray();
        QTest::addRow("400 item required") << "multi" << QStringList{} << QByteArray("POST")
                                           << bookPath << QByteArray(R"({"user_id":"ann"})") << none
                                           << 400 << "/problems/item-required" << QByteArray();
        QTest::addRow("403 not started")
            << "future" << QStringList{} << QByteArray("POST") << bookPath
            << QByteArray(R"({"user_id":"ann"})") << none << 403 << "/problems/sale-not-started"
            << QByteArray("retry-after");
        QTest::addRow("403 closed") << "stopped" << QStringList{} << QByteArray("POST") << bookPath
                                    << QByteArray(R"({"user_id":"ann"})") << none << 403
                                    << "/problems/sale-closed" << QByteArray();
        QTest::addRow("403 paused") << "paused" << QStringList{} << QByteArray("POST") << bookPath
                                    << QByteArray(R"({"user_id":"ann"})") << none << 403
                                    << "/problems/sale-paused" << QByteArray();
        QTest::addRow("409 sold out") << "stock1" << QStringList{"bob:1"} << QByteArray("POST")
                                      << bookPath << QByteArray(R"({"user_id":"ann"})") << none
                                      << 409 << "/problems/sold-out" << QByteArray();
        QTest::addRow("409 fewer left than asked")
            << "stock2" << QStringList{"bob:1"} << QByteArray("POST") << bookPath
            << QByteArray(R"({"user_id":"ann","quantity":2})") << none << 409
            << "/problems/insufficient-stock" << QByteArray();
        QTest::addRow("409 per-user cap") << "limit1" << QStringList{"ann:1"} << QByteArray("POST")
                                          << bookPath << QByteArray(R"({"user_id":"ann"})") << none
                                          << 409 << "/problems/per-user-limit" << QByteArray();
        QTest::addRow("429 throttled") << "rate1" << QStringList{"bob:1"} << QByteArray("POST")
                                       << bookPath << QByteArray(R"({"user_id":"ann"})") << none
                                       << 429 << "/problems/throttled" << QByteArray("retry-after");
        QTest::addRow("202 idempotent replay")
            << "open" << QStringList{"ann:1:key-7"} << QByteArray("POST") << bookPath
            << QByteArray(R"({"user_id":"ann","quantity":1})")
            << Headers{{"Idempotency-Key", "key-7"}} << 202 << QString()
            << QByteArray("idempotent-replayed");
        QTest::addRow("422 idempotency key reused")
            << "open" << QStringList{"ann:1:key-8"} << QByteArray("POST") << bookPath
            << QByteArray(R"({"user_id":"ann","quantity":2})")
            << Headers{{"Idempotency-Key", "key-8"}} << 422 << "/problems/idempotency-key-reused"
            << QByteArray();
        QTest::addRow("400 bad idempotency key")
            << "open" << QStringList{} << QByteArray("POST") << bookPath
            << QByteArray(R"({"user_id":"ann"})")
            << Headers{{"Idempotency-Key", QByteArray(200, 'k')}} << 400
            << "/problems/invalid-request" << QByteArray();
        QTest::addRow("405 wrong method")
            << "open" << QStringList{} << QByteArray("GET") << bookPath << QByteArray() << none
            << 405 << "/problems/method-not-allowed" << QByteArray("allow");
        QTest::addRow("404 no route")
            << "open" << QStringList{} << QByteArray("GET") << QByteArray("/nope") << QByteArray()
            << none << 404 << "/problems/not-found" << QByteArray();
        QTest::addRow("415 not JSON content type")
            << "open" << QStringList{} << QByteArray("POST") << bookPath
            << QByteArray(R"({"user_id":"ann"})") << Headers{{"Content-Type", "text/plain"}} << 415
            << "/problems/unsupported-media-type" << QByteArray();
        QTest::addRow("401 admin without token")
            << "open" << QStringList{} << QByteArray("POST") << QByteArray("/api/v1/admin/sales")
            << QByteArray("{}") << none << 401 << "/problems/unauthorized"
            << QByteArray("www-authenticate");
        QTest::addRow("401 admin wrong token")
            << "open" << QStringList{} << QByteArray("POST") << QByteArray("/api/v1/admin/sales")
            << QByteArray("{}") << Headers{{"Authorization", "Bearer wrong-token-0123456789"}}
            << 401 << "/problems/unauthorized" << QByteArray();
        QTest::addRow("400 admin invalid sale")
            << "open" << QStringList{} << QByteArray("POST") << QByteArray("/api/v1/admin/sales")
            << QByteArray(R"({"name":"x","stock":-1,"starts_at":"soon"})")
            << Headers{{"Authorization", "Bearer " + QByteArray(Backend::kAdminToken)}} << 400
            << "/problems/invalid-request" << QByteArray();
    }

    void statuses() {
        QFETCH(QString, sale);
        QFETCH(QStringList, before);
        QFETCH(QByteArray, method);
        QFETCH(QByteArray, path);
        QFETCH(QByteArray, body);
        QFETCH(Headers, headers);
        QFETCH(int, status);
        QFETCH(QString, type);
        QFETCH(QByteArray, header);

        QJsonObject spec{{"stock", 10}, {"per_user_limit", 5}, {"admission_rate", 0}};
        if (sale == QLatin1String("multi"))
            spec = QJsonObject{
                {"items",
                 QJsonArray{QJsonObject{{"name", "A"}, {"stock", 1}, {"price_cents", 1}},
                            QJsonObject{{"name", "B"}, {"stock", 1}, {"price_cents", 1}}}}};
        else if (sale == QLatin1String("future"))
            spec.insert(QStringLiteral("starts_at"), rfc3339(600000));
        else if (sale == QLatin1String("stock1"))
            spec.insert(QStringLiteral("stock"), 1);
        else if (sale == QLatin1String("stock2"))
            spec.insert(QStringLiteral("stock"), 2);
        else if (sale == QLatin1String("limit1"))
            spec.insert(QStringLiteral("per_user_limit"), 1);
        else if (sale == QLatin1String("rate1"))
            spec = QJsonObject{{"stock", 10}, {"admission_rate", 1}, {"admission_burst", 1}};
        const qint64 id = createSale(spec).value(QStringLiteral("id")).toInteger();
        QVERIFY(id > 0);
        if (sale == QLatin1String("stopped") || sale == QLatin1String("paused"))
            m_redis->command({"HSET", SaleKeys(id).meta(), "state",
                              sale == QLatin1String("stopped") ? "stopped" : "paused"});
        for (const QString &b : before) {
            const QStringList p = b.split(QLatin1Char(':'));
            Headers h;
            if (p.size() > 2)
                h.append({"Idempotency-Key", p[2].toUtf8()});
            const HttpResponse r =
                book(id, QJsonObject{{"user_id", p[0]}, {"quantity", p[1].toInt()}}, h);
            QCOMPARE(r.status, 202);
        }

        path.replace("{sale}", QByteArray::number(id));
        const HttpResponse r =
            http(m_port, method, path, method == "GET" ? QByteArray() : body, headers);
        QCOMPARE(r.status, status);
        if (status >= 400) {
            QCOMPARE(r.headers.value("content-type"), QByteArray("application/problem+json"));
            QCOMPARE(r.problemType(), type);
            QCOMPARE(r.json().value(QStringLiteral("status")).toInt(), status);
            QVERIFY(!r.json().value(QStringLiteral("title")).toString().isEmpty());
        } else {
            QCOMPARE(r.json().value(QStringLiteral("status")).toString(),
                     QStringLiteral("reserved"));
            QVERIFY(r.json()
                        .value(QStringLiteral("reservation_id"))
                        .toString()
                        .startsWith(QString::number(id) + QLatin1Char('-')));
            QVERIFY(QDateTime::fromString(r.json().value(QStringLiteral("expires_at")).toString(),
                                          Qt::ISODateWithMs)
                        .isValid());
        }
        if (!header.isEmpty())
            QVERIFY2(r.headers.contains(header), header.constData());
    }

    void malformedBodies_data() {
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("pointer"); // the field named in "errors", when there is one

        QTest::addRow("empty") << QByteArray("") << 400 << QString();
        QTest::addRow("whitespace") << QByteArray("  \n ") << 400 << QString();
        QTest::addRow("not JSON") << QByteArray("user_id=ann") << 400 << QString();
        QTest::addRow("truncated JSON") << QByteArray(R"({"user_id":"ann")") << 400 << QString();
        QTest::addRow("array") << QByteArray(R"([{"user_id":"ann"}])") << 400 << QString();
        QTest::addRow("string") << QByteArray(R"("ann")") << 400 << QString();
        QTest::addRow("user_id missing") << QByteArray(R"({"quantity":1})") << 400 << "/user_id";
        QTest::addRow("user_id a number") << QByteArray(R"({"user_id":42})") << 400 << "/user_id";
        QTest::addRow("user_id empty") << QByteArray(R"({"user_id":""})") << 400 << "/user_id";
        QTest::addRow("user_id too long")
            << QByteArray(R"({"user_id":")" + QByteArray(65, 'a') + R"("})") << 400 << "/user_id";
        QTest::addRow("user_id with a colon")
            << QByteArray(R"({"user_id":"a:b"})") << 400 << "/user_id";
        QTest::addRow("quantity a string")
            << QByteArray(R"({"user_id":"ann","quantity":"2"})") << 400 << "/quantity";
        QTest::addRow("quantity zero")
            << QByteArray(R"({"user_id":"ann","quantity":0})") << 400 << "/quantity";
        QTest::addRow("quantity negative")
            << QByteArray(R"({"user_id":"ann","quantity":-3})") << 400 << "/quantity";
        QTest::addRow("quantity fractional")
            << QByteArray(R"({"user_id":"ann","quantity":1.5})") << 400 << "/quantity";
        QTest::addRow("quantity huge")
            << QByteArray(R"({"user_id":"ann","quantity":1e300})") << 400 << "/quantity";
        QTest::addRow("item_id a string")
            << QByteArray(R"({"user_id":"ann","item_id":"7"})") << 400 << "/item_id";
        QTest::addRow("unknown field")
            << QByteArray(R"({"user_id":"ann","coupon":"FREE"})") << 400 << "/coupon";
        QTest::addRow("invalid UTF-8")
            << QByteArray("{\"user_id\":\"\xff\xfe\"}") << 400 << QString();
        QTest::addRow("deeply nested")
            << QByteArray(20000, '[') + QByteArray(20000, ']') << 400 << QString();
        QTest::addRow("oversized")
            << QByteArray(R"({"user_id":")" + QByteArray(70000, 'a') + R"("})") << 413 << QString();
    }

    void malformedBodies() {
        QFETCH(QByteArray, body);
        QFETCH(int, status);
        QFETCH(QString, pointer);
        const qint64 id = createSale({{"stock", 5}}).value(QStringLiteral("id")).toInteger();
        const HttpResponse r =
            http(m_port, "POST", "/api/v1/sales/" + QByteArray::number(id) + "/book", body);
        QCOMPARE(r.status, status);
        QCOMPARE(r.headers.value("content-type"), QByteArray("application/problem+json"));
        QVERIFY(!r.json().value(QStringLiteral("detail")).toString().isEmpty());
        if (!pointer.isEmpty()) {
            const QJsonArray errors = r.json().value(QStringLiteral("errors")).toArray();
            QVERIFY2(!errors.isEmpty(), r.body.constData());
            QCOMPARE(errors.at(0).toObject().value(QStringLiteral("pointer")).toString(), pointer);
        }
        // Nothing was booked, and the server is still up.
        QCOMPARE(m_redis->integer({"XLEN", SaleKeys(id).stream()}), 0);
        QCOMPARE(http(m_port, "GET", "/healthz").status, 200);
    }

    void headersTooLarge() {
        const HttpResponse r =
            http(m_port, "GET", "/healthz", {}, {{"X-Padding", QByteArray(20000, 'p')}});
        QCOMPARE(r.status, 431);
        QCOMPARE(r.problemType(), QStringLiteral("/problems/headers-too-large"));
        QVERIFY(r.closed || r.headers.value("connection") == "close");
    }

    void chunkedBodyRefused() {
        const HttpResponse r =
            httpRaw(m_port, "POST /api/v1/sales/1/book HTTP/1.1\r\nHost: x\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        QCOMPARE(r.status, 411);
        QCOMPARE(r.problemType(), QStringLiteral("/problems/length-required"));
    }

    void slowRequestTimesOut() {
        // Slowloris: half a request, then nothing. The server answers 408 and closes.
        QElapsedTimer t;
        t.start();
        const HttpResponse r =
            httpRaw(m_port, "POST /api/v1/sales/1/book HTTP/1.1\r\nHost: x\r\nContent-Le", 8000);
        QCOMPARE(r.status, 408);
        QCOMPARE(r.problemType(), QStringLiteral("/problems/request-timeout"));
        QVERIFY2(t.elapsed() >= 900 && t.elapsed() < 5000,
                 qPrintable(QString::number(t.elapsed())));
        QTRY_VERIFY_WITH_TIMEOUT(r.closed || true, 10);
    }

    void idleConnectionClosed() {
        RawHttpConnection c(m_port);
        QSignalSpy closed(&c.socket(), &QTcpSocket::disconnected);
        int status = 0;
        c.sendRequest("GET", "/healthz", {}, {}, [&](const HttpResponse &r) { status = r.status; });
        QTRY_COMPARE(status, 200);
        QCOMPARE(closed.size(), 0);
        // Idle timeout is 1.5 s in this suite.
        QVERIFY(closed.wait(5000));
    }

    void keepAliveAndPipelining() {
        // Many requests on one connection: the limits' own framing must stay in step.
        RawHttpConnection c(m_port);
        int ok = 0;
        std::function<void()> next = [&] {
            c.sendRequest("POST", "/api/v1/sales/1/book", R"({"user_id":"keepalive"})", {},
                          [&](const HttpResponse &r) {
                              if (r.status > 0 && r.status != 413 && r.status != 431
                                  && r.status != 408)
                                  ++ok;
                              if (ok < 50 && r.status > 0)
                                  next();
                          });
        };
        next();
        QTRY_COMPARE(ok, 50);

        // Two requests in one write get two answers, in order.
        QByteArray two = RawHttpConnection::format("GET", "/healthz", {}, {})
                         + RawHttpConnection::format("GET", "/nope", {}, {});
        QTcpSocket s;
        s.connectToHost(QHostAddress::LocalHost, m_port);
        QVERIFY(s.waitForConnected(3000));
        s.write(two);
        QByteArray got;
        QTRY_VERIFY((got += s.readAll()).count("HTTP/1.1 ") == 2);
        QVERIFY(got.indexOf("200 OK") < got.indexOf("404"));
    }

    // Connections the server counts as open, by its own gauge (the scrape's own included).
    int openConnections() {
        const QByteArray m = http(m_backend.metricsPort(), "GET", "/metrics").body;
        const qsizetype i = m.indexOf("\nflashsale_http_connections_open ");
        return i < 0 ? -1 : m.mid(i + 33, 12).split('\n').first().trimmed().toInt();
    }

    void connectionCap() {
        // Connections of earlier tests must be gone first, or they count against the cap.
        QTRY_COMPARE_WITH_TIMEOUT(openConnections(), 1, 5000);
        // The cap is 40 in this suite. Open 41 connections at once, each kept open after its
        // answer (well within the 1.5 s idle timeout): 40 are served and one is refused. The
        // scrape above may still be closing and take one place, so 39 served is fine too.
        QList<RawHttpConnection *> held;
        auto release = qScopeGuard([&] { qDeleteAll(held); });
        QList<HttpResponse> answers;
        for (int i = 0; i < 41; ++i) {
            held << new RawHttpConnection(m_port);
            held.last()->sendRequest("GET", "/healthz", {}, {},
                                     [&](const HttpResponse &r) { answers << r; });
        }
        QTRY_COMPARE(answers.size(), 41);
        int served = 0;
        for (const HttpResponse &r : answers) {
            if (r.status == 200) {
                ++served;
                continue;
            }
            QCOMPARE(r.status, 503);
            QCOMPARE(r.problemType(), QStringLiteral("/problems/too-many-connections"));
            QCOMPARE(r.headers.value("retry-after"), QByteArray("1"));
        }
        QVERIFY2(served == 40 || served == 39, qPrintable(QString::number(served)));
        qDeleteAll(held);
        held.clear();
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/healthz").status, 200, 5000);
    }

    void checkoutAndPurchase() {
        const QJsonObject sale = createSale({{"stock", 2}, {"per_user_limit", 1}});
        const QByteArray item = QByteArray::number(sale.value(QStringLiteral("items"))
                                                       .toArray()
                                                       .at(0)
                                                       .toObject()
                                                       .value(QStringLiteral("id"))
                                                       .toInteger());
        const HttpResponse c = http(m_port, "POST", "/checkout?user_id=carl&id=" + item);
        QVERIFY2(c.status == 202, c.body.constData());
        const QByteArray code = c.json().value(QStringLiteral("code")).toString().toUtf8();
        QVERIFY(!code.isEmpty());
        QCOMPARE(http(m_port, "POST", "/checkout?user_id=carl&id=" + item).status, 409); // cap of 1

        // Only carl may confirm carl's hold, dev mode included: dev mode issues him a token.
        const HttpResponse t = postJson(m_port, "/api/v1/dev/tokens", {{"user_id", "carl"}});
        QCOMPARE(t.status, 201);
        const Headers carl{
            {"Authorization", "Bearer " + t.json().value("token").toString().toUtf8()}};
        QCOMPARE(http(m_port, "POST", "/purchase?code=" + code).status, 404);
        // The seed's ?code= still works (DESIGN.md scenario 2), with the owner's token.
        const HttpResponse p = http(m_port, "POST", "/purchase?code=" + code, {}, carl);
        QCOMPARE(p.status, 202);
        QCOMPARE(p.json().value(QStringLiteral("status")).toString(), QStringLiteral("confirmed"));
        QCOMPARE(p.json().value(QStringLiteral("amount_cents")).toInt(), 100);
        const HttpResponse again = http(m_port, "POST", "/purchase?code=" + code, {}, carl);
        QCOMPARE(again.status, 202);
        QCOMPARE(again.headers.value("idempotent-replayed"), QByteArray("true"));

        QCOMPARE(http(m_port, "POST",
                      "/purchase?code=" + code.left(code.indexOf('-')) + "-" + QByteArray(32, 'a'),
                      {}, carl)
                     .status,
                 404);
        QCOMPARE(http(m_port, "POST", "/purchase?code=garbage", {}, carl).status, 404);
        QCOMPARE(http(m_port, "POST", "/purchase", {}, carl).status, 400);
        QCOMPARE(http(m_port, "POST", "/checkout?user_id=carl&id=999999").status, 404);
        QCOMPARE(http(m_port, "POST", "/checkout?id=" + item).status, 400);
        const SaleKeys k(sale.value(QStringLiteral("id")).toInteger());
        QCOMPARE(m_redis->integer({"XLEN", k.stream()}), 2); // one booking, one confirmation
    }

    void scriptsReloadAfterFlush() {
        // After a Redis restart or failover the script cache is empty and EVALSHA answers
        // NOSCRIPT; the server must re-send the script and still book.
        const qint64 id = createSale({{"stock", 5}}).value(QStringLiteral("id")).toInteger();
        QCOMPARE(book(id, {{"user_id", "before-flush"}}).status, 202);
        QCOMPARE(m_redis->one({"SCRIPT", "FLUSH"}), QByteArray("OK"));
        for (int i = 0; i < 4; ++i) // both threads meet the empty cache
            QCOMPARE(book(id, {{"user_id", QStringLiteral("after-flush-%1").arg(i)}}).status, 202);
        QCOMPARE(m_redis->integer({"XLEN", SaleKeys(id).stream()}), 5);
        QCOMPARE(http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(id))
                     .json()
                     .value(QStringLiteral("remaining"))
                     .toInt(),
                 0);
    }

    // A client that gave up on its booking (closed the connection after its own timeout) while
    // the server was stalled gets nothing booked when the server resumes: it may already have
    // retried and been refused, and refusals are not kept under its Idempotency-Key. The
    // 30-minute chaos run found 4 orders no client knew of, booked by an API process frozen 6 s
    // after the clients' retries had been answered 403 (the sale was paused meanwhile).
    void bookingWhoseClientLeftBooksNothing() {
        const qint64 id = createSale({{"stock", 5}}).value(QStringLiteral("id")).toInteger();
        const auto metric = [this] {
            const QByteArray text = http(m_backend.metricsPort(), "GET", "/metrics").body;
            const QByteArray name = "\nflashsale_bookings_abandoned_total ";
            const qsizetype at = text.indexOf(name);
            return at < 0
                       ? 0
                       : text.mid(at + name.size(), text.indexOf('\n', at + 1) - at - name.size())
                             .toLongLong();
        };
        const qint64 before = metric();
        const QByteArray body = R"({"user_id":"left-buyer"})";
        const QByteArray raw = "POST /api/v1/sales/" + QByteArray::number(id)
                               + "/book HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                 "application/json\r\nIdempotency-Key: left-1\r\nContent-Length: "
                               + QByteArray::number(body.size()) + "\r\n\r\n" + body;

        // The server stalls; the request and then the client's close wait in its socket.
        QCOMPARE(::kill(pid_t(m_backend.pid()), SIGSTOP), 0);
        auto resume = qScopeGuard([this] { ::kill(pid_t(m_backend.pid()), SIGCONT); });
        // kill() returns before a busy process has stopped: wait until it has.
        QTRY_COMPARE_WITH_TIMEOUT(processState(m_backend.pid()), 'T', 5000);
        {
            QTcpSocket client;
            client.connectToHost(QHostAddress::LocalHost, m_port);
            QVERIFY(client.waitForConnected(2000)); // the kernel completes it for the server
            client.write(raw);
            QVERIFY(client.waitForBytesWritten(2000));
            client.disconnectFromHost(); // FIN after the request: the client gave up
        }
        QTest::qWait(200);
        resume.dismiss();
        QCOMPARE(::kill(pid_t(m_backend.pid()), SIGCONT), 0);
        QTRY_COMPARE_WITH_TIMEOUT(metric(), before + 1, 10000);
        QCOMPARE(m_redis->integer({"XLEN", SaleKeys(id).stream()}), 0);
        QCOMPARE(http(m_port, "GET", "/api/v1/sales/" + QByteArray::number(id))
                     .json()
                     .value(QStringLiteral("remaining"))
                     .toInt(),
                 5);

        // The buyer's retry with the same key is decided as a first booking.
        const HttpResponse again =
            book(id, {{"user_id", "left-buyer"}}, {{"Idempotency-Key", "left-1"}});
        QCOMPARE(again.status, 202);
        QVERIFY(!again.headers.contains("idempotent-replayed"));
        QCOMPARE(m_redis->integer({"XLEN", SaleKeys(id).stream()}), 1);
    }

    void healthAndMetrics() {
        const HttpResponse h = http(m_port, "GET", "/healthz");
        QCOMPARE(h.status, 200);
        const HttpResponse ready = http(m_port, "GET", "/readyz");
        QVERIFY2(ready.status == 200, ready.body.constData());
        QCOMPARE(ready.json().value(QStringLiteral("postgres")).toString(), QStringLiteral("ok"));

        const qint64 id = createSale({{"stock", 9}}).value(QStringLiteral("id")).toInteger();
        QCOMPARE(book(id, {{"user_id", "metrics-user"}, {"quantity", 2}}).status, 202);
        const HttpResponse m = http(m_backend.metricsPort(), "GET", "/metrics");
        QCOMPARE(m.status, 200);
        QVERIFY(m.headers.value("content-type").startsWith("text/plain"));
        const QByteArray text = m.body;
        QVERIFY(text.contains("flashsale_http_requests_total{route=\"/api/v1/sales/{id}/"
                              "book\",method=\"POST\",code=\"202\"}"));
        QVERIFY(text.contains("flashsale_bookings_total{outcome=\"accepted\"}"));
        QVERIFY(text.contains("flashsale_http_request_duration_seconds_bucket{le=\"+Inf\"}"));
        QVERIFY(text.contains("flashsale_redis_roundtrip_seconds_count"));
        QVERIFY2(text.contains("flashsale_sale_stock_remaining{sale=\"" + QByteArray::number(id)
                               + "\"} 7"),
                 text.constData());
        QVERIFY(text.contains("flashsale_redis_up 1"));
        QVERIFY(text.contains("\nflashsale_postgres_up 1\n"));
        QVERIFY(text.contains("\nflashsale_outbox_unpublished "));
        // The test Redis runs without an append-only file, and the scrape says so (I3's window).
        QVERIFY2(text.contains("\nflashsale_redis_durability{appendfsync=\"off\"} 1\n"),
                 text.constData());
        const QByteArray log = m_backend.log();
        QVERIFY2(log.contains("without an append-only file"), log.constData());

        const HttpResponse p = http(m_port, "GET", "/problems/sold-out");
        QCOMPARE(p.status, 200);
        QCOMPARE(p.json().value(QStringLiteral("status")).toInt(), 409);
    }

    void helpListsEverySetting() {
        QProcess p;
        p.start(Backend::binary(), {QStringLiteral("--help")});
        QVERIFY(p.waitForFinished(5000));
        const QByteArray help = p.readAllStandardOutput();
        for (const char *name :
             {"redis-url", "pg-url", "admin-token", "threads", "port", "max-connections",
              "idle-timeout-ms", "request-timeout-ms", "max-body-bytes", "max-header-bytes",
              "redis-timeout-ms", "pg-timeout-ms", "admission-rate", "hold-seconds", "roles",
              "log-format"}) {
            QVERIFY2(help.contains(QByteArray("--") + name), name);
            const QByteArray env = "FLASHSALE_" + QByteArray(name).toUpper().replace('-', '_');
            QVERIFY2(help.contains(env), env.constData());
        }
        QProcess bad;
        bad.start(Backend::binary(), {QStringLiteral("--threads"), QStringLiteral("many"),
                                      QStringLiteral("--redis-url"), QStringLiteral("http://x")});
        QVERIFY(bad.waitForFinished(5000));
        QCOMPARE(bad.exitCode(), 2);
        const QByteArray err = bad.readAllStandardError();
        QVERIFY(err.contains("--threads") && err.contains("--redis-url"));
    }

    // Found by the fault matrix (deploy/bench/faults, redis-kill-*): while a restarted Redis
    // replays its data it answers LOADING, and bookings got 500 internal-error, which clients
    // do not retry. It is a 503 backend-unavailable, like any other moment Redis cannot serve.
    void redisLoadingAnswers503() {
        RedisServer redis;
        QVERIFY2(redis.start({QStringLiteral("--enable-debug-command"), QStringLiteral("yes")}),
                 qPrintable(redis.error()));
        Backend backend;
        QVERIFY2(backend.start({{"FLASHSALE_REDIS_URL", redis.url()},
                                {"FLASHSALE_PG_URL", m_db.url()},
                                {"FLASHSALE_THREADS", "1"},
                                {"FLASHSALE_REDIS_TIMEOUT_MS", "300"}}),
                 qPrintable(backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(backend.port(), "GET", "/readyz").status, 200, 10000);
        const HttpResponse created = postJson(backend.port(), "/api/v1/admin/sales",
                                              {{"name", "loading"},
                                               {"stock", 100},
                                               {"price_cents", 100},
                                               {"starts_at", rfc3339(-1000)},
                                               {"ends_at", rfc3339(3600000)}},
                                              m_token);
        QCOMPARE(created.status, 201);
        const QByteArray path =
            "/api/v1/sales/" + QByteArray::number(created.json().value("id").toInteger()) + "/book";
        QCOMPARE(postJson(backend.port(), path, {{"user_id", "before"}}).status, 202);
        {
            // Enough data that loading it, slowed down, takes about 3 s, serving LOADING
            // meanwhile (events are processed every KiB loaded).
            RedisSync sync(redis.port());
            QCOMPARE(sync.one({"DEBUG", "POPULATE", "20000"}), QByteArray("OK"));
            QCOMPARE(sync.one({"SAVE"}), QByteArray("OK"));
        }
        redis.kill();
        std::atomic<bool> done = false;
        QList<int> statuses;
        std::thread client([&] {
            QElapsedTimer t;
            t.start();
            for (int i = 0; !done && t.elapsed() < 15000; ++i) {
                statuses << postJson(backend.port(), path,
                                     {{"user_id", QStringLiteral("during-%1").arg(i)}})
                                .status;
                QThread::msleep(20);
            }
        });
        const bool restarted = redis.start(
            {QStringLiteral("--key-load-delay"), QStringLiteral("150"),
             QStringLiteral("--loading-process-events-interval-bytes"), QStringLiteral("1024")});
        QTRY_COMPARE_WITH_TIMEOUT(postJson(backend.port(), path, {{"user_id", "after"}}).status,
                                  202, 10000);
        done = true;
        client.join();
        QVERIFY2(restarted, qPrintable(redis.error()));
        QVERIFY2(!statuses.contains(500), qPrintable(QStringLiteral("statuses: %1").arg([&] {
            QStringList l;
            for (int s : statuses)
                l << QString::number(s);
            return l.join(QLatin1Char(' '));
        }())));
        QVERIFY2(statuses.contains(503), "the loading window was not observed");
    }

    // Found by the chaos run (deploy/bench/chaos): the checkout flow looks the item's sale up
    // with a plain GET before book.lua runs, and took Redis's LOADING error reply for "no such
    // item". A buyer checking out while a restarted Redis replays its data must get a retryable
    // 503 with Retry-After, never a 404 (or a 500) that tells the client to give up; purchase
    // likewise.
    void checkoutWhileRedisLoadingAnswers503() {
        RedisServer redis;
        QVERIFY2(redis.start({QStringLiteral("--enable-debug-command"), QStringLiteral("yes")}),
                 qPrintable(redis.error()));
        Backend backend;
        QVERIFY2(backend.start({{"FLASHSALE_REDIS_URL", redis.url()},
                                {"FLASHSALE_PG_URL", m_db.url()},
                                {"FLASHSALE_THREADS", "1"},
                                {"FLASHSALE_REDIS_TIMEOUT_MS", "300"}}),
                 qPrintable(backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(backend.port(), "GET", "/readyz").status, 200, 10000);
        const auto itemOfNewSale = [&](const char *name) {
            const HttpResponse created = postJson(backend.port(), "/api/v1/admin/sales",
                                                  {{"name", name},
                                                   {"stock", 100},
                                                   {"price_cents", 100},
                                                   {"starts_at", rfc3339(-1000)},
                                                   {"ends_at", rfc3339(3600000)}},
                                                  m_token);
            return QByteArray::number(created.json()
                                          .value(QStringLiteral("items"))
                                          .toArray()
                                          .at(0)
                                          .toObject()
                                          .value(QStringLiteral("id"))
                                          .toInteger());
        };
        const QByteArray held = itemOfNewSale("loading checkout held");
        // Never checked out before the restart: the API has not cached which sale it is in.
        const QByteArray fresh = itemOfNewSale("loading checkout fresh");
        QVERIFY(held != "0" && fresh != "0");
        const HttpResponse c = http(backend.port(), "POST", "/checkout?user_id=dora&id=" + held);
        QVERIFY2(c.status == 202, c.body.constData());
        const QByteArray code = c.json().value(QStringLiteral("code")).toString().toUtf8();
        const HttpResponse t =
            postJson(backend.port(), "/api/v1/dev/tokens", {{"user_id", "dora"}});
        QCOMPARE(t.status, 201);
        const Headers dora{
            {"Authorization", "Bearer " + t.json().value("token").toString().toUtf8()}};
        {
            RedisSync sync(redis.port());
            QCOMPARE(sync.one({"DEBUG", "POPULATE", "20000"}), QByteArray("OK"));
            QCOMPARE(sync.one({"SAVE"}), QByteArray("OK"));
        }
        redis.kill();
        std::atomic<bool> done = false;
        QList<int> checkouts, purchases;
        bool retryAfter = true;
        std::thread client([&] {
            QElapsedTimer timer;
            timer.start();
            for (int i = 0; !done && timer.elapsed() < 15000; ++i) {
                const HttpResponse r =
                    http(backend.port(), "POST",
                         "/checkout?user_id=during" + QByteArray::number(i) + "&id=" + fresh);
                checkouts << r.status;
                if (r.status == 503 && !r.headers.contains("retry-after"))
                    retryAfter = false;
                purchases
                    << http(backend.port(), "POST", "/purchase?code=" + code, {}, dora).status;
                QThread::msleep(20);
            }
        });
        const bool restarted = redis.start(
            {QStringLiteral("--key-load-delay"), QStringLiteral("150"),
             QStringLiteral("--loading-process-events-interval-bytes"), QStringLiteral("1024")});
        QTRY_COMPARE_WITH_TIMEOUT(
            http(backend.port(), "POST", "/checkout?user_id=after&id=" + fresh).status, 202, 10000);
        done = true;
        client.join();
        QVERIFY2(restarted, qPrintable(redis.error()));
        const auto list = [](const QList<int> &l) {
            QStringList s;
            for (int v : l)
                s << QString::number(v);
            return s.join(QLatin1Char(' '));
        };
        const QString seen =
            QStringLiteral("checkout: %1; purchase: %2").arg(list(checkouts), list(purchases));
        for (int s : checkouts)
            QVERIFY2(s == 202 || s == 503, qPrintable(seen));
        for (int s : purchases)
            QVERIFY2(s == 202 || s == 503, qPrintable(seen));
        QVERIFY2(checkouts.contains(503),
                 qPrintable("the loading window was not observed; " + seen));
        QVERIFY2(retryAfter, "a 503 without Retry-After");
    }

    // Last: it stops Redis.
    void redisOutageAnswers503AndRecovers() {
        const qint64 id = createSale({{"stock", 5}}).value(QStringLiteral("id")).toInteger();
        m_redisServer.stop();
        QElapsedTimer t;
        t.start();
        const HttpResponse r = book(id, {{"user_id", "ann"}});
        QCOMPARE(r.status, 503);
        QCOMPARE(r.problemType(), QStringLiteral("/problems/backend-unavailable"));
        QVERIFY(r.headers.contains("retry-after"));
        QVERIFY2(t.elapsed() < 2000, "must fail fast, not hang");
        QCOMPARE(http(m_port, "GET", "/healthz").status, 200);
        QCOMPARE(http(m_port, "GET", "/readyz").status, 503);

        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_port, "GET", "/readyz").status, 200, 15000);
        // Redis came back empty (no persistence in this suite): a new sale books again.
        const qint64 id2 = createSale({{"stock", 5}}).value(QStringLiteral("id")).toInteger();
        QCOMPARE(book(id2, {{"user_id", "ann"}}).status, 202);
        QVERIFY(m_backend.isRunning());
    }

    void cleanupTestCase() {
        QVERIFY2(m_backend.isRunning(), m_backend.log().right(2000).constData());
    }
};

QTEST_GUILESS_MAIN(TestBookingApi)
#include "tst_bookingapi.moc"
