#include "httpserver.h"

#include <QHttpServerRequest>

namespace flashsale {

HttpServer::HttpServer(QObject *parent)
    : QAbstractHttpServer(parent) {}

void HttpServer::addRoute(const QByteArray &method, const QString &pattern, Handler handler) {
    m_routes.add(method, pattern);
    m_handlers.append(std::move(handler));
}

void HttpServer::addWebSocketRoute(const QString &pattern) {
    m_webSocketRoutes.add("GET", pattern);
}

bool HttpServer::matchWebSocketRoute(const QString &path, QStringList *params) const {
    Router::Match m = m_webSocketRoutes.find("GET", path);
    if (m.kind != Router::Match::Kind::Found)
        return false;
    *params = std::move(m.params);
    return true;
}

bool HttpServer::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) {
    const QString path = request.url().path();
    if (request.value("upgrade").compare("websocket", Qt::CaseInsensitive) == 0) {
        QStringList params;
        if (matchWebSocketRoute(path, &params))
            return true; // answered by the WebSocket handshake, after this returns
    }
    const QByteArray method = httpMethodName(request.method());
    const Router::Match m = m_routes.find(method, path);
    switch (m.kind) {
    case Router::Match::Kind::NotFound:
        return false;
    case Router::Match::Kind::Found: {
        auto exchange = std::make_shared<HttpExchange>(request, makeResponder(request, socket),
                                                       m_routes.pattern(m.route).toUtf8());
        m_handlers[m.route](exchange, m.params);
        return true;
    }
    case Router::Match::Kind::MethodNotAllowed:
        break;
    }
    auto exchange = std::make_shared<HttpExchange>(request, makeResponder(request, socket),
                                                   m_routes.pattern(m.route).toUtf8());
    exchange->sendProblem(
        Problem::make(405, QStringLiteral("method-not-allowed"),
                      QStringLiteral("%1 is not allowed here.").arg(QString::fromLatin1(method)))
            .header("Allow", m.allowed.join(", ")));
    return true;
}

void HttpServer::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) {
    auto exchange =
        std::make_shared<HttpExchange>(request, makeResponder(request, socket), "unmatched");
    exchange->sendProblem(
        Problem::make(404, QStringLiteral("not-found"),
                      QStringLiteral("Nothing is served at %1.").arg(exchange->path())));
}

} // namespace flashsale
