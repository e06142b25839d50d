#include "httpserver.h"

#include <QHttpServerRequest>

namespace flashsale {

HttpServer::HttpServer(QObject *parent)
    : QAbstractHttpServer(parent) {}

void HttpServer::addRoute(const QByteArray &method, const QString &pattern, Handler handler) {
    m_routes.append(Route{method, pattern, pattern.split(QLatin1Char('/'), Qt::SkipEmptyParts),
                          std::move(handler)});
}

void HttpServer::addWebSocketRoute(const QString &pattern) {
    m_webSocketRoutes.append(
        Route{"GET", pattern, pattern.split(QLatin1Char('/'), Qt::SkipEmptyParts), nullptr});
}

bool HttpServer::matchWebSocketRoute(const QString &path, QStringList *params) const {
    const QStringList segments = path.split(QLatin1Char('/'), Qt::SkipEmptyParts);
    for (const Route &route : m_webSocketRoutes)
        if (match(route, segments, params))
            return true;
    return false;
}

bool HttpServer::match(const Route &route, const QStringList &segments, QStringList *params) {
    if (route.segments.size() != segments.size())
        return false;
    params->clear();
    for (qsizetype i = 0; i < segments.size(); ++i) {
        const QString &want = route.segments[i];
        if (want.startsWith(QLatin1Char('{'))) {
            params->append(segments[i]);
        } else if (want != segments[i]) {
            return false;
        }
    }
    return true;
}

bool HttpServer::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) {
    const QStringList segments = request.url().path().split(QLatin1Char('/'), Qt::SkipEmptyParts);
    const QByteArray method = httpMethodName(request.method());
    QStringList params;
    if (request.value("upgrade").compare("websocket", Qt::CaseInsensitive) == 0) {
        for (const Route &route : m_webSocketRoutes)
            if (match(route, segments, &params))
                return true; // answered by the WebSocket handshake, after this returns
    }
    QByteArrayList allowed;
    const Route *pathMatch = nullptr;
    for (const Route &route : m_routes) {
        if (!match(route, segments, &params))
            continue;
        if (route.method == method) {
            auto exchange = std::make_shared<HttpExchange>(request, makeResponder(request, socket),
                                                           route.pattern.toUtf8());
            route.handler(exchange, params);
            return true;
        }
        pathMatch = &route;
        allowed << route.method;
    }
    if (!pathMatch)
        return false;
    auto exchange = std::make_shared<HttpExchange>(request, makeResponder(request, socket),
                                                   pathMatch->pattern.toUtf8());
    exchange->sendProblem(
        Problem::make(405, QStringLiteral("method-not-allowed"),
                      QStringLiteral("%1 is not allowed here.").arg(QString::fromLatin1(method)))
            .header("Allow", allowed.join(", ")));
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
