#pragma once

#include "http/httpexchange.h"
#include "http/router.h"

#include <QAbstractHttpServer>
#include <QStringList>

#include <functional>

namespace flashsale {

// QtHttpServer's low-level server with a small router of its own, so that every answer,
// including 404 and 405, is problem JSON and handlers always answer through an HttpExchange.
//
// Routes are chosen by Router (http/router.h): the values of the "{name}" segments are passed to
// the handler in order; a path that matches a pattern only under other methods answers 405 with
// Allow, and one that matches none 404.
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
    Router m_routes;
    QList<Handler> m_handlers; // by route index
    Router m_webSocketRoutes;
};

} // namespace flashsale
