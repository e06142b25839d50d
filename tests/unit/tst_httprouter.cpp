// HttpServer's route matching (shared/http/httpserver.h) without a socket: the segment matcher
// through matchWebSocketRoute(), which runs the same match() as the request routes, and the
// method names the router compares (httpMethodName). Which route answers a request, and 404
// against 405 with Allow, are decided inside handleRequest(), which needs a QHttpServerRequest
// and a socket; the HTTP suites cover those against the running server.

#include "http/httpexchange.h"
#include "http/httpserver.h"

#include <QTest>

using namespace flashsale;

class TestHttpRouter : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void segments_data() {
        QTest::addColumn<QString>("pattern");
        QTest::addColumn<QString>("path");
        QTest::addColumn<bool>("matches");
        QTest::addColumn<QStringList>("params");

        const QString live = QStringLiteral("/api/v1/sales/{id}/live");
        const QString ws = QStringLiteral("/admin/v1/ws");
        QTest::addRow("literal segments only") << ws << "/admin/v1/ws" << true << QStringList{};
        QTest::addRow("one capture")
            << live << "/api/v1/sales/42/live" << true << QStringList{"42"};
        QTest::addRow("a capture takes any text")
            << live << "/api/v1/sales/not-a-number/live" << true << QStringList{"not-a-number"};
        QTest::addRow("two captures, in path order") << "/a/{x}/b/{y}"
                                                     << "/a/1/b/2" << true << QStringList{"1", "2"};
        QTest::addRow("a trailing slash is ignored")
            << ws << "/admin/v1/ws/" << true << QStringList{};
        QTest::addRow("repeated slashes are ignored")
            << ws << "//admin///v1/ws" << true << QStringList{};
        QTest::addRow("the root") << "/"
                                  << "/" << true << QStringList{};
        QTest::addRow("below the root is not the root") << "/"
                                                        << "/x" << false << QStringList{};
        QTest::addRow("one segment short") << live << "/api/v1/sales/42" << false << QStringList{};
        QTest::addRow("one segment more")
            << live << "/api/v1/sales/42/live/x" << false << QStringList{};
        QTest::addRow("an empty capture is a missing segment")
            << live << "/api/v1/sales//live" << false << QStringList{};
        QTest::addRow("a capture spans one segment only")
            << live << "/api/v1/sales/4/2/live" << false << QStringList{};
        QTest::addRow("literals are case-sensitive")
            << ws << "/Admin/v1/ws" << false << QStringList{};
        QTest::addRow("another version") << ws << "/admin/v2/ws" << false << QStringList{};
        QTest::addRow("a literal that only starts the same")
            << ws << "/admin/v1/wss" << false << QStringList{};
    }

    void segments() {
        QFETCH(QString, pattern);
        QFETCH(QString, path);
        QFETCH(bool, matches);
        QFETCH(QStringList, params);

        HttpServer server;
        server.addWebSocketRoute(pattern);
        QStringList got;
        QCOMPARE(server.matchWebSocketRoute(path, &got), matches);
        if (matches)
            QCOMPARE(got, params);
    }

    // Routes are tried in the order they were added; the first that matches wins, and the
    // captures are those of that route alone.
    void firstMatchingRouteWins_data() {
        QTest::addColumn<QStringList>("patterns");
        QTest::addColumn<QString>("path");
        QTest::addColumn<QStringList>("params");

        QTest::addRow("a capture added before a literal takes the literal's path")
            << QStringList{"/sales/{id}", "/sales/new"} << "/sales/new" << QStringList{"new"};
        QTest::addRow("a literal added before a capture keeps its path")
            << QStringList{"/sales/new", "/sales/{id}"} << "/sales/new" << QStringList{};
        QTest::addRow("a route that failed late leaves no captures behind")
            << QStringList{"/x/{a}/y", "/x/{b}/z"} << "/x/1/z" << QStringList{"1"};
    }

    void firstMatchingRouteWins() {
        QFETCH(QStringList, patterns);
        QFETCH(QString, path);
        QFETCH(QStringList, params);

        HttpServer server;
        for (const QString &p : patterns)
            server.addWebSocketRoute(p);
        QStringList got;
        QVERIFY(server.matchWebSocketRoute(path, &got));
        QCOMPARE(got, params);
    }

    void noRoutesMatchNothing() {
        HttpServer server;
        QStringList got;
        QVERIFY(!server.matchWebSocketRoute(QStringLiteral("/"), &got));
        // Request routes are not WebSocket routes.
        server.addRoute("GET", QStringLiteral("/admin/v1/ws"), {});
        QVERIFY(!server.matchWebSocketRoute(QStringLiteral("/admin/v1/ws"), &got));
    }

    // The name a route's method is compared with; methods no route uses are all "OTHER".
    void methodNames_data() {
        QTest::addColumn<QHttpServerRequest::Method>("method");
        QTest::addColumn<QByteArray>("name");

        using M = QHttpServerRequest::Method;
        QTest::addRow("GET") << M::Get << QByteArray("GET");
        QTest::addRow("POST") << M::Post << QByteArray("POST");
        QTest::addRow("PUT") << M::Put << QByteArray("PUT");
        QTest::addRow("DELETE") << M::Delete << QByteArray("DELETE");
        QTest::addRow("HEAD") << M::Head << QByteArray("HEAD");
        QTest::addRow("OPTIONS") << M::Options << QByteArray("OPTIONS");
        QTest::addRow("PATCH") << M::Patch << QByteArray("PATCH");
        QTest::addRow("CONNECT is other") << M::Connect << QByteArray("OTHER");
        QTest::addRow("TRACE is other") << M::Trace << QByteArray("OTHER");
        QTest::addRow("an unknown method is other") << M::Unknown << QByteArray("OTHER");
    }

    void methodNames() {
        QFETCH(QHttpServerRequest::Method, method);
        QFETCH(QByteArray, name);

        QCOMPARE(httpMethodName(method), name);
    }
};

QTEST_GUILESS_MAIN(TestHttpRouter)
#include "tst_httprouter.moc"
