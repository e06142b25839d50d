// HttpClient (shared/http/httpclient.*) against a real HTTP server on loopback: this project's
// HttpServer (QtHttpServer) on a free port in the same event loop. What its users rely on: the
// answer, whatever its status; many requests in flight at once on a bounded number of
// connections, reused; the timeout, the response-size bound, a refused connection and a bad URL
// as typed errors; and no callback after the client is destroyed.

#include "http/httpclient.h"
#include "http/httpserver.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>
#include <QTimer>

using namespace flashsale;

class TestHttpClient : public QObject {
    Q_OBJECT

private:
    HttpServer *m_server = nullptr;
    QTcpServer *m_tcp = nullptr;
    QByteArray m_base;
    int m_connections = 0; // accepted by the server
    int m_active = 0;      // requests the server holds unanswered
    int m_maxActive = 0;
    QList<ExchangePtr> m_held; // /never: kept, not answered

    // Sends and waits for the one answer.
    Result<HttpResponse> exchange(HttpClient &client, HttpRequest req) {
        std::optional<Result<HttpResponse>> got;
        client.send(std::move(req), [&](const Result<HttpResponse> &r) { got = r; });
        if (!QTest::qWaitFor([&] { return got.has_value(); }, 10000))
            return fail(ErrorCode::Internal, QStringLiteral("no answer in 10 s"));
        return *got;
    }

private Q_SLOTS:
    void initTestCase() {
        m_server = new HttpServer(this);
        m_server->addRoute("POST", QStringLiteral("/echo"), [](const ExchangePtr &ex, auto &) {
            ex->send(201, "application/octet-stream", ex->body(),
                     {{"X-Method", ex->method()}, {"X-Token", ex->header("x-token")}});
        });
        m_server->addRoute("GET", QStringLiteral("/status/{code}"),
                           [](const ExchangePtr &ex, const QStringList &p) {
                               ex->sendJson(p[0].toInt(), QJsonObject{{"code", p[0].toInt()}},
                                            {{"Retry-After", "7"}});
                           });
        m_server->addRoute("GET", QStringLiteral("/slow"), [this](const ExchangePtr &ex, auto &) {
            m_maxActive = std::max(m_maxActive, ++m_active);
            QTimer::singleShot(50, this, [this, ex] {
                --m_active;
                ex->send(200, "text/plain", "late");
            });
        });
        m_server->addRoute("GET", QStringLiteral("/never"),
                           [this](const ExchangePtr &ex, auto &) { m_held.append(ex); });
        m_server->addRoute("GET", QStringLiteral("/big"), [](const ExchangePtr &ex, auto &) {
            ex->send(200, "application/octet-stream", QByteArray(2 << 20, 'x'));
        });
        m_tcp = new QTcpServer;
        QVERIFY(m_tcp->listen(QHostAddress::LocalHost, 0));
        connect(m_tcp, &QTcpServer::pendingConnectionAvailable, this, [this] { ++m_connections; });
        m_base = "http://127.0.0.1:" + QByteArray::number(m_tcp->serverPort());
        m_server->bind(m_tcp);
    }

    // Method, request headers and body arrive as sent; status, headers (names lowercased) and
    // body come back as answered.
    void postEchoesBodyAndHeaders() {
        HttpClient client;
        const QByteArray body = QJsonDocument(QJsonObject{{"order_id", "42"}}).toJson();
        auto r = exchange(client, HttpRequest::post(m_base + "/echo", body, {{"X-Token", "abc"}}));
        QVERIFY2(r.has_value(), qPrintable(r ? QString() : r.error().message));
        QCOMPARE(r->status, 201);
        QCOMPARE(r->body, body);
        QCOMPARE(r->header("x-method"), QByteArray("POST"));
        QCOMPARE(r->header("x-token"), QByteArray("abc"));
        QCOMPARE(r->header("content-type"), QByteArray("application/octet-stream"));
        QCOMPARE(client.inFlight(), 0);
    }

    // A 4xx or 5xx is an answer, with its headers (Retry-After for a 429), not an error.
    void errorStatusesAreAnswers() {
        HttpClient client;
        for (int code : {402, 409, 429, 503}) {
            auto r =
                exchange(client, HttpRequest::get(m_base + "/status/" + QByteArray::number(code)));
            QVERIFY(r.has_value());
            QCOMPARE(r->status, code);
            QCOMPARE(r->header("retry-after"), QByteArray("7"));
        }
    }

    // 600 requests sent at once, each held 50 ms by the server: every one is answered once;
    // the server saw many at the same time (the client does not serialise them) but never more
    // connections than the per-host bound.
    void manyInFlightOnBoundedConnections() {
        HttpClient::Options o;
        o.maxConnectionsPerHost = 64;
        HttpClient client(o);
        m_connections = 0;
        m_maxActive = 0;
        int ok = 0, failed = 0;
        for (int i = 0; i < 600; ++i)
            client.send(HttpRequest::get(m_base + "/slow"), [&](const Result<HttpResponse> &r) {
                (r && r->status == 200 && r->body == "late") ? ++ok : ++failed;
            });
        QCOMPARE(client.inFlight(), 600);
        QVERIFY(QTest::qWaitFor([&] { return ok + failed == 600; }, 30000));
        QCOMPARE(ok, 600);
        QCOMPARE(client.inFlight(), 0);
        QVERIFY2(m_maxActive >= 32, qPrintable(QString::number(m_maxActive)));
        QVERIFY2(m_maxActive <= 64, qPrintable(QString::number(m_maxActive)));
        QVERIFY2(m_connections <= 64, qPrintable(QString::number(m_connections)));
    }

    // Requests one after another reuse one kept-alive connection.
    void sequentialRequestsReuseTheConnection() {
        HttpClient client;
        m_connections = 0;
        for (int i = 0; i < 50; ++i) {
            auto r = exchange(client, HttpRequest::post(m_base + "/echo", QByteArray::number(i)));
            QVERIFY(r.has_value());
            QCOMPARE(r->body, QByteArray::number(i));
        }
        QCOMPARE(m_connections, 1);
    }

    void timeoutIsTimeout() {
        HttpClient client;
        HttpRequest req = HttpRequest::get(m_base + "/never");
        req.timeout = std::chrono::milliseconds(200);
        auto r = exchange(client, req);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::Timeout);
        m_held.clear();
    }

    void oversizedBodyIsRefused() {
        HttpClient::Options o;
        o.maxResponseBytes = 1 << 20;
        HttpClient client(o);
        auto r = exchange(client, HttpRequest::get(m_base + "/big"));
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::Protocol);
        QVERIFY(r.error().message.contains(QStringLiteral("larger than")));
    }

    void refusedConnectionIsUnavailable() {
        QTcpServer closed;
        QVERIFY(closed.listen(QHostAddress::LocalHost, 0));
        const quint16 port = closed.serverPort();
        closed.close();
        HttpClient client;
        auto r = exchange(client,
                          HttpRequest::get("http://127.0.0.1:" + QByteArray::number(port) + "/"));
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().code, ErrorCode::Unavailable);
    }

    void otherSchemesAreInvalid() {
        HttpClient client;
        for (const QByteArray url : {"ftp://127.0.0.1/x", "file:///etc/passwd", "not a url"}) {
            auto r = exchange(client, HttpRequest::get(url));
            QVERIFY2(!r.has_value(), url.constData());
            QCOMPARE(r.error().code, ErrorCode::Invalid);
        }
    }

    // Destroyed with requests in flight: no callback runs afterwards, nothing crashes.
    void destroyedClientCallsNothing() {
        int called = 0;
        {
            HttpClient client;
            for (int i = 0; i < 20; ++i)
                client.send(HttpRequest::get(m_base + "/slow"),
                            [&](const Result<HttpResponse> &) { ++called; });
        }
        QTest::qWait(300);
        QCOMPARE(called, 0);
    }
};

QTEST_MAIN(TestHttpClient)
#include "tst_httpclient.moc"
