#pragma once

#include "http/httpexchange.h"

#include <QAbstractHttpServer>
#include <QStringList>

#include <functional>

namespace flashsale {

// QtHttpServer's low-level server with a small router of its own, so that every answer,
// including 404 and 405, is problem JSON and handlers always answer through an HttpExchange.
//
// Patterns are literal segments and "{name}" segments: "/api/v1/sales/{id}/book". The values
// of the "{name}" segments are passed to the handler in order. A path that matches a pattern under
// another method answers 405 with Allow.
class HttpServer final : public QAbstractHttpServer {
    Q_OBJECT
public:
    using Handler = std::function<void(const ExchangePtr &exchange, const QStringList &params)>;

    explicit HttpServer(QObject *parent = nullptr);
    void addRoute(const QByteArray &method, const QString &pattern, Handler handler);
    // A path served as a WebSocket: an upgrade request to it is left unanswered here, so that
    // QAbstractHttpServer hands the socket to its WebSocket server (newWebSocketConnection).
    // Authorisation belongs before this, in ConnectionLimits::upgradeGate.
    void addWebSocketRoute(const QString &pattern);
    // Whether `path` matches a WebSocket route; its "{name}" values go to `params`.
    bool matchWebSocketRoute(const QString &path, QStringList *params) const;

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    struct Route {
        QByteArray method;
        QString pattern;
        QStringList segments;
        Handler handler;
    };
    static bool match(const Route &route, const QStringList &segments, QStringList *params);

    QList<Route> m_routes;
    QList<Route> m_webSocketRoutes;
};

} // namespace flashsale
