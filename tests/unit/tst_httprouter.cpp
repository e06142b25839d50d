// The route table (shared/http/router.h) without a socket: which route a method and a path
// select, their captures, 404 against 405 with the allowed methods, and the method names it
// compares (httpMethodName). HttpServer only turns a Router::Match into a response.

#include "http/httpexchange.h"
#include "http/httpserver.h"
#include "http/router.h"

#include <QTest>

using namespace flashsale;

Q_DECLARE_METATYPE(flashsale::Router::Match::Kind)

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

        Router router;
        router.add("GET", pattern);
        const Router::Match m = router.find("GET", path);
        QCOMPARE(m.kind, matches ? Router::Match::Kind::Found : Router::Match::Kind::NotFound);
        if (matches) {
            QCOMPARE(m.route, qsizetype(0));
            QCOMPARE(m.params, params);
        }
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

        Router router;
        for (const QString &p : patterns)
            router.add("GET", p);
        const Router::Match m = router.find("GET", path);
        QCOMPARE(m.kind, Router::Match::Kind::Found);
        QCOMPARE(m.params, params);
    }

    // The method: the first route whose path and method both match answers; a path known only
    // under other methods is 405 with those methods, in the order added; an unknown path is 404.
    void methods_data() {
        QTest::addColumn<QByteArray>("method");
        QTest::addColumn<QString>("path");
        QTest::addColumn<Router::Match::Kind>("kind");
        QTest::addColumn<int>("route");
        QTest::addColumn<QByteArrayList>("allowed");

        using K = Router::Match::Kind;
        QTest::addRow("GET of the sale")
            << QByteArray("GET") << "/sales/7" << K::Found << 0 << QByteArrayList{};
        QTest::addRow("DELETE of the sale, added after GET")
            << QByteArray("DELETE") << "/sales/7" << K::Found << 1 << QByteArrayList{};
        QTest::addRow("PUT of the sale is not allowed")
            << QByteArray("PUT") << "/sales/7" << K::MethodNotAllowed << 1
            << QByteArrayList{"GET", "DELETE"};
        QTest::addRow("GET of the booking route is not allowed")
            << QByteArray("GET") << "/sales/7/book" << K::MethodNotAllowed << 2
            << QByteArrayList{"POST"};
        QTest::addRow("POST of a booking")
            << QByteArray("POST") << "/sales/7/book" << K::Found << 2 << QByteArrayList{};
        QTest::addRow("a method no route has, on a known path")
            << QByteArray("OTHER") << "/sales/7/book" << K::MethodNotAllowed << 2
            << QByteArrayList{"POST"};
        QTest::addRow("an unknown path, whatever the method")
            << QByteArray("GET") << "/items/7" << K::NotFound << -1 << QByteArrayList{};
        QTest::addRow("methods are case-sensitive")
            << QByteArray("get") << "/sales/7" << K::MethodNotAllowed << 1
            << QByteArrayList{"GET", "DELETE"};
    }

    void methods() {
        QFETCH(QByteArray, method);
        QFETCH(QString, path);
        QFETCH(Router::Match::Kind, kind);
        QFETCH(int, route);
        QFETCH(QByteArrayList, allowed);

        Router router;
        QCOMPARE(router.add("GET", QStringLiteral("/sales/{id}")), qsizetype(0));
        QCOMPARE(router.add("DELETE", QStringLiteral("/sales/{id}")), qsizetype(1));
        QCOMPARE(router.add("POST", QStringLiteral("/sales/{id}/book")), qsizetype(2));
        const Router::Match m = router.find(method, path);
        QCOMPARE(m.kind, kind);
        QCOMPARE(m.route, qsizetype(route));
        QCOMPARE(m.allowed, allowed);
        if (kind == Router::Match::Kind::Found)
            QCOMPARE(m.params, QStringList{"7"});
    }

    // HttpServer keeps WebSocket routes apart from request routes.
    void webSocketRoutes() {
        HttpServer server;
        QStringList got;
        server.addWebSocketRoute(QStringLiteral("/api/v1/sales/{id}/live"));
        QVERIFY(server.matchWebSocketRoute(QStringLiteral("/api/v1/sales/42/live"), &got));
        QCOMPARE(got, QStringList{"42"});
        QVERIFY(!server.matchWebSocketRoute(QStringLiteral("/api/v1/sales/42"), &got));
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
